"""Which syncs are due now: the scheduling and retry policy, without Dagster.

The due-syncs sensor asks this module at every tick and only turns the answer into run
requests. A repository that is paused or already busy is left alone; one whose last sync
failed is retried after its backoff (or a provider's rate-limit reset) and otherwise waits
for that retry rather than its regular schedule; a failure that will not be retried
(permanent or user-fixable) lets the regular schedule run again, so a repaired setting is
picked up without anyone acting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from elysia_pipelines.operations.bookkeeping import consecutive_failures, stored_failure
from elysia_pipelines.operations.failures import next_retry_at
from elysia_pipelines.registry import Registry, Repository
from elysia_pipelines.schedules import parse_schedule


class Trigger(StrEnum):
    """Why a sync is planned; a retry re-runs the whole sync, a schedule starts with extraction."""

    SCHEDULE = "schedule"
    RETRY = "retry"


@dataclass(frozen=True)
class PlannedSync:
    repo: str
    trigger: Trigger
    # Idempotency key: one run per schedule slot, one per failure being retried.
    run_key: str
    tags: dict[str, str]


@dataclass(frozen=True)
class SyncPlan:
    syncs: list[PlannedSync] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a repository waits or is retried


def _plan_retry(
    registry: Registry, repo: Repository, now: datetime
) -> tuple[PlannedSync | None, str, bool]:
    """The retry of a failed sync if its time has come; the note; whether one is planned."""
    failure = stored_failure(repo)
    assert failure is not None and repo.last_error_at is not None
    attempt = max(consecutive_failures(registry, repo.name) - 1, 0)
    retry_at = next_retry_at(failure, attempt, repo.last_error_at)
    if retry_at is None:
        return None, f"{repo.name}: not retrying ({failure.kind.value}: {failure.reason})", False
    if retry_at > now:
        return None, f"{repo.name}: retry {attempt + 1} at {retry_at.isoformat()}", True
    planned = PlannedSync(
        repo=repo.name,
        trigger=Trigger.RETRY,
        run_key=f"retry:{repo.name}:{repo.last_error_at.isoformat()}",
        tags={"elysia/trigger": Trigger.RETRY.value, "elysia/attempt": str(attempt + 1)},
    )
    return planned, f"{repo.name}: retry {attempt + 1} now ({failure.reason})", True


def plan_due_syncs(registry: Registry, now: datetime, busy: set[str]) -> SyncPlan:
    """The syncs to start at `now`, given the repositories with a run in progress."""
    plan = SyncPlan()
    for repo in registry.list():
        if repo.paused or repo.name in busy:
            continue
        if repo.failing and repo.last_error_at is not None:
            retry, note, retrying = _plan_retry(registry, repo, now)
            plan.notes.append(note)
            if retry is not None:
                plan.syncs.append(retry)
            if retrying:
                continue  # retried now, or a retry is planned: the schedule waits for it
        schedule = parse_schedule(repo.schedule)
        if schedule.is_due(repo.last_sync_at, now):
            plan.syncs.append(
                PlannedSync(
                    repo=repo.name,
                    trigger=Trigger.SCHEDULE,
                    run_key=f"sync:{repo.name}:{schedule.slot(now)}",
                    tags={
                        "elysia/trigger": Trigger.SCHEDULE.value,
                        "elysia/schedule": repo.schedule,
                    },
                )
            )
    return plan
