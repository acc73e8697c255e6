"""Connection settings and failures that need no server: parsing, redaction, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines.errors import ConfigError, ElysiaError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate import WeaviateTarget, connect, describe_target, open_client
from elysia_pipelines_tests.support import free_port


def test_grpc_address_defaults_to_http_host_on_50051() -> None:
    settings = Settings.from_env({"WEAVIATE_URL": "http://weaviate.internal:8080"})
    target = WeaviateTarget.from_settings(settings)
    assert (target.http_endpoint.host, target.http_endpoint.port) == ("weaviate.internal", 8080)
    assert (target.grpc_endpoint.host, target.grpc_endpoint.port) == ("weaviate.internal", 50051)
    assert target.grpc_endpoint.secure is False


@pytest.mark.parametrize(
    ("grpc_url", "expected"),
    [
        ("localhost:6000", ("localhost", 6000, False)),
        ("grpc://10.0.0.5:7000", ("10.0.0.5", 7000, False)),
        ("grpcs://grpc.example.com:443", ("grpc.example.com", 443, True)),
        ("https://grpc.example.com", ("grpc.example.com", 443, True)),
    ],
)
def test_explicit_grpc_url_forms(grpc_url: str, expected: tuple[str, int, bool]) -> None:
    target = WeaviateTarget.for_url("http://localhost:8080", grpc_url)
    grpc = target.grpc_endpoint
    assert (grpc.host, grpc.port, grpc.secure) == expected


def test_https_url_defaults_to_port_443_and_tls() -> None:
    target = WeaviateTarget.for_url("https://weaviate.example.com")
    assert (target.http_endpoint.port, target.http_endpoint.secure) == (443, True)
    assert target.grpc_endpoint.secure is True


def test_describe_target_redacts_credentials_and_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_WEAVIATE_KEY", "s3cret-key-value")
    target = WeaviateTarget.for_url(
        "https://admin:hunter2@xyz.weaviate.cloud/?token=abc",
        api_key_env="MY_WEAVIATE_KEY",
        cloud=True,
    )
    text = describe_target(target)
    assert "xyz.weaviate.cloud" in text
    assert "$MY_WEAVIATE_KEY" in text
    for secret in ("s3cret", "hunter2", "admin", "token=abc"):
        assert secret not in text


def test_describe_target_from_settings_embedded(settings: Settings) -> None:
    text = describe_target(settings)
    assert text.startswith("embedded Weaviate 1.32.0")
    assert str(settings.embedded_weaviate_dir) in text


@pytest.mark.timeout(60)  # bounded by the retry budget, not by a hanging socket
def test_unreachable_server_raises_one_clear_error_in_bounded_time() -> None:
    http_port, grpc_port = free_port(), free_port()
    target = WeaviateTarget.for_url(
        f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", retries=1, timeout_s=5
    )
    with pytest.raises(ElysiaError) as caught, open_client(target):
        pass
    error = caught.value
    assert f"http://127.0.0.1:{http_port}" in error.message
    assert f"127.0.0.1:{grpc_port}" in error.message
    assert "2 attempt(s)" in error.message
    assert error.hint is not None and "WEAVIATE_URL" in error.hint
    assert "firewall" in error.hint


def test_cloud_mode_without_api_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEAVIATE_API_KEY", raising=False)
    settings = Settings.from_env(
        {"WEAVIATE_MODE": "cloud", "WEAVIATE_URL": "https://abc.weaviate.cloud"}
    )
    with pytest.raises(ConfigError) as caught:
        connect(settings)
    assert "WEAVIATE_API_KEY" in caught.value.message
    assert caught.value.hint is not None and "export WEAVIATE_API_KEY" in caught.value.hint


def test_embedded_mode_offline_says_download_failed_and_suggests_weaviate_url(
    tmp_path: Path,
) -> None:
    # A download URL on a closed local port stands in for "no internet access".
    target = WeaviateTarget(
        mode="embedded",
        embedded_version=f"http://127.0.0.1:{free_port()}/weaviate-v1.32.0.tar.gz",
        embedded_dir=tmp_path / "weaviate",
        retries=0,
    )
    with pytest.raises(ElysiaError) as caught:
        connect(target)
    error = caught.value
    assert "downloading it failed" in error.message
    assert str(tmp_path / "weaviate" / "bin") in error.message
    assert error.hint is not None
    assert "internet access" in error.hint and "WEAVIATE_URL" in error.hint


def test_embedded_version_that_is_not_a_version_is_a_config_error(tmp_path: Path) -> None:
    target = WeaviateTarget(
        mode="embedded", embedded_version="newest-please", embedded_dir=tmp_path, retries=0
    )
    with pytest.raises(ConfigError, match="WEAVIATE_EMBEDDED_VERSION"):
        connect(target)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mode": "url"}, "needs an HTTP URL"),
        ({"mode": "url", "http_url": "ftp://x"}, r"not an http\(s\) URL"),
        ({"mode": "mars"}, "unknown Weaviate mode"),
        ({"mode": "url", "http_url": "http://x:1", "timeout_s": 0}, "must be positive"),
    ],
)
def test_bad_targets_are_rejected(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        WeaviateTarget(**kwargs)  # type: ignore[arg-type]
