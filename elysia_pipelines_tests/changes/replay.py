"""A tiny, strict, pure-Python ingester: replays change sets into {path: bytes}.

If replaying every change set written so far, from empty, reproduces the included
files of the repository at HEAD byte for byte, the change sets are exact. It is
strict on purpose (an add of a path it already holds, a delete of a path it does
not, a count that does not match are failures), so extraction bugs cannot hide
behind the idempotency a real ingester has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from elysia_pipelines.changes.reader import (
    iter_file_changes,
    read_header,
    validate_change_set,
)


class ReplayError(AssertionError):
    pass


def apply_change_set(state: dict[str, bytes], path: Path) -> dict[str, bytes]:
    """Apply one change set to `state` (returned as a new dict)."""
    report = validate_change_set(path)
    if not report.ok:
        raise ReplayError(report.summary())
    header = read_header(path)
    new = {} if header.full_snapshot else dict(state)
    for change in iter_file_changes(path):
        if change.op == "delete":
            if change.path not in new:
                raise ReplayError(f"{path.name}: delete of {change.path!r} that is not held")
            del new[change.path]
            continue
        data = change.content_bytes()
        assert data is not None
        if change.content_hash != "sha256:" + hashlib.sha256(data).hexdigest():
            raise ReplayError(f"{path.name}: hash mismatch for {change.path!r}")
        if change.op == "rename":
            assert change.previous_path is not None
            if change.previous_path not in new:
                raise ReplayError(f"{path.name}: rename from {change.previous_path!r} not held")
            del new[change.previous_path]
        if change.op in ("add", "rename") and change.path in new:
            raise ReplayError(f"{path.name}: {change.op} of {change.path!r} already held")
        if change.op == "modify":
            if change.path not in new:
                raise ReplayError(f"{path.name}: modify of {change.path!r} that is not held")
            if new[change.path] == data:
                raise ReplayError(f"{path.name}: modify of {change.path!r} without a change")
        new[change.path] = data
    if header.tracked_files != len(new):
        raise ReplayError(
            f"{path.name}: end says tracked_files={header.tracked_files}, replay holds {len(new)}"
        )
    return new


def replay(paths: Iterable[Path]) -> dict[str, bytes]:
    state: dict[str, bytes] = {}
    for path in paths:
        state = apply_change_set(state, path)
    return state
