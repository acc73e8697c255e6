from __future__ import annotations

import pytest

from elysia_pipelines.errors import ConfigError
from elysia_pipelines.settings import Settings, parse_size


def test_defaults_are_embedded_under_dot_elysia() -> None:
    s = Settings.from_env({})
    assert s.weaviate_mode == "embedded"
    assert s.home.name == ".elysia"
    assert s.registry_path.parent == s.home


def test_url_switches_mode() -> None:
    s = Settings.from_env(
        {"WEAVIATE_URL": "http://127.0.0.1:8080/", "WEAVIATE_GRPC_URL": "127.0.0.1:50051"}
    )
    assert s.weaviate_mode == "url"
    assert s.weaviate_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"WEAVIATE_URL": "localhost:8080"}, "WEAVIATE_URL"),
        ({"WEAVIATE_MODE": "space"}, "WEAVIATE_MODE"),
        ({"WEAVIATE_MODE": "cloud"}, "WEAVIATE_URL"),
        ({"ELYSIA_BATCH_MAX_OBJECTS": "many"}, "ELYSIA_BATCH_MAX_OBJECTS"),
        ({"ELYSIA_BATCH_MAX_OBJECTS": "0"}, "ELYSIA_BATCH_MAX_OBJECTS"),
        ({"ELYSIA_MAX_FILE_SIZE": "1 parsec"}, "ELYSIA_MAX_FILE_SIZE"),
        ({"WEAVIATE_TIMEOUT_S": "-3"}, "WEAVIATE_TIMEOUT_S"),
        ({"WEAVIATE_API_KEY_ENV": "my key"}, "WEAVIATE_API_KEY_ENV"),
        ({"ELYSIA_ALERT_WEBHOOK_URL": "ftp://x"}, "ELYSIA_ALERT_WEBHOOK_URL"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert name in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1MB", 1_000_000),
        ("512k", 512_000),
        ("2MiB", 2 * 1024 * 1024),
        ("100", 100),
        ("1.5kb", 1500),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected
