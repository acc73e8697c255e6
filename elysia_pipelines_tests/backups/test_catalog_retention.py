"""Catalog queries and migrations, and retention's keep-last / dry-run rules."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from elysia_pipelines.backups.catalog import SCHEMA_VERSION, Catalog, CatalogEntry, open_catalog
from elysia_pipelines.backups.durations import parse_duration, parse_since
from elysia_pipelines.backups.export import BackupOptions, BackupSource, write_backup
from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.backups.layout import rfc3339
from elysia_pipelines.backups.retention import cleanup
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.settings import Settings

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def entry(i: int, collection: str, days_ago: float, **kw: Any) -> CatalogEntry:
    created = NOW - timedelta(days=days_ago)
    backup_id = f"{collection.lower()}-{created:%Y%m%dT%H%M%SZ}-{i:04x}"
    values: dict[str, Any] = {
        "id": backup_id,
        "collection": collection,
        "format": "parquet",
        "compression": "zstd",
        "path": f"/backups/{collection}/{backup_id}",
        "size_bytes": 1000 + i,
        "object_count": i,
        "created_at": rfc3339(created),
        "checksum": "0" * 64,
        "tags": [],
    }
    values.update(kw)
    return CatalogEntry(**values)


def test_catalog_list_filters_search_and_show(settings: Settings) -> None:
    with open_catalog(settings) as catalog:
        catalog.add_many(
            [
                entry(1, "Alpha", 10),
                entry(2, "Alpha", 5, format="jsonl", tags=["nightly"]),
                entry(3, "Beta", 1, tags=["before-migration"]),
                entry(4, "Beta", 40, status="deleted"),
                entry(5, "Gamma_x", 2, path="/mnt/offsite/Gamma_x/g"),
            ]
        )
        assert [e.object_count for e in catalog.list()] == [3, 5, 2, 1]
        assert [e.object_count for e in catalog.list(collection="Alpha")] == [2, 1]
        assert [e.object_count for e in catalog.list(format="jsonl")] == [2]
        assert [e.object_count for e in catalog.list(since=NOW - timedelta(days=3))] == [3, 5]
        assert [e.object_count for e in catalog.list(include_deleted=True)][-1] == 4
        assert [e.object_count for e in catalog.search("nightly")] == [2]
        assert [e.object_count for e in catalog.search("MIGRATION")] == [3]
        assert [e.object_count for e in catalog.search("offsite")] == [5]
        assert [e.object_count for e in catalog.search("_x")] == [5]  # _ is literal, not a wildcard
        assert [e.object_count for e in catalog.search("alpha", format="parquet")] == [1]
        shown = catalog.get(entry(2, "Alpha", 5).id)
        assert shown.tags == ["nightly"] and shown.format == "jsonl"
        assert catalog.latest("Alpha").object_count == 2
        assert catalog.latest("Alpha", format="parquet").object_count == 1
        with pytest.raises(NotFoundError, match="catalog list"):
            catalog.get("nope")
    # WAL and a schema version, so later releases can migrate in place.
    conn = sqlite3.connect(settings.catalog_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    plan = " ".join(
        str(r)
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM backups WHERE collection = 'a' ORDER BY created_at DESC"
        )
    )
    assert "backups_by_collection" in plan
    conn.close()


def test_catalog_refuses_a_newer_schema_and_a_non_database(
    settings: Settings, tmp_path: Path
) -> None:
    with open_catalog(settings):
        pass
    conn = sqlite3.connect(settings.catalog_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ElysiaError, match="schema version"):
        Catalog(settings.catalog_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ElysiaError, match="not a usable SQLite database"):
        Catalog(junk)


def test_durations() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_since("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_since("2024-01-01") == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ElysiaError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ElysiaError, match="neither a duration nor a date"):
        parse_since("last tuesday")


def _backdated(
    settings: Settings,
    objects: list[BackupObject],
    description: dict[str, Any],
    collection: str,
    days_ago: float,
    **kw: Any,
) -> str:
    """A real backup on disk whose catalog row says it was made `days_ago`."""
    result = write_backup(
        objects, BackupSource(collection, description), settings, BackupOptions(**kw)
    )
    with open_catalog(settings) as catalog:
        row = catalog.get(result.backup_id)
        row.created_at = rfc3339(NOW - timedelta(days=days_ago))
        catalog.add(row)
    return result.backup_id


def test_retention_keeps_last_and_dry_run_changes_nothing(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    few = real_objects[:5]
    alpha = [_backdated(settings, few, description, "Alpha", d) for d in (100, 90, 80, 70, 1)]
    beta = [_backdated(settings, few, description, "Beta", d) for d in (200, 150)]

    def on_disk() -> set[str]:
        return {p.name for p in settings.backups_dir.glob("*/*") if p.is_dir()}

    before = on_disk()
    plan = cleanup(settings, timedelta(days=30), keep_last=2, dry_run=True, now=NOW)
    assert sorted(i.id for i in plan.deleted) == sorted([alpha[0], alpha[1], alpha[2]])
    assert plan.freed_bytes > 0
    assert on_disk() == before
    with open_catalog(settings) as catalog:
        assert all(e.status == "complete" for e in catalog.list())

    report = cleanup(settings, timedelta(days=30), keep_last=2, now=NOW)
    assert sorted(i.id for i in report.deleted) == sorted(alpha[:3])
    # Beta's two backups are both old but they are its newest two.
    assert on_disk() == before - set(alpha[:3])
    with open_catalog(settings) as catalog:
        assert {e.id for e in catalog.list(include_deleted=True) if e.status == "deleted"} == set(
            alpha[:3]
        )
        assert {e.id for e in catalog.list(collection="Beta")} == set(beta)
    # Idempotent.
    assert cleanup(settings, timedelta(days=30), keep_last=2, now=NOW).deleted == []


def test_retention_defaults_from_settings_and_corrupt_not_protected(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    few = real_objects[:3]
    ids = [_backdated(settings, few, description, "Alpha", d) for d in (60, 50, 45, 40)]
    with open_catalog(settings) as catalog:
        catalog.set_status(ids[3], "corrupt")
    # Defaults: 30 days, keep 3 (settings.backup_keep_last) -> the corrupt newest is not
    # one of the three protected; the oldest good ones beyond three go.
    report = cleanup(settings, now=NOW)
    assert [i.id for i in report.deleted] == [ids[3]]
    report = cleanup(settings, keep_last=1, now=NOW)
    assert sorted(i.id for i in report.deleted) == sorted(ids[:2])
    with pytest.raises(ElysiaError):
        cleanup(settings, keep_last=-1)


def test_retention_removes_stale_tmp_dirs_only(settings: Settings) -> None:
    stale = settings.backups_dir / "Alpha" / ".alpha-20240101T000000Z-aaaa.tmp"
    fresh = settings.backups_dir / "Alpha" / ".alpha-20240102T000000Z-bbbb.tmp"
    for d in (stale, fresh):
        (d / "data").mkdir(parents=True)
        (d / "data" / "part-00000.parquet").write_bytes(b"partial")
    old = time.time() - 2 * 3600
    for p in (stale, stale / "data", stale / "data" / "part-00000.parquet"):
        os.utime(p, (old, old))
    assert cleanup(settings, dry_run=True).stale_tmp_dirs == [str(stale)]
    assert stale.exists()
    assert cleanup(settings).stale_tmp_dirs == [str(stale)]
    assert not stale.exists() and fresh.exists()


def test_catalog_migrates_v1_in_place_and_search_index_follows_updates(settings: Settings) -> None:
    from elysia_pipelines.backups.catalog import MIGRATIONS

    conn = sqlite3.connect(settings.catalog_path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO backups (id, collection, format, compression, path, size_bytes, "
        "object_count, created_at, checksum, status, tags) VALUES "
        "('old-20240101T000000Z-0001', 'Old', 'parquet', 'zstd', '/b/Old/x', 1, 1, "
        "'2024-01-01T00:00:00.000000Z', 'c', 'complete', '[\"legacy\"]')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with open_catalog(settings) as catalog:
        assert [e.id for e in catalog.search("legacy")] == ["old-20240101T000000Z-0001"]
        row = catalog.get("old-20240101T000000Z-0001")
        row.tags = ["renamed"]
        catalog.add(row)
        catalog.set_status(row.id, "verified")
        assert catalog.search("legacy") == []
        assert [e.status for e in catalog.search("renamed")] == ["verified"]
        assert catalog.count() == 1
    conn = sqlite3.connect(settings.catalog_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    conn.close()
