"""On-disk layout of one backup: ids, paths, file names and the manifest.

This module is the contract between the exporter (`export.py`), the reader that
restore builds on (`reader.py`), `verify.py`, the catalog and analysts pointing DuckDB
at the files. Changing anything here means bumping `FORMAT_VERSION`.

Layout (format_version 1)
-------------------------
A backup is one directory::

    <root>/<collection>/<backup_id>/
        manifest.json
        data/part-00000.parquet                      # format "parquet"
        data/language=python/part-00000.parquet      # with partition_by="language" (hive style)
        data/part-00000.jsonl[.gz|.zst|.lz4]         # format "jsonl"
        data/part-00000.json[.gz|.zst|.lz4]          # format "json"

`<root>` is `ELYSIA_HOME/backups` unless the caller passes an output directory.
`backup_id` is `<collection-lowercase>-<YYYYmmddTHHMMSSZ>-<4 hex>`, e.g.
`myrepo-20240501T120000Z-3f2a`. The exporter writes everything into
`<root>/<collection>/.<backup_id>.tmp/` and renames it to `<backup_id>/` only after the
manifest is written and fsynced, so a crashed backup never looks complete; retention
removes stale `.tmp` directories. `<root>` may also be an object-store URI
(`s3://bucket/prefix`, see `storage.py`): there the files go to their final keys and the
manifest, written last, is what makes the backup exist.

`manifest.json` (UTF-8, one JSON object)::

    {"format_version": 1, "backup_id", "collection",
     "created_at", "started_at", "finished_at",          # RFC 3339, UTC
     "object_count",
     "format": "parquet" | "json" | "jsonl",
     "compression": "zstd" | "gzip" | "lz4" | "snappy" | "none",   # snappy: parquet only
     "level": int | null,
     "include_vectors": bool,
     "vector_dimension": int | null,                     # the default (unnamed) vector
     "vectors": {name: dimension},                       # every vector column ("default" = unnamed)
     "partition_by": null | "language" | "repo",
     "filter": expression text | null,
     "schema": describe_collection() dict (properties with data types, vectorizer, ...),
     "source": {"url": redacted URL | null, "weaviate_version": str | null},
     "files": [{"path": "data/part-00000.parquet", "sha256": hex, "size_bytes": int,
                "rows": int}],
     "tags": [str, ...],
     "tenants": [{"name": str, "objects": int}, ...]}    # format_version 2 only

Multi-tenant collections (format_version 2): `schema.multi_tenancy` is true (with
`auto_tenant_creation` / `auto_tenant_activation`), `tenants` lists every tenant in name
order (empty ones too), each object carries its tenant: a `tenant` column (string, right
after `uuid`) in Parquet, a `"tenant"` field in JSON/JSONL. Every other backup is written
as format_version 1, unchanged; readers accept both.

Parquet files: column `uuid` (string), one column per property with the Arrow type of
its Weaviate data type (see `formats.arrow_type_for`), `vector` as
`fixed_size_list<float32>[dim]` when vectors are included (nullable) and `vector__<name>`
for named vectors. The file metadata key `elysia.collection` holds the collection
description JSON so a lone Parquet file can rebuild the collection. Hive partition
directories hold the property value percent-encoded (`partition_dir_value`; missing
values as `__HIVE_DEFAULT_PARTITION__`), which DuckDB and pyarrow decode back to the
exact value; the property column also stays inside each file.

JSON/JSONL files: one `{"uuid", "properties": {...}, "vector": [...] | {name: [...]} |
null}` per line (dates as RFC 3339 strings). For `json` the same objects form one JSON
array with one element per line (`[` and `]` on their own lines), which lets the reader
stream it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from elysia_pipelines.clock import utc_now
from elysia_pipelines.errors import ElysiaError

FORMAT_VERSION = 1
# Backups of multi-tenant collections: objects carry their tenant, the manifest lists
# the tenants. Written only for those, so every other backup stays readable by
# releases that know version 1 alone (and those refuse a version 2 one clearly).
MULTI_TENANT_FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (FORMAT_VERSION, MULTI_TENANT_FORMAT_VERSION)
MANIFEST_NAME = "manifest.json"
DATA_DIR = "data"
PARQUET_METADATA_KEY = b"elysia.collection"

FORMATS = ("parquet", "json", "jsonl")
JSON_COMPRESSIONS = ("none", "gzip", "zstd", "lz4")
PARQUET_COMPRESSIONS = ("zstd", "gzip", "lz4", "snappy", "none")
PARTITION_KEYS = ("language", "repo")
COMPRESSION_SUFFIX = {"none": "", "gzip": ".gz", "zstd": ".zst", "lz4": ".lz4"}

VECTOR_COLUMN = "vector"
# The tenant an object belongs to, in backups of a multi-tenant collection only.
TENANT_COLUMN = "tenant"
NAMED_VECTOR_PREFIX = "vector__"
DEFAULT_VECTOR_NAME = "default"

BACKUP_ID_RE = re.compile(r"^[a-z0-9_]+-\d{8}T\d{6}Z-[0-9a-f]{4}$")
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def rfc3339(moment: datetime) -> str:
    """UTC timestamps with a `Z`, sortable as text (the catalog relies on that)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_backup_id(collection: str, moment: datetime | None = None) -> str:
    """`<collection-lowercase>-<YYYYmmddTHHMMSSZ>-<4 hex>`: sorts by time within a collection.

    The random suffix keeps two backups started in the same second apart.
    """
    moment = (moment or utc_now()).astimezone(UTC)
    return f"{collection.lower()}-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def is_backup_id(text: str) -> bool:
    return bool(BACKUP_ID_RE.match(text))


def backup_dir(root: Path, collection: str, backup_id: str) -> Path:
    return root / collection / backup_id


def tmp_backup_dir(root: Path, collection: str, backup_id: str) -> Path:
    return root / collection / f".{backup_id}.tmp"


def is_tmp_dir_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def data_file_name(fmt: str, compression: str, index: int = 0) -> str:
    """`part-00000.parquet`, `part-00000.jsonl.zst`, `part-00000.json` ..."""
    if fmt == "parquet":
        return f"part-{index:05d}.parquet"
    return f"part-{index:05d}.{fmt}{COMPRESSION_SUFFIX[compression]}"


def partition_dir_value(value: Any) -> str:
    """A property value as a hive directory value: percent-encoded, never empty.

    Hive and DuckDB (`hive_partitioning = true`) URL-decode directory values, and
    DuckDB lets the directory win over the column in the file, so the encoding must
    round-trip exactly: `c#/x` becomes `c%23%2Fx` and reads back as `c#/x`.
    """
    if value is None or value == "":
        return HIVE_DEFAULT_PARTITION
    return quote(str(value), safe="")[:200]


def compression_of_path(path: str) -> str:
    """Compression of a JSON/JSONL data file from its suffix (parquet carries its own)."""
    for name, suffix in COMPRESSION_SUFFIX.items():
        if suffix and path.endswith(suffix):
            return name
    return "none"


@dataclass
class FileEntry:
    path: str  # relative to the backup directory, POSIX separators
    sha256: str
    size_bytes: int
    rows: int


@dataclass
class Manifest:
    backup_id: str
    collection: str
    created_at: str
    started_at: str
    finished_at: str
    object_count: int
    format: str
    compression: str
    level: int | None
    include_vectors: bool
    vector_dimension: int | None
    partition_by: str | None
    filter: str | None
    schema: dict[str, Any]
    source: dict[str, Any]
    files: list[FileEntry]
    tags: list[str] = field(default_factory=list)
    vectors: dict[str, int] = field(default_factory=dict)
    # Multi-tenant collections: [{"name", "objects"}] in name order; [] otherwise.
    tenants: list[dict[str, Any]] = field(default_factory=list)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.schema.get("multi_tenancy"):
            self.format_version = MULTI_TENANT_FORMAT_VERSION

    @property
    def multi_tenant(self) -> bool:
        return bool(self.schema.get("multi_tenancy"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.multi_tenant:
            data.pop("tenants")  # version 1 manifests stay exactly as they were
        # format_version first: humans and other tools look for it first.
        return {"format_version": data.pop("format_version"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        version = data.get("format_version")
        if version not in READABLE_FORMAT_VERSIONS:
            raise ElysiaError(
                f"backup manifest has format_version {version!r}; this version reads "
                f"{' and '.join(map(str, READABLE_FORMAT_VERSIONS))}",
                "use the elysia_pipelines release that wrote this backup",
            )
        try:
            files = [FileEntry(**entry) for entry in data["files"]]
            return cls(
                backup_id=data["backup_id"],
                collection=data["collection"],
                created_at=data["created_at"],
                started_at=data.get("started_at", data["created_at"]),
                finished_at=data.get("finished_at", data["created_at"]),
                object_count=int(data["object_count"]),
                format=data["format"],
                compression=data["compression"],
                level=data.get("level"),
                include_vectors=bool(data.get("include_vectors", False)),
                vector_dimension=data.get("vector_dimension"),
                partition_by=data.get("partition_by"),
                filter=data.get("filter"),
                schema=data.get("schema") or {},
                source=data.get("source") or {},
                files=files,
                tags=list(data.get("tags") or []),
                vectors=dict(data.get("vectors") or {}),
                tenants=[dict(t) for t in data.get("tenants") or []],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ElysiaError(
                f"backup manifest is missing or has a bad field: {exc}",
                damaged_hint(),
            ) from None


def manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()


def write_manifest(directory: Path, manifest: Manifest) -> str:
    """Write and fsync the manifest; return its sha256 (the catalog's checksum)."""
    payload = manifest_bytes(manifest)
    path = directory / MANIFEST_NAME
    with open(path, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return hashlib.sha256(payload).hexdigest()


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise ElysiaError(
            f"{path} does not exist: not a complete backup directory",
            "point at a directory containing manifest.json, or list backups with "
            "`elysiactl col catalog list`",
        ) from None
    return parse_manifest(payload, str(path))


def parse_manifest(payload: bytes, where: str) -> Manifest:
    """A manifest from its bytes; `where` (a path or URI) names it in errors."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ElysiaError(
            f"{where} is not valid JSON ({exc})",
            damaged_hint(where),
        ) from None
    if not isinstance(data, dict):
        raise ElysiaError(f"{where} is not a JSON object", "the backup is damaged")
    return Manifest.from_dict(data)


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def damaged_hint(where: str | Path | None = None) -> str:
    """The hint for an unreadable backup, naming it so the command can be pasted.

    `where` is the backup directory, its manifest or one of its data files.
    """
    text = str(where) if where is not None else "BACKUP_ID|PATH"
    if "/data/" in text:
        text = text.split("/data/")[0]
    text = text.removesuffix("/" + MANIFEST_NAME)
    return f"the backup is damaged; `elysiactl col catalog verify {text}` lists what is wrong"
