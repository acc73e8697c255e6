"""Files on disk: crash-safe writes and disk usage, shared by every stage.

Checkpoints, error files, manifests and caches are read by other processes (sensors,
the CLI, a resumed run), so they are always replaced atomically: a reader, or a
process killed mid-write, sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace `path` with `text` atomically; `durable` also fsyncs the data first.

    Files rewritten after every batch may skip the fsync: after a power loss they are
    a little behind, which only makes a resume redo idempotent work.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Durable, atomic JSON (sorted keys, one key a line, for people reading it)."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def dir_size(path: Path) -> int:
    """Bytes used under a directory (files only, symlinks not followed); 0 if missing."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
