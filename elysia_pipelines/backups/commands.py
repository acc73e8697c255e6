"""A backup or a restore as `elysiactl col` runs it: in the warm worker, or here.

A fresh process spends ~0.16 CPU-s (JSON backup) to ~0.36 CPU-s (Parquet backup,
restore: pyarrow and numpy alone are 0.24) starting before its first request, a large
share of a whole command that the plain REST tools it is measured against do not pay
(README, "Backup and restore, whole process"). So a server reached by URL is served
by the warm worker (`warm_worker.py`), which has imported all of it once: the command
process then imports neither pyarrow nor the restore machinery, and hears the counts
for its progress bar over the worker's socket. With ELYSIA_WARM=off, while no worker
is ready yet, and in embedded mode (whose client starts the Weaviate server in the
calling process) the same functions run in the command's process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from elysia_pipelines import warm_worker
from elysia_pipelines.errors import ConfigError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.target import WeaviateTarget

if TYPE_CHECKING:
    from elysia_pipelines.backups.backup_spec import BackupOptions, BackupResult
    from elysia_pipelines.backups.restore_report import RestoreReport

Progress = Callable[[int, int | None], None]


def backup(
    settings: Settings,
    collection: str,
    options: BackupOptions,
    *,
    progress: Progress | None = None,
) -> BackupResult:
    """Back up `collection` (export.backup_collection), warm when a worker serves."""
    kwargs = {"settings": settings, "collection": collection, "options": options}
    if settings.weaviate_mode == "embedded":
        return backup_here(**kwargs, progress=progress)  # type: ignore[arg-type]
    return warm_worker.call(settings.home, f"{__name__}:backup_here", kwargs, progress=progress)  # type: ignore[no-any-return]


def backup_here(
    settings: Settings,
    collection: str,
    options: BackupOptions,
    *,
    progress: Progress | None = None,
) -> BackupResult:
    """The backup in this process, reading through `_open_target`."""
    from elysia_pipelines.backups.export import backup_collection

    with _open_target(WeaviateTarget.from_settings(settings)) as client:
        return backup_collection(client, collection, settings, options, progress=progress)


def restore_target(
    settings: Settings, url: str | None, grpc_url: str | None, api_key_env: str | None
) -> tuple[WeaviateTarget, str | None]:
    """The connection to restore into, and a label naming it in state file names."""
    if url is None:
        if grpc_url or api_key_env:
            raise ConfigError(
                "--target-grpc-url and --target-api-key-env need --target-url",
                "give the target cluster's REST address with --target-url http(s)://host:port",
            )
        return WeaviateTarget.from_settings(settings), None
    target = WeaviateTarget.for_url(
        url,
        grpc_url,
        api_key_env=api_key_env,
        cloud=(urlsplit(url).hostname or "").endswith((".weaviate.cloud", ".weaviate.network")),
        timeout_s=settings.weaviate_timeout_s,
        retries=min(settings.weaviate_retries, 2),
        url_setting="--target-url",
        grpc_setting="--target-grpc-url",
    )
    parts = urlsplit(url)
    return target, f"{parts.hostname}-{parts.port or ''}"


def restore(
    settings: Settings,
    backup_ref: str,
    options: dict[str, Any],
    *,
    target_url: str | None = None,
    target_grpc_url: str | None = None,
    target_api_key_env: str | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """Restore `backup_ref` (restore.restore_backup), warm when a worker serves.

    `options`: RestoreOptions' fields but `settings` (the class lives with pyarrow).
    """
    kwargs = {
        "settings": settings,
        "backup_ref": backup_ref,
        "options": options,
        "target_url": target_url,
        "target_grpc_url": target_grpc_url,
        "target_api_key_env": target_api_key_env,
    }
    if target_url is None and settings.weaviate_mode == "embedded":
        return restore_here(**kwargs, progress=progress)  # type: ignore[arg-type]
    return warm_worker.call(settings.home, f"{__name__}:restore_here", kwargs, progress=progress)  # type: ignore[no-any-return]


def restore_here(
    settings: Settings,
    backup_ref: str,
    options: dict[str, Any],
    *,
    target_url: str | None = None,
    target_grpc_url: str | None = None,
    target_api_key_env: str | None = None,
    progress: Progress | None = None,
) -> RestoreReport:
    """The restore in this process. The backup and the options are checked before the
    target is (it may be another cluster, with its own credentials and timeouts)."""
    from elysia_pipelines.backups.restore import RestoreOptions, open_for_restore, restore_backup
    from elysia_pipelines.process_memory import unmap_large_buffers

    unmap_large_buffers()  # batch bodies freed by writer threads go back to the system
    restore_options = RestoreOptions(**options, settings=settings)
    reader = open_for_restore(backup_ref, restore_options, settings)
    target, label = restore_target(settings, target_url, target_grpc_url, target_api_key_env)
    if label:
        restore_options = replace(restore_options, target_label=label)
    with _open_target(target) as client:
        return restore_backup(reader, client, restore_options, progress=progress)


def _open_target(target: WeaviateTarget) -> Any:
    """A REST session for a server reached by URL (no weaviate-client import: restore
    connects a client only if it must create a collection or read existing objects);
    the client for embedded mode, which must start the server first."""
    if target.mode == "embedded":
        from elysia_pipelines.weaviate.connection import open_client

        return open_client(target)
    from elysia_pipelines.weaviate.rest_session import RestSession

    return RestSession(target)
