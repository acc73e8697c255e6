"""Every format x compression written from real documents reads back identical."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.export import BackupOptions, BackupSource, write_backup
from elysia_pipelines.backups.formats import (
    AUTO_COMPRESSION_THRESHOLD_BYTES,
    BackupObject,
    choose_compression,
)
from elysia_pipelines.backups.layout import (
    BACKUP_ID_RE,
    PARQUET_METADATA_KEY,
    file_sha256,
    read_manifest,
)
from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.settings import Settings

COMBINATIONS = [
    ("parquet", "zstd"),
    ("parquet", "gzip"),
    ("parquet", "lz4"),
    ("parquet", "snappy"),
    ("parquet", "none"),
    *[(fmt, c) for fmt in ("json", "jsonl") for c in ("none", "gzip", "zstd", "lz4")],
]


def as_tuples(objects: list[BackupObject]) -> list[tuple[str, dict[str, Any], Any]]:
    return sorted(((o.uuid, o.properties, o.vector) for o in objects), key=lambda t: t[0])


def read_all(ref: Any, settings: Settings, **kwargs: Any) -> list[BackupObject]:
    return [o for batch in open_backup(ref, settings).iter_batches(**kwargs) for o in batch]


@pytest.mark.parametrize(("fmt", "compression"), COMBINATIONS)
def test_round_trip_every_format_and_compression(
    settings: Settings,
    real_objects: list[BackupObject],
    description: dict[str, Any],
    fmt: str,
    compression: str,
) -> None:
    result = write_backup(
        real_objects,
        BackupSource("Docs", description),
        settings,
        BackupOptions(format=fmt, compression=compression),
    )
    assert BACKUP_ID_RE.match(result.backup_id)
    assert result.path == settings.backups_dir / "Docs" / result.backup_id
    assert result.compression == compression
    assert result.object_count == len(real_objects)

    back = read_all(result.backup_id, settings, batch_size=64)
    assert as_tuples(back) == as_tuples(real_objects)

    manifest = read_manifest(result.path)
    assert manifest.format == fmt and manifest.compression == compression
    assert manifest.vector_dimension == 8
    assert manifest.object_count == len(real_objects)
    for entry in manifest.files:
        assert file_sha256(result.path / entry.path) == entry.sha256
        assert (result.path / entry.path).stat().st_size == entry.size_bytes
    suffix = {"none": "", "gzip": ".gz", "zstd": ".zst", "lz4": ".lz4"}
    expected_name = (
        "data/part-00000.parquet"
        if fmt == "parquet"
        else f"data/part-00000.{fmt}{suffix[compression]}"
    )
    assert [e.path for e in manifest.files] == [expected_name]
    # No temporary directory left behind.
    assert [p.name for p in (settings.backups_dir / "Docs").iterdir()] == [result.backup_id]


def test_parquet_columns_types_and_embedded_description(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    result = write_backup(real_objects, BackupSource("Docs", description), settings)
    assert result.compression == "zstd"
    parquet = pq.ParquetFile(result.path / "data" / "part-00000.parquet")
    schema = parquet.schema_arrow
    types = {f.name: str(f.type) for f in schema}
    assert types["uuid"] == "string"
    assert types["size_bytes"] == "int64"
    assert types["synced_at"] == "timestamp[us, tz=UTC]"
    assert types["vector"] == "fixed_size_list<element: float>[8]"
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    embedded = json.loads(schema.metadata[PARQUET_METADATA_KEY])
    assert embedded == description
    # A lone Parquet file can be read without its manifest.
    lone = open_backup(result.path / "data" / "part-00000.parquet", settings)
    assert lone.description == description
    assert lone.object_count == len(real_objects)
    assert as_tuples(list(lone.iter_objects())) == as_tuples(real_objects)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_partition_by_language(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any], fmt: str
) -> None:
    result = write_backup(
        real_objects,
        BackupSource("Docs", description),
        settings,
        BackupOptions(format=fmt, partition_by="language"),
    )
    languages = {o.properties["language"] for o in real_objects}
    assert len(languages) > 1
    dirs = {Path(f.path).parent.name for f in result.files}
    assert dirs == {f"language={lang}" for lang in languages}
    per_file = {Path(f.path).parent.name: f.rows for f in result.files}
    for lang in languages:
        assert per_file[f"language={lang}"] == sum(
            o.properties["language"] == lang for o in real_objects
        )
    assert as_tuples(read_all(result.path, settings)) == as_tuples(real_objects)


def test_reader_projection_uuid_filter_and_no_vectors(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    for fmt in ("parquet", "jsonl"):
        result = write_backup(
            real_objects, BackupSource("Docs", description), settings, BackupOptions(format=fmt)
        )
        wanted = {real_objects[3].uuid, real_objects[150].uuid, real_objects[-1].uuid}
        got = read_all(
            result.backup_id,
            settings,
            uuids=wanted,
            properties=["path", "synced_at"],
            include_vectors=False,
        )
        assert {o.uuid for o in got} == wanted
        by_uuid = {o.uuid: o for o in real_objects}
        for obj in got:
            assert obj.vector is None
            assert obj.properties == {
                "path": by_uuid[obj.uuid].properties["path"],
                "synced_at": by_uuid[obj.uuid].properties["synced_at"],
            }
        batches = list(open_backup(result.backup_id, settings).iter_batches(batch_size=100))
        assert [len(b) for b in batches] == [100, 100, 100]
        with pytest.raises(ElysiaError, match="no property 'nope'"):
            read_all(result.backup_id, settings, properties=["nope"])


def test_no_vectors_and_empty_collection(settings: Settings, description: dict[str, Any]) -> None:
    result = write_backup(
        [], BackupSource("Docs", description), settings, BackupOptions(compression="auto")
    )
    assert result.object_count == 0
    assert [f.rows for f in result.files] == [0]
    assert read_all(result.backup_id, settings) == []
    json_result = write_backup(
        [], BackupSource("Docs", description), settings, BackupOptions(format="json")
    )
    assert json_result.compression == "none"
    assert read_all(json_result.path, settings) == []


def test_exclude_vectors(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    result = write_backup(
        real_objects[:20],
        BackupSource("Docs", description),
        settings,
        BackupOptions(include_vectors=False),
    )
    manifest = read_manifest(result.path)
    assert manifest.include_vectors is False and manifest.vector_dimension is None
    names = pq.ParquetFile(result.path / "data" / "part-00000.parquet").schema_arrow.names
    assert "vector" not in names
    assert all(o.vector is None for o in read_all(result.backup_id, settings))


def test_named_vectors_become_vector_columns(
    settings: Settings, description: dict[str, Any]
) -> None:
    objects = [
        BackupObject(
            f"00000000-0000-0000-0000-{i:012d}",
            {"path": f"f{i}.py", "size_bytes": i},
            {"code": [float(i), 1.0, 2.0], "title": [0.5] * 4} if i != 2 else None,
        )
        for i in range(5)
    ]
    for fmt in ("parquet", "jsonl"):
        result = write_backup(
            objects, BackupSource("Docs", description), settings, BackupOptions(format=fmt)
        )
        back = {o.uuid: o.vector for o in read_all(result.backup_id, settings)}
        assert back == {o.uuid: o.vector for o in objects}
    parquet_file = next((settings.backups_dir / "Docs").glob("*/data/part-00000.parquet"))
    schema = pq.ParquetFile(parquet_file).schema_arrow
    assert {"vector__code", "vector__title"} <= set(schema.names)


def test_inconsistent_vector_dimension_fails_without_leaving_files(
    settings: Settings, description: dict[str, Any]
) -> None:
    objects = [
        BackupObject(
            f"00000000-0000-0000-0000-{i:012d}", {"path": "x"}, [1.0] * (3 if i < 600 else 4)
        )
        for i in range(700)
    ]
    with pytest.raises(ElysiaError, match="4-dimensional"):
        write_backup(objects, BackupSource("Docs", description), settings)
    assert list((settings.backups_dir / "Docs").iterdir()) == []
    with open_catalog(settings) as catalog:
        assert catalog.count() == 0


def test_auto_compression_threshold() -> None:
    assert choose_compression("parquet", "auto", None, 10) == ("zstd", 3)
    assert choose_compression("jsonl", "auto", None, 1000) == ("none", None)
    assert choose_compression("jsonl", "auto", None, AUTO_COMPRESSION_THRESHOLD_BYTES) == (
        "zstd",
        3,
    )
    assert choose_compression("json", "gzip", 9, None) == ("gzip", 9)
    with pytest.raises(ElysiaError, match="not available for json"):
        choose_compression("json", "snappy", None, None)
    with pytest.raises(ElysiaError, match="out of range"):
        choose_compression("jsonl", "gzip", 12, None)


def test_auto_picks_zstd_for_large_json(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    result = write_backup(
        real_objects, BackupSource("Docs", description), settings, BackupOptions(format="jsonl")
    )
    assert result.compression == "zstd"  # 300 real files are several MB of JSON
    small = write_backup(
        real_objects[:3], BackupSource("Docs", description), settings, BackupOptions(format="jsonl")
    )
    assert small.compression == "none"


def test_output_dir_and_tags(
    settings: Settings,
    tmp_path: Path,
    real_objects: list[BackupObject],
    description: dict[str, Any],
) -> None:
    out = tmp_path / "elsewhere"
    result = write_backup(
        real_objects[:10],
        BackupSource("Docs", description),
        settings,
        BackupOptions(output=out, tags=("nightly", "x")),
    )
    assert result.path.parent == out / "Docs"
    with open_catalog(settings) as catalog:
        entry = catalog.get(result.backup_id)
    assert entry.path == str(result.path) and entry.tags == ["nightly", "x"]
    assert len(read_all(result.backup_id, settings)) == 10


def test_open_backup_errors(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="catalog list"):
        open_backup("docs-20240101T000000Z-abcd", settings)
    with pytest.raises(NotFoundError):
        open_backup(tmp_path / "missing", settings)
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(ElysiaError, match=r"manifest\.json"):
        open_backup(bare, settings)
    tmp_dir = tmp_path / ".docs-20240101T000000Z-abcd.tmp"
    tmp_dir.mkdir()
    with pytest.raises(ElysiaError, match="unfinished backup"):
        open_backup(tmp_dir, settings)


def test_failures_mid_stream_leave_no_backup(
    settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]
) -> None:
    """A crash while writing (here: the source dies, then the disk refuses) keeps nothing."""

    def dying() -> Any:
        yield from real_objects[:120]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_backup(
            dying(), BackupSource("Docs", description), settings, BackupOptions(format="jsonl")
        )
    earlier = write_backup(real_objects[:5], BackupSource("Docs", description), settings)
    not_a_dir = settings.home / "a-file"
    not_a_dir.write_text("keep me")
    with pytest.raises(ElysiaError, match="cannot create the backup directory"):
        write_backup(
            real_objects[:5],
            BackupSource("Docs", description),
            settings,
            BackupOptions(output=not_a_dir),
        )
    assert not_a_dir.read_text() == "keep me"
    assert [p.name for p in (settings.backups_dir / "Docs").iterdir()] == [earlier.backup_id]
    with open_catalog(settings) as catalog:
        assert [e.id for e in catalog.list()] == [earlier.backup_id]
    assert len(read_all(earlier.backup_id, settings)) == 5
