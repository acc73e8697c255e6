"""Removing a repository: one use case the CLI calls, so nothing is left behind.

Besides its registry row, Dagster partition and mirror, a repository owns the
collection-keyed files of the pipeline (a collection belongs to one repository; `repo
add` refuses a second): pending, processed and failed change sets, dead letters, the
ingest checkpoint and its lock (`layout.collection_state_paths`). They go with it: a
checkpoint left behind would make a re-added repository's change sets look stale.

What stays: the collection in Weaviate (unless the caller asks for it to be deleted),
the backups and their catalog rows (a removed repository can still be restored), and
the sync history rows in the registry.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from elysia_pipelines.layout import collection_state_paths
from elysia_pipelines.registry import Registry, Repository
from elysia_pipelines.settings import Settings

if TYPE_CHECKING:
    from dagster import DagsterInstance

# What `remove_repository` deletes, in the words the confirmation prompt uses.
REMOVED_STATE = (
    "registry row, Dagster partition, mirror, change sets (pending, processed, failed), "
    "dead letters and ingest checkpoint"
)


@dataclass(frozen=True)
class Removal:
    repo: str
    collection: str
    collection_deleted: bool
    removed_paths: list[str]


def remove_repository_files(settings: Settings, repo: Repository) -> list[str]:
    """Delete the mirror and the collection's pipeline files; return what was deleted."""
    from elysia_pipelines.changes.git_source import remove_mirror  # GitPython: only here

    removed = remove_mirror(settings.mirror_path(repo.name))
    for path in collection_state_paths(settings, repo.collection):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(str(path))
    return removed


def remove_repository(
    settings: Settings,
    registry: Registry,
    name: str,
    *,
    delete_collection: bool = False,
    instance: DagsterInstance | None = None,
) -> Removal:
    """Unregister `name` and delete its state (see the module docstring for what stays).

    The collection goes first and the registry row last: a failure on the way leaves
    the repository registered, so the same command can simply be run again.
    """
    from elysia_pipelines import orchestration

    repo = registry.get(name)
    collection_deleted = False
    if delete_collection:
        from elysia_pipelines.weaviate.connection import open_client
        from elysia_pipelines.weaviate.schema import delete_collection as drop

        with open_client(settings) as client:
            collection_deleted = drop(client, repo.collection)
    orchestration.remove_partition(instance or orchestration.get_instance(settings), name)
    removed_paths = remove_repository_files(settings, repo)
    registry.remove(name)
    return Removal(name, repo.collection, collection_deleted, removed_paths)
