"""Facts about a mirror's objects that extraction would otherwise recompute each sync.

An incremental sync must report `tracked_files`, the number of ingestible files
at the new commit, and "ingestible" includes "not binary", which only a file's
content tells. Recounting would read every blob and make a 10-file sync as slow
as a full one. Two small files inside the mirror's git directory avoid that:

* `elysia-blob-kinds`: binary or text, per blob id. Blob ids are content
  hashes, so a verdict never goes stale. Append-only; rewritten (pruned to the
  current tree) whenever a full listing is at hand.
* `elysia-tracked.json`: tracked-file count per (commit, filter), a pure
  function of both, so an incremental sync adds its delta to the count of the
  commit it started from. It also remembers which filter the last extraction
  ending at a commit used, so a changed include/exclude/size rule is noticed
  even when the caller does not pass `previous_filter`.

Both are accelerators only: a missing, unreadable or foreign file means
"unknown" and extraction falls back to computing (and re-caching) the answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.disk import atomic_write_text
from elysia_pipelines.errors import ConfigError

KINDS_NAME = "elysia-blob-kinds"
TRACKED_NAME = "elysia-tracked.json"
_KINDS_HEADER = "# elysia blob kinds v1: <sha> <b|t>\n"
_TRACKED_KEEP = 32  # (commit, filter) pairs remembered; a few per collection suffice


def _atomic_write(path: Path, text: str) -> None:
    # A cache: losing it costs only time; on a read-only mirror run without it.
    with contextlib.suppress(OSError):
        atomic_write_text(path, text, durable=False)


class BlobKinds:
    """sha -> is binary, loaded on first use."""

    def __init__(self, git_dir: Path) -> None:
        self.path = Path(git_dir) / KINDS_NAME
        self._known: dict[str, bool] | None = None
        self._new: dict[str, bool] = {}

    def _load(self) -> dict[str, bool]:
        if self._known is None:
            known: dict[str, bool] = {}
            try:
                with open(self.path, encoding="ascii") as fh:
                    if fh.readline() == _KINDS_HEADER:
                        for line in fh:
                            sha, _, kind = line.rstrip("\n").partition(" ")
                            if len(sha) >= 40 and kind in ("b", "t"):
                                known[sha] = kind == "b"
            except (OSError, UnicodeDecodeError):
                known = {}
            self._known = known
        return self._known

    def get(self, sha: str) -> bool | None:
        if sha in self._new:
            return self._new[sha]
        return self._load().get(sha)

    def set(self, sha: str, binary: bool) -> None:
        self._new[sha] = binary

    def save(self, keep: set[str] | None = None) -> None:
        """Append new verdicts, or rewrite keeping only `keep` (the current tree's blobs)."""
        if keep is not None:
            merged = {**self._load(), **self._new}
            lines = "".join(
                f"{sha} {'b' if binary else 't'}\n" for sha, binary in merged.items() if sha in keep
            )
            _atomic_write(self.path, _KINDS_HEADER + lines)
        elif self._new:
            try:
                fresh = not self.path.exists()
                with open(self.path, "a", encoding="ascii") as fh:
                    if fresh:
                        fh.write(_KINDS_HEADER)
                    fh.writelines(f"{s} {'b' if b else 't'}\n" for s, b in self._new.items())
            except OSError:
                return
        if self._known is not None:
            self._known.update(self._new)
        self._new = {}

    def forget(self) -> None:
        """Drop what is loaded and unsaved (the file was rewritten behind our back)."""
        self._known = None
        self._new = {}


class BlobKindsRewrite:
    """`BlobKinds.save(keep=tree)` as a stream: the file rewritten one blob of the tree at a time.

    A full snapshot walks the whole tree once; collecting its blob ids to prune the
    file at the end would hold them all (about 130 bytes a file). Instead each verdict
    is written as the walk reaches its blob, and `commit()` replaces the file. A blob at
    two paths is written twice (loading keeps one). Leaving the `with` block without
    `commit()` keeps the old file.
    """

    def __init__(self, kinds: BlobKinds) -> None:
        self.kinds = kinds
        self._tmp: str | None = None
        self._fh: IO[str] | None = None

    def __enter__(self) -> BlobKindsRewrite:
        try:
            fd, self._tmp = tempfile.mkstemp(
                prefix=f".{KINDS_NAME}.", suffix=".tmp", dir=self.kinds.path.parent
            )
            self._fh = os.fdopen(fd, "w", encoding="ascii")
            self._fh.write(_KINDS_HEADER)
        except OSError:
            self._drop()  # a read-only mirror: extract without the cache
        return self

    def add(self, sha: str, binary: bool | None) -> None:
        """Keep `sha`'s verdict (None: unknown, nothing to keep)."""
        if self._fh is None or binary is None:
            return
        try:
            self._fh.write(f"{sha} {'b' if binary else 't'}\n")
        except OSError:
            self._drop()

    def commit(self) -> None:
        """Replace the kinds file; the verdicts already loaded are forgotten, not stale."""
        if self._fh is not None and self._tmp is not None:
            try:
                self._fh.close()
                self._fh = None
                os.replace(self._tmp, self.kinds.path)
                self._tmp = None
            except OSError:
                pass
        self._drop()
        self.kinds.forget()

    def _drop(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None

    def __exit__(self, *exc: object) -> None:
        self._drop()


class TrackedCounts:
    """(commit, filter) -> number of ingestible files, most recent sync last."""

    def __init__(self, git_dir: Path) -> None:
        self.path = Path(git_dir) / TRACKED_NAME

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            key: value
            for key, value in data.items()
            if isinstance(value, dict)
            and isinstance(value.get("tracked"), int)
            and value["tracked"] >= 0
            and isinstance(value.get("filter"), dict)
        }

    def get(self, commit: str, rules: FileFilter) -> int | None:
        entry = self._read().get(f"{commit}:{rules.fingerprint()}")
        return None if entry is None else int(entry["tracked"])

    def last_filter(self, commit: str) -> FileFilter | None:
        """The rules of the most recent extraction that ended at `commit`, if remembered."""
        found = None
        for key, value in self._read().items():
            if key.startswith(f"{commit}:"):
                try:
                    found = FileFilter.from_dict(value["filter"])
                except (KeyError, TypeError, ValueError, ConfigError):
                    continue
        return found

    def put(self, commit: str, rules: FileFilter, tracked: int) -> None:
        data = self._read()
        key = f"{commit}:{rules.fingerprint()}"
        data.pop(key, None)  # re-inserting keeps the most recent last
        data[key] = {"tracked": tracked, "filter": rules.to_dict()}
        recent = dict(list(data.items())[-_TRACKED_KEEP:])
        _atomic_write(self.path, json.dumps(recent, indent=0))
