"""Connecting from settings (the path every asset and CLI command takes)."""

from __future__ import annotations

import re

import pytest

from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate import (
    WeaviateTarget,
    collection_exists,
    describe_target,
    open_client,
    server_version,
)
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint


@pytest.mark.real_weaviate
def test_open_client_from_environment_settings(
    weaviate_env: WeaviateEndpoint, elysia_home: object
) -> None:
    settings = Settings.from_env()
    assert settings.weaviate_mode == "url"
    with open_client(settings) as client:
        assert re.match(r"^\d+\.\d+\.\d+", server_version(client))
        assert collection_exists(client, "Surely_not_there_42") is False
    text = describe_target(settings)
    assert weaviate_env.url in text
    assert weaviate_env.grpc_url in text


@pytest.mark.weaviate_test_server_only
def test_api_key_from_the_named_variable_is_used_with_a_custom_url(
    weaviate_endpoint: WeaviateEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAM_WEAVIATE_KEY", "test-key")
    target = WeaviateTarget.for_url(
        weaviate_endpoint.url, weaviate_endpoint.grpc_url, api_key_env="TEAM_WEAVIATE_KEY"
    )
    assert target.api_key() == "test-key"
    with open_client(target) as client:
        assert client.is_ready()
    assert "API key from $TEAM_WEAVIATE_KEY" in target.describe()
    assert "test-key" not in target.describe()
