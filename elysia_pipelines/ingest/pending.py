"""Which change sets in `pending/` are ready, in what order, and what is new since last tick.

Any producer may drop files into `pending/<collection>/`, so readiness is decided
from the file itself, never from who wrote it:

* Temporary names (hidden files, `*.tmp`, anything not ending in `.jsonl`) are
  ignored outright: our writer and well-behaved producers write to such a name and
  rename, so they are by definition incomplete.
* A file starting with a `begin` record is ready once its last line is an `end`
  record. Without `end` it may still be being written (a producer that writes in
  place): it waits. If it has not changed for `INCOMPLETE_ABANDON_S` its writer is
  gone, and ingestion moves it to failed/ so the operator sees it.
* An empty file that has not changed for `FLAT_SETTLE_S` is rejected to failed/
  at once, without blocking the files after it: there is nothing in it to apply.
* A flat mgit file has no end marker, so "complete" can only mean "ends with a
  newline and has not changed for `FLAT_SETTLE_S`". That is a heuristic; producers
  that care should write to a temporary name and rename.

A file that waits also holds back every later file of its collection: change sets
must be applied in order.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from elysia_pipelines.changes.format import CHANGESET_SUFFIX, OP_BEGIN, OP_END, parse_sequence
from elysia_pipelines.layout import pending_dir
from elysia_pipelines.settings import Settings

FLAT_SETTLE_S = 5.0
INCOMPLETE_ABANDON_S = 600.0
_HEAD_BYTES = 64 * 1024
_TAIL_BYTES = 64 * 1024
# A directory modified this recently may still get entries within the same mtime
# tick (coarse timestamps on some filesystems): list it again next time.
_MTIME_GRACE_NS = 2_000_000_000
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".swp", ".lock")


class FileState(StrEnum):
    READY = "ready"  # complete: apply it
    WRITING = "writing"  # may still be written: wait, and hold back later files
    ABANDONED = "abandoned"  # incomplete and untouched for long: move to failed/
    EMPTY = "empty"  # settled with no bytes: reject it, without blocking later files


@dataclass(frozen=True)
class FileStatus:
    state: FileState
    reason: str
    flat: bool


def is_changeset_name(name: str) -> bool:
    """Final change-set names only; temporary and hidden names are never candidates."""
    if name.startswith((".", "~")) or name.endswith(_TEMP_SUFFIXES):
        return False
    return name.endswith(CHANGESET_SUFFIX)


def apply_order_key(path: Path) -> tuple[int, int, str]:
    """Our files by sequence number; files of other producers after them, by name.

    Foreign producers do not know our sequence numbers, and a name is stable where
    an mtime is not (copies, restores).
    """
    seq = parse_sequence(path.name)
    return (0, seq, path.name) if seq is not None else (1, 0, path.name)


def pending_files(settings: Settings, collection: str) -> list[Path]:
    """Candidate change sets of a collection in apply order (complete or not)."""
    directory = pending_dir(settings, collection)
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    files = [Path(e.path) for e in entries if is_changeset_name(e.name) and e.is_file()]
    return sorted(files, key=apply_order_key)


def newest_pending_seq(settings: Settings, collection: str) -> int | None:
    """Highest sequence number waiting in pending/ (None when nothing of ours waits)."""
    seqs = [parse_sequence(p.name) for p in pending_files(settings, collection)]
    known = [s for s in seqs if s is not None]
    return max(known) if known else None


def _first_line(head: bytes) -> dict[str, Any] | None:
    line, newline, _ = head.partition(b"\n")
    if not newline:
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _last_line(tail: bytes) -> dict[str, Any] | None:
    lines = [line for line in tail.splitlines() if line.strip()]
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def file_status(path: Path, *, now: float | None = None) -> FileStatus:
    """Decide from the file's first and last line (two small reads) whether it is complete."""
    now = time.time() if now is None else now
    stat = path.stat()
    age = now - stat.st_mtime
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
        if stat.st_size > _TAIL_BYTES:
            handle.seek(stat.st_size - _TAIL_BYTES)
        else:
            handle.seek(0)
        tail = handle.read(_TAIL_BYTES)
    first = _first_line(head)
    if stat.st_size == 0:
        # A producer writing in place may have just created it; once it has not
        # changed for the settle time there is nothing to wait for.
        if age < FLAT_SETTLE_S:
            return FileStatus(FileState.WRITING, "empty file; settling", flat=False)
        return FileStatus(FileState.EMPTY, "the file is empty (0 bytes)", flat=False)
    if first is not None and first.get("op") == OP_BEGIN:
        last = _last_line(tail)
        if last is not None and last.get("op") == OP_END and tail.endswith(b"\n"):
            return FileStatus(FileState.READY, "complete", flat=False)
        return _waiting_or_abandoned(age, "no end record", flat=False)
    if not tail.endswith(b"\n"):
        return _waiting_or_abandoned(age, "the last line is not terminated", flat=True)
    if age < FLAT_SETTLE_S:
        return FileStatus(
            FileState.WRITING, f"flat file changed {age:.1f}s ago; settling", flat=True
        )
    return FileStatus(FileState.READY, "flat file settled", flat=True)


def _waiting_or_abandoned(age: float, why: str, *, flat: bool) -> FileStatus:
    if age >= INCOMPLETE_ABANDON_S:
        return FileStatus(
            FileState.ABANDONED,
            f"incomplete ({why}) and unchanged for {age:.0f}s; its writer is gone",
            flat=flat,
        )
    return FileStatus(FileState.WRITING, f"incomplete ({why}); may still be written", flat=flat)


# --- the sensor's incremental scan ------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    """`collections_with_new_files` maps collection -> newest actionable sequence (or -1
    when only files without a sequence number are new).

    `versions` maps the same collections to their directory's mtime_ns at this scan:
    it changes whenever a file arrives, so `f"{collection}:{seq}:{version}"` is a run
    key that also fires when an older file comes back (unblocked, re-dropped) behind
    the same newest sequence.
    """

    collections_with_new_files: dict[str, int]
    new_cursor: str
    versions: dict[str, int] = field(default_factory=dict)


@dataclass
class _DirState:
    mtime_ns: int
    newest: str  # name of the last actionable file we reported (apply order)
    count: int  # actionable files at the last listing
    recheck: bool  # list again next tick even if the mtime is unchanged

    def to_json(self) -> list[Any]:
        return [self.mtime_ns, self.newest, self.count, int(self.recheck)]

    @classmethod
    def from_json(cls, value: Any) -> _DirState | None:
        try:
            mtime_ns, newest, count, recheck = value
            return cls(int(mtime_ns), str(newest), int(count), bool(recheck))
        except (TypeError, ValueError):
            return None


_CURSOR_VERSION = 1


def _load_cursor(cursor: str | None) -> dict[str, _DirState]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION:
        return {}
    dirs = data.get("dirs")
    if not isinstance(dirs, dict):
        return {}
    states = {name: _DirState.from_json(value) for name, value in dirs.items()}
    return {name: state for name, state in states.items() if state is not None}


def _dump_cursor(states: dict[str, _DirState]) -> str:
    dirs = {name: state.to_json() for name, state in sorted(states.items())}
    return json.dumps({"v": _CURSOR_VERSION, "dirs": dirs}, separators=(",", ":"))


def forget_collections(cursor: str, collections: Iterable[str]) -> str:
    """The cursor without these collections, so the next scan lists them again.

    The sensor holds back a collection whose repository has a run in progress (its
    change set may not have passed its blocking checks yet); forgetting it makes the
    files count as new once the run is over instead of being lost to the cursor.
    """
    states = _load_cursor(cursor)
    for name in collections:
        states.pop(name, None)
    return _dump_cursor(states)


def scan_pending(settings: Settings, cursor: str | None) -> ScanResult:
    """Collections that got new actionable change sets since `cursor`.

    Cost per tick: one listing of `pending/` and one stat per collection directory;
    a collection's files are listed only when its directory changed (a file was
    created, renamed in or removed) or it holds a file that is still being written.
    A bad or foreign cursor starts over (every collection with files is reported once).
    Files that a run leaves pending (an outage, `max_files`) are not news: retrying
    them is the run's retry policy, not the sensor's.
    """
    previous = _load_cursor(cursor)
    states: dict[str, _DirState] = {}
    found: dict[str, int] = {}
    versions: dict[str, int] = {}
    now = time.time()
    try:
        entries = list(os.scandir(settings.pending_dir))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        old = previous.get(entry.name)
        try:
            mtime_ns = entry.stat().st_mtime_ns
            if old is not None and old.mtime_ns == mtime_ns and not old.recheck:
                states[entry.name] = old
                continue
            state, newest_seq = _scan_collection(Path(entry.path), mtime_ns, old, now)
        except FileNotFoundError:  # the directory was removed while we looked
            continue
        states[entry.name] = state
        if newest_seq is not None:
            found[entry.name] = newest_seq
            versions[entry.name] = mtime_ns
    return ScanResult(found, _dump_cursor(states), versions)


def _scan_collection(
    directory: Path, mtime_ns: int, old: _DirState | None, now: float
) -> tuple[_DirState, int | None]:
    files = []
    for entry in os.scandir(directory):
        if is_changeset_name(entry.name) and entry.is_file():
            files.append(Path(entry.path))
    files.sort(key=apply_order_key)
    actionable: list[Path] = []
    waiting = False
    for path in files:
        try:
            status = file_status(path, now=now)
        except FileNotFoundError:  # applied and moved away while we looked
            continue
        if status.state is FileState.WRITING:
            waiting = True
            continue
        actionable.append(path)
    recheck = waiting or (time.time_ns() - mtime_ns) < _MTIME_GRACE_NS
    if not actionable:
        return _DirState(mtime_ns, "", 0, recheck), None
    newest = actionable[-1]
    state = _DirState(mtime_ns, newest.name, len(actionable), recheck)
    # New: a different newest file, or more files than before (one re-dropped or
    # unblocked behind the newest). Files consumed by ingestion only shrink the set.
    is_new = old is None or newest.name != old.newest or len(actionable) > old.count
    if not is_new:
        return state, None
    seqs = [s for s in (parse_sequence(p.name) for p in actionable) if s is not None]
    return state, (max(seqs) if seqs else -1)
