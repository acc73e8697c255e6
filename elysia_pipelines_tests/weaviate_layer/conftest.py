"""Clients for the Weaviate-layer tests, opened through our own connection factory.

`client` gets a fresh server per test (fault tests change and stop it). Tests that
only read and write their own uniquely named collections use `shared_client`, one
connection per module, which keeps the suite fast; against a real Weaviate
(WEAVIATE_URL set when pytest starts) both point at that server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import weaviate

from elysia_pipelines.weaviate import WeaviateTarget, open_client
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint, real_weaviate

KEY_ENV = "ELYSIA_TEST_WEAVIATE_KEY"


def _target(endpoint: WeaviateEndpoint, monkeypatch: pytest.MonkeyPatch) -> WeaviateTarget:
    key_env = None
    if endpoint.api_key:
        monkeypatch.setenv(KEY_ENV, endpoint.api_key)
        key_env = KEY_ENV
    return WeaviateTarget.for_url(
        endpoint.url, endpoint.grpc_url, api_key_env=key_env, retries=2, timeout_s=30
    )


@pytest.fixture
def target(weaviate_endpoint: WeaviateEndpoint, monkeypatch: pytest.MonkeyPatch) -> WeaviateTarget:
    return _target(weaviate_endpoint, monkeypatch)


@pytest.fixture
def client(target: WeaviateTarget) -> Iterator[weaviate.WeaviateClient]:
    with open_client(target) as connected:
        yield connected


@pytest.fixture(scope="module")
def shared_client(request: pytest.FixtureRequest) -> Iterator[weaviate.WeaviateClient]:
    endpoint = real_weaviate(request.config)
    if endpoint is None:
        endpoint = WeaviateEndpoint.for_server(request.getfixturevalue("weaviate_server_module"))
    with (
        pytest.MonkeyPatch.context() as monkeypatch,
        open_client(_target(endpoint, monkeypatch)) as connected,
    ):
        yield connected
