"""File writers for one backup part (Parquet, JSON, JSONL) and the compression choice.

Writers stream: they take objects a batch at a time and hash the bytes as they go to
disk, so a backup never holds the collection in memory and never re-reads a file to
checksum it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
import zstandard

from elysia_pipelines.backups.layout import (
    DEFAULT_VECTOR_NAME,
    JSON_COMPRESSIONS,
    NAMED_VECTOR_PREFIX,
    PARQUET_COMPRESSIONS,
    PARQUET_METADATA_KEY,
    TENANT_COLUMN,
    VECTOR_COLUMN,
    FileEntry,
    parse_rfc3339,
)
from elysia_pipelines.errors import ElysiaError

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow, numpy and lz4 are imported where used: a JSON backup needs none of them
# (pyarrow alone is ~0.15 s and 50 MB of a whole `col backup --format json`).

# Below this estimated size a JSON backup stays uncompressed: it is then small enough
# that the bytes saved do not matter and a plain file can be read with `less` or `jq`.
# Above it zstd (level 3): on source code it reaches ~20% of the JSON size at several
# hundred MB/s, while lz4 stays near 35% and gzip is ~5x slower for a similar ratio.
AUTO_COMPRESSION_THRESHOLD_BYTES = 1024 * 1024
DEFAULT_LEVELS: dict[str, int | None] = {
    "zstd": 3,
    "gzip": 6,
    "lz4": 0,
    "snappy": None,
    "none": None,
}
LEVEL_RANGES: dict[str, tuple[int, int]] = {"zstd": (1, 22), "gzip": (1, 9), "lz4": (0, 16)}

# Row groups are cut by rows or buffered bytes, whichever comes first: large enough for
# good compression and DuckDB scans, small enough to keep the exporter's memory flat.
ROW_GROUP_MAX_ROWS = 2000
ROW_GROUP_MAX_BYTES = 4 * 1024 * 1024
# JSON has no row groups: objects are handed to the writer in small batches and
# encoded in ~1 MB chunks, so the compressor sees a steady stream.
JSON_BATCH_MAX_ROWS = 200
JSON_BATCH_MAX_BYTES = 1024 * 1024
JSON_CHUNK_BYTES = 1024 * 1024
# What zstd's worker thread takes at a time (see _Compressor).
ZSTD_JOB_BYTES = 2 * 1024 * 1024


@dataclass
class BackupObject:
    """One object of a backup: what the reader yields and what writers take."""

    uuid: str
    properties: dict[str, Any]
    vector: list[float] | dict[str, list[float]] | None = None
    tenant: str | None = None  # set in backups of multi-tenant collections only


# ---------------------------------------------------------------- schema / types


@cache
def _scalar_arrow() -> dict[str, pa.DataType]:
    import pyarrow as pa

    return {
        "text": pa.string(),
        "string": pa.string(),
        "uuid": pa.string(),
        "int": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.timestamp("us", tz="UTC"),
        "blob": pa.string(),  # base64 text, as Weaviate returns it
        "geocoordinates": pa.struct([("latitude", pa.float64()), ("longitude", pa.float64())]),
        "phonenumber": pa.string(),  # JSON text: the shape is not worth a struct
        "object": pa.string(),  # JSON text
    }


_SCALAR_NAMES = frozenset(
    {
        "text",
        "string",
        "uuid",
        "int",
        "number",
        "boolean",
        "date",
        "blob",
        "geocoordinates",
        "phonenumber",
        "object",
    }
)


def _type_name(raw: Any) -> str:
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else "text"
    text = str(raw)
    # Accept enum reprs like "DataType.TEXT_ARRAY" and the client's "text[]" strings.
    text = text.split(".")[-1].lower()
    if text.endswith("_array"):
        text = text[: -len("_array")] + "[]"
    return text


def property_types(description: dict[str, Any]) -> dict[str, str]:
    """`{property name: Weaviate data type}` from a `describe_collection()` dict."""
    result: dict[str, str] = {}
    for prop in description.get("properties") or []:
        name = prop.get("name")
        if not name:
            continue
        raw = prop.get("data_type", prop.get("dataType", prop.get("type", "text")))
        result[name] = _type_name(raw)
    return result


def arrow_type_for(data_type: str) -> pa.DataType:
    """Arrow type for a Weaviate data type name (`text`, `int[]`, `date` ...)."""
    import pyarrow as pa

    if data_type.endswith("[]"):
        return pa.list_(arrow_type_for(data_type[:-2]))
    if data_type in _SCALAR_NAMES:
        return _scalar_arrow()[data_type]
    # Cross-references and unknown types: kept as JSON text rather than dropped.
    return pa.string()


def vector_column_name(name: str) -> str:
    return VECTOR_COLUMN if name == DEFAULT_VECTOR_NAME else f"{NAMED_VECTOR_PREFIX}{name}"


def vector_name_of_column(column: str) -> str | None:
    if column == VECTOR_COLUMN:
        return DEFAULT_VECTOR_NAME
    if column.startswith(NAMED_VECTOR_PREFIX):
        return column[len(NAMED_VECTOR_PREFIX) :]
    return None


def arrow_schema(
    description: dict[str, Any], vectors: dict[str, int], *, with_metadata: bool = True
) -> pa.Schema:
    """The Parquet schema of a backup; the collection description rides in the metadata."""
    import pyarrow as pa

    fields = [pa.field("uuid", pa.string(), nullable=False)]
    if description.get("multi_tenancy"):
        fields.append(pa.field(TENANT_COLUMN, pa.string(), nullable=False))
    for name, data_type in property_types(description).items():
        fields.append(pa.field(name, arrow_type_for(data_type)))
    for name, dim in vectors.items():
        fields.append(pa.field(vector_column_name(name), pa.list_(pa.float32(), dim)))
    metadata = None
    if with_metadata:
        metadata = {PARQUET_METADATA_KEY: json.dumps(description, default=str).encode()}
    return pa.schema(fields, metadata=metadata)


def normalize_vectors(vector: Any) -> dict[str, list[float]]:
    """Every vector shape (list, {name: list}, None) as `{name: list}`."""
    if vector is None:
        return {}
    if isinstance(vector, dict):
        return {str(k): v for k, v in vector.items() if v is not None and len(v) > 0}
    if len(vector) == 0:
        return {}
    return {DEFAULT_VECTOR_NAME: vector}


# ---------------------------------------------------------------- value conversion


def to_datetime(value: Any) -> Any:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise ValueError(f"{value!r} is not a date")


def _to_int(value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{value!r} is not an integer")


def _to_json_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _geo(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    return {"latitude": value.latitude, "longitude": value.longitude}


def _column_converter(data_type: str) -> Callable[[Any], Any] | None:
    """Per-value fix-ups so `pa.array` accepts what the client returns; None = as is."""
    base = data_type[:-2] if data_type.endswith("[]") else data_type
    scalar: Callable[[Any], Any] | None = {
        "date": to_datetime,
        "int": _to_int,
        "phonenumber": _to_json_text,
        "object": _to_json_text,
        "geocoordinates": _geo,
    }.get(base)
    if scalar is None and base not in _SCALAR_NAMES:
        scalar = _to_json_text
    if scalar is None:
        return None
    if data_type.endswith("[]"):
        inner = scalar
        return lambda values: None if values is None else [inner(v) for v in values]
    return scalar


def objects_to_table(
    objects: Sequence[BackupObject], schema: pa.Schema, types: dict[str, str]
) -> pa.Table:
    """Column-wise conversion: one array per column is far faster than row dicts.

    Columns are laid out by `arrow_build` rather than `pa.array`, which would import
    pandas (0.3 s, 50 MB) into every process that writes Parquet.
    """
    import pyarrow as pa

    from elysia_pipelines.backups.arrow_build import build_array

    columns: list[pa.Array] = [build_array([o.uuid for o in objects], pa.string())]
    if schema.names[1:2] == [TENANT_COLUMN] and TENANT_COLUMN not in types:
        columns.append(build_array([o.tenant for o in objects], pa.string()))
    for name, data_type in types.items():
        values = [o.properties.get(name) for o in objects]
        convert = _column_converter(data_type)
        try:
            if convert is not None:
                values = [convert(v) for v in values]
            columns.append(build_array(values, schema.field(name).type))
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise ElysiaError(
                f"property {name!r} has a value that does not fit its type {data_type}: {exc}",
                "the collection holds data that disagrees with its schema",
            ) from None
    vector_fields = [f for f in schema if vector_name_of_column(f.name) is not None]
    if vector_fields:
        per_object = [normalize_vectors(o.vector) for o in objects]
        for fld in vector_fields:
            name = vector_name_of_column(fld.name)
            dim = fld.type.list_size
            columns.append(_vector_array([v.get(name) for v in per_object], dim, name or ""))
    return pa.Table.from_arrays(columns, schema=schema)


def _vector_array(vectors: list[Any], dim: int, name: str) -> pa.Array:
    from elysia_pipelines.backups.arrow_build import float32_vectors

    for vec in vectors:
        if vec is not None and len(vec) != dim:
            raise ElysiaError(
                f"vector {name!r} has {len(vec)} dimensions where the backup uses {dim}",
                "all objects of a collection must share a vector dimension; re-vectorize it",
            )
    return float32_vectors(vectors, dim)


def _is_ndarray(value: Any) -> bool:
    """Without importing numpy: a process that never imported it holds no arrays."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.ndarray)


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if _is_ndarray(value):
        return value.tolist()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": value.latitude, "longitude": value.longitude}
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


_ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY


def object_to_json_bytes(obj: BackupObject) -> bytes:
    """One object as a UTF-8 JSON line (no newline); uuid first so readers can skip fast.

    orjson is several times faster than the standard library on text-heavy objects and
    writes dates as RFC 3339 with a `Z`; values it refuses (lone surrogates, integers
    beyond 64 bits) fall back to the standard library with ASCII escapes.
    """
    record: dict[str, Any] = {"uuid": obj.uuid}
    if obj.tenant is not None:
        record["tenant"] = obj.tenant
    record["properties"] = obj.properties
    record["vector"] = obj.vector or None
    try:
        return orjson.dumps(record, default=json_default, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        vector = obj.vector.tolist() if _is_ndarray(obj.vector) else obj.vector
        record["vector"] = vector or None
        return json.dumps(
            record, ensure_ascii=True, separators=(",", ":"), default=json_default
        ).encode("ascii")


# ---------------------------------------------------------------- compression


def validate_codec(fmt: str, compression: str, level: int | None) -> None:
    allowed = PARQUET_COMPRESSIONS if fmt == "parquet" else JSON_COMPRESSIONS
    if compression not in (*allowed, "auto"):
        raise ElysiaError(
            f"compression {compression!r} is not available for {fmt}",
            f"use one of: auto, {', '.join(allowed)}",
        )
    if level is None:
        return
    if compression in ("none", "snappy"):
        raise ElysiaError(
            f"--level does not apply to compression {compression!r}",
            "drop --level, or pick zstd, gzip or lz4",
        )
    # auto becomes zstd whenever a level can apply: check it against zstd's range (an
    # unchecked level reached pyarrow as an OverflowError traceback).
    codec = "zstd" if compression == "auto" else compression
    low, high = LEVEL_RANGES.get(codec, (1, 22))
    if not low <= level <= high:
        raise ElysiaError(
            f"level {level} is out of range for {codec}"
            + (" (what --compression auto uses)" if compression == "auto" else ""),
            f"use a level from {low} to {high}",
        )


def choose_compression(
    fmt: str, compression: str, level: int | None, estimated_bytes: int | None
) -> tuple[str, int | None]:
    """Resolve `auto` and default levels. Parquet: zstd. JSON: none when small, else zstd."""
    validate_codec(fmt, compression, level)
    if compression == "auto":
        if fmt == "parquet":
            compression = "zstd"
        elif estimated_bytes is not None and estimated_bytes < AUTO_COMPRESSION_THRESHOLD_BYTES:
            compression = "none"
            level = None
        else:
            compression = "zstd"
    if level is None:
        level = DEFAULT_LEVELS.get(compression)
    return compression, level


class HashingFile:
    """A write-only binary file that hashes and counts what goes through it."""

    def __init__(self, path: Path | str, filesystem: Any = None) -> None:
        self.path = path
        # Object stores get pyarrow's output stream (a streamed multipart upload).
        self._local = filesystem is None
        self._handle: BinaryIO = (
            open(path, "wb")  # noqa: SIM115 - closed in close()
            if filesystem is None
            else filesystem.open_output_stream(str(path))
        )
        self._digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        self._digest.update(view)
        self._handle.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._handle.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if self.closed:
            return
        import os

        self._handle.flush()
        if self._local:
            os.fsync(self._handle.fileno())
        self._handle.close()
        self.closed = True

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


class _Compressor:
    """Streaming compression onto a HashingFile: gzip, zstd, lz4 frame or none."""

    def __init__(self, sink: HashingFile, compression: str, level: int | None) -> None:
        self._sink = sink
        self._compression = compression
        if compression == "gzip":
            self._stream: Any = gzip.GzipFile(
                filename="", mode="wb", fileobj=sink, compresslevel=level or 6, mtime=0
            )
        elif compression == "zstd":
            # threads=1: zstd compresses on a thread of its own while this one encodes
            # the next objects (the frame is standard zstd either way); more threads
            # were no faster on 2 cores and buffered ~10 MB more. Jobs of 2 MiB instead
            # of zstd's default (8 MiB at level 3): 7,000 source files peaked at 85
            # instead of 111 MB for a file 0.8 % larger, at the same speed.
            params = zstandard.ZstdCompressionParameters.from_level(
                3 if level is None else level, threads=1, job_size=ZSTD_JOB_BYTES
            )
            cctx = zstandard.ZstdCompressor(compression_params=params)
            self._stream = cctx.stream_writer(sink, closefd=False)
        elif compression == "lz4":
            import lz4.frame

            self._lz4 = lz4.frame.LZ4FrameCompressor(compression_level=level or 0)
            sink.write(self._lz4.begin())
        elif compression != "none":
            raise ElysiaError(f"unknown compression {compression!r}")

    def write(self, data: bytes | bytearray) -> None:
        if self._compression == "none":
            self._sink.write(data)
        elif self._compression == "lz4":
            chunk = self._lz4.compress(data)
            if chunk:
                self._sink.write(chunk)
        else:
            self._stream.write(data)

    def close(self) -> None:
        if self._compression == "gzip":
            self._stream.close()
        elif self._compression == "zstd":
            self._stream.flush(zstandard.FLUSH_FRAME)
            self._stream.close()
        elif self._compression == "lz4":
            self._sink.write(self._lz4.flush())


class _NativeRaw(io.RawIOBase):
    """A pyarrow input stream as a raw Python stream, so it can be buffered and line-read."""

    def __init__(self, native: Any) -> None:
        self._native = native

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._native.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._native.close()
        super().close()


def open_decompressed(
    path: Path | str, compression: str | None = None, *, filesystem: Any = None
) -> BinaryIO:
    """A readable binary stream of a JSON/JSONL data file, decompressing as it reads.

    With a pyarrow `filesystem` (object storage) the file is streamed from there.
    """
    from elysia_pipelines.backups.layout import compression_of_path

    compression = compression or compression_of_path(str(path))
    raw: BinaryIO = (
        open(path, "rb")  # noqa: SIM115 - ownership passes to the returned stream
        if filesystem is None
        else io.BufferedReader(_NativeRaw(filesystem.open_input_stream(str(path))), 1 << 20)  # type: ignore[assignment]
    )
    if compression == "none":
        return raw
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        # stream_reader has no readline; a buffer on top makes it line-iterable.
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)  # type: ignore[arg-type]
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.LZ4FrameFile(raw, mode="rb")  # type: ignore[return-value]
    raw.close()
    raise ElysiaError(f"unknown compression {compression!r} for {path}")


# ---------------------------------------------------------------- part writers


class PartWriter(ABC):
    """Writes one data file; `close()` returns its manifest entry."""

    def __init__(self, path: Path | str, relative_path: str, filesystem: Any = None) -> None:
        self.path = path
        self.relative_path = relative_path
        self.rows = 0
        if filesystem is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file = HashingFile(path, filesystem)

    @property
    def bytes_written(self) -> int:
        return self._file.size

    @abstractmethod
    def write(self, objects: Sequence[BackupObject]) -> None: ...

    @abstractmethod
    def _finish(self) -> None: ...

    def close(self) -> FileEntry:
        self._finish()
        self._file.close()
        return FileEntry(self.relative_path, self._file.sha256, self._file.size, self.rows)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


class ParquetPartWriter(PartWriter):
    def __init__(
        self,
        path: Path | str,
        relative_path: str,
        schema: pa.Schema,
        types: dict[str, str],
        compression: str,
        level: int | None,
        filesystem: Any = None,
    ) -> None:
        super().__init__(path, relative_path, filesystem)
        self._schema = schema
        self._types = types
        # Dictionary encoding pays off for repeated values (language, repo, extension),
        # never for file contents or vectors.
        dictionary_columns = [
            f.name
            for f in schema
            if f.name not in ("uuid", "content") and vector_name_of_column(f.name) is None
        ]
        import pyarrow.parquet as pq

        self._pool: Any = None
        self._pending: Any = None
        self._writer = pq.ParquetWriter(
            self._file,
            schema,
            compression=compression if compression != "none" else "NONE",
            compression_level=level if compression in ("zstd", "gzip") else None,
            use_dictionary=dictionary_columns,
            write_statistics=True,
        )

    def write(self, objects: Sequence[BackupObject]) -> None:
        """Convert here, encode and compress on a helper thread (pyarrow drops the GIL).

        At most one row group is in flight, so memory stays at two row groups while
        the caller converts the next one - a third of a Parquet backup's CPU time
        (encoding, zstd, hashing) overlaps with reading and converting.
        """
        if not objects:
            return
        table = objects_to_table(objects, self._schema, self._types)
        self._wait()
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="parquet-write")
        self._pending = self._pool.submit(
            self._writer.write_table, table, row_group_size=len(objects)
        )
        self.rows += len(objects)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()  # raises what writing the previous row group raised

    def _finish(self) -> None:
        try:
            self._wait()
        finally:
            self._shutdown()
        self._writer.close()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def abort(self) -> None:
        # Close the Parquet writer before its file, or its finalizer writes to a closed file.
        with contextlib.suppress(Exception):
            self._wait()
        self._shutdown()
        with contextlib.suppress(Exception):
            self._writer.close()
        super().abort()


class JsonPartWriter(PartWriter):
    """JSONL (one object a line) or JSON (an array with one element a line)."""

    def __init__(
        self,
        path: Path | str,
        relative_path: str,
        *,
        array: bool,
        compression: str,
        level: int | None,
        filesystem: Any = None,
    ) -> None:
        super().__init__(path, relative_path, filesystem)
        self._array = array
        self._out = _Compressor(self._file, compression, level)
        if array:
            self._out.write(b"[\n")

    def write(self, objects: Sequence[BackupObject]) -> None:
        # Hand the compressor ~1 MB chunks: fewer calls than per line, and never the
        # whole batch encoded at once. Lines are copied into one buffer and dropped at
        # once: orjson's output keeps its worst-case allocation (~8x a text's length),
        # so a list of a chunk's lines held ~75 MB for 1 MB of JSON.
        chunk = bytearray()
        for obj in objects:
            if self._array and self.rows:
                chunk += b",\n"
            chunk += object_to_json_bytes(obj)
            if not self._array:
                chunk += b"\n"
            self.rows += 1
            if len(chunk) >= JSON_CHUNK_BYTES:
                self._out.write(chunk)
                chunk = bytearray()
        if chunk:
            self._out.write(chunk)

    def _finish(self) -> None:
        if self._array:
            self._out.write(b"\n]\n" if self.rows else b"]\n")
        self._out.close()


def estimate_json_bytes(objects: Iterable[BackupObject]) -> int:
    return sum(len(object_to_json_bytes(o)) + 1 for o in objects)
