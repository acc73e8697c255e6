"""Export a Weaviate collection into a backup directory, streaming.

`backup_collection` reads the collection with a cursor and hands the objects to
`write_backup`, which never holds more than one row group per output file in memory,
hashes every byte as it writes, writes the manifest last and renames the temporary
directory into place: a backup either exists complete or not at all. The split lets
callers (and the benchmark) write any object stream, and lets us time writing apart
from reading Weaviate.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from elysia_pipelines.backups import storage
from elysia_pipelines.backups.backup_spec import BackupOptions, BackupResult
from elysia_pipelines.backups.catalog import CatalogEntry, open_catalog
from elysia_pipelines.backups.filters import FilterExpr, compile_filter
from elysia_pipelines.backups.formats import (
    JSON_BATCH_MAX_BYTES,
    JSON_BATCH_MAX_ROWS,
    ROW_GROUP_MAX_BYTES,
    ROW_GROUP_MAX_ROWS,
    BackupObject,
    JsonPartWriter,
    ParquetPartWriter,
    PartWriter,
    arrow_schema,
    choose_compression,
    estimate_json_bytes,
    normalize_vectors,
    property_types,
    validate_codec,
)
from elysia_pipelines.backups.layout import (
    DATA_DIR,
    DEFAULT_VECTOR_NAME,
    FORMATS,
    MANIFEST_NAME,
    PARTITION_KEYS,
    TENANT_COLUMN,
    FileEntry,
    Manifest,
    backup_dir,
    data_file_name,
    manifest_bytes,
    new_backup_id,
    partition_dir_value,
    rfc3339,
    tmp_backup_dir,
    write_manifest,
)
from elysia_pipelines.backups.storage import RemoteLocation, is_remote, local_path, open_location
from elysia_pipelines.backups.tenants import refuse_inactive_tenants
from elysia_pipelines.clock import utc_now
from elysia_pipelines.disk import fsync_dir
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.redaction import redact_url
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.rest_session import RestSession

ProgressCallback = Callable[[int, int | None], None]

# Objects read before the output files are opened: enough to learn the vector
# dimensions and to estimate the size for `compression="auto"`.
HEAD_OBJECTS = 500
PROGRESS_EVERY = 200
# Objects per cursor page: bounded memory even when files are large. REST pages are
# smaller (the REST reader keeps one page ready and one in flight beside the current).
READ_PAGE_SIZE = 200
REST_PAGE_SIZE = 100


def _object_bytes(obj: BackupObject) -> int:
    """Cheap size estimate for buffering decisions (exact sizes come from the writers)."""
    size = 64
    for value in obj.properties.values():
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, list):
            size += 16 * len(value)
        else:
            size += 16
    if obj.vector is not None:
        size += sum(4 * len(v) for v in normalize_vectors(obj.vector).values())
    return size


class _TimedIterator:
    """Counts the time spent waiting for the source, to report it apart from writing."""

    def __init__(self, source: Iterable[BackupObject]) -> None:
        self._it = iter(source)
        self.seconds = 0.0
        self.count = 0

    def __iter__(self) -> Iterator[BackupObject]:
        return self

    def __next__(self) -> BackupObject:
        start = time.perf_counter()
        try:
            item = next(self._it)
        finally:
            self.seconds += time.perf_counter() - start
        self.count += 1
        return item


@dataclass
class _Partition:
    writer: PartWriter
    buffer: list[BackupObject] = field(default_factory=list)
    buffered_bytes: int = 0


class _PartitionedWriter:
    """Routes objects to one part file per partition value, buffering a row group each."""

    def __init__(
        self,
        make_writer: Callable[[str | None], PartWriter],
        key: str | None,
        max_rows: int,
        max_bytes: int,
    ) -> None:
        self._make_writer = make_writer
        self._key = key
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._parts: dict[str | None, _Partition] = {}
        self._total_buffered = 0
        self.write_seconds = 0.0

    def add(self, obj: BackupObject) -> None:
        value = None if self._key is None else partition_dir_value(obj.properties.get(self._key))
        part = self._parts.get(value)
        if part is None:
            start = time.perf_counter()
            part = self._parts[value] = _Partition(self._make_writer(value))
            self.write_seconds += time.perf_counter() - start
        size = _object_bytes(obj)
        part.buffer.append(obj)
        part.buffered_bytes += size
        self._total_buffered += size
        if len(part.buffer) >= self._max_rows or part.buffered_bytes >= self._max_bytes:
            self._flush(part)
        elif self._total_buffered >= 2 * self._max_bytes:
            self._flush(max(self._parts.values(), key=lambda p: p.buffered_bytes))

    def _flush(self, part: _Partition) -> None:
        if not part.buffer:
            return
        start = time.perf_counter()
        part.writer.write(part.buffer)
        self.write_seconds += time.perf_counter() - start
        self._total_buffered -= part.buffered_bytes
        part.buffer = []
        part.buffered_bytes = 0

    def ensure_one(self) -> None:
        """An empty unpartitioned backup still gets its (empty) part file."""
        if not self._parts and self._key is None:
            self._parts[None] = _Partition(self._make_writer(None))

    def close(self) -> list[FileEntry]:
        entries = []
        for part in self._parts.values():
            self._flush(part)
            start = time.perf_counter()
            entries.append(part.writer.close())
            self.write_seconds += time.perf_counter() - start
        return sorted(entries, key=lambda e: e.path)

    def abort(self) -> None:
        for part in self._parts.values():
            part.writer.abort()


def _validate_options(
    fmt: str, compression: str, level: int | None, partition_by: str | None, types: dict[str, str]
) -> None:
    if fmt not in FORMATS:
        raise ElysiaError(f"unknown backup format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    validate_codec(fmt, compression, level)
    if partition_by is not None:
        if partition_by not in PARTITION_KEYS:
            raise ElysiaError(
                f"cannot partition by {partition_by!r}",
                f"use one of: {', '.join(PARTITION_KEYS)}",
            )
        if partition_by not in types:
            raise ElysiaError(
                f"cannot partition by {partition_by!r}: the collection has no such property",
                "back it up without --partition-by",
            )


@dataclass(frozen=True)
class BackupSource:
    """What is being backed up, as far as the written files need to know."""

    collection: str
    description: dict[str, Any]
    total: int | None = None  # objects expected: sizes the `auto` estimate, shown by progress
    origin: dict[str, Any] | None = None  # {"url", "weaviate_version"} for the manifest
    # A multi-tenant collection's tenants (all of them, empty ones too); None otherwise.
    tenants: tuple[str, ...] | None = None


@dataclass
class _Destination:
    """Where one backup's files go: a temporary local directory renamed at the end, or
    an object-store prefix whose manifest, written last, publishes it."""

    backup_id: str
    root: Path
    final_dir: Path
    work_dir: Path
    remote: RemoteLocation | None

    @property
    def filesystem(self) -> Any:
        return self.remote.filesystem if self.remote is not None else None

    @property
    def shown(self) -> Path | str:
        return self.remote.uri if self.remote is not None else self.final_dir

    def file_path(self, relative: str) -> Path | str:
        return self.work_dir / relative if self.remote is None else f"{self.remote.path}/{relative}"

    def publish(self, manifest: Manifest, files: list[FileEntry]) -> tuple[str, int]:
        """Write the manifest last and make the backup exist; (checksum, manifest size)."""
        if self.remote is not None:
            payload = manifest_bytes(manifest)
            storage.write_bytes(self.remote.child(MANIFEST_NAME), payload)
            return hashlib.sha256(payload).hexdigest(), len(payload)
        work_dir = self.work_dir
        checksum = write_manifest(work_dir, manifest)
        for sub in {work_dir / DATA_DIR, *(work_dir / Path(f.path).parent for f in files)}:
            if sub.is_dir():
                fsync_dir(sub)
        fsync_dir(work_dir)
        os.rename(work_dir, self.final_dir)
        fsync_dir(self.final_dir.parent)
        return checksum, (self.final_dir / MANIFEST_NAME).stat().st_size

    def discard(self, exc: BaseException) -> BaseException:
        """Remove what was written; the exception to raise in place of `exc`."""
        if self.remote is not None:
            # Best effort: without its manifest the prefix is never taken for a backup.
            with contextlib.suppress(Exception):
                storage.delete_backup(self.remote)
            if isinstance(exc, OSError):
                return storage.storage_error(exc, self.remote.uri, "writing backup to")
            return exc
        shutil.rmtree(self.work_dir, ignore_errors=True)
        if isinstance(exc, OSError):
            # Disk full, permissions, a name clash: nothing half-written is left behind.
            return ElysiaError(
                f"writing backup {self.backup_id} failed: {exc.strerror or exc}",
                f"check free space and permissions under {self.root}; nothing was kept",
            )
        return exc


def _open_destination(
    settings: Settings, output: Path | str | None, collection: str, backup_id: str
) -> _Destination:
    """Create the (temporary) place the backup is written to, refusing a clash."""
    destination = output if output is not None else settings.backup_uri
    if is_remote(destination):
        # Object store: stream the files to their final keys, publish the manifest last.
        remote = open_location(str(destination), settings).child(collection, backup_id)
        if storage.exists(remote.child(MANIFEST_NAME)):
            raise ElysiaError(f"{remote.uri} already holds a backup", "back up again")
        path = Path(remote.path)
        return _Destination(backup_id, Path(), path, path, remote)
    root = local_path(destination) if destination else settings.backups_dir
    work_dir = tmp_backup_dir(root, collection, backup_id)
    try:
        work_dir.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise ElysiaError(
            f"cannot create the backup directory {work_dir}: {exc}",
            "check that the output directory is writable and has free space",
        ) from None
    return _Destination(backup_id, root, backup_dir(root, collection, backup_id), work_dir, None)


@dataclass(frozen=True)
class _Head:
    """The first objects, read before any file is opened, and what they tell."""

    count: int  # objects in the head (named in the vector errors)
    vectors: dict[str, int]  # vector name -> dimension
    codec: str
    level: int | None


def _read_head(
    timed: _TimedIterator, options: BackupOptions, total: int | None
) -> tuple[list[BackupObject], _Head]:
    """Learn the vector dimensions and (for `compression="auto"`) the size from the head."""
    head = list(itertools.islice(timed, HEAD_OBJECTS))
    vectors: dict[str, int] = {}
    if options.include_vectors:
        for obj in head:
            for name, values in normalize_vectors(obj.vector).items():
                vectors.setdefault(name, len(values))
    # The head either is the whole stream (exact) or samples it (scaled by total).
    estimate: int | None = None
    if len(head) < HEAD_OBJECTS:
        estimate = estimate_json_bytes(head)
    elif total is not None:
        sample = head[:50]
        estimate = int(estimate_json_bytes(sample) / len(sample) * max(total, len(head)))
    codec, codec_level = choose_compression(
        options.format, options.compression, options.level, estimate
    )
    return head, _Head(len(head), vectors, codec, codec_level)


def _open_part_writers(
    destination: _Destination,
    options: BackupOptions,
    description: dict[str, Any],
    types: dict[str, str],
    head: _Head,
) -> _PartitionedWriter:
    """One part writer per partition, opened when its first object arrives."""
    fmt, partition_by = options.format, options.partition_by
    schema = arrow_schema(description, head.vectors) if fmt == "parquet" else None

    def make_writer(partition: str | None) -> PartWriter:
        name = data_file_name(fmt, head.codec)
        relative = (
            f"{DATA_DIR}/{partition_by}={partition}/{name}"
            if partition_by
            else f"{DATA_DIR}/{name}"
        )
        path = destination.file_path(relative)
        if fmt == "parquet":
            assert schema is not None
            return ParquetPartWriter(
                path, relative, schema, types, head.codec, head.level, destination.filesystem
            )
        return JsonPartWriter(
            path,
            relative,
            array=fmt == "json",
            compression=head.codec,
            level=head.level,
            filesystem=destination.filesystem,
        )

    if fmt == "parquet":
        return _PartitionedWriter(
            make_writer, partition_by, ROW_GROUP_MAX_ROWS, ROW_GROUP_MAX_BYTES
        )
    return _PartitionedWriter(make_writer, partition_by, JSON_BATCH_MAX_ROWS, JSON_BATCH_MAX_BYTES)


def _checked(obj: BackupObject, options: BackupOptions, head: _Head) -> BackupObject:
    """The object as written: without its vector, or refused when its vectors do not fit
    the Parquet columns the head fixed."""
    if not options.include_vectors:
        return BackupObject(obj.uuid, obj.properties, None)
    if obj.vector is not None and options.format == "parquet":
        vectors = head.vectors
        for name, values in normalize_vectors(obj.vector).items():
            if name not in vectors:
                raise ElysiaError(
                    f"object {obj.uuid} has a vector {name!r} that the first "
                    f"{head.count} objects did not have",
                    "back up with --no-vectors, or as --format jsonl",
                )
            if len(values) != vectors[name]:
                raise ElysiaError(
                    f"object {obj.uuid} has a {len(values)}-dimensional {name!r} "
                    f"vector where earlier objects have {vectors[name]}",
                    "back up with --no-vectors, or re-vectorize the collection",
                )
    return obj


def _write_objects(
    stream: Iterable[BackupObject],
    writer: _PartitionedWriter,
    options: BackupOptions,
    head: _Head,
    total: int | None,
    progress: ProgressCallback | None,
    per_tenant: Counter[str] | None,
) -> int:
    """Stream every object into the part writers; how many were written.

    `per_tenant` (multi-tenant collections) counts the objects of each tenant; an
    object without a tenant cannot be restored there and is refused.
    """
    written = 0
    for obj in stream:
        if per_tenant is not None:
            if not obj.tenant:
                raise ElysiaError(
                    f"object {obj.uuid} of a multi-tenant collection has no tenant",
                    "back it up with `elysiactl col backup`, which reads every tenant",
                )
            per_tenant[obj.tenant] += 1
        writer.add(_checked(obj, options, head))
        written += 1
        if progress is not None and written % PROGRESS_EVERY == 0:
            progress(written, total)
    if progress is not None:
        progress(written, total)
    return written


def _build_manifest(
    backup_id: str,
    source: BackupSource,
    options: BackupOptions,
    head: _Head,
    files: list[FileEntry],
    written: int,
    per_tenant: Counter[str] | None,
    started: datetime,
    finished: datetime,
) -> Manifest:
    vectors = head.vectors
    tenants: list[dict[str, Any]] = []
    if per_tenant is not None:
        names = sorted(set(source.tenants or ()) | set(per_tenant))
        tenants = [{"name": name, "objects": per_tenant.get(name, 0)} for name in names]
    return Manifest(
        backup_id=backup_id,
        collection=source.collection,
        created_at=rfc3339(started),
        started_at=rfc3339(started),
        finished_at=rfc3339(finished),
        object_count=written,
        format=options.format,
        compression=head.codec,
        level=head.level,
        include_vectors=options.include_vectors,
        vector_dimension=vectors.get(DEFAULT_VECTOR_NAME)
        if DEFAULT_VECTOR_NAME in vectors
        else (next(iter(vectors.values())) if vectors else None),
        partition_by=options.partition_by,
        filter=options.filter_expr,
        schema=source.description,
        source=source.origin or {"url": None, "weaviate_version": None},
        files=files,
        tags=list(options.tags),
        vectors=vectors,
        tenants=tenants,
    )


def write_backup(
    objects: Iterable[BackupObject],
    source: BackupSource,
    settings: Settings,
    options: BackupOptions = BackupOptions(),
    *,
    progress: ProgressCallback | None = None,
    record_in_catalog: bool = True,
) -> BackupResult:
    """Write `objects` as a complete backup and (by default) catalog it.

    Steps: check the options, open the destination, read the head (vector columns,
    codec), stream the objects into part files, publish the manifest, catalog. Any
    failure removes what was written, so a backup exists complete or not at all.
    `options.filter_expr` is recorded only: `objects` are already the selected ones.
    """
    types = property_types(source.description)
    options.validate(types)
    started = utc_now()
    backup_id = new_backup_id(source.collection, started)
    destination = _open_destination(settings, options.output, source.collection, backup_id)

    timed = _TimedIterator(objects)
    writer: _PartitionedWriter | None = None
    try:
        first, head = _read_head(timed, options, source.total)
        writer = _open_part_writers(destination, options, source.description, types, head)
        stream = itertools.chain(first, timed)
        del first  # the chain holds the head only until it has been written
        per_tenant: Counter[str] | None = (
            Counter() if source.description.get("multi_tenancy") else None
        )
        written = _write_objects(stream, writer, options, head, source.total, progress, per_tenant)
        writer.ensure_one()
        files = writer.close()
        write_seconds = writer.write_seconds
        writer = None
        finished = utc_now()
        manifest = _build_manifest(
            backup_id, source, options, head, files, written, per_tenant, started, finished
        )
        checksum, manifest_size = destination.publish(manifest, files)
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        replacement = destination.discard(exc)
        if replacement is exc:
            raise
        raise replacement from None

    result = BackupResult(
        backup_id=backup_id,
        collection=source.collection,
        path=destination.shown,
        format=options.format,
        compression=head.codec,
        level=head.level,
        object_count=written,
        size_bytes=sum(f.size_bytes for f in files) + manifest_size,
        files=files,
        manifest_checksum=checksum,
        started_at=manifest.started_at,
        finished_at=manifest.finished_at,
        duration_s=(finished - started).total_seconds(),
        read_seconds=timed.seconds,
        write_seconds=write_seconds,
        include_vectors=options.include_vectors,
        vector_dimension=manifest.vector_dimension,
        partition_by=options.partition_by,
        filter=options.filter_expr,
        tags=list(options.tags),
        scanned_count=timed.count,
        tenant_count=len(manifest.tenants),
    )
    if record_in_catalog:
        record_backup(settings, result, manifest.source)
    return result


def record_backup(settings: Settings, result: BackupResult, source: dict[str, Any]) -> None:
    """Add the finished backup to the catalog."""
    with open_catalog(settings) as catalog:
        catalog.add(entry_for(result, source))


def entry_for(result: BackupResult, source: dict[str, Any]) -> CatalogEntry:
    return CatalogEntry(
        id=result.backup_id,
        collection=result.collection,
        format=result.format,
        compression=result.compression,
        level=result.level,
        path=str(result.path),
        size_bytes=result.size_bytes,
        object_count=result.object_count,
        created_at=result.started_at,
        source=source.get("url"),
        checksum=result.manifest_checksum,
        status="complete",
        tags=list(result.tags),
        partition_by=result.partition_by,
        filter=result.filter,
        include_vectors=result.include_vectors,
        tenant_count=result.tenant_count,
    )


# ---------------------------------------------------------------------- Weaviate


def _source_info(client: Any, settings: Settings) -> dict[str, Any]:
    try:
        if isinstance(client, RestSession):
            version = client.server_version()
        else:
            from elysia_pipelines.weaviate.connection import server_version

            version = server_version(client)
    except Exception:  # the version is informational; a backup must not fail on it
        version = None
    url = settings.weaviate_url if settings.weaviate_mode != "embedded" else "embedded://"
    return {"url": (redact_url(url) if url else None) or url, "weaviate_version": version}


@dataclass
class _Stored:
    """What `_reader` found: the description, the object stream, and for a multi-tenant
    collection its tenants (the stream then yields (tenant, object) pairs)."""

    description: dict[str, Any]
    total: int | None
    stream: Iterator[Any]
    tenants: tuple[str, ...] | None = None


def _reader(client: Any, collection: str, include_vectors: bool, attempts: int) -> _Stored:
    """The collection's description and object stream, through a RestSession or a client.

    The REST session is what the CLI uses (no weaviate-client import); a client is
    accepted so callers that hold one (Dagster assets, tests) need not open another.
    A multi-tenant collection is read tenant by tenant (Weaviate refuses reads without
    a tenant there).
    """
    if isinstance(client, RestSession):
        description = client.describe_collection(collection)
        name = str(description.get("name") or collection)
        if description.get("multi_tenancy"):
            tenants = _readable_tenants(name, description, client.tenants(name))
            # REST has no per-tenant count; the total is then unknown (progress only).
            stream = _per_tenant(
                tenants,
                lambda t: client.iter_objects(
                    name,
                    description,
                    include_vector=include_vectors,
                    page_size=REST_PAGE_SIZE,
                    tenant=t,
                ),
            )
            return _Stored(description, None, stream, tenants)
        total = client.count(name)
        stream = client.iter_objects(
            name, description, include_vector=include_vectors, page_size=REST_PAGE_SIZE
        )
        return _Stored(description, total, stream)
    from elysia_pipelines.weaviate.objects import count, iter_objects
    from elysia_pipelines.weaviate.schema import describe_collection, list_tenants

    description = describe_collection(client, collection)
    name = str(description.get("name") or collection)
    if description.get("multi_tenancy"):
        tenants = _readable_tenants(name, description, list_tenants(client, name))
        total = sum(count(client, name, attempts=attempts, tenant=t) for t in tenants)
        stream = _per_tenant(
            tenants,
            lambda t: iter_objects(
                client,
                name,
                include_vector=include_vectors,
                page_size=READ_PAGE_SIZE,
                attempts=attempts,
                tenant=t,
            ),
        )
        return _Stored(description, total, stream, tenants)
    total = count(client, name, attempts=attempts)
    objects = iter_objects(
        client, name, include_vector=include_vectors, page_size=READ_PAGE_SIZE, attempts=attempts
    )
    return _Stored(description, total, objects)


def _readable_tenants(
    collection: str, description: dict[str, Any], tenants: dict[str, str]
) -> tuple[str, ...]:
    """Every tenant, or a refusal: a backup never leaves a tenant out.

    An inactive (or offloaded) tenant cannot be read unless the collection activates
    tenants on use; a property called `tenant` would clash with the tenant column.
    """
    if TENANT_COLUMN in property_types(description):
        raise ElysiaError(
            f"{collection} is multi-tenant and has a property named {TENANT_COLUMN!r}, which "
            "would clash with the backup's tenant column; nothing was written",
            "rename the property (e.g. restore a copy with --map), then back up again",
        )
    if not description.get("auto_tenant_activation"):
        refuse_inactive_tenants(
            collection,
            {t: s for t, s in tenants.items() if s != "ACTIVE"},
            which="are not active and cannot be read",
            again="back up again",
        )
    return tuple(tenants)


def _per_tenant(
    tenants: tuple[str, ...], read: Callable[[str], Iterator[Any]]
) -> Iterator[tuple[str, Any]]:
    """(tenant, object) for every tenant in turn; closing it closes the open tenant's read."""
    for tenant in tenants:
        objects = read(tenant)
        try:
            for obj in objects:
                yield tenant, obj
        finally:
            close = getattr(objects, "close", None)
            if close is not None:
                close()


def backup_collection(
    client: Any,
    collection: str,
    settings: Settings,
    options: BackupOptions = BackupOptions(),
    *,
    progress: ProgressCallback | None = None,
) -> BackupResult:
    """Back up one collection; every option is checked before anything is written.

    `client` is a `RestSession` (fast path: REST pages, no weaviate-client) or a
    weaviate-client client; both give the same backup.
    """
    attempts = settings.weaviate_attempts
    found = _reader(client, collection, options.include_vectors, attempts)
    description, total, stored = found.description, found.total, found.stream
    name = str(description.get("name") or collection)
    types = property_types(description)
    options.validate(types)
    expr: FilterExpr | None = (
        compile_filter(options.filter_expr, types) if options.filter_expr else None
    )

    # Progress counts objects scanned (not written) so a selective filter still moves it.
    scanned = _Scanned(stored, expr, total, progress, tenants=found.tenants is not None)
    try:
        result = write_backup(
            scanned,
            BackupSource(name, description, total, _source_info(client, settings), found.tenants),
            settings,
            replace(options, filter_expr=expr.text if expr else None),
        )
    finally:
        close = getattr(stored, "close", None)
        if close is not None:
            close()  # stops the REST prefetch thread when writing failed
    result.scanned_count = scanned.scanned
    return result


class _Scanned:
    """Stored objects as BackupObjects, filtered in Python, counting what was scanned."""

    def __init__(
        self,
        stored: Iterable[Any],
        expr: FilterExpr | None,
        total: int | None,
        progress: ProgressCallback | None,
        *,
        tenants: bool = False,
    ) -> None:
        self._stored = iter(stored)
        self._tenants = tenants  # the stream yields (tenant, object) pairs
        self._expr = expr
        self._total = total
        self._progress = progress
        self.scanned = 0

    def __iter__(self) -> Iterator[BackupObject]:
        tenant: str | None = None
        for item in self._stored:
            if self._tenants:
                tenant, obj = item
            else:
                obj = item
            self.scanned += 1
            if self._progress is not None and self.scanned % PROGRESS_EVERY == 0:
                self._progress(self.scanned, self._total)
            properties = dict(obj.properties or {})
            if self._expr is not None and not self._expr.matches(properties):
                continue
            yield BackupObject(str(obj.uuid), properties, obj.vector, tenant)
        if self._progress is not None:
            self._progress(self.scanned, max(self._total or 0, self.scanned))
