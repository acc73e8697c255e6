"""Ingestion test fixtures: a Weaviate test server and a client connected to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import weaviate

from elysia_pipelines.weaviate.connection import WeaviateTarget, open_client
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer


@pytest.fixture
def server() -> Iterator[WeaviateTestServer]:
    with WeaviateTestServer() as running:
        yield running


@pytest.fixture
def client(server: WeaviateTestServer) -> Iterator[weaviate.WeaviateClient]:
    target = WeaviateTarget.for_url(server.url, server.grpc_url, timeout_s=10, retries=2)
    with open_client(target) as connected:
        yield connected
