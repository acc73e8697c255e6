"""Verify a backup against its manifest and the catalog, file by file.

A backup you cannot trust is worse than none, so verification re-reads everything:
each file's sha256 and size, its row count (Parquet footer, or decompressed line
count), the Parquet schema against the one the manifest implies, files missing from or
added to the directory, and the manifest itself against the checksum the catalog
recorded when the backup was written. Every problem names the file and gives the
expected and the actual value. The catalog status becomes `verified` or `corrupt`.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from elysia_pipelines.backups import storage
from elysia_pipelines.backups.catalog import Catalog, CatalogEntry, open_catalog
from elysia_pipelines.backups.formats import arrow_schema, open_decompressed
from elysia_pipelines.backups.layout import (
    MANIFEST_NAME,
    PARQUET_METADATA_KEY,
    Manifest,
    file_sha256,
    parse_rfc3339,
    read_manifest,
    rfc3339,
)
from elysia_pipelines.backups.reader import resolve_backup_dir
from elysia_pipelines.backups.storage import is_remote, redact_uri
from elysia_pipelines.clock import utc_now
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings


@dataclass
class Problem:
    kind: str  # see PROBLEM_KINDS
    path: str | None
    message: str
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


PROBLEM_KINDS = (
    "missing_directory",
    "manifest_unreadable",
    "manifest_checksum",
    "missing_file",
    "extra_file",
    "truncated",
    "size_mismatch",
    "checksum_mismatch",
    "unreadable",
    "row_count",
    "schema_mismatch",
    "object_count",
)


@dataclass
class VerifyReport:
    backup_id: str
    path: str
    ok: bool
    checked_files: int
    checked_bytes: int
    problems: list[Problem] = field(default_factory=list)
    verified_at: str = ""
    catalog_status: str | None = None  # the status written to the catalog, if catalogued

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count_json_rows(path: Path) -> int:
    rows = 0
    with open_decompressed(path) as stream:
        for line in stream:
            stripped = line.strip()
            if stripped and stripped not in (b"[", b"]"):
                rows += 1
    return rows


def _schema_problems(relative: str, parquet: pq.ParquetFile, manifest: Manifest) -> list[Problem]:
    expected = arrow_schema(manifest.schema, manifest.vectors, with_metadata=False)
    actual = parquet.schema_arrow.remove_metadata()
    problems: list[Problem] = []
    if not actual.equals(expected):
        want = {f.name: str(f.type) for f in expected}
        have = {f.name: str(f.type) for f in actual}
        diffs = [
            f"{name}: expected {want.get(name, 'absent')}, found {have.get(name, 'absent')}"
            for name in sorted(set(want) | set(have), key=lambda n: (n not in want, n))
            if want.get(name) != have.get(name)
        ]
        problems.append(
            Problem(
                "schema_mismatch",
                relative,
                f"{relative}: Parquet schema differs from the manifest: "
                + ("; ".join(diffs) or "field order or nullability differs"),
                expected=want,
                actual=have,
            )
        )
    metadata = parquet.schema_arrow.metadata or {}
    if PARQUET_METADATA_KEY not in metadata:
        problems.append(
            Problem(
                "schema_mismatch",
                relative,
                f"{relative}: the `{PARQUET_METADATA_KEY.decode()}` metadata is missing",
                expected="present",
                actual="absent",
            )
        )
    return problems


def _check_file(directory: Path, entry: Any, manifest: Manifest) -> tuple[list[Problem], int]:
    """Problems of one data file, and the number of rows found in it (for the total)."""
    relative = entry.path
    path = directory / relative
    if not path.is_file():
        return [
            Problem(
                "missing_file",
                relative,
                f"{relative} is missing",
                expected=f"{entry.size_bytes} bytes",
                actual="absent",
            )
        ], 0
    problems: list[Problem] = []
    size = path.stat().st_size
    if size < entry.size_bytes:
        problems.append(
            Problem(
                "truncated",
                relative,
                f"{relative} is truncated: {size} bytes, the manifest says {entry.size_bytes}",
                expected=entry.size_bytes,
                actual=size,
            )
        )
    elif size > entry.size_bytes:
        problems.append(
            Problem(
                "size_mismatch",
                relative,
                f"{relative} is {size} bytes, the manifest says {entry.size_bytes}",
                expected=entry.size_bytes,
                actual=size,
            )
        )
    digest = file_sha256(path)
    if digest != entry.sha256:
        problems.append(
            Problem(
                "checksum_mismatch",
                relative,
                f"{relative}: sha256 {digest} does not match the manifest's {entry.sha256}",
                expected=entry.sha256,
                actual=digest,
            )
        )
    rows = 0
    try:
        if manifest.format == "parquet":
            parquet = pq.ParquetFile(path)
            rows = parquet.metadata.num_rows
            problems.extend(_schema_problems(relative, parquet, manifest))
        else:
            rows = _count_json_rows(path)
    except Exception as exc:
        # zstandard/lz4 raise their own types on corrupt frames: the stream is at fault.
        if isinstance(exc, (pa.ArrowException, OSError, EOFError, ValueError, RuntimeError)):
            failed, expected = "read", f"a readable {manifest.format} file"
        else:
            failed, expected = "decompressed", f"a readable {manifest.compression} stream"
        problems.append(
            Problem(
                "unreadable",
                relative,
                f"{relative} cannot be {failed}: {exc or type(exc).__name__}",
                expected=expected,
                actual=type(exc).__name__,
            )
        )
        return problems, 0
    if rows != entry.rows:
        problems.append(
            Problem(
                "row_count",
                relative,
                f"{relative} has {rows} rows, the manifest says {entry.rows}",
                expected=entry.rows,
                actual=rows,
            )
        )
    return problems, rows


def verify_directory(
    directory: Path, *, expected_manifest_sha256: str | None = None
) -> VerifyReport:
    """Verify one backup directory; `expected_manifest_sha256` comes from the catalog."""
    now = rfc3339(utc_now())
    backup_id = directory.name
    if not directory.is_dir():
        problem = Problem(
            "missing_directory",
            None,
            f"backup directory {directory} does not exist",
            expected="a directory",
            actual="absent",
        )
        return VerifyReport(backup_id, str(directory), False, 0, 0, [problem], now)
    problems: list[Problem] = []
    manifest_path = directory / MANIFEST_NAME
    if expected_manifest_sha256 is not None and manifest_path.is_file():
        actual = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
        if actual != expected_manifest_sha256:
            problems.append(
                Problem(
                    "manifest_checksum",
                    MANIFEST_NAME,
                    f"{MANIFEST_NAME} was changed after the backup was written: sha256 {actual}, "
                    f"the catalog recorded {expected_manifest_sha256}",
                    expected=expected_manifest_sha256,
                    actual=actual,
                )
            )
    try:
        manifest = read_manifest(directory)
    except ElysiaError as exc:
        problems.append(
            Problem(
                "manifest_unreadable",
                MANIFEST_NAME,
                exc.message,
                expected="a valid manifest",
                actual="unreadable",
            )
        )
        return VerifyReport(backup_id, str(directory), False, 0, 0, problems, now)

    backup_id = manifest.backup_id
    total_rows = 0
    checked_bytes = 0
    for entry in manifest.files:
        file_problems, rows = _check_file(directory, entry, manifest)
        problems.extend(file_problems)
        total_rows += rows
        path = directory / entry.path
        if path.is_file():
            checked_bytes += path.stat().st_size

    listed = {entry.path for entry in manifest.files} | {MANIFEST_NAME}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative not in listed:
            problems.append(
                Problem(
                    "extra_file",
                    relative,
                    f"{relative} is not listed in the manifest",
                    expected="absent",
                    actual=f"{path.stat().st_size} bytes",
                )
            )
    listed_rows = sum(e.rows for e in manifest.files)
    if listed_rows != manifest.object_count:
        problems.append(
            Problem(
                "object_count",
                None,
                f"the manifest's files hold {listed_rows} rows but its object_count is "
                f"{manifest.object_count}",
                expected=manifest.object_count,
                actual=listed_rows,
            )
        )
    tenant_rows = sum(int(t.get("objects", 0)) for t in manifest.tenants)
    if manifest.multi_tenant and manifest.tenants and tenant_rows != manifest.object_count:
        problems.append(
            Problem(
                "object_count",
                None,
                f"the manifest's tenants hold {tenant_rows} objects but its object_count is "
                f"{manifest.object_count}",
                expected=manifest.object_count,
                actual=tenant_rows,
            )
        )
    return VerifyReport(
        backup_id,
        str(directory),
        not problems,
        len(manifest.files),
        checked_bytes,
        problems,
        now,
    )


def verify_remote(
    uri: str, settings: Settings, *, expected_manifest_sha256: str | None = None
) -> VerifyReport:
    """Verify a backup in object storage: every object is read back and re-hashed.

    The objects are streamed into a scratch directory and checked there with the same
    checks as a local backup; the scratch copy is removed afterwards.
    """
    import tempfile

    location = storage.open_location(uri, settings)
    scratch_root = settings.home / "tmp"
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root) as scratch:
        copy = Path(scratch) / location.path.rsplit("/", 1)[-1]
        copy.mkdir()
        if storage.download_tree(location, copy) == 0:
            problem = Problem(
                "missing_directory",
                None,
                f"backup {location.uri} does not exist (no objects under that prefix)",
                expected="a backup",
                actual="absent",
            )
            return VerifyReport(copy.name, location.uri, False, 0, 0, [problem], rfc3339(utc_now()))
        report = verify_directory(copy, expected_manifest_sha256=expected_manifest_sha256)
    report.path = location.uri
    return report


def verify_backup(
    ref: str | Path, settings: Settings, *, update_catalog: bool = True
) -> VerifyReport:
    """Verify a backup by catalog id or directory path; record the outcome in the catalog."""
    text = str(ref)
    path = Path(text).expanduser()
    entry: CatalogEntry | None = None
    directory: Path | str
    with open_catalog(settings) as catalog:
        if is_remote(text):
            directory = text.rstrip("/")
            entry = catalog.find(directory.rsplit("/", 1)[-1])
            if entry is not None and entry.path.rstrip("/") != redact_uri(directory):
                entry = None
        elif path.is_dir():
            directory = path.resolve()
            entry = catalog.find(directory.name)
            if entry is not None and Path(entry.path).resolve() != directory:
                entry = None
        else:
            entry = catalog.find(text)
            if entry is not None and entry.status == "deleted":
                raise ElysiaError(
                    f"backup {text} was deleted by retention; there is nothing to verify",
                    "list existing backups with `elysiactl col catalog list`",
                )
            directory = entry.path if entry is not None else resolve_backup_dir(text, settings)
        expected = entry.checksum if entry else None
        report = (
            verify_remote(str(directory), settings, expected_manifest_sha256=expected)
            if is_remote(str(directory))
            else verify_directory(Path(directory), expected_manifest_sha256=expected)
        )
        if entry is not None and update_catalog:
            status = "verified" if report.ok else "corrupt"
            catalog.set_status(entry.id, status, verified_at=parse_rfc3339(report.verified_at))
            report.catalog_status = status
    return report


# A file whose mtime is this close to the last verification may have been rewritten in
# the same coarse clock tick after it was hashed ("racily clean", as git calls it), so
# it is hashed again rather than trusted.
_RACY_SECONDS = 2.0


def _unchanged_since_verified(directory: Path, entry: CatalogEntry) -> bool:
    """True when the catalog says `verified` and nothing in the backup changed since.

    Sizes, mtimes and the manifest's own checksum are compared and every Parquet footer
    is opened (a cheap read of the file's tail); only when all of that agrees is the
    earlier full re-hash trusted.
    """
    if entry.status != "verified" or not entry.verified_at:
        return False
    cutoff = parse_rfc3339(entry.verified_at).timestamp() - _RACY_SECONDS
    manifest_path = directory / MANIFEST_NAME
    try:
        if hashlib.sha256(manifest_path.read_bytes()).hexdigest() != entry.checksum:
            return False
        manifest = read_manifest(directory)
        for item in manifest.files:
            stat = (directory / item.path).stat()
            if stat.st_size != item.size_bytes or stat.st_mtime >= cutoff:
                return False
            if pq.read_metadata(directory / item.path).num_rows != item.rows:
                return False
    except (ElysiaError, OSError, pa.ArrowException, ValueError):
        return False
    return manifest_path.stat().st_mtime < cutoff


def check_before_query(entry: CatalogEntry, settings: Settings, catalog: Catalog) -> list[Problem]:
    """The problems `verify` would report for a backup a query is about to read.

    A backup verified earlier and unchanged since (same sizes, mtimes older than that
    verification, footers readable) is trusted without re-hashing; any other is verified
    in full, and the outcome is recorded in the catalog as `verify` records it, so the
    next query over an unchanged backup is cheap and a corrupt one is never offered
    again. Remote backups are verified in full unless the catalog already says
    `verified` (object storage gives no cheap mtime to compare).
    """
    if is_remote(entry.path):
        if entry.status == "verified":
            return []
        report = verify_remote(entry.path, settings, expected_manifest_sha256=entry.checksum)
    else:
        directory = Path(entry.path)
        if _unchanged_since_verified(directory, entry):
            return []
        report = verify_directory(directory, expected_manifest_sha256=entry.checksum)
    # A read-only catalog still gets a checked query, just not a cheaper next one.
    with contextlib.suppress(ElysiaError, OSError, sqlite3.Error):
        catalog.set_status(
            entry.id,
            "verified" if report.ok else "corrupt",
            verified_at=parse_rfc3339(report.verified_at),
        )
    return report.problems
