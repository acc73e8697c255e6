"""Open a weaviate-client connection from settings, or from an explicit target.

Three ways to reach Weaviate, chosen by `Settings.weaviate_mode`:

- ``embedded``: the client downloads and starts a Weaviate binary (pinned version,
  data under ``ELYSIA_HOME/weaviate``). Zero setup on a laptop, but the first start
  needs internet access, so the error says so and points at WEAVIATE_URL.
- ``url``: a local or self-hosted server over HTTP + gRPC. The gRPC address defaults
  to the HTTP host on port 50051, which is what a stock Weaviate listens on.
- ``cloud``: Weaviate Cloud with an API key read from the environment variable
  *named* by the settings (the key itself is never stored or logged).

Restore across clusters needs a second connection that is not the configured one,
hence `WeaviateTarget`: the same fields, built from settings or given explicitly.
Every failure to connect ends in one `ElysiaError` naming the HTTP URL and gRPC
address and what to check, never a client traceback.
"""

from __future__ import annotations

import logging
import socket
import tarfile
import urllib.error
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import weaviate
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.exceptions import (
    AuthenticationFailedError,
    InsufficientPermissionsError,
    UnexpectedStatusCodeError,
    WeaviateEmbeddedInvalidVersionError,
    WeaviateGRPCUnavailableError,
    WeaviateStartUpError,
)

from elysia_pipelines.errors import ConfigError, ElysiaError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.retry import is_transient, short_error, transient_retry
from elysia_pipelines.weaviate.target import (
    DEFAULT_GRPC_PORT,
    EMBEDDED_GRPC_PORT,
    EMBEDDED_HOST,
    EMBEDDED_HTTP_PORT,
    WeaviateTarget,
    _as_target,
)
from elysia_pipelines.weaviate.target import (
    Endpoint as Endpoint,
)
from elysia_pipelines.weaviate.target import (
    describe_target as describe_target,
)

log = logging.getLogger(__name__)


def _additional_config(target: WeaviateTarget) -> AdditionalConfig:
    # init covers the start-up checks (meta, gRPC health); keep it short so a dead
    # server is reported quickly, while query/insert get the full configured budget.
    init = min(max(target.timeout_s / 4, 2.0), 30.0)
    return AdditionalConfig(
        timeout=Timeout(init=init, query=target.timeout_s, insert=target.timeout_s)
    )


def _is_listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _connect_once(target: WeaviateTarget) -> weaviate.WeaviateClient:
    client = _open_unchecked(target)
    try:
        _check_grpc(client)
    except BaseException:
        client.close()
        raise
    return client


def _check_grpc(client: weaviate.WeaviateClient) -> None:
    """The gRPC health check weaviate-client runs at start-up, without its PyPI query.

    The client's own start-up checks (`skip_init_checks=False`) also ask pypi.org for
    the newest weaviate-client release on *every* connect: 0.2 s per connection here,
    up to the init timeout (2 s and more) on a host without internet access, and a
    request to a third party from every sync step. The gRPC check is the part whose
    failure we explain (`_unreachable`); it raises WeaviateGRPCUnavailableError as before.
    """
    ping = getattr(client._connection, "_ping_grpc", None)
    if ping is not None:  # a client version without it reports gRPC at the first call
        ping("sync")


def _open_unchecked(target: WeaviateTarget) -> weaviate.WeaviateClient:
    config = _additional_config(target)
    headers = target.module_headers()
    if target.mode == "cloud":
        key = target.api_key()
        if key is None:
            raise ConfigError(
                f"Weaviate Cloud at {target.shown_url} needs an API key, "
                f"but ${target.api_key_env or 'WEAVIATE_API_KEY'} is not set",
                f"export {target.api_key_env or 'WEAVIATE_API_KEY'}=<your cluster's API key> "
                "(WEAVIATE_API_KEY_ENV names a different variable)",
            )
        return weaviate.connect_to_weaviate_cloud(
            cluster_url=target.http_url or "",
            auth_credentials=Auth.api_key(key),
            headers=headers,
            additional_config=config,
            skip_init_checks=True,
        )
    if target.mode == "url":
        http, grpc_ = target.http_endpoint, target.grpc_endpoint
        key = target.api_key()
        return weaviate.connect_to_custom(
            http_host=http.host,
            http_port=http.port,
            http_secure=http.secure,
            grpc_host=grpc_.host,
            grpc_port=grpc_.port,
            grpc_secure=grpc_.secure,
            headers=headers,
            additional_config=config,
            skip_init_checks=True,
            auth_credentials=Auth.api_key(key) if key else None,
        )
    return _connect_embedded(target, config, headers)


def _connect_embedded(
    target: WeaviateTarget, config: AdditionalConfig, headers: dict[str, str]
) -> weaviate.WeaviateClient:
    base = target.embedded_dir or Settings().embedded_weaviate_dir
    binary_dir = base / "bin"
    if _is_listening(EMBEDDED_HOST, EMBEDDED_HTTP_PORT) and _is_listening(
        EMBEDDED_HOST, EMBEDDED_GRPC_PORT
    ):
        # Another process (a Dagster step, the CLI) already started it: share it.
        return weaviate.connect_to_local(
            host=EMBEDDED_HOST,
            port=EMBEDDED_HTTP_PORT,
            grpc_port=EMBEDDED_GRPC_PORT,
            headers=headers,
            additional_config=config,
            skip_init_checks=True,
        )
    try:
        return weaviate.connect_to_embedded(
            hostname=EMBEDDED_HOST,
            port=EMBEDDED_HTTP_PORT,
            grpc_port=EMBEDDED_GRPC_PORT,
            version=target.embedded_version,
            persistence_data_path=str(base / "data"),
            binary_path=str(binary_dir),
            headers=headers,
            additional_config=config,
        )
    except WeaviateEmbeddedInvalidVersionError:
        raise ConfigError(
            f"WEAVIATE_EMBEDDED_VERSION={target.embedded_version!r} is not a Weaviate version",
            "use a release number such as 1.32.0 (or a URL of a weaviate .tar.gz)",
        ) from None
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        downloading = isinstance(exc, urllib.error.URLError | tarfile.TarError) or not any(
            p.name.startswith("weaviate-") for p in binary_dir.glob("weaviate-*")
        )
        if downloading:
            raise ElysiaError(
                f"Embedded Weaviate {target.embedded_version} is not installed in {binary_dir} "
                f"and downloading it failed: {short_error(exc)}",
                "embedded mode downloads the Weaviate binary on first use, which needs "
                "internet access; offline, run a Weaviate server and set WEAVIATE_URL "
                "(e.g. WEAVIATE_URL=http://localhost:8080), or place the binary there",
            ) from exc
        raise ElysiaError(
            f"Embedded Weaviate could not start from {binary_dir}: {short_error(exc)}",
            "check the directory is writable and the binary runs on this platform, "
            "or run a Weaviate server and set WEAVIATE_URL",
        ) from exc
    except WeaviateStartUpError as exc:
        raise ElysiaError(
            f"Embedded Weaviate did not start: {short_error(exc)}",
            f"ports {EMBEDDED_HTTP_PORT}/{EMBEDDED_GRPC_PORT} must be free and the platform "
            "supported (Linux/macOS); otherwise run a Weaviate server and set WEAVIATE_URL",
        ) from exc


def _unreachable(target: WeaviateTarget, attempts: int, exc: BaseException) -> ElysiaError:
    if target.mode == "embedded":
        where = f"embedded Weaviate at http://{target.http_endpoint}"
    else:
        where = f"Weaviate at {target.shown_url}"
    grpc_ = target.grpc_endpoint
    if isinstance(exc, WeaviateGRPCUnavailableError):
        return ElysiaError(
            f"{where} answered over HTTP but its gRPC API at {grpc_} did not "
            f"(after {attempts} attempt(s))",
            f"set {target.grpc_setting} to the server's gRPC host:port (default: the "
            f"{target.url_setting} host on port {DEFAULT_GRPC_PORT}) and make sure no firewall "
            "or proxy blocks it",
        )
    return ElysiaError(
        f"Cannot reach {where} (gRPC {grpc_}) after {attempts} attempt(s): {short_error(exc)}",
        f"is the Weaviate server running? Check {target.url_setting} (and "
        f"{target.grpc_setting}; gRPC defaults to port {DEFAULT_GRPC_PORT} on the same host) "
        "and that no firewall blocks the HTTP and gRPC ports",
    )


def connect(target: Settings | WeaviateTarget) -> weaviate.WeaviateClient:
    """A connected client; retries transient start-up failures, then one ElysiaError.

    The caller owns the client and must close it; prefer `open_client`.
    """
    resolved = _as_target(target)
    resolved.check_distinct_ports()
    attempts = resolved.retries + 1
    log.info("connecting to %s", resolved.describe())
    try:
        for attempt in transient_retry(
            attempts, max_wait_s=min(10.0, resolved.timeout_s), what="connect to Weaviate"
        ):
            with attempt:
                return _connect_once(resolved)
    except ElysiaError:
        raise
    except (AuthenticationFailedError, InsufficientPermissionsError) as exc:
        raise _auth_error(resolved, exc) from exc
    except UnexpectedStatusCodeError as exc:
        if exc.status_code in (401, 403):
            raise _auth_error(resolved, exc) from exc
        if is_transient(exc):
            raise _unreachable(resolved, attempts, exc) from exc
        raise ElysiaError(
            f"Weaviate at {resolved.shown_url} refused the connection: {short_error(exc)}",
            "check that WEAVIATE_URL points at a Weaviate server (not a proxy or another service)",
        ) from exc
    except WeaviateStartUpError as exc:
        if not is_transient(exc):
            raise ElysiaError(
                f"Weaviate at {resolved.describe()} cannot be used: {short_error(exc)}",
                "use Weaviate 1.27 or newer",
            ) from exc
        raise _unreachable(resolved, attempts, exc) from exc
    except Exception as exc:
        raise _unreachable(resolved, attempts, exc) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")


def _auth_error(target: WeaviateTarget, exc: BaseException) -> ElysiaError:
    var = target.api_key_env or "WEAVIATE_API_KEY"
    state = "is set" if target.api_key() else "is not set"
    return ElysiaError(
        f"Weaviate at {target.shown_url} rejected our credentials: {short_error(exc)}",
        f"${var} {state}; put a valid API key for this cluster in it "
        "(WEAVIATE_API_KEY_ENV names a different variable)",
    )


@contextmanager
def open_client(target: Settings | WeaviateTarget) -> Iterator[weaviate.WeaviateClient]:
    """`with open_client(settings) as client:` connects, and always closes."""
    client = connect(target)
    try:
        yield client
    finally:
        client.close()


def server_meta(client: weaviate.WeaviateClient) -> dict[str, Any]:
    """`/v1/meta`: the server's version and enabled modules."""
    for attempt in transient_retry(3, max_wait_s=5.0, what="read Weaviate meta"):
        with attempt:
            return dict(client.get_meta())
    raise AssertionError("unreachable")


def server_version(client: weaviate.WeaviateClient) -> str:
    """The server's version string, e.g. '1.32.0' (for metadata and compatibility checks)."""
    return str(server_meta(client).get("version", "unknown"))


def node_count(client: weaviate.WeaviateClient) -> int:
    """Nodes in the cluster; 1 for an old server or a proxy without `/v1/nodes`."""
    try:
        for attempt in transient_retry(3, max_wait_s=5.0, what="list Weaviate nodes"):
            with attempt:
                return len(client.cluster.nodes())
    except Exception:
        return 1
    raise AssertionError("unreachable")
