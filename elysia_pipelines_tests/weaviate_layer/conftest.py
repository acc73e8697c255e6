"""Clients for the Weaviate-layer tests, opened through our own connection factory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import weaviate

from elysia_pipelines.weaviate import WeaviateTarget, open_client
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint


@pytest.fixture
def target(weaviate_endpoint: WeaviateEndpoint, monkeypatch: pytest.MonkeyPatch) -> WeaviateTarget:
    key_env = None
    if weaviate_endpoint.api_key:
        monkeypatch.setenv("ELYSIA_TEST_WEAVIATE_KEY", weaviate_endpoint.api_key)
        key_env = "ELYSIA_TEST_WEAVIATE_KEY"
    return WeaviateTarget.for_url(
        weaviate_endpoint.url,
        weaviate_endpoint.grpc_url,
        api_key_env=key_env,
        retries=2,
        timeout_s=30,
    )


@pytest.fixture
def client(target: WeaviateTarget) -> Iterator[weaviate.WeaviateClient]:
    with open_client(target) as connected:
        yield connected
