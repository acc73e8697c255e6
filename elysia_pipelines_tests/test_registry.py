from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from elysia_pipelines.errors import ElysiaError, ErrorKind, NotFoundError
from elysia_pipelines.registry import SCHEMA_VERSION, Registry, SyncRecord, new_repository


def _repo(name: str = "my-repo", **kw: object):
    return new_repository(name, f"https://github.com/acme/{name}.git", max_file_size=1000, **kw)


def test_add_get_list_update_remove(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry.sqlite")
    reg.add(_repo(include_patterns=["*.py"], schedule="1h"))
    got = reg.get("my-repo")
    assert got.collection == "My_repo"
    assert got.include_patterns == ("*.py",)
    assert [r.name for r in reg.list()] == ["my-repo"]
    reg.set_paused("my-repo", True)
    reg.mark_synced("my-repo", "abc123")
    got = reg.get("my-repo")
    assert got.paused and got.last_synced_commit == "abc123" and got.last_sync_at is not None
    reg.remove("my-repo")
    assert reg.list() == []


def test_duplicates_and_unknown_names_are_clear(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    reg.add(_repo())
    with pytest.raises(ElysiaError, match="already registered"):
        reg.add(_repo())
    with pytest.raises(ElysiaError, match="collection 'My_repo' is already used"):
        reg.add(_repo("my_repo"))
    with pytest.raises(NotFoundError) as info:
        reg.get("nope")
    assert "my-repo" in (info.value.hint or "")
    with pytest.raises(ElysiaError, match="not a valid repository name"):
        reg.add(_repo("../evil"))
    assert reg.names() == ["my-repo"]


def test_sequences_never_repeat(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    assert [reg.allocate_sequence("C") for _ in range(3)] == [1, 2, 3]
    assert reg.allocate_sequence("C", at_least=10) == 10
    assert reg.allocate_sequence("D") == 1
    assert Registry(tmp_path / "r.sqlite").allocate_sequence("C") == 11


def test_history_and_success_rate(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, status in enumerate(["success", "failed", "success", "noop"]):
        reg.record_sync(
            SyncRecord(
                repo="a",
                stage="ingest",
                status=status,
                started_at=start + timedelta(minutes=i),
                counts={"add": i},
            )
        )
    hist = reg.history("a")
    assert [h.status for h in hist] == ["noop", "success", "failed", "success"]
    assert hist[0].counts == {"add": 3}
    assert reg.success_rate("a") == 0.75
    assert reg.success_rate("b") is None


def test_migrates_a_version_1_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    reg = Registry(path)
    reg.add(_repo())
    reg.close()
    # Downgrade the file to what release 1 wrote: none of the later columns.
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE repositories DROP COLUMN last_error")
    conn.execute("ALTER TABLE repositories DROP COLUMN last_error_at")
    conn.execute("ALTER TABLE repositories DROP COLUMN last_synced_filter")
    conn.execute("ALTER TABLE repositories DROP COLUMN last_error_kind")
    conn.execute("ALTER TABLE repositories DROP COLUMN last_error_reason")
    conn.execute("DROP INDEX sync_history_run")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    reg = Registry(path)
    assert reg.schema_version == SCHEMA_VERSION
    assert reg.get("my-repo").last_error is None
    reg.mark_failed("my-repo", "boom", kind=ErrorKind.PERMANENT, reason="permanent")
    failed = reg.get("my-repo")
    assert (failed.last_error, failed.last_error_kind, failed.last_error_reason) == (
        "boom",
        ErrorKind.PERMANENT,
        "permanent",
    )
    assert failed.failing
    reg.mark_synced("my-repo", "c0ffee", file_filter={"include": ["*.py"], "exclude": []})
    synced = reg.get("my-repo")
    assert synced.last_synced_filter == {"include": ["*.py"], "exclude": []}
    assert (synced.last_error, synced.last_error_kind, synced.failing) == (None, None, False)


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    Registry(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ElysiaError, match="newer elysia_pipelines"):
        Registry(path)
    assert path.read_bytes() == before


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    path.write_text("this is not sqlite" * 100)
    with pytest.raises(ElysiaError, match="registry"):
        Registry(path)
    assert path.read_text().startswith("this is not sqlite")


def _writer(path: str, worker: int, count: int) -> None:
    reg = Registry(path)
    for i in range(count):
        reg.record_sync(
            SyncRecord(
                repo=f"r{worker}", stage="extract", status="success", started_at=datetime.now(UTC)
            )
        )
        reg.allocate_sequence("shared")
        if i % 10 == 0:
            reg.list()


def test_concurrent_processes_do_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    Registry(path).add(_repo())
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 60)) for w in range(4)]
    for p in procs:
        p.start()
    reg = Registry(path)
    while any(p.is_alive() for p in procs):
        assert reg.get("my-repo").name == "my-repo"  # readers never see a broken file
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert len(reg.history(limit=1000)) == 240
    assert reg.allocate_sequence("shared") == 241
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
