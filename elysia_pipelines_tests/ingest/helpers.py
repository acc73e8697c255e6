"""Small builders for ingestion tests: change sets written with the real writer."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from elysia_pipelines.changes.writer import ChangeSetWriter


def write_changeset(
    out_dir: Path,
    seq: int,
    files: dict[str, str | bytes] | None = None,
    *,
    repo: str = "demo",
    collection: str = "Demo",
    deletes: tuple[str, ...] = (),
    renames: dict[str, tuple[str, str | bytes]] | None = None,
    skips: dict[str, str] | None = None,
    full_snapshot: bool = False,
    to_commit: str | None = None,
    tracked_files: int | None = None,
    inline_max_bytes: int = 256 * 1024,
) -> Path:
    """One framed change set: adds/modifies `files`, then renames, deletes and skips."""
    to_commit = to_commit or f"{seq:040x}"
    with ChangeSetWriter(
        out_dir,
        seq=seq,
        repo=repo,
        collection=collection,
        from_commit=None,
        to_commit=to_commit,
        full_snapshot=full_snapshot,
        inline_max_bytes=inline_max_bytes,
    ) as writer:
        for path, content in (files or {}).items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            writer.write_file("add", path, data, language="python")
        for new, (old, content) in (renames or {}).items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            writer.write_file("rename", new, data, previous_path=old)
        for path in deletes:
            writer.write_delete(path)
        for path, reason in (skips or {}).items():
            writer.write_skip(path, reason)
        count = tracked_files if tracked_files is not None else len(files or {})
        return writer.commit(count)


def write_flat(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def backdate(path: Path, seconds: float) -> None:
    moment = time.time() - seconds
    os.utime(path, (moment, moment))
