"""Sync bookkeeping on a real registry: one record per run, kinds kept, one 'failing'."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from elysia_pipelines.errors import ErrorKind
from elysia_pipelines.operations import bookkeeping
from elysia_pipelines.operations.planner import Trigger, plan_due_syncs
from elysia_pipelines.registry import Registry, new_repository

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "registry.sqlite")
    registry.add(new_repository("svc", "https://example.com/svc.git", max_file_size=1000))
    return registry


def test_a_run_reported_by_the_cli_and_the_sensor_is_recorded_once(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    for _reporter in ("cli", "failure sensor"):
        failure = bookkeeping.record_failure(
            registry,
            "svc",
            "git timed out",
            kind=ErrorKind.TRANSIENT,
            reason="timeout",
            run_id="run-1",
            at=NOW,
        )
        assert (failure.kind, failure.reason) == (ErrorKind.TRANSIENT, "timeout")
    rows = registry.history("svc", stage="run")
    assert [(r.status, r.run_id) for r in rows] == [("failed", "run-1")]
    assert bookkeeping.consecutive_failures(registry, "svc") == 1
    repo = registry.get("svc")
    assert repo.failing and repo.last_error_kind is ErrorKind.TRANSIENT


def test_success_clears_the_failure_and_restarts_the_attempt_count(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    bookkeeping.record_failure(registry, "svc", "boom", run_id="run-1", at=NOW)
    bookkeeping.record_failure(registry, "svc", "boom", run_id="run-2", at=NOW)
    assert bookkeeping.consecutive_failures(registry, "svc") == 2
    bookkeeping.record_success(registry, "svc", run_id="run-3", at=NOW + timedelta(minutes=1))
    bookkeeping.record_success(registry, "svc", run_id="run-3", at=NOW + timedelta(minutes=1))
    assert bookkeeping.consecutive_failures(registry, "svc") == 0
    repo = registry.get("svc")
    assert (repo.last_error, repo.last_error_kind, repo.last_error_reason) == (None, None, None)
    assert [r.status for r in registry.history("svc", stage="run")] == [
        "success",
        "failed",
        "failed",
    ]


def test_passing_checks_clear_a_failed_check_and_nothing_else(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    bookkeeping.record_failure(
        registry, "svc", "git timed out", kind=ErrorKind.TRANSIENT, reason="timeout", at=NOW
    )
    bookkeeping.record_checks_passed(registry, "svc")
    assert registry.get("svc").last_error_reason == "timeout"  # a sync problem stays
    bookkeeping.record_failure(
        registry,
        "svc",
        "asset check(s) failed: weaviate_collection/count_matches",
        kind=ErrorKind.USER_FIXABLE,
        reason="check_failed",
        run_id="run-2",
        at=NOW,
    )
    bookkeeping.record_checks_passed(registry, "svc")
    repo = registry.get("svc")
    assert (repo.last_error, repo.failing) == (None, False)
    # Not a sync: the history and the attempt count are untouched.
    assert [r.run_id for r in registry.history("svc", stage="run")] == ["run-2", None]


def test_the_stored_kind_decides_the_retry_not_the_text(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    # Text that reads transient, raised as user-fixable (e.g. a bad option): no retry.
    bookkeeping.record_failure(
        registry,
        "svc",
        "option --timeout: not a number",
        kind=ErrorKind.USER_FIXABLE,
        run_id="run-1",
        at=NOW,
    )
    plan = plan_due_syncs(registry, NOW + timedelta(hours=2), busy=set())
    assert [s.trigger for s in plan.syncs] == [Trigger.SCHEDULE]
    assert any(n.startswith("svc: not retrying (user_fixable") for n in plan.notes)
    # Text that reads like an auth failure, raised as transient: retried with backoff.
    bookkeeping.record_failure(
        registry,
        "svc",
        "proxy said 403 while reconnecting",
        kind=ErrorKind.TRANSIENT,
        reason="network",
        run_id="run-2",
        at=NOW,
    )
    plan = plan_due_syncs(registry, NOW + timedelta(hours=2), busy=set())
    assert [s.trigger for s in plan.syncs] == [Trigger.RETRY]


def test_a_removed_repository_records_nothing(tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    registry.remove("svc")
    failure = bookkeeping.record_failure(registry, "svc", "fatal: Authentication failed")
    assert failure.reason == "auth"
    assert registry.history("svc") == []
