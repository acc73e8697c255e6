"""Resources: where state lives (settings) and how to reach Weaviate.

Both default to the environment (`Settings.from_env`) so the webserver, the daemon,
runs and `elysiactl` agree without extra configuration; fields set in run config or
in `Definitions` override single values (tests point `home` at a tmp dir).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from elysia_pipelines.registry import Registry, Repository
from elysia_pipelines.settings import Settings


class ElysiaSettings(dg.ConfigurableResource):
    """ELYSIA_HOME and friends; unset fields come from the environment."""

    home: str | None = Field(
        default=None, description="State directory; default $ELYSIA_HOME or ./.elysia"
    )

    # Built once per run (or sensor tick) in setup_for_execution: every asset and check
    # of a run then reads one environment snapshot and creates the directories once.
    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._settings = self._build()

    def _build(self) -> Settings:
        settings = Settings.from_env()
        if self.home:
            settings = settings.with_home(Path(self.home))
        return settings.ensure_dirs()

    def get(self) -> Settings:
        return self._settings if self._settings is not None else self._build()

    def registry(self) -> Registry:
        return Registry(self.get().registry_path)

    def settings_and_repo(self, name: str) -> tuple[Settings, Repository]:
        """What every per-repository asset and check starts with."""
        settings = self.get()
        return settings, Registry(settings.registry_path).get(name)


class WeaviateResource(dg.ConfigurableResource):
    """Connection to Weaviate; unset fields come from WEAVIATE_* environment variables.

    The API key is never a field: only the *name* of the variable holding it, so it
    does not show up in the UI or in run config. Within a run its steps share one
    client, closed when the run ends; so it is a context-manager resource, and a context
    built by hand that includes it must be opened with `with dg.build_..._context(...)`.
    """

    url: str | None = Field(default=None, description="HTTP URL; default $WEAVIATE_URL")
    grpc_url: str | None = Field(default=None, description="host:port; default $WEAVIATE_GRPC_URL")
    api_key_env: str | None = Field(
        default=None, description="Name of the env var holding the API key"
    )
    timeout_s: float | None = Field(default=None, description="Per-request timeout in seconds")

    # Set while a run (or a tick) holds this resource: its steps share one client.
    _in_execution: bool = PrivateAttr(default=False)
    _shared: Any = PrivateAttr(default=None)
    _shared_session: Any = PrivateAttr(default=None)
    _settings: Settings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Connecting costs a meta request and a gRPC health check (0.1-0.6 s); a sync's
        # ingestion and its checks run in one process, so they share one connection,
        # opened at first use (a run that never talks to Weaviate opens none).
        self._in_execution = True
        self._settings = self._build()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for shared in (self._shared, self._shared_session):
            if shared is not None:
                shared.close()
        self._shared = self._shared_session = None

    def settings(self) -> Settings:
        return self._settings if self._settings is not None else self._build()

    def _build(self) -> Settings:
        settings = Settings.from_env()
        changes: dict[str, object] = {}
        if self.url:
            changes.update(weaviate_url=self.url.rstrip("/"), weaviate_mode="url")
        if self.grpc_url:
            changes["weaviate_grpc_url"] = self.grpc_url
        if self.api_key_env:
            changes["weaviate_api_key_env"] = self.api_key_env
        if self.timeout_s:
            changes["weaviate_timeout_s"] = self.timeout_s
        return replace(settings, **changes) if changes else settings

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A connected client: the run's shared one during execution, else a fresh one.

        A step that fails drops the shared client, so its retry (or the next step)
        reconnects instead of reusing a connection that may be what failed.
        """
        # Imported lazily: loading definitions must not pay for (or fail on) the client.
        from elysia_pipelines.weaviate.connection import connect, open_client

        if not self._in_execution:
            with open_client(self.settings()) as client:
                yield client
            return
        if self._shared is None:
            self._shared = connect(self.settings())
        try:
            yield self._shared
        except BaseException:
            shared, self._shared = self._shared, None
            shared.close()
            raise

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A `weaviate.session.WeaviateSession` (REST first): what ingestion and its
        checks use, so a sync's process never imports weaviate-client unless it must.

        Shared by a run's steps like `client`, and dropped the same way after a failure.
        """
        from elysia_pipelines.weaviate.session import WeaviateSession
        from elysia_pipelines.weaviate.target import WeaviateTarget

        if not self._in_execution:
            with WeaviateSession(WeaviateTarget.from_settings(self.settings())) as session:
                yield session
            return
        if self._shared_session is None:
            self._shared_session = WeaviateSession(WeaviateTarget.from_settings(self.settings()))
        try:
            yield self._shared_session
        except BaseException:
            shared, self._shared_session = self._shared_session, None
            shared.close()
            raise


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"elysia": ElysiaSettings(), "weaviate": WeaviateResource()})
