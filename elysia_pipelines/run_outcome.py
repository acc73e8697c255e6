"""What a sync run came to, as the CLI reports it; free of Dagster.

The warm worker's children send it back to a caller that imports no Dagster, so it
lives apart from `orchestration`, which builds it from the event log.
"""

from __future__ import annotations

from dataclasses import dataclass

from elysia_pipelines.errors import ErrorKind


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    status: str
    error: str | None
    documents: int | None = None
    # Went through the daemon's run queue (False: executed in the CLI's process).
    queued: bool = False
    # False only for `--no-wait` submissions: the run is still queued or running.
    finished: bool = True
    # What the raiser of the failing step's error said it was (errors.ElysiaError).
    error_kind: ErrorKind | None = None
    error_reason: str | None = None
