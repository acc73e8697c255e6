"""Where Weaviate is and how to reach it: addresses, key variable, no client.

Split from `connection` so that status views, the CLI's option parsing and anything
else that only needs to *name* a target never import weaviate-client (about a second
of start-up); `connection` re-exports everything here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from elysia_pipelines.errors import ConfigError
from elysia_pipelines.redaction import redact_url
from elysia_pipelines.settings import WEAVIATE_MODES, Settings

DEFAULT_GRPC_PORT = 50051
EMBEDDED_HOST = "127.0.0.1"
EMBEDDED_HTTP_PORT = 8079
EMBEDDED_GRPC_PORT = 50050
# Vectorizer modules call third-party APIs with keys sent as request headers; we
# forward the ones present in the environment so `text2vec-openai` etc. just work.
MODULE_KEY_HEADERS: Mapping[str, str] = {
    "OPENAI_API_KEY": "X-OpenAI-Api-Key",
    "COHERE_API_KEY": "X-Cohere-Api-Key",
    "HUGGINGFACE_API_KEY": "X-HuggingFace-Api-Key",
    "JINAAI_API_KEY": "X-JinaAI-Api-Key",
    "VOYAGEAI_API_KEY": "X-VoyageAI-Api-Key",
    "MISTRAL_API_KEY": "X-Mistral-Api-Key",
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    secure: bool

    def __str__(self) -> str:
        return f"{self.host}:{self.port}{' (TLS)' if self.secure else ''}"


@dataclass(frozen=True)
class WeaviateTarget:
    """Where and how to connect; no secrets, only the name of the key's variable."""

    mode: str = "embedded"
    http_url: str | None = None
    grpc_url: str | None = None
    api_key_env: str | None = "WEAVIATE_API_KEY"
    timeout_s: float = 60.0
    retries: int = 5
    embedded_version: str = "1.32.0"
    embedded_dir: Path | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    # Where the addresses came from, named in hints: the settings, or the options of a
    # cross-cluster restore (whose user never set WEAVIATE_URL for that cluster).
    url_setting: str = "WEAVIATE_URL"
    grpc_setting: str = "WEAVIATE_GRPC_URL"

    def __post_init__(self) -> None:
        if self.mode not in WEAVIATE_MODES:
            raise ConfigError(
                f"unknown Weaviate mode {self.mode!r}", f"use one of: {', '.join(WEAVIATE_MODES)}"
            )
        if self.mode in ("url", "cloud"):
            if not self.http_url:
                raise ConfigError(
                    f"Weaviate mode {self.mode} needs an HTTP URL",
                    "set WEAVIATE_URL, e.g. http://localhost:8080 or https://xyz.weaviate.cloud",
                )
            parts = urlsplit(self.http_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"{self.http_url!r} is not an http(s) URL",
                    "give the Weaviate REST address like http://localhost:8080",
                )
        if self.timeout_s <= 0:
            raise ConfigError(f"Weaviate timeout {self.timeout_s} must be positive")
        if self.retries < 0:
            raise ConfigError(f"Weaviate retries {self.retries} must be >= 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> WeaviateTarget:
        return cls(
            mode=settings.weaviate_mode,
            http_url=settings.weaviate_url,
            grpc_url=settings.weaviate_grpc_url,
            api_key_env=settings.weaviate_api_key_env,
            timeout_s=settings.weaviate_timeout_s,
            retries=settings.weaviate_retries,
            embedded_version=settings.weaviate_embedded_version,
            embedded_dir=settings.embedded_weaviate_dir,
        )

    @classmethod
    def for_url(
        cls,
        http_url: str,
        grpc_url: str | None = None,
        *,
        api_key_env: str | None = None,
        cloud: bool = False,
        timeout_s: float = 60.0,
        retries: int = 5,
        url_setting: str = "WEAVIATE_URL",
        grpc_setting: str = "WEAVIATE_GRPC_URL",
    ) -> WeaviateTarget:
        """An explicit server, e.g. the destination of a cross-cluster restore."""
        return cls(
            mode="cloud" if cloud else "url",
            http_url=http_url.rstrip("/"),
            grpc_url=grpc_url,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            retries=retries,
            url_setting=url_setting,
            grpc_setting=grpc_setting,
        )

    def check_distinct_ports(self) -> None:
        """Refuse a gRPC address equal to the REST one before weaviate-client sees it.

        The client would answer with a pydantic ValidationError about its connection
        parameters, which names neither setting.
        """
        if self.mode == "embedded":
            return
        http, grpc = self.http_endpoint, self.grpc_endpoint
        if (http.host, http.port) == (grpc.host, grpc.port):
            raise ConfigError(
                f"{self.grpc_setting} names the REST address {http.host}:{http.port} "
                f"of {self.url_setting}",
                f"Weaviate serves gRPC on its own port ({DEFAULT_GRPC_PORT} by default): "
                f"set {self.grpc_setting} to it",
            )

    @property
    def http_endpoint(self) -> Endpoint:
        if self.mode == "embedded" or not self.http_url:
            return Endpoint(EMBEDDED_HOST, EMBEDDED_HTTP_PORT, False)
        parts = urlsplit(self.http_url)
        secure = parts.scheme == "https"
        return Endpoint(
            parts.hostname or "localhost", parts.port or (443 if secure else 80), secure
        )

    @property
    def grpc_endpoint(self) -> Endpoint:
        """WEAVIATE_GRPC_URL if given, else the HTTP host on the standard gRPC port."""
        if self.mode == "embedded":
            return Endpoint(EMBEDDED_HOST, EMBEDDED_GRPC_PORT, False)
        http = self.http_endpoint
        if self.mode == "cloud" and not self.grpc_url:
            return Endpoint(f"grpc-{http.host}", 443, True)
        if not self.grpc_url:
            return Endpoint(http.host, DEFAULT_GRPC_PORT, http.secure)
        raw = self.grpc_url.strip().rstrip("/")
        secure = http.secure
        for prefix, is_secure in (
            ("grpcs://", True),
            ("https://", True),
            ("grpc://", False),
            ("http://", False),
        ):
            if raw.startswith(prefix):
                raw, secure = raw[len(prefix) :], is_secure
                break
        host, _, port = raw.rpartition(":")
        if not host or not port.isdigit():
            return Endpoint(raw, 443 if secure else DEFAULT_GRPC_PORT, secure)
        return Endpoint(host, int(port), secure)

    def api_key(self) -> str | None:
        """The key's value, read now from the named variable (never cached)."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env, "").strip()
        return value or None

    def module_headers(self) -> dict[str, str]:
        """Vectorizer key headers present in the environment, then this target's own."""
        headers = {
            header: os.environ[var].strip()
            for var, header in MODULE_KEY_HEADERS.items()
            if os.environ.get(var, "").strip()
        }
        headers.update(self.extra_headers)
        return headers

    def rest_headers(self) -> dict[str, str]:
        """What a plain REST call sends: JSON, the module keys, the API key as a bearer."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.module_headers())
        key = self.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    @property
    def shown_url(self) -> str:
        """The HTTP address without credentials or query, for messages."""
        return redact_url(self.http_url or "").rstrip("/")

    def describe(self) -> str:
        """For logs and asset metadata: addresses and the key's variable name, no secrets."""
        if self.mode == "embedded":
            where = self.embedded_dir if self.embedded_dir else "default data dir"
            return (
                f"embedded Weaviate {self.embedded_version} "
                f"(http {self.http_endpoint}, gRPC {self.grpc_endpoint}, data {where})"
            )
        auth = (
            f", API key from ${self.api_key_env}"
            if self.api_key_env and self.api_key()
            else ", anonymous"
        )
        return f"{self.mode} {self.shown_url} (gRPC {self.grpc_endpoint}){auth}"


def describe_target(target: Settings | WeaviateTarget) -> str:
    return _as_target(target).describe()


def _as_target(target: Settings | WeaviateTarget) -> WeaviateTarget:
    return target if isinstance(target, WeaviateTarget) else WeaviateTarget.from_settings(target)
