"""Housekeeping of processed/: applied change sets are kept N days for audits and replays."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from elysia_pipelines.changes.format import blob_dir_for
from elysia_pipelines.ingest.pending import is_changeset_name
from elysia_pipelines.settings import Settings


def prune_processed(settings: Settings, *, now: float | None = None) -> list[Path]:
    """Delete processed change sets (and their blobs) older than processed_retention_days.

    Age is the file's mtime, i.e. when it was written; the move to processed/ keeps it.
    Returns the removed files.
    """
    cutoff = (time.time() if now is None else now) - settings.processed_retention_days * 86400
    removed: list[Path] = []
    if not settings.processed_dir.is_dir():
        return removed
    for collection_dir in sorted(settings.processed_dir.iterdir()):
        if not collection_dir.is_dir():
            continue
        for path in sorted(collection_dir.iterdir()):
            if not (is_changeset_name(path.name) and path.is_file()):
                continue
            if path.stat().st_mtime >= cutoff:
                continue
            blobs = blob_dir_for(path)
            if blobs.is_dir():
                shutil.rmtree(blobs)
            path.unlink()
            removed.append(path)
    return removed
