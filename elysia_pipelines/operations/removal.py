"""Removing a repository's local state: one use case the CLI calls, so nothing is left behind.

Besides its mirror, a repository owns the collection-keyed files of the pipeline (a
collection belongs to one repository; `repo add` refuses a second): pending, processed and
failed change sets, dead letters, the ingest checkpoint and its lock (`layout.collection_state_paths`). They go with it: a
checkpoint left behind would make a re-added repository's change sets (whose sequence
numbers start again at 1) look stale. The collection in Weaviate is the caller's decision.
"""

from __future__ import annotations

import shutil

from elysia_pipelines.layout import collection_state_paths
from elysia_pipelines.registry import Repository
from elysia_pipelines.settings import Settings


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
