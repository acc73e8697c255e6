"""Verification finds every kind of damage and says precisely where."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.export import BackupOptions, BackupResult, BackupSource, write_backup
from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.backups.verify import verify_backup
from elysia_pipelines.errors import NotFoundError
from elysia_pipelines.settings import Settings

Make = Callable[..., BackupResult]


@pytest.fixture
def make(settings: Settings, real_objects: list[BackupObject], description: dict[str, Any]) -> Make:
    """Writes a backup of the real objects (or of `objects`) with `BackupOptions(**kw)`."""

    def write(objects: list[BackupObject] | None = None, **kw: Any) -> BackupResult:
        source = BackupSource("Docs", description)
        chosen = real_objects if objects is None else objects
        return write_backup(chosen, source, settings, BackupOptions(**kw))

    return write


def kinds(report: Any) -> list[str]:
    return [p.kind for p in report.problems]


@pytest.mark.parametrize(
    ("fmt", "compression"),
    [("parquet", "zstd"), ("jsonl", "zstd"), ("json", "gzip"), ("jsonl", "lz4")],
)
def test_intact_backup_verifies(settings: Settings, make: Make, fmt: str, compression: str) -> None:
    result = make(format=fmt, compression=compression)
    report = verify_backup(result.backup_id, settings)
    assert report.ok, report.problems
    assert report.checked_files == 1 and report.catalog_status == "verified"
    with open_catalog(settings) as catalog:
        entry = catalog.get(result.backup_id)
    assert entry.status == "verified" and entry.verified_at


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_corrupted_byte(settings: Settings, make: Make, fmt: str) -> None:
    result = make(format=fmt, compression="zstd")
    path = result.path / result.files[0].path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify_backup(result.backup_id, settings)
    assert not report.ok
    mismatch = next(p for p in report.problems if p.kind == "checksum_mismatch")
    assert mismatch.path == result.files[0].path
    assert mismatch.expected == result.files[0].sha256 and mismatch.actual != mismatch.expected
    assert result.files[0].path in mismatch.message
    assert report.catalog_status == "corrupt"
    with open_catalog(settings) as catalog:
        assert catalog.get(result.backup_id).status == "corrupt"


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_truncated_file(settings: Settings, make: Make, fmt: str) -> None:
    result = make(format=fmt, compression="gzip")
    path = result.path / result.files[0].path
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    report = verify_backup(result.backup_id, settings)
    truncated = next(p for p in report.problems if p.kind == "truncated")
    assert (truncated.expected, truncated.actual) == (size, size // 2)
    assert f"{size // 2} bytes, the manifest says {size}" in truncated.message
    assert "checksum_mismatch" in kinds(report)
    assert "unreadable" in kinds(report) or "row_count" in kinds(report)


def test_deleted_and_extra_files(settings: Settings, make: Make) -> None:
    result = make(partition_by="language")
    victim = result.files[0].path
    (result.path / victim).unlink()
    (result.path / "data" / "stray.parquet").write_bytes(b"not listed")
    report = verify_backup(result.backup_id, settings)
    missing = next(p for p in report.problems if p.kind == "missing_file")
    assert missing.path == victim and missing.actual == "absent"
    extra = next(p for p in report.problems if p.kind == "extra_file")
    assert extra.path == "data/stray.parquet" and extra.actual == "10 bytes"
    assert sorted(kinds(report)) == ["extra_file", "missing_file"]


def test_wrong_checksum_in_manifest(settings: Settings, make: Make) -> None:
    result = make(format="jsonl")
    manifest_path = result.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][0]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest, indent=2))
    report = verify_backup(result.backup_id, settings)
    assert sorted(kinds(report)) == ["checksum_mismatch", "manifest_checksum"]
    mismatch = next(p for p in report.problems if p.kind == "checksum_mismatch")
    assert mismatch.expected == "0" * 64 and mismatch.actual == result.files[0].sha256
    tampered = next(p for p in report.problems if p.kind == "manifest_checksum")
    assert tampered.expected == result.manifest_checksum


def test_row_count_and_schema_mismatch(
    settings: Settings, make: Make, real_objects: list[BackupObject]
) -> None:
    result = make()
    manifest_path = result.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][0]["rows"] = 7
    manifest["object_count"] = 7
    manifest["schema"]["properties"][7]["data_type"] = "text"  # size_bytes: int -> text
    manifest_path.write_text(json.dumps(manifest, indent=2))
    # Verify by path too: no catalog checksum involved then.
    report = verify_backup(result.path, settings)
    row = next(p for p in report.problems if p.kind == "row_count")
    assert (row.expected, row.actual) == (7, len(real_objects))
    schema = next(p for p in report.problems if p.kind == "schema_mismatch")
    assert "size_bytes: expected string, found int64" in schema.message


def test_manifest_unreadable_and_missing_directory(
    settings: Settings, make: Make, real_objects: list[BackupObject], tmp_path: Path
) -> None:
    result = make(real_objects[:5])
    (result.path / "manifest.json").write_text("{broken")
    report = verify_backup(result.backup_id, settings)
    assert "manifest_unreadable" in kinds(report) and "manifest_checksum" in kinds(report)
    other = make(real_objects[:5])
    import shutil

    shutil.rmtree(other.path)
    report = verify_backup(other.backup_id, settings)
    assert kinds(report) == ["missing_directory"]
    with pytest.raises(NotFoundError):
        verify_backup("docs-20200101T000000Z-0000", settings)
