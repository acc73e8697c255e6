"""diagnose_repository on real state: a registry with failures, files on disk, the test server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from elysia_pipelines.ingest.dead_letter import DeadLetter, record_dead_letters
from elysia_pipelines.operations.diagnose import diagnose_repository
from elysia_pipelines.registry import Registry, SyncRecord, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.gitrepo import make_repo
from elysia_pipelines_tests.support import free_port

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_findings_become_recommendations(
    tmp_path: Path, elysia_home: Path, weaviate_env: object
) -> None:
    settings = Settings.from_env().ensure_dirs()
    registry = Registry(settings.registry_path)
    source = make_repo(tmp_path / "src" / "svc")
    registry.add(new_repository("svc", source.url, max_file_size=1000, schedule="30m"))
    for minutes, error in (
        (1, "fatal: Authentication failed for 'https://example.com/svc.git/'"),
        (2, "WeaviateTimeoutError: Weaviate call timed out after 60s"),
        (3, "HTTP 429 Too Many Requests; Retry-After: 60"),
    ):
        registry.record_sync(
            SyncRecord("svc", "ingest", "failed", NOW - timedelta(minutes=minutes), error=error)
        )
    registry.record_sync(
        SyncRecord("svc", "extract", "success", NOW - timedelta(hours=1), skipped={"too_large": 12})
    )
    pending = settings.pending_dir / "Svc"
    pending.mkdir(parents=True)
    for seq in range(1, 8):
        (pending / f"{seq:06d}-abc{seq}.jsonl").write_text("{}\n", encoding="utf-8")
    failed = settings.failed_dir / "Svc"
    failed.mkdir(parents=True)
    (failed / "000009-def.jsonl").write_text("{}\n", encoding="utf-8")
    record_dead_letters(
        settings,
        [
            DeadLetter(
                collection="Svc",
                changeset="000003-abc3.jsonl",
                index=0,
                op="add",
                path="big.py",
                uuid="00000000-0000-0000-0000-000000000001",
                error="request timed out",
                attempts=3,
                failed_at=NOW.isoformat(),
            )
        ],
    )

    diagnosis = diagnose_repository(settings, registry, "svc", now=NOW)
    checks = {c.name: c.status for c in diagnosis.checks}
    assert checks["remote"] == "ok" and checks["authentication"] == "ok"
    assert checks["weaviate"] == "ok"
    assert checks["collection"] == "fail"  # never synced into the test server
    assert checks["pending change sets"] == "warn"
    assert checks["failed change sets"] == "warn"
    assert checks["dead letters"] == "warn"
    assert checks["recent errors"] == "warn"
    assert checks["skipped files"] == "warn"
    assert checks["disk (mirrors)"] in ("ok", "warn", "fail")
    assert not diagnosis.ok
    text = "\n".join(diagnosis.recommendations)
    for fragment in (
        "elysiactl repo sync svc",
        "WEAVIATE_TIMEOUT_S",
        "elysiactl repo fix-auth svc --token-env VAR",
        "rate-limits",
        "--exclude-pattern",
        "daemon",
        ".error.json",
        "dead letters are retried",
        "will not go away by itself",
    ):
        assert fragment in text, fragment
    assert diagnosis.to_dict()["ok"] is False


def test_unreachable_weaviate_is_a_failed_check(
    tmp_path: Path, elysia_home: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    monkeypatch.setenv("WEAVIATE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WEAVIATE_GRPC_URL", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("WEAVIATE_RETRIES", "0")
    settings = Settings.from_env().ensure_dirs()
    registry = Registry(settings.registry_path)
    source = make_repo(tmp_path / "src" / "svc")
    registry.add(new_repository("svc", source.url, max_file_size=1000))
    diagnosis = diagnose_repository(settings, registry, "svc")
    checks = {c.name: c.status for c in diagnosis.checks}
    assert checks["weaviate"] == "fail" and checks["collection"] == "skip"
    assert any("WEAVIATE_URL" in r for r in diagnosis.recommendations)
