"""Where the pipeline keeps each collection's files under ELYSIA_HOME.

A change set is written into pending/<collection>/, moves to processed/<collection>/
once applied, or to failed/<collection>/ (with an `.error.json`) when it cannot be or a
blocking check quarantines it; dead letters and the ingest checkpoint are kept per
collection too. The assets, their checks and `repo remove` ask here instead of joining
directories themselves, so a file is looked for where it really goes.
"""

from __future__ import annotations

from pathlib import Path

from elysia_pipelines.settings import Settings


def pending_dir(settings: Settings, collection: str) -> Path:
    return settings.pending_dir / collection


def processed_dir(settings: Settings, collection: str) -> Path:
    return settings.processed_dir / collection


def failed_dir(settings: Settings, collection: str) -> Path:
    return settings.failed_dir / collection


def dead_letter_dir(settings: Settings, collection: str) -> Path:
    return settings.dead_letter_dir / collection


def checkpoint_path(settings: Settings, collection: str) -> Path:
    return settings.checkpoints_dir / f"{collection}.json"


def processed_place(settings: Settings, collection: str, change_set: Path) -> Path:
    """Where a change set stays once applied: pending/ is left within seconds of a sync."""
    return processed_dir(settings, collection) / change_set.name


def is_pending(settings: Settings, collection: str, change_set: Path) -> bool:
    return change_set.parent == pending_dir(settings, collection)


def find_change_set(settings: Settings, collection: str, recorded: Path) -> Path:
    """The change set recorded as `recorded`, wherever it is now (`recorded` if nowhere).

    It is recorded as its place in processed/; until ingestion it still waits in
    pending/, and a failed one lies in failed/.
    """
    for candidate in (
        pending_dir(settings, collection) / recorded.name,
        recorded,
        processed_dir(settings, collection) / recorded.name,
        failed_dir(settings, collection) / recorded.name,
    ):
        if candidate.exists():
            return candidate
    return recorded


def collection_state_paths(settings: Settings, collection: str) -> list[Path]:
    """Every file or directory the pipeline keeps for one collection (not its backups)."""
    checkpoint = checkpoint_path(settings, collection)
    return [
        pending_dir(settings, collection),
        processed_dir(settings, collection),
        failed_dir(settings, collection),
        dead_letter_dir(settings, collection),
        checkpoint,
        checkpoint.with_suffix(".lock"),
    ]
