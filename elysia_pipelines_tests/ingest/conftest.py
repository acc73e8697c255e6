"""Short aliases for the shared Weaviate fixtures (weaviate_fixtures plugin)."""

from __future__ import annotations

import pytest
import weaviate

from elysia_pipelines_tests.weaviate_server import WeaviateTestServer


@pytest.fixture
def server(weaviate_server: WeaviateTestServer) -> WeaviateTestServer:
    return weaviate_server


@pytest.fixture
def client(weaviate_client: weaviate.WeaviateClient) -> weaviate.WeaviateClient:
    return weaviate_client
