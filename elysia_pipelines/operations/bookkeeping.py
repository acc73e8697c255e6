"""Sync bookkeeping: the one place that writes what a sync did into the registry.

A sync's outcome is written from several processes (the run's own steps, the
daemon's run-status sensors, the CLI that followed an in-process run), and they used
to write it each in their own way. Every writer calls these functions instead, so a
failure is recorded once per run with the kind its raiser gave it, the retry attempt
count (failed "run" rows since the last success) stays right, and "the last sync
failed" means the same thing everywhere (`Repository.failing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elysia_pipelines.clock import utc_now
from elysia_pipelines.errors import ErrorKind
from elysia_pipelines.operations.failures import FailureClass, classify_failure
from elysia_pipelines.registry import Registry, Repository, Stage, Status, SyncRecord

# The failure reason of a run whose non-blocking checks failed (the run itself succeeded).
CHECK_FAILED = "check_failed"

# Stage and Status, a history row's enums, live with the rows in registry.py; writers
# reach them here too, as bookkeeping.Stage / bookkeeping.Status.


@dataclass(frozen=True)
class Extraction:
    """What one extraction produced, as the registry records it."""

    from_commit: str | None
    to_commit: str
    seq: int | None  # None when nothing changed (no change set written)
    counts: dict[str, int]
    skipped: dict[str, int]
    file_filter: dict[str, Any]


def next_sequence(registry: Registry, repo: Repository) -> int:
    """The number of the repository's next change set (never reused)."""
    return registry.allocate_sequence(repo.collection)


def record_extraction(
    registry: Registry,
    repo: Repository,
    extraction: Extraction,
    *,
    started_at: datetime,
    duration_s: float,
    run_id: str | None,
) -> None:
    """History row, then the new synced commit and file rules (the next sync starts there)."""
    registry.record_sync(
        SyncRecord(
            repo=repo.name,
            stage=Stage.EXTRACT,
            status=Status.SUCCESS if extraction.seq is not None else Status.NOOP,
            started_at=started_at,
            duration_s=duration_s,
            from_commit=extraction.from_commit,
            to_commit=extraction.to_commit,
            seq=extraction.seq,
            counts=dict(extraction.counts),
            skipped=dict(extraction.skipped),
            run_id=run_id,
        )
    )
    registry.mark_synced(repo.name, extraction.to_commit, file_filter=extraction.file_filter)


def record_ingestion(registry: Registry, record: SyncRecord) -> None:
    """One applied (or rejected) change set; ingestion builds the row from its result."""
    registry.record_sync(record)


def record_failure(
    registry: Registry,
    repo: str,
    message: str,
    *,
    kind: ErrorKind | None = None,
    reason: str | None = None,
    stage: Stage = Stage.RUN,
    run_id: str | None = None,
    at: datetime | None = None,
) -> FailureClass:
    """Record a failed run once, whoever reports it first; return the verdict on it.

    A repository removed while its run was failing has nothing to record. Both the
    CLI (after an in-process run) and the daemon's failure sensor may report the same
    run; a second report of one run changes nothing, so retry attempts are not
    counted twice.
    """
    at = at or utc_now()
    failure = classify_failure(message, kind=kind, reason=reason, now=at)
    if registry.find(repo) is None:
        return failure
    if run_id is not None and registry.has_record(run_id, stage=stage, status=Status.FAILED):
        return failure
    registry.mark_failed(repo, message, at=at, kind=failure.kind, reason=failure.reason)
    registry.record_sync(
        SyncRecord(
            repo=repo,
            stage=stage,
            status=Status.FAILED,
            started_at=at,
            duration_s=0.0,
            error=message[:4000],
            run_id=run_id,
        )
    )
    return failure


def record_success(
    registry: Registry, repo: str, *, run_id: str | None, at: datetime | None = None
) -> None:
    """A run that succeeded: retry backoff restarts from zero and the failure clears."""
    if registry.find(repo) is None:
        return
    if run_id is not None and registry.has_record(run_id, stage=Stage.RUN, status=Status.SUCCESS):
        return
    registry.record_sync(
        SyncRecord(
            repo=repo,
            stage=Stage.RUN,
            status=Status.SUCCESS,
            started_at=at or utc_now(),
            duration_s=0.0,
            run_id=run_id,
        )
    )
    registry.clear_failure(repo)


def record_checks_passed(registry: Registry, repo: str) -> None:
    """A checks-only run that passed: it clears a failure that was a failed check, and
    nothing else (it says nothing about whether the repository can sync)."""
    found = registry.find(repo)
    if found is not None and found.last_error_reason == CHECK_FAILED:
        registry.clear_failure(repo)


def consecutive_failures(registry: Registry, repo: str) -> int:
    """Failed runs since the last success (at most 20 looked at): the retry attempt."""
    failures = 0
    for record in registry.history(repo, stage=Stage.RUN, limit=20):
        if record.status != Status.FAILED:
            break
        failures += 1
    return failures


def stored_failure(repo: Repository) -> FailureClass | None:
    """The verdict on the repository's last failure, from the kind stored with it."""
    if not repo.last_error:
        return None
    return classify_failure(
        repo.last_error,
        kind=repo.last_error_kind,
        reason=repo.last_error_reason,
        now=repo.last_error_at,
    )
