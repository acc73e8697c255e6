"""DuckDB views over the latest Parquet backups and the example queries, on real data."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from elysia_pipelines.backups.analytics import (
    EXAMPLE_QUERIES,
    SkippedBackup,
    connect_analytics,
    run_query,
)
from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.export import BackupOptions, BackupResult, BackupSource, write_backup
from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.backups.verify import verify_backup
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.backups.sources import document_description


@pytest.fixture
def two_collections(
    settings: Settings, real_objects: list[BackupObject]
) -> dict[str, list[BackupObject]]:
    first, second = real_objects[:180], real_objects[180:]
    # An older backup of Alpha that must NOT be the one the view reads.
    write_backup(first[:10], BackupSource("Alpha", document_description("Alpha")), settings)
    write_backup(
        first,
        BackupSource("Alpha", document_description("Alpha")),
        settings,
        BackupOptions(partition_by="language"),
    )
    write_backup(second, BackupSource("Beta", document_description("Beta")), settings)
    # A JSONL backup is not a Parquet view.
    write_backup(
        second[:5],
        BackupSource("Gamma", document_description("Gamma")),
        settings,
        BackupOptions(format="jsonl"),
    )
    return {"Alpha": first, "Beta": second}


def test_views_read_the_latest_parquet_backup(
    settings: Settings, two_collections: dict[str, list[BackupObject]]
) -> None:
    conn = connect_analytics(settings)
    try:
        assert conn.execute('SELECT count(*) FROM "Alpha"').fetchone()[0] == 180
        assert conn.execute('SELECT count(*) FROM "Beta"').fetchone()[0] == 120
        counts = dict(
            conn.execute("SELECT collection, count(*) FROM all_documents GROUP BY 1").fetchall()
        )
        assert counts == {"Alpha": 180, "Beta": 120}
        tables = {
            r[0]
            for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert "Gamma" not in tables
        catalog = conn.execute(
            "SELECT collection, format, object_count FROM catalog ORDER BY 1, 3"
        ).fetchall()
        assert catalog == [
            ("Alpha", "parquet", 10),
            ("Alpha", "parquet", 180),
            ("Beta", "parquet", 120),
            ("Gamma", "jsonl", 5),
        ]
    finally:
        conn.close()


def test_example_queries_on_real_data(
    settings: Settings, two_collections: dict[str, list[BackupObject]]
) -> None:
    everything = [o.properties for objs in two_collections.values() for o in objs]

    largest = run_query(settings, EXAMPLE_QUERIES["largest_files_per_language"]).to_pylist()
    for language in {p["language"] for p in everything}:
        want = sorted(
            (p["size_bytes"] for p in everything if p["language"] == language), reverse=True
        )[:5]
        assert [r["size_bytes"] for r in largest if r["language"] == language] == want

    per_day = run_query(settings, EXAMPLE_QUERIES["files_changed_per_day"]).to_pylist()
    want_days = Counter(
        p["synced_at"].date()
        for objs in two_collections.values()
        for p in (o.properties for o in objs)
    )
    got_days: Counter[Any] = Counter()
    for row in per_day:
        got_days[row["day"]] += row["files"]
    assert got_days == want_days

    mix = run_query(settings, EXAMPLE_QUERIES["language_mix_per_repo"]).to_pylist()
    want_mix = Counter((p["repo"], p["language"]) for p in everything)
    assert {(r["repo"], r["language"]): r["files"] for r in mix} == dict(want_mix)
    for repo in {p["repo"] for p in everything}:
        assert sum(r["pct_files"] for r in mix if r["repo"] == repo) == pytest.approx(100, abs=0.6)


def test_query_errors_name_the_views(
    settings: Settings, two_collections: dict[str, list[BackupObject]]
) -> None:
    with pytest.raises(ElysiaError) as info:
        run_query(settings, "SELECT nope FROM all_documents")
    assert "query failed" in info.value.message
    assert "Alpha" in (info.value.hint or "") and "largest_files_per_language" in (
        info.value.hint or ""
    )
    with pytest.raises(ElysiaError, match="empty"):
        run_query(settings, "  ")


def test_no_backups_yet(settings: Settings) -> None:
    assert run_query(settings, "SELECT count(*) AS n FROM all_documents").to_pylist() == [{"n": 0}]
    assert run_query(settings, "SELECT count(*) AS n FROM catalog").to_pylist() == [{"n": 0}]


def test_partition_values_round_trip_through_duckdb(
    settings: Settings, real_objects: list[BackupObject]
) -> None:
    odd = ["c#/x", "objective-c++", "a b", "100%", "", None]
    objects = [
        BackupObject(o.uuid, {**o.properties, "language": odd[i % len(odd)]}, o.vector)
        for i, o in enumerate(real_objects[:60])
    ]
    for obj in objects:
        if obj.properties["language"] is None:
            del obj.properties["language"]
    result = write_backup(
        objects,
        BackupSource("Odd", document_description("Odd")),
        settings,
        BackupOptions(partition_by="language"),
    )
    assert len(result.files) == 5  # "" and missing share __HIVE_DEFAULT_PARTITION__
    rows = run_query(settings, 'SELECT language, count(*) AS n FROM "Odd" GROUP BY 1').to_pylist()
    got = {r["language"]: r["n"] for r in rows}
    assert got == {"c#/x": 10, "objective-c++": 10, "a b": 10, "100%": 10, None: 20}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _backup(settings: Settings, objects: list[BackupObject], collection: str) -> BackupResult:
    return write_backup(
        objects, BackupSource(collection, document_description(collection)), settings
    )


def _query(settings: Settings, sql: str) -> tuple[list[dict[str, Any]], list[SkippedBackup]]:
    """Rows of `sql` and the backups the query skipped."""
    skipped: list[SkippedBackup] = []
    return run_query(settings, sql, on_skip=skipped.append).to_pylist(), skipped


@pytest.mark.parametrize("damage", [_truncate, _flip_middle_byte], ids=["truncated", "bit-flip"])
def test_query_skips_a_corrupt_latest_backup_and_names_it(
    settings: Settings, real_objects: list[BackupObject], damage: Callable[[Path], None]
) -> None:
    """Issue 14.11: the query reads the older intact backup, never the corrupt one."""
    older = _backup(settings, real_objects[:10], "Alpha")
    newer = _backup(settings, real_objects[:180], "Alpha")
    damage(newer.path / newer.files[0].path)

    rows, skipped = _query(settings, 'SELECT count(*) AS n FROM "Alpha"')
    assert rows == [{"n": 10}]
    assert [(s.backup_id, s.instead) for s in skipped] == [(newer.backup_id, older.backup_id)]
    assert newer.backup_id in str(skipped[0]) and "col catalog verify" in str(skipped[0])
    assert any(newer.files[0].path in problem for problem in skipped[0].problems)
    with open_catalog(settings) as catalog:
        assert catalog.get(newer.backup_id).status == "corrupt"
        assert catalog.get(older.backup_id).status == "verified"

    # Recorded as corrupt, it is not offered again; the older one is still read.
    assert _query(settings, 'SELECT count(*) AS n FROM "Alpha"') == ([{"n": 10}], [])


def test_query_without_an_intact_backup_has_no_view(
    settings: Settings, real_objects: list[BackupObject]
) -> None:
    only = _backup(settings, real_objects[:50], "Beta")
    _flip_middle_byte(only.path / only.files[0].path)
    rows, skipped = _query(settings, "SELECT count(*) AS n FROM all_documents")
    assert rows == [{"n": 0}]
    assert [(s.backup_id, s.instead) for s in skipped] == [(only.backup_id, None)]
    with pytest.raises(ElysiaError, match="query failed"):
        _query(settings, 'SELECT count(*) FROM "Beta"')


def test_a_verified_backup_changed_later_is_still_caught(
    settings: Settings, real_objects: list[BackupObject]
) -> None:
    """The cheap path (catalog `verified`, files older than that) notices later writes."""
    made = _backup(settings, real_objects[:40], "Gamma")
    hour_ago = time.time() - 3600
    for path in made.path.rglob("*"):
        os.utime(path, (hour_ago, hour_ago))
    assert verify_backup(made.backup_id, settings).ok
    assert run_query(settings, 'SELECT count(*) AS n FROM "Gamma"').to_pylist() == [{"n": 40}]

    _flip_middle_byte(made.path / made.files[0].path)  # same size, new mtime
    rows, skipped = _query(settings, "SELECT count(*) AS n FROM all_documents")
    assert rows == [{"n": 0}] and [s.backup_id for s in skipped] == [made.backup_id]
