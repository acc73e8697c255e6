"""Pytest plugin: Weaviate test servers, connected clients and environment wiring.

Fixtures
- `weaviate_server`: a fresh in-process WeaviateTestServer per test (ephemeral ports,
  clean state, backups under tmp_path). `.url`, `.grpc_url`, `.http_port`,
  `.grpc_port`, `.faults`, `.stop()`, `.restart(keep_data=True)`, `.store`.
- `second_weaviate_server`: another, independent one (cross-cluster tests).
- `weaviate_server_factory`: start more servers with options (latency, seed, ...).
- `weaviate_server_module` / `weaviate_server_reset`: one server per module, reset
  (data and faults) before each test that asks for `weaviate_server_reset`.
- `weaviate_endpoint`: where to connect. The in-process server, or, for tests marked
  `real_weaviate` while WEAVIATE_URL was set when pytest started, that real server.
- `weaviate_client`: a connected sync `weaviate.WeaviateClient`, closed at teardown.
- `weaviate_env`: WEAVIATE_URL / WEAVIATE_GRPC_URL / WEAVIATE_MODE pointing at the
  endpoint, so code calling `Settings.from_env()` connects to it.

Tests that need the in-process server itself (faults, `.store`) should carry the
`weaviate_test_server_only` marker: they are skipped, with a reason, when the suite
runs against a real Weaviate.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import weaviate
from weaviate.classes.init import Auth

from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

TEST_SERVER_ONLY = "weaviate_test_server_only"
REAL_MARKER = "real_weaviate"
_REAL_KEY = pytest.StashKey["WeaviateEndpoint | None"]()


@dataclass(frozen=True)
class WeaviateEndpoint:
    """Connection details for a Weaviate (real, or the in-process test server)."""

    http_host: str
    http_port: int
    http_secure: bool
    grpc_host: str
    grpc_port: int
    grpc_secure: bool
    api_key: str | None = None
    server: WeaviateTestServer | None = None

    @property
    def is_real(self) -> bool:
        return self.server is None

    @property
    def url(self) -> str:
        scheme = "https" if self.http_secure else "http"
        return f"{scheme}://{self.http_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"

    def _kwargs(self, skip_init_checks: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "http_host": self.http_host,
            "http_port": self.http_port,
            "http_secure": self.http_secure,
            "grpc_host": self.grpc_host,
            "grpc_port": self.grpc_port,
            "grpc_secure": self.grpc_secure,
            "skip_init_checks": skip_init_checks,
        }
        if self.api_key:
            kwargs["auth_credentials"] = Auth.api_key(self.api_key)
        return kwargs

    def connect(self, *, skip_init_checks: bool = True, **extra: Any) -> weaviate.WeaviateClient:
        """A connected sync client; the caller closes it."""
        return weaviate.connect_to_custom(**self._kwargs(skip_init_checks), **extra)

    def async_client(
        self, *, skip_init_checks: bool = True, **extra: Any
    ) -> weaviate.WeaviateAsyncClient:
        """An async client, not yet connected: `async with endpoint.async_client() as c:`."""
        return weaviate.use_async_with_custom(**self._kwargs(skip_init_checks), **extra)

    @classmethod
    def for_server(cls, server: WeaviateTestServer) -> WeaviateEndpoint:
        return cls(
            http_host=server.host,
            http_port=server.http_port,
            http_secure=False,
            grpc_host=server.host,
            grpc_port=server.grpc_port,
            grpc_secure=False,
            server=server,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WeaviateEndpoint | None:
        """The real Weaviate named by WEAVIATE_URL (+ WEAVIATE_GRPC_URL, WEAVIATE_API_KEY)."""
        raw = (env.get("WEAVIATE_URL") or "").strip()
        if not raw:
            return None
        parts = urlsplit(raw if "://" in raw else f"http://{raw}")
        secure = parts.scheme == "https"
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 8080)
        grpc_raw = (env.get("WEAVIATE_GRPC_URL") or "").strip()
        grpc_raw = re.sub(r"^[a-z]+://", "", grpc_raw)
        if grpc_raw:
            grpc_host, _, grpc_port = grpc_raw.rpartition(":")
            grpc_host = grpc_host or host
            grpc_port_int = int(grpc_port)
        else:
            grpc_host, grpc_port_int = host, (443 if secure else 50051)
        return cls(
            http_host=host,
            http_port=port,
            http_secure=secure,
            grpc_host=grpc_host,
            grpc_port=grpc_port_int,
            grpc_secure=secure,
            api_key=env.get("WEAVIATE_API_KEY") or None,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{TEST_SERVER_ONLY}: needs the in-process Weaviate test server (fault injection "
        "or white-box state); skipped when WEAVIATE_URL points at a real Weaviate",
    )
    # Read once, before any test monkeypatches WEAVIATE_URL at the test server.
    config.stash[_REAL_KEY] = WeaviateEndpoint.from_env(os.environ)


def real_weaviate(config: pytest.Config) -> WeaviateEndpoint | None:
    """The real Weaviate the contract tests target, if WEAVIATE_URL was set at start."""
    return config.stash.get(_REAL_KEY, None)


def pytest_runtest_setup(item: pytest.Item) -> None:
    real = real_weaviate(item.config)
    if real is not None and item.get_closest_marker(TEST_SERVER_ONLY) is not None:
        pytest.skip(
            f"needs the in-process Weaviate test server (faults / white-box state); "
            f"WEAVIATE_URL points at a real Weaviate ({real.url})"
        )


@contextmanager
def _running(tmp: Path) -> Iterator[WeaviateTestServer]:
    """A test server with its backup directory under `tmp`, stopped however the block ends."""
    server = WeaviateTestServer(backup_dir=tmp / "weaviate-backups").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def weaviate_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WeaviateTestServer]:
    """A fresh in-process Weaviate test server for this test.

    A `real_weaviate` test that asks for it while the suite targets a real Weaviate is
    skipped: its client would talk to one server and its assertions to another.
    """
    real = real_weaviate(request.config)
    if real is not None and request.node.get_closest_marker(REAL_MARKER) is not None:
        pytest.skip(
            f"uses the in-process test server directly; WEAVIATE_URL points at a real "
            f"Weaviate ({real.url})"
        )
    with _running(tmp_path_factory.mktemp("weaviate")) as server:
        yield server


@pytest.fixture
def weaviate_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., WeaviateTestServer]]:
    """Start extra servers with options, e.g. `factory(latency_ms=50, auto_schema=False)`.

    Every server gets its own backup directory unless one is given; all are stopped
    at teardown.
    """
    started: list[WeaviateTestServer] = []

    def make(**options: Any) -> WeaviateTestServer:
        options.setdefault("backup_dir", tmp_path_factory.mktemp("weaviate-extra") / "backups")
        server = WeaviateTestServer(**options).start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def second_weaviate_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WeaviateTestServer]:
    """An independent second server (another "cluster"), with its own backup dir."""
    with _running(tmp_path_factory.mktemp("weaviate2")) as server:
        yield server


@pytest.fixture(scope="module")
def weaviate_server_module(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WeaviateTestServer]:
    """One server for a whole module; pair with `weaviate_server_reset` per test."""
    with _running(tmp_path_factory.mktemp("weaviate-module")) as server:
        yield server


@pytest.fixture
def weaviate_server_reset(weaviate_server_module: WeaviateTestServer) -> WeaviateTestServer:
    """The module's server, emptied and with faults cleared, running, before this test."""
    weaviate_server_module.start()
    weaviate_server_module.reset()
    return weaviate_server_module


@pytest.fixture
def weaviate_endpoint(request: pytest.FixtureRequest) -> WeaviateEndpoint:
    """Real Weaviate for `real_weaviate`-marked tests when WEAVIATE_URL was set, else the test server."""
    real = real_weaviate(request.config)
    if real is not None and request.node.get_closest_marker(REAL_MARKER) is not None:
        return real
    server: WeaviateTestServer = request.getfixturevalue("weaviate_server")
    return WeaviateEndpoint.for_server(server)


@pytest.fixture
def weaviate_client(weaviate_endpoint: WeaviateEndpoint) -> Iterator[weaviate.WeaviateClient]:
    """A connected sync client for `weaviate_endpoint`, closed at teardown."""
    client = weaviate_endpoint.connect()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def weaviate_env(
    weaviate_endpoint: WeaviateEndpoint, monkeypatch: pytest.MonkeyPatch
) -> WeaviateEndpoint:
    """Point WEAVIATE_URL / WEAVIATE_GRPC_URL (and WEAVIATE_MODE=url) at the endpoint."""
    monkeypatch.setenv("WEAVIATE_URL", weaviate_endpoint.url)
    monkeypatch.setenv("WEAVIATE_GRPC_URL", weaviate_endpoint.grpc_url)
    monkeypatch.setenv("WEAVIATE_MODE", "url")
    if not weaviate_endpoint.is_real:
        monkeypatch.delenv("WEAVIATE_API_KEY", raising=False)
    return weaviate_endpoint


@pytest.fixture
def unique_collection_name(request: pytest.FixtureRequest) -> str:
    """A collection name no other test (or person) uses; safe on a shared real server."""
    base = re.sub(r"[^0-9A-Za-z]", "", request.node.name.title())[:40] or "Test"
    return f"T{base}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def collection_name(
    weaviate_client: weaviate.WeaviateClient, unique_collection_name: str
) -> Iterator[str]:
    """`unique_collection_name`, its collection deleted at teardown (safe on a real server)."""
    yield unique_collection_name
    weaviate_client.collections.delete(unique_collection_name)
