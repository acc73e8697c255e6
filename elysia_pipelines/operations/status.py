"""Per-repository status and the fleet-wide dashboard numbers, as plain data.

The CLI renders these as tables, trees and a live dashboard, and prints them as JSON
for scripts; computing them here (from the registry, the Weaviate count and the
schedules) keeps the table, the JSON and the dashboard telling the same story, and
keeps "healthy" meaning one thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from elysia_pipelines.disk import dir_size
from elysia_pipelines.ingest.checkpoint import expected_document_count
from elysia_pipelines.ingest.pending import pending_files
from elysia_pipelines.operations.weaviate_probe import WeaviateFacts, probe
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.registry import SUCCEEDED, Registry, Repository, Status, SyncRecord
from elysia_pipelines.schedules import parse_schedule
from elysia_pipelines.settings import Settings


class Health(StrEnum):
    """A repository's health, declared worst first: the dashboard shows the worst."""

    FAILING = "failing"
    DEGRADED = "degraded"
    OVERDUE = "overdue"
    UNKNOWN = "unknown"
    PENDING = "pending"
    PAUSED = "paused"
    HEALTHY = "healthy"


# Health, worst first: the dashboard's overall health is the worst of its repositories.
HEALTH_ORDER = tuple(Health)
# A scheduled sync this late means the scheduler (daemon) is probably not running.
OVERDUE_GRACE = timedelta(minutes=15)


@dataclass(frozen=True)
class RecentChange:
    """One stage of one sync, summarised for humans: '+3 ~1 -2 (4 skipped)'."""

    repo: str
    at: datetime
    stage: str
    status: str
    summary: str
    duration_s: float | None
    to_commit: str | None
    run_id: str | None
    error: str | None

    @classmethod
    def from_record(cls, record: SyncRecord) -> RecentChange:
        return cls(
            repo=record.repo,
            at=record.finished_at or record.started_at,
            stage=record.stage,
            status=record.status,
            summary=summarize_counts(record.counts, record.skipped),
            duration_s=record.duration_s,
            to_commit=record.to_commit,
            run_id=record.run_id,
            error=record.error,
        )


def summarize_counts(counts: dict[str, int], skipped: dict[str, int]) -> str:
    parts = []
    for op, sign in (("add", "+"), ("modify", "~"), ("rename", ">"), ("delete", "-")):
        if counts.get(op):
            parts.append(f"{sign}{counts[op]}")
    others = {k: v for k, v in counts.items() if k not in ("add", "modify", "rename", "delete")}
    parts.extend(f"{k}={v}" for k, v in sorted(others.items()) if v)
    text = " ".join(parts) or "no changes"
    skipped_total = sum(skipped.values())
    return f"{text} ({skipped_total} skipped)" if skipped_total else text


@dataclass(frozen=True)
class RepoStatus:
    name: str
    url: str  # redacted
    collection: str
    schedule: str
    paused: bool
    documents: int | None
    expected_documents: int | None
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    health: Health
    health_reason: str
    success_rate: float | None
    last_error: str | None
    last_error_at: datetime | None
    pending_change_sets: int
    recent_changes: list[RecentChange] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess_health(
    repo: Repository,
    *,
    documents: int | None,
    expected: int | None,
    next_sync_at: datetime | None,
    pending: int,
    weaviate_error: str | None,
    now: datetime,
) -> tuple[Health, str]:
    """(health, why) for one repository; the first matching rule wins."""
    if repo.failing:
        return Health.FAILING, (repo.last_error or "").strip().splitlines()[0][:200]
    if repo.paused:
        return Health.PAUSED, "paused by the user; `elysiactl repo resume` restarts syncing"
    if repo.last_sync_at is None:
        return Health.PENDING, "not synced yet"
    if weaviate_error is not None:
        return Health.UNKNOWN, f"Weaviate: {weaviate_error}"
    if documents is None:
        return Health.DEGRADED, "the collection does not exist in Weaviate"
    if expected is not None and documents != expected and pending == 0:
        return (
            Health.DEGRADED,
            f"{documents} documents in Weaviate, {expected} tracked files expected",
        )
    if next_sync_at is not None and now - next_sync_at > OVERDUE_GRACE:
        return Health.OVERDUE, "the scheduled sync is late: is the Dagster daemon running?"
    return Health.HEALTHY, "in sync"


def repo_status(
    settings: Settings,
    registry: Registry,
    repo: Repository,
    facts: WeaviateFacts,
    *,
    now: datetime | None = None,
    history_limit: int = 10,
) -> RepoStatus:
    now = now or datetime.now(UTC)
    schedule = parse_schedule(repo.schedule)
    next_sync = None if repo.paused else schedule.next_due(repo.last_sync_at, now)
    documents = facts.documents(repo.collection) if facts.reachable else None
    expected = expected_document_count(settings, repo.collection)
    pending = len(pending_files(settings, repo.collection))
    health, reason = assess_health(
        repo,
        documents=documents,
        expected=expected,
        next_sync_at=next_sync,
        pending=pending,
        weaviate_error=facts.error,
        now=now,
    )
    return RepoStatus(
        name=repo.name,
        url=redact_credentials(repo.url),
        collection=repo.collection,
        schedule=repo.schedule,
        paused=repo.paused,
        documents=documents,
        expected_documents=expected,
        last_sync_at=repo.last_sync_at,
        next_sync_at=next_sync,
        health=health,
        health_reason=reason,
        success_rate=registry.success_rate(repo.name),
        last_error=repo.last_error,
        last_error_at=repo.last_error_at,
        pending_change_sets=pending,
        recent_changes=[
            RecentChange.from_record(r) for r in registry.history(repo.name, limit=history_limit)
        ],
    )


def collect_statuses(
    settings: Settings,
    registry: Registry,
    repos: Sequence[Repository] | None = None,
    *,
    now: datetime | None = None,
    history_limit: int = 10,
) -> tuple[list[RepoStatus], WeaviateFacts]:
    """Status of every (or the given) repository, with one Weaviate connection for all."""
    repos = list(registry.list() if repos is None else repos)
    facts = probe(settings, [r.collection for r in repos])
    return [
        repo_status(settings, registry, r, facts, now=now, history_limit=history_limit)
        for r in repos
    ], facts


def worst_health(healths: Iterable[str]) -> str:
    ranked = sorted(healths, key=lambda h: HEALTH_ORDER.index(h) if h in HEALTH_ORDER else 0)
    return ranked[0] if ranked else Health.HEALTHY


@dataclass(frozen=True)
class ActiveSync:
    repo: str | None
    run_id: str
    job: str
    status: str
    started_at: datetime | None


@dataclass(frozen=True)
class DashboardData:
    generated_at: datetime
    overall_health: str
    repositories: int
    paused: int
    documents_total: int
    health_counts: dict[str, int]
    active_syncs: list[ActiveSync]
    recent_activity: list[RecentChange]
    success_rate: float | None
    average_sync_s: float | None
    mirrors_bytes: int
    backups_bytes: int
    weaviate_error: str | None
    statuses: list[RepoStatus]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def average_sync_seconds(records: Sequence[SyncRecord]) -> float | None:
    """Mean wall time of a sync; a sync's stages share a run id, so they are summed."""
    per_sync: dict[str, float] = {}
    for index, record in enumerate(records):
        if record.duration_s is None or record.status == Status.FAILED:
            continue
        key = record.run_id or f"record-{index}"
        per_sync[key] = per_sync.get(key, 0.0) + record.duration_s
    return sum(per_sync.values()) / len(per_sync) if per_sync else None


def dashboard_data(
    settings: Settings,
    registry: Registry,
    active: Sequence[ActiveSync],
    *,
    now: datetime | None = None,
    activity_limit: int = 8,
) -> DashboardData:
    now = now or datetime.now(UTC)
    statuses, facts = collect_statuses(settings, registry, now=now, history_limit=0)
    history = registry.history(limit=200)
    rated = [r for r in history if r.stage != "backup"]
    ok = sum(1 for r in rated if r.status in SUCCEEDED)
    health_counts: dict[str, int] = {}
    for status in statuses:
        health_counts[status.health] = health_counts.get(status.health, 0) + 1
    return DashboardData(
        generated_at=now,
        overall_health=worst_health(s.health for s in statuses) if statuses else "empty",
        repositories=len(statuses),
        paused=sum(1 for s in statuses if s.paused),
        documents_total=sum(s.documents or 0 for s in statuses),
        health_counts=health_counts,
        active_syncs=list(active),
        recent_activity=[RecentChange.from_record(r) for r in history[:activity_limit]],
        success_rate=ok / len(rated) if rated else None,
        average_sync_s=average_sync_seconds(rated),
        mirrors_bytes=dir_size(settings.mirrors_dir),
        backups_bytes=dir_size(settings.backups_dir),
        weaviate_error=facts.error,
        statuses=statuses,
    )
