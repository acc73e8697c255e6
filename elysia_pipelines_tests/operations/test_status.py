from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from elysia_pipelines.cli.repo_render import ago
from elysia_pipelines.operations.status import (
    assess_health,
    average_sync_seconds,
    dir_size,
    summarize_counts,
    worst_health,
)
from elysia_pipelines.registry import SyncRecord, new_repository

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _repo(**changes):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(new_repository("r", "/r", max_file_size=1000), **changes)


def _health(repo, **kwargs):  # type: ignore[no-untyped-def]
    values = {
        "documents": 3,
        "expected": 3,
        "next_sync_at": NOW + timedelta(minutes=10),
        "pending": 0,
        "weaviate_error": None,
        "now": NOW,
    }
    values.update(kwargs)
    return assess_health(repo, **values)[0]


def test_health_rules_in_order() -> None:
    synced = _repo(last_sync_at=NOW - timedelta(minutes=5))
    assert _health(synced) == "healthy"
    assert _health(_repo()) == "pending"
    assert _health(_repo(paused=True, last_sync_at=NOW)) == "paused"
    failing = _repo(last_sync_at=NOW - timedelta(hours=1), last_error="boom", last_error_at=NOW)
    assert _health(failing) == "failing"
    recovered = _repo(last_sync_at=NOW, last_error="old", last_error_at=NOW - timedelta(hours=1))
    assert _health(recovered) == "healthy"
    assert _health(synced, weaviate_error="down") == "unknown"
    assert _health(synced, documents=None) == "degraded"
    assert _health(synced, documents=2) == "degraded"
    assert _health(synced, documents=2, pending=1) == "healthy"
    assert _health(synced, next_sync_at=NOW - timedelta(hours=1)) == "overdue"


def test_worst_health() -> None:
    assert worst_health(["healthy", "paused", "failing"]) == "failing"
    assert worst_health(["healthy", "pending"]) == "pending"
    assert worst_health([]) == "healthy"


def test_summaries() -> None:
    assert summarize_counts({"add": 3, "modify": 1, "delete": 2}, {"binary": 2}) == (
        "+3 ~1 -2 (2 skipped)"
    )
    assert summarize_counts({}, {}) == "no changes"


def test_average_sync_sums_stages_of_one_run() -> None:
    records = [
        SyncRecord("r", "extract", "success", NOW, duration_s=1.0, run_id="a"),
        SyncRecord("r", "ingest", "success", NOW, duration_s=3.0, run_id="a"),
        SyncRecord("r", "extract", "success", NOW, duration_s=2.0, run_id="b"),
        SyncRecord("r", "extract", "failed", NOW, duration_s=50.0, run_id="c"),
    ]
    assert average_sync_seconds(records) == 3.0
    assert average_sync_seconds([]) is None


def test_dir_size(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"x" * 10)
    (tmp_path / "g").write_bytes(b"y" * 5)
    assert dir_size(tmp_path) == 15
    assert dir_size(tmp_path / "missing") == 0


def test_relative_times() -> None:
    assert ago(None, NOW) == "never"
    assert ago(NOW - timedelta(minutes=5), NOW) == "5m ago"
    assert ago(NOW + timedelta(hours=2, minutes=3), NOW) == "in 2h03m"
    assert ago(NOW - timedelta(days=3), NOW) == "3d ago"
