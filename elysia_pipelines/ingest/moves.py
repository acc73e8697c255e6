"""Moving change sets between pending/, processed/ and failed/, and unblocking a collection.

A change set is a JSONL file plus, optionally, its `<stem>.blobs/` directory; they
always move together. The blob directory moves first: the JSONL is what makes a
change set visible, so a crash between the two renames leaves a visible file that
still finds its blobs wherever ingestion looks next (it is re-validated).

A file in failed/ blocks its collection (later change sets would be applied out
of order) unless its `.error.json` says `"blocking": false`, which is the case for
stale files (older than what was already applied: they are rejected, and nothing
waits for them).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from elysia_pipelines.changes.format import blob_dir_for
from elysia_pipelines.clock import utc_now_iso
from elysia_pipelines.disk import write_json_atomic
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.ingest.pending import apply_order_key, is_changeset_name
from elysia_pipelines.settings import Settings


def error_file_for(failed_path: Path) -> Path:
    return failed_path.with_name(failed_path.stem + ".error.json")


def move_changeset(path: Path, dest_dir: Path) -> Path:
    """Move a change set and its blobs into `dest_dir`, replacing an earlier copy there."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    blobs = blob_dir_for(path)
    if blobs.is_dir():
        dest_blobs = dest_dir / blobs.name
        if dest_blobs.exists():
            shutil.rmtree(dest_blobs)
        os.replace(blobs, dest_blobs)
    dest = dest_dir / path.name
    os.replace(path, dest)
    return dest


@dataclass(frozen=True)
class FailedChangeSet:
    file: str
    path: Path
    blocking: bool
    reason: str
    problems: list[str]


def fail_changeset(
    settings: Settings,
    collection: str,
    path: Path,
    *,
    reason: str,
    problems: list[str],
    blocking: bool = True,
) -> Path:
    """Move a change set to failed/ with an `.error.json` saying why, line by line."""
    dest_dir = settings.failed_dir / collection
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / path.name
    # Error first: a failed file without its explanation would block silently.
    write_json_atomic(
        error_file_for(dest),
        {
            "file": path.name,
            "collection": collection,
            "failed_at": utc_now_iso(),
            "reason": reason,
            "problems": problems,
            "blocking": blocking,
            "hint": "fix the file (or its cause) and run `elysiactl repo unblock NAME --retry`, "
            "or drop it with `elysiactl repo unblock NAME --discard`",
        },
    )
    return move_changeset(path, dest_dir)


def _read_error(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(error_file_for(path).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def failed_changesets(settings: Settings, collection: str) -> list[FailedChangeSet]:
    directory = settings.failed_dir / collection
    if not directory.is_dir():
        return []
    files = sorted(
        (p for p in directory.iterdir() if is_changeset_name(p.name) and p.is_file()),
        key=apply_order_key,
    )
    result = []
    for path in files:
        error = _read_error(path)
        result.append(
            FailedChangeSet(
                file=path.name,
                path=path,
                # No readable explanation: assume the worst and keep the order safe.
                blocking=bool(error.get("blocking", True)),
                reason=str(error.get("reason", "no .error.json beside the file")),
                problems=[str(p) for p in error.get("problems", [])],
            )
        )
    return result


def blocking_failure(settings: Settings, collection: str) -> FailedChangeSet | None:
    """The first failed change set that later ones must wait for, if any."""
    return next((f for f in failed_changesets(settings, collection) if f.blocking), None)


def unblock(
    settings: Settings,
    collection: str,
    filename: str,
    action: Literal["retry", "discard"] = "retry",
) -> Path | None:
    """Release a failed change set: put it back in pending/ (`retry`) or delete it (`discard`).

    Retry after fixing the file in failed/ (or after fixing what made it fail, e.g.
    registering the repository). Discard drops its changes for good: later change
    sets then apply on top of the collection without them, so a full re-sync may be
    needed to be exact. Returns the file's new path (retry) or None (discard).
    """
    if action not in ("retry", "discard"):
        raise ElysiaError(f"unknown unblock action {action!r}", "use 'retry' or 'discard'")
    name = Path(filename).name
    path = settings.failed_dir / collection / name
    if not path.is_file():
        known = [f.file for f in failed_changesets(settings, collection)]
        raise NotFoundError(
            f"no failed change set {name!r} for collection {collection!r}",
            f"failed change sets: {', '.join(known)}" if known else "nothing is failed there",
        )
    if action == "retry":
        dest = move_changeset(path, settings.pending_dir / collection)
        error_file_for(path).unlink(missing_ok=True)
        return dest
    blobs = blob_dir_for(path)
    if blobs.is_dir():
        shutil.rmtree(blobs)
    path.unlink()
    error_file_for(path).unlink(missing_ok=True)
    return None


@dataclass(frozen=True)
class Unblocked:
    file: str  # the change set released
    action: str  # retry | discard
    pending_path: Path | None  # where it waits again (retry)
    still_blocking: int  # blocking failed change sets left after this one


def unblock_collection(
    settings: Settings, collection: str, action: Literal["retry", "discard"] = "retry"
) -> Unblocked | None:
    """Release the change set that blocks `collection` (the first blocking one), or None.

    The operator's unblock: one call per blocking file, oldest first, because that is
    the order ingestion needs them in.
    """
    blocker = blocking_failure(settings, collection)
    if blocker is None:
        return None
    pending_path = unblock(settings, collection, blocker.file, action)
    left = sum(1 for f in failed_changesets(settings, collection) if f.blocking)
    return Unblocked(blocker.file, action, pending_path, left)
