"""The due-sync planner on a real registry: schedule, pause, busy, retry backoff, give-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from elysia_pipelines.operations.planner import Trigger, plan_due_syncs
from elysia_pipelines.registry import Registry, SyncRecord, new_repository

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TIMEOUT = "WeaviateTimeoutError: Weaviate call timed out after 60s"


def _registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry.sqlite")
    for name, options in (
        ("due", {}),
        ("manual", {"schedule": "manual"}),
        ("paused", {"paused": True}),
        ("busy", {}),
    ):
        registry.add(
            new_repository(name, f"https://example.com/{name}.git", max_file_size=1000, **options)
        )
    return registry


def _fail(registry: Registry, name: str, message: str, at: datetime) -> None:
    registry.mark_failed(name, message, at=at)
    registry.record_sync(SyncRecord(name, "run", "failed", at, error=message))


def test_schedule_pause_and_busy(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    plan = plan_due_syncs(registry, NOW, busy={"busy"})
    assert [(s.repo, s.trigger) for s in plan.syncs] == [("due", Trigger.SCHEDULE)]
    assert plan.syncs[0].tags["elysia/trigger"] == "schedule"
    assert plan.syncs[0].run_key.startswith("sync:due:")
    registry.mark_synced("due", "abc", at=NOW - timedelta(minutes=10))
    assert plan_due_syncs(registry, NOW, busy={"busy"}).syncs == []


def test_transient_failure_waits_for_backoff_then_retries(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    _fail(registry, "due", TIMEOUT, NOW)
    waiting = plan_due_syncs(registry, NOW, busy={"busy"})
    assert waiting.syncs == []  # neither a retry yet nor the regular schedule
    assert any(n.startswith("due: retry 1 at") for n in waiting.notes)
    later = plan_due_syncs(registry, NOW + timedelta(hours=2), busy={"busy"})
    assert [(s.repo, s.trigger) for s in later.syncs] == [("due", Trigger.RETRY)]
    assert later.syncs[0].tags == {"elysia/trigger": "retry", "elysia/attempt": "1"}
    _fail(registry, "due", TIMEOUT, NOW + timedelta(minutes=1))
    second = plan_due_syncs(registry, NOW + timedelta(hours=2), busy={"busy"})
    assert second.syncs[0].tags["elysia/attempt"] == "2"


def test_permanent_failure_is_not_retried_but_the_schedule_runs(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    _fail(registry, "due", "fatal: Authentication failed for 'https://example.com/due.git/'", NOW)
    plan = plan_due_syncs(registry, NOW, busy={"busy"})
    assert [(s.repo, s.trigger) for s in plan.syncs] == [("due", Trigger.SCHEDULE)]
    assert any(n.startswith("due: not retrying (user_fixable") for n in plan.notes)
