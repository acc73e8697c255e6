"""What a restore remembers on disk so it can be interrupted and resumed.

Two files per (backup, target) pair, both named `restore-<backup_id>-<target>`:

- the checkpoint (`settings.checkpoints_dir/....json`) records which batches of the
  backup stream are finished, as ranges of batch numbers. Workers finish batches out
  of order, so the file holds ranges rather than a high-water mark. It also holds a
  fingerprint of the options that shape the stream (batch size, object/property
  subset, strategy, mapping): resuming with other options would skip the wrong
  batches, so that is refused.
- the dead letter (`settings.dead_letter_dir/....jsonl`) lists, one JSON line each,
  objects that could not be restored (a value that does not convert, an object the
  server rejected, a batch that still failed after retries). It is append-only while
  a restore runs, so a crash never loses an entry; `--resume` retries every uuid in
  it and then rewrites it with only the entries that failed again.

A "finished" batch means every object in it was either written or dead-lettered, so
checkpoint + dead letter together always account for every object of a batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elysia_pipelines.disk import atomic_write_text
from elysia_pipelines.errors import ElysiaError

# How a restore treats objects that already exist; part of the state's fingerprint.
# Here rather than in `restore` so that the CLI's help text needs no client import.
STRATEGIES: tuple[str, ...] = ("overwrite", "skip", "merge")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def state_name(backup_id: str, target: str) -> str:
    """`restore-<backup_id>-<target>` with anything path-unsafe replaced."""
    return f"restore-{_UNSAFE.sub('_', backup_id)}-{_UNSAFE.sub('_', target)}"


def options_fingerprint(values: Mapping[str, Any]) -> str:
    payload = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def _to_ranges(numbers: Iterable[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for number in sorted(numbers):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        elif not ranges or number > ranges[-1][1]:
            ranges.append([number, number])
    return ranges


def _from_ranges(ranges: Iterable[Iterable[int]]) -> set[int]:
    done: set[int] = set()
    for first, last in ranges:
        done.update(range(int(first), int(last) + 1))
    return done


class RestoreCheckpoint:
    """Finished batch numbers of one restore, saved atomically as batches finish.

    `save_every_s` > 0 saves at most that often (`flush()` writes what is left): a
    rewrite per batch cost a restore of 7,000 objects 0.4 s of its main thread, and
    a checkpoint a fraction of a second behind only makes `--resume` redo a batch
    or two (writes are idempotent).
    """

    def __init__(
        self,
        path: Path,
        fingerprint: str,
        done: set[int] | None = None,
        *,
        save_every_s: float = 0.0,
    ) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self._done = set(done or ())
        self._lock = threading.Lock()
        self.save_every_s = save_every_s
        self._saved_at = 0.0
        self._dirty = False

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> RestoreCheckpoint | None:
        """The saved checkpoint, or None; refuses one written with other options."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            raise ElysiaError(
                f"restore checkpoint {path} is unreadable ({exc})",
                "delete it and run the restore again without --resume (restoring twice "
                "is safe: object ids are deterministic)",
            ) from None
        if data.get("fingerprint") != fingerprint:
            raise ElysiaError(
                "the interrupted restore used different options (strategy, --objects, "
                "--properties, --map, --incremental or batch size)",
                f"resume with the same options, or run without --resume to start over "
                f"(checkpoint: {path})",
            )
        return cls(path, fingerprint, _from_ranges(data.get("done", [])))

    def is_done(self, batch: int) -> bool:
        return batch in self._done

    def mark_done(self, batch: int) -> None:
        with self._lock:
            self._done.add(batch)
            self._dirty = True
            if time.monotonic() - self._saved_at >= self.save_every_s:
                self.save_locked()

    def flush(self) -> None:
        """Save marks not yet written (a no-op when every mark is on disk)."""
        with self._lock:
            if self._dirty:
                self.save_locked()

    def save(self) -> None:
        with self._lock:
            self.save_locked()

    def save_locked(self) -> None:
        payload = {"fingerprint": self.fingerprint, "done": _to_ranges(self._done)}
        # Not fsynced: rewritten after every batch (~15 ms each on a busy disk); after a
        # power loss it is a few batches behind, which only makes --resume redo them.
        atomic_write_text(self.path, json.dumps(payload) + "\n", durable=False)
        self._saved_at = time.monotonic()
        self._dirty = False

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class DeadLetter:
    uuid: str
    stage: str  # "convert" (value does not fit the target type) or "write"
    reason: str
    detail: dict[str, Any] | None = None

    def to_json(self) -> str:
        record: dict[str, Any] = {"uuid": self.uuid, "stage": self.stage, "reason": self.reason}
        if self.detail:
            record["detail"] = self.detail
        return json.dumps(record, ensure_ascii=False, default=str)


class DeadLetterFile:
    """Append-only JSONL of objects a restore could not write, shared by all workers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.appended = 0

    def exists(self) -> bool:
        return self.path.exists()

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def truncate(self) -> None:
        self.path.unlink(missing_ok=True)

    def append(self, entries: Iterable[DeadLetter]) -> None:
        lines = [entry.to_json() + "\n" for entry in entries]
        if not lines:
            return
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
            self.appended += len(lines)

    def read(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        """Entries between two byte offsets; a torn last line (crash mid-write) is skipped."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(start)
                raw = handle.read() if end is None else handle.read(max(0, end - start))
        except FileNotFoundError:
            return []
        entries = []
        for line in raw.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("uuid"), str):
                entries.append(record)
        return entries

    def uuids(self, end: int | None = None) -> list[str]:
        return list(dict.fromkeys(entry["uuid"] for entry in self.read(0, end)))

    def keep_from(self, offset: int) -> int:
        """Drop the entries before `offset` (they were retried); return entries kept."""
        with self._lock:
            kept = self.read(offset)
            if not kept:
                self.truncate()
                return 0
            text = "".join(json.dumps(entry) + "\n" for entry in kept)
            atomic_write_text(self.path, text, durable=True)
            return len(kept)
