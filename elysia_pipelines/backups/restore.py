"""Put a backup back into Weaviate: same or another collection, same or another cluster.

`restore_backup(reader, client, options)` streams the backup (`BackupReader`) in
batches to N worker threads that write to the target collection. Memory stays flat in
the backup's size: only `2 x workers` batches exist at once.

What happens to an object, by strategy
--------------------------------------
The backup object is first mapped (`--map`) and converted to the target's types.

============  ======================  ============================================
strategy      object not in target    object already in target
============  ======================  ============================================
overwrite     created                 replaced by the backup's version: properties
                                      the backup does not have are removed
skip          created                 left as it is
merge         created                 the backup's properties are written over the
                                      existing ones; all others are kept
============  ======================  ============================================

Partial restores:

- `--objects id1,id2` restores only those objects; ids the backup does not hold are
  an error before anything is written.
- `--properties a,b` restores only those properties. A *new* object gets only them.
  An *existing* object keeps its other properties with both `overwrite` and `merge`
  (overwrite then replaces just the listed properties): replacing the whole object
  with a partial one would delete the properties the user chose not to restore,
  which is never what "restore only a,b" means. `skip` still leaves it untouched.
- Vectors: an object keeps its existing vector when the backup has none (a restore
  never throws away a vector it cannot give back).

`--incremental` compares each existing object with what would be written and skips
identical ones (reported as `unchanged`). When the target collection has a
`content_hash` property and the restore writes it unchanged (no rename, conversion
or added property), equal `content_hash` values mean equal (cheap: only that
property is read). Otherwise a stable hash of the properties and the vector
(`restore_values.object_fingerprint`) is compared.
Missing objects are created either way; with `skip` existing ones are skipped.

Schema: a missing target collection is created from the backup's stored schema (with
`--map` renames). An existing one is reconciled by `restore_migration.plan_migration`
(type conversions, properties added with the backup's type, refusals). Backup
vectors whose dimension differs from the vectors already in the target are refused
before anything is written.

Reliability: transient errors (timeouts, UNAVAILABLE, 5xx, dropped connections) are
retried with backoff by the Weaviate layer. Objects that still fail - a value that
does not convert, an object the server rejects, a batch that keeps failing - go to
`dead_letter/restore-<backup_id>-<target>.jsonl`. A checkpoint under `checkpoints/`
records finished batches; `--resume` skips them, finishes the rest, then retries the
dead letters. Object ids come from the backup, so writing an object twice (a retried
batch, a resumed run) replaces it rather than duplicating it.

A run without `--resume` starts over: it discards the previous checkpoint and dead
letter of the same backup and target (restoring again is always safe). `--resume`
into a target collection that no longer exists ignores the checkpoint and restores
everything. Two restores of the same backup into the same target at the same time
share these files and are not supported.

`client` is a weaviate-client client or a `RestSession` (what `elysiactl col restore`
passes for a server reached by URL): with a session, schema reads, counts, added
properties and the batch writes go over REST and weaviate-client is neither imported
nor connected unless the restore must create the collection or read existing objects
(a non-empty target); an empty target is written without reading it first.

Workers share the caller's client by default: weaviate-client's sync client is
thread-safe (one gRPC channel, one httpx pool), and in benchmarks/restore.py it was
faster than one connection per worker in three of four runs (20,000 objects, 4
workers: 1,656 vs 1,370 objects/s in the last); `RestoreOptions.connect` keeps the
per-worker variant available for servers behind per-connection limits.

`--dry-run` reads the target, decides everything, and writes nothing: no collection,
no property, no object, no checkpoint, no dead letter.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from elysia_pipelines.backups.reader import BackupObject, BackupReader, open_backup
from elysia_pipelines.backups.restore_migration import MigrationPlan, plan_migration
from elysia_pipelines.backups.restore_report import RestoreReport
from elysia_pipelines.backups.restore_state import (
    STRATEGIES,
    DeadLetter,
    DeadLetterFile,
    RestoreCheckpoint,
    options_fingerprint,
    state_name,
)
from elysia_pipelines.backups.restore_target import ExistingObject
from elysia_pipelines.backups.restore_values import object_fingerprint
from elysia_pipelines.backups.restore_workers import run_bounded
from elysia_pipelines.backups.tenants import refuse_inactive_tenants
from elysia_pipelines.errors import ElysiaError, Interrupted, NotFoundError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.messages import short_error
from elysia_pipelines.weaviate.rest_session import RestSession
from elysia_pipelines.weaviate.writes import ObjectToWrite, UpsertResult, upsert_with

if TYPE_CHECKING:
    import weaviate

__all__ = [
    "STRATEGIES",
    "RestoreOptions",
    "RestoreReport",
    "RoundtripResult",
    "restore_backup",
    "restore_roundtrip_check",
    "scratch_collection_name",
]

log = logging.getLogger(__name__)

Strategy = Literal["overwrite", "skip", "merge"]
ProgressCallback = Callable[[int, int], None]

_COLLECTION_RE = re.compile(r"^[A-Z][_0-9A-Za-z]{0,230}$")
# Stop early instead of dead-lettering the whole backup when the target is down.
_MAX_CONSECUTIVE_FAILED_BATCHES = 3
# How often the checkpoint is rewritten while batches finish (RestoreCheckpoint).
CHECKPOINT_EVERY_S = 0.5


@dataclass(frozen=True)
class RestoreOptions:
    """How to restore; the defaults restore everything into the backup's collection."""

    target_collection: str | None = None
    strategy: Strategy = "overwrite"
    object_ids: tuple[str, ...] | None = None
    properties: tuple[str, ...] | None = None
    incremental: bool = False
    property_map: dict[str, str] = field(default_factory=dict)
    workers: int = 4
    dry_run: bool = False
    resume: bool = False
    # Objects per batch read from the backup and written at once; None: settings.
    batch_size: int | None = None
    max_batch_bytes: int | None = None
    settings: Settings | None = None
    # Added to the target collection in state file names; set it when restoring the
    # same backup to same-named collections on different clusters (the CLI uses the
    # target's host and port).
    target_label: str | None = None
    # Keep the uuid lists per outcome in the report (always on for dry runs).
    collect_ids: bool = False
    # Tries per batch write on transient errors (the Weaviate layer backs off between).
    write_attempts: int = 5
    # Opens a client per worker thread instead of sharing the caller's (the sync client
    # is thread-safe; benchmarks/restore.py measures both).
    connect: Callable[[], weaviate.WeaviateClient] | None = None

    def validate(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ElysiaError(
                f"unknown strategy {self.strategy!r}", f"use one of: {', '.join(STRATEGIES)}"
            )
        if self.workers < 1 or self.workers > 64:
            raise ElysiaError(f"--workers {self.workers} is out of range", "use 1 to 64")
        if self.batch_size is not None and self.batch_size < 1:
            raise ElysiaError(f"batch size {self.batch_size} must be at least 1")
        if self.object_ids is not None and not self.object_ids:
            raise ElysiaError("--objects is empty", "give at least one object id")
        if self.properties is not None and not self.properties:
            raise ElysiaError("--properties is empty", "give at least one property name")
        if self.resume and self.dry_run:
            raise ElysiaError(
                "--resume and --dry-run cannot be combined",
                "a dry run shows the whole restore; run it without --resume",
            )

    def normalized_ids(self) -> tuple[str, ...] | None:
        if self.object_ids is None:
            return None
        ids = []
        bad = []
        for raw in self.object_ids:
            try:
                ids.append(str(uuid_module.UUID(str(raw).strip())))
            except ValueError:
                bad.append(str(raw))
        if bad:
            raise ElysiaError(
                f"--objects: {', '.join(map(repr, bad[:5]))} "
                f"{'is not a UUID' if len(bad) == 1 else 'are not UUIDs'}",
                "give object ids as UUIDs, e.g. 6f1d7a52-3c1e-5b8e-9a3d-2f4b8c0e9d17",
            )
        return tuple(dict.fromkeys(ids))


@dataclass
class _BatchOutcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    write_error: str | None = None


class _Target:
    """The target Weaviate: through a RestSession (the CLI: no weaviate-client) or a client.

    With a session, existence, schema, counts, added properties and writes go over
    REST; a weaviate-client client is connected (to the session's target) only for what
    needs it: creating a collection from its description and reading existing objects
    of a non-empty target.
    """

    def __init__(self, handle: Any) -> None:
        self.session: RestSession | None = handle if isinstance(handle, RestSession) else None
        self._client: weaviate.WeaviateClient | None = None if self.session else handle
        self._owned = False
        self._lock = threading.Lock()

    @property
    def client(self) -> weaviate.WeaviateClient:
        with self._lock:
            if self._client is None:
                from elysia_pipelines.weaviate.connection import connect

                assert self.session is not None
                self._client = connect(self.session.target)
                self._owned = True
            return self._client

    def exists(self, collection: str) -> bool:
        if self.session is not None:
            return self.session.collection_exists(collection)
        from elysia_pipelines.weaviate.schema import collection_exists

        return collection_exists(self.client, collection)

    def describe(self, collection: str) -> dict[str, Any]:
        if self.session is not None:
            return self.session.describe_collection(collection)
        from elysia_pipelines.weaviate.schema import describe_collection

        return describe_collection(self.client, collection)

    def count(self, collection: str) -> int:
        if self.session is not None:
            return self.session.count(collection)
        from elysia_pipelines.weaviate.objects import count

        return count(self.client, collection)

    def tenants(self, collection: str) -> dict[str, str]:
        if self.session is not None:
            return self.session.tenants(collection)
        from elysia_pipelines.weaviate.schema import list_tenants

        return list_tenants(self.client, collection)

    def add_tenants(self, collection: str, names: list[str]) -> None:
        if self.session is not None:
            self.session.add_tenants(collection, names)
            return
        from elysia_pipelines.weaviate.schema import add_tenants

        add_tenants(self.client, collection, names)

    def has_objects(self, collection: str, tenant: str) -> bool:
        """Whether one tenant holds any object (Weaviate counts no tenant-less MT class)."""
        if self.session is not None:
            return self.session.has_objects(collection, tenant)
        from elysia_pipelines.weaviate.objects import count

        return count(self.client, collection, tenant=tenant) > 0

    def add_property(self, collection: str, name: str, data_type: str) -> None:
        if self.session is not None:
            self.session.add_property(collection, name, data_type)
            return
        from elysia_pipelines.weaviate.schema import add_property

        add_property(self.client, collection, name, data_type)

    def close(self) -> None:
        """Close the client this object connected (never the caller's)."""
        if self._owned and self._client is not None:
            self._client.close()
            self._client, self._owned = None, False


@dataclass
class _Context:
    """Everything a worker needs, fixed before the first batch."""

    target: _Target
    options: RestoreOptions
    plan: MigrationPlan
    collection: str
    target_was_empty: bool
    backup_has_vectors: bool
    max_batch_objects: int
    max_batch_bytes: int
    dead_letters: DeadLetterFile | None  # None on a dry run
    # Multi-tenant target: the tenants that held objects before the restore (the others
    # need no read of existing objects); None for a single-tenant collection.
    nonempty_tenants: frozenset[str] | None = None
    _local: threading.local = field(default_factory=threading.local)
    _opened: list[weaviate.WeaviateClient] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def worker_client(self) -> weaviate.WeaviateClient:
        if self.options.connect is None or self.target.session is not None:
            return self.target.client
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.options.connect()
            self._local.client = client
            with self._lock:
                self._opened.append(client)
        return client

    @property
    def multi_tenant(self) -> bool:
        return self.nonempty_tenants is not None

    def must_read_existing(self, tenant: str | None) -> bool:
        if self.nonempty_tenants is not None:
            return tenant in self.nonempty_tenants
        return not self.target_was_empty

    def upsert(self, objects: list[ObjectToWrite], tenant: str | None = None) -> UpsertResult:
        """Write through the REST session when there is one, else the (worker's) client."""
        session = self.target.session
        if session is not None:
            return upsert_with(
                lambda objs: session.insert(self.collection, objs, tenant),
                self.collection,
                objects,
                max_batch_objects=self.max_batch_objects,
                max_batch_bytes=self.max_batch_bytes,
            )
        from elysia_pipelines.weaviate.objects import upsert

        return upsert(
            self.worker_client(),
            self.collection,
            objects,
            max_batch_objects=self.max_batch_objects,
            max_batch_bytes=self.max_batch_bytes,
            attempts=self.options.write_attempts,
            tenant=tenant,
        )

    def close_worker_clients(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for client in opened:
            client.close()

    @property
    def partial_properties(self) -> bool:
        return self.options.properties is not None

    @property
    def replaces_whole_object(self) -> bool:
        return self.options.strategy == "overwrite" and not self.partial_properties

    @property
    def content_hash_mode(self) -> bool:
        """Whether equal `content_hash` values may stand for equal objects.

        Only when the written properties keep their names and types in an existing
        target: after a rename, a conversion or an added property, the existing
        objects differ from the backup's even where the content hash is the same.
        """
        plan = self.plan
        return (
            "content_hash" in plan.written_names
            and "content_hash" in plan.target_types
            and not (plan.renames or plan.conversions or plan.added)
        )

    def fetch_properties(self) -> list[str] | None:
        """What to read of existing objects: None = all, [] = existence only."""
        if self.options.strategy == "skip":
            return []
        if not self.replaces_whole_object:
            return None  # merging needs the properties it keeps
        if self.options.incremental:
            return ["content_hash"] if self.content_hash_mode else None
        return []

    def fetch_vector(self) -> bool:
        if self.options.strategy == "skip":
            return False
        if not self.backup_has_vectors:
            return True  # keep the existing vector on update
        return self.options.incremental and not self.content_hash_mode


def _is_unchanged(
    ctx: _Context, desired: dict[str, Any], vector: Any, current: ExistingObject
) -> bool:
    if ctx.content_hash_mode and desired.get("content_hash"):
        return desired.get("content_hash") == current.properties.get("content_hash")
    names = set(desired) | set(current.properties)
    types = ctx.plan.target_types
    return object_fingerprint(desired, vector, types, names=names) == object_fingerprint(
        current.properties, current.vector, types, names=names
    )


def _process_batch(ctx: _Context, batch: list[BackupObject]) -> _BatchOutcome:
    """Convert, compare with the target, write; everything not written is accounted for.

    A multi-tenant batch is handled per tenant: each tenant is its own shard, read
    and written with its name.
    """
    outcome = _BatchOutcome()
    dead: list[DeadLetter] = []
    if not ctx.multi_tenant:
        _process_objects(ctx, batch, None, outcome, dead)
    else:
        by_tenant: dict[str, list[BackupObject]] = {}
        for obj in batch:
            if obj.tenant:
                by_tenant.setdefault(obj.tenant, []).append(obj)
            else:
                reason = "the backup does not say which tenant this object belongs to"
                dead.append(DeadLetter(obj.uuid, "tenant", reason))
                outcome.failed.append(obj.uuid)
        for tenant, objects in by_tenant.items():
            _process_objects(ctx, objects, tenant, outcome, dead)
    if dead and ctx.dead_letters is not None:
        ctx.dead_letters.append(dead)
    return outcome


def _process_objects(
    ctx: _Context,
    batch: list[BackupObject],
    tenant: str | None,
    outcome: _BatchOutcome,
    dead: list[DeadLetter],
) -> None:
    """One tenant's (or a single-tenant collection's) part of a batch."""
    converted: list[tuple[str, dict[str, Any], Any]] = []
    for obj in batch:
        props, problems = ctx.plan.apply(obj.properties)
        if problems:
            reason = "; ".join(
                f"{p['property']}: {p['error']} ({p['from']} -> {p['to']})" for p in problems
            )
            dead.append(DeadLetter(obj.uuid, "convert", reason, {"values": problems}))
            outcome.failed.append(obj.uuid)
        else:
            converted.append((obj.uuid, props, obj.vector))

    existing: dict[str, ExistingObject] = {}
    if ctx.must_read_existing(tenant) and converted:
        from elysia_pipelines.backups.restore_target import fetch_existing

        existing = fetch_existing(
            ctx.worker_client(),
            ctx.collection,
            [uuid for uuid, _, _ in converted],
            properties=ctx.fetch_properties(),
            include_vector=ctx.fetch_vector(),
            tenant=tenant,
        )

    to_write: list[ObjectToWrite] = []
    actions: dict[str, list[str]] = {}
    for uuid, props, vector in converted:
        current = existing.get(uuid)
        if current is None:
            to_write.append(ObjectToWrite(uuid=uuid, properties=props, vector=vector))
            actions.setdefault("created", []).append(uuid)
            continue
        if ctx.options.strategy == "skip":
            outcome.skipped.append(uuid)
            continue
        desired = props if ctx.replaces_whole_object else {**current.properties, **props}
        final_vector = vector if vector is not None else current.vector
        if ctx.options.incremental and _is_unchanged(ctx, desired, final_vector, current):
            outcome.unchanged.append(uuid)
            continue
        to_write.append(ObjectToWrite(uuid=uuid, properties=desired, vector=final_vector))
        actions.setdefault("updated", []).append(uuid)

    failed_writes: dict[str, str] = {}
    if to_write and ctx.dead_letters is not None:
        try:
            result = ctx.upsert(to_write, tenant)
            failed_writes = {str(f.uuid): str(f.error) for f in result.failures}
        except Exception as exc:  # still failing after the layer's retries
            outcome.write_error = short_error(exc)
            failed_writes = {obj.uuid: outcome.write_error for obj in to_write}
        for uuid, error in failed_writes.items():
            dead.append(DeadLetter(uuid, "write", error))
    for action, uuids in actions.items():
        target = outcome.created if action == "created" else outcome.updated
        target.extend(u for u in uuids if u not in failed_writes)
    outcome.failed.extend(failed_writes)


def _target_name(options: RestoreOptions, reader: BackupReader) -> str:
    raw = (options.target_collection or reader.collection).strip()
    name = raw[:1].upper() + raw[1:]
    if not _COLLECTION_RE.match(name):
        raise ElysiaError(
            f"{raw!r} is not a valid collection name",
            "use letters, digits and underscores, starting with a letter",
        )
    return name


def _check_vectors(reader: BackupReader, target_description: dict[str, Any]) -> None:
    """Refuse, before any write, backup vectors that cannot live next to the target's.

    `describe_collection` reads the dimension from a stored object (the schema does
    not say), so an empty target accepts any dimension.
    """
    manifest = reader.manifest
    if not manifest.include_vectors:
        return
    dimension = manifest.vector_dimension or (manifest.vectors or {}).get("default")
    existing = target_description.get("vector_dimension")
    collection = target_description.get("name")
    if dimension and existing and existing != dimension:
        raise ElysiaError(
            f"the backup's vectors have {dimension} dimensions but the vectors already in "
            f"{collection} have {existing}; nothing was written",
            "restore into a new collection with --target-collection, or empty the target "
            "first (vectors of different models cannot be searched together)",
        )


def _check_ids_present(reader: BackupReader, ids: tuple[str, ...]) -> None:
    found: set[str] = set()
    for batch in reader.iter_batches(2000, uuids=set(ids), properties=[], include_vectors=False):
        found.update(obj.uuid for obj in batch)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(
            f"backup {reader.backup_id} does not contain {len(missing)} of the requested "
            f"object(s): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}",
            "check the ids (they are Weaviate object UUIDs); nothing was written",
        )


def _prepare_schema(
    target: _Target, plan: MigrationPlan, report: RestoreReport, dry_run: bool
) -> None:
    if plan.create_collection:
        report.collection_created = True
        report.notes.append(f"collection {plan.target_collection} is created from the backup")
        if not dry_run:
            from elysia_pipelines.weaviate.schema import create_collection_from_description

            create_collection_from_description(
                target.client, plan.target_collection, plan.create_description or {}
            )
        return
    for prop in plan.added:  # listed in report.properties / added_properties
        if not dry_run:
            target.add_property(plan.target_collection, prop.target, prop.target_type)


def _state_target(collection: str, label: str | None) -> str:
    return f"{collection}@{label}" if label else collection


def _fingerprint(options: RestoreOptions, ids: tuple[str, ...] | None, batch_size: int) -> str:
    return options_fingerprint(
        {
            "strategy": options.strategy,
            "ids": sorted(ids) if ids else None,
            "properties": sorted(options.properties) if options.properties else None,
            "map": options.property_map,
            "incremental": options.incremental,
            "batch_size": batch_size,
        }
    )


def open_for_restore(backup_ref: str, options: RestoreOptions, settings: Settings) -> BackupReader:
    """The backup to restore, after every check that needs no connection to the target.

    Bad options, a missing backup and a `--map`/`--properties` that cannot apply to
    the backup's schema fail here, before anything connects to a cluster (which may be
    another one, with its own credentials and timeouts). `restore_backup` plans again
    against the target's schema; this is the part of that plan that holds whatever the
    target is.
    """
    options.validate()
    options.normalized_ids()
    reader = open_backup(backup_ref, settings)
    plan_migration(
        reader.description,
        None,
        target_collection=options.target_collection or reader.collection,
        property_map=options.property_map,
        properties=options.properties,
    )
    return reader


def _new_report(reader: BackupReader, options: RestoreOptions, collection: str) -> RestoreReport:
    manifest = reader.manifest
    return RestoreReport(
        backup_id=manifest.backup_id,
        source_collection=manifest.collection,
        target_collection=collection,
        strategy=options.strategy,
        dry_run=options.dry_run,
        incremental=options.incremental,
        resumed=options.resume,
    )


def _plan_against_target(
    reader: BackupReader,
    target: _Target,
    options: RestoreOptions,
    collection: str,
    ids: tuple[str, ...] | None,
    report: RestoreReport,
) -> tuple[MigrationPlan, dict[str, Any] | None]:
    """Plan the schema against the target and refuse what cannot work, before any write.

    Returns the plan and the target's description (None: the collection is absent).
    """
    exists = target.exists(collection)
    target_description = target.describe(collection) if exists else None
    plan = plan_migration(
        reader.description,
        target_description,
        target_collection=collection,
        property_map=options.property_map,
        properties=options.properties,
    )
    report.properties = [p.to_dict() for p in plan.properties]
    report.conversions = [p.to_dict() for p in plan.conversions]
    report.added_properties = [p.target for p in plan.added]
    report.renamed_properties = {p.source: p.target for p in plan.renames}
    if target_description is not None:
        _check_vectors(reader, target_description)
        _check_tenancy(reader, target_description)
    if ids is not None:
        _check_ids_present(reader, ids)
    return plan, target_description


def _check_tenancy(reader: BackupReader, target_description: dict[str, Any]) -> None:
    """Refuse mixing a multi-tenant backup and a single-tenant target (or the reverse)."""
    backup_mt = reader.multi_tenant
    target_mt = bool(target_description.get("multi_tenancy"))
    if backup_mt == target_mt:
        return
    collection = target_description.get("name")
    if backup_mt:
        problem = (
            f"the backup is of a multi-tenant collection ({len(reader.tenants)} tenants) but "
            f"{collection} is single-tenant"
        )
    else:
        problem = f"the backup is of a single-tenant collection but {collection} is multi-tenant"
    raise ElysiaError(
        f"{problem}; nothing was written",
        "restore into a new collection with --target-collection (it is created with the "
        "backup's multi-tenancy setting)",
    )


def _target_tenants(
    reader: BackupReader,
    target: _Target,
    collection: str,
    target_description: dict[str, Any] | None,
) -> dict[str, str] | None:
    """The target's tenants (None: single-tenant); refuses inactive ones before any write."""
    if not reader.multi_tenant:
        return None
    if target_description is None:
        return {}  # the collection is created, with the backup's tenants
    existing = target.tenants(collection)
    if target_description.get("auto_tenant_activation"):
        return existing
    wanted = set(reader.tenants)
    refuse_inactive_tenants(
        collection,
        {t: s for t, s in existing.items() if t in wanted and s != "ACTIVE"},
        which="that the backup restores are not active",
        again="restore again",
    )
    return existing


def _prepare_tenants(
    reader: BackupReader,
    target: _Target,
    collection: str,
    existing: dict[str, str] | None,
    report: RestoreReport,
    dry_run: bool,
) -> frozenset[str] | None:
    """Create the backup's tenants the target lacks; the tenants that already hold objects."""
    if existing is None:
        return None
    missing = [t for t in reader.tenants if t not in existing]
    if missing:
        report.tenants_created = len(missing)
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        would = "would be " if dry_run else ""
        report.notes.append(f"{len(missing)} tenant(s) {would}created: {shown}")
        if not dry_run:
            target.add_tenants(collection, missing)
    return frozenset(
        t for t in reader.tenants if t in existing and target.has_objects(collection, t)
    )


@dataclass
class _RestoreState:
    """The checkpoint and dead-letter file of one (backup, target), and what to retry."""

    checkpoint: RestoreCheckpoint
    dead_letters: DeadLetterFile
    retry_ids: list[str]  # dead letters of the previous run, retried after the full pass
    retry_offset: int  # dead-letter file size before this run appended anything


def _open_state(
    settings: Settings,
    reader: BackupReader,
    options: RestoreOptions,
    collection: str,
    fingerprint: str,
    plan: MigrationPlan,
    report: RestoreReport,
) -> _RestoreState:
    """Load the state to resume from (`--resume`), or discard the last run's."""
    backup_id = reader.manifest.backup_id
    name = state_name(backup_id, _state_target(collection, options.target_label))
    checkpoint_path = settings.checkpoints_dir / f"{name}.json"
    dead_letters = DeadLetterFile(settings.dead_letter_dir / f"{name}.jsonl")
    checkpoint: RestoreCheckpoint | None = None
    retry_ids: list[str] = []
    retry_offset = 0
    if options.resume:
        checkpoint = RestoreCheckpoint.load(checkpoint_path, fingerprint)
        retry_offset = dead_letters.size()
        retry_ids = dead_letters.uuids(end=retry_offset)
        if checkpoint is None and not retry_ids:
            raise NotFoundError(
                f"nothing to resume: no unfinished restore of {backup_id} into "
                f"{collection} (no checkpoint at {checkpoint_path}, no dead letters)",
                "run the restore without --resume",
            )
        if checkpoint is not None and plan.create_collection:
            checkpoint = None
            report.notes.append(
                f"{collection} no longer exists: the checkpoint is ignored and every batch "
                "is restored again"
            )
        elif checkpoint is None:
            report.notes.append("no checkpoint found: every batch is restored again")
        if checkpoint is None:
            retry_ids = []  # the full pass retries them; old entries are dropped at the end
    elif not options.dry_run:
        checkpoint_path.unlink(missing_ok=True)
        dead_letters.truncate()
    if checkpoint is None:
        checkpoint = RestoreCheckpoint(checkpoint_path, fingerprint)
    checkpoint.save_every_s = CHECKPOINT_EVERY_S
    if not options.dry_run:
        report.checkpoint_path = str(checkpoint_path)
        report.dead_letter_path = str(dead_letters.path)
    return _RestoreState(checkpoint, dead_letters, retry_ids, retry_offset)


_OUTCOMES = ("created", "updated", "skipped", "unchanged", "failed")


class _Tally:
    """Adds batch outcomes to the report, reports progress, stops a run whose target is down."""

    def __init__(
        self,
        report: RestoreReport,
        collection: str,
        expected: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.report = report
        self.collection = collection
        self.expected = expected
        self.progress = progress
        self.consecutive_failures = 0

    def record(self, outcome: _BatchOutcome) -> None:
        report = self.report
        report.batches += 1
        for key in _OUTCOMES:
            uuids: list[str] = getattr(outcome, key)
            setattr(report, key, getattr(report, key) + len(uuids))
            if report.ids is not None:
                report.ids[key].extend(uuids)
        report.total += sum(len(getattr(outcome, k)) for k in _OUTCOMES)
        if self.progress is not None:
            self.progress(report.total, self.expected)
        self.consecutive_failures = self.consecutive_failures + 1 if outcome.write_error else 0
        if self.consecutive_failures >= _MAX_CONSECUTIVE_FAILED_BATCHES:
            raise ElysiaError(
                f"restore into {self.collection} stopped: the last {self.consecutive_failures} "
                f"batches failed even after retries ({outcome.write_error})",
                "check the target Weaviate, then run the same restore with --resume "
                "(finished batches are skipped, failed objects retried)",
            )


@dataclass(frozen=True)
class _ReadSpec:
    """Which part of the backup is read, in batches of what size."""

    batch_size: int
    ids: frozenset[str] | None
    properties: list[str] | None
    include_vectors: bool

    def batches(self, reader: BackupReader, uuids: set[str] | None) -> Iterator[list[BackupObject]]:
        return reader.iter_batches(
            self.batch_size,
            uuids=uuids,
            properties=self.properties,
            include_vectors=self.include_vectors,
        )


def _write_batches(
    reader: BackupReader,
    ctx: _Context,
    state: _RestoreState,
    tally: _Tally,
    read: _ReadSpec,
) -> None:
    """The full pass (skipping checkpointed batches), then the previous run's dead letters."""
    options, report, checkpoint = ctx.options, tally.report, state.checkpoint
    retrying = set(state.retry_ids)

    def numbered() -> Iterator[tuple[int, list[BackupObject]]]:
        wanted = set(read.ids) if read.ids is not None else None
        for index, batch in enumerate(read.batches(reader, wanted)):
            if checkpoint.is_done(index):
                report.batches_already_done += 1
                # Its dead letters are counted when the retry pass handles them.
                report.total += sum(1 for obj in batch if obj.uuid not in retrying)
                continue
            yield index, batch

    def on_batch(item: tuple[int, list[BackupObject]], outcome: _BatchOutcome) -> None:
        if not options.dry_run:
            checkpoint.mark_done(item[0])  # after its dead letters were appended
        tally.record(outcome)

    run_bounded(
        numbered(),
        lambda item: _process_batch(ctx, item[1]),
        on_batch,
        workers=options.workers,
    )
    if state.retry_ids:
        report.dead_letters_retried = len(state.retry_ids)
        run_bounded(
            read.batches(reader, retrying),
            lambda batch: _process_batch(ctx, batch),
            lambda _batch, outcome: tally.record(outcome),
            workers=options.workers,
        )


def _settle_state(state: _RestoreState, options: RestoreOptions, report: RestoreReport) -> None:
    """Keep checkpoint and dead letters only when objects are left to retry."""
    if options.dry_run:
        return
    dead_letters = state.dead_letters
    # On --resume the previous run's entries were retried: only the new ones stay.
    left = dead_letters.keep_from(state.retry_offset) if options.resume else dead_letters.appended
    if left == 0:
        dead_letters.truncate()
        state.checkpoint.delete()
        report.checkpoint_path = None
        report.dead_letter_path = None
    else:
        report.notes.append(
            f"{left} object(s) could not be restored: see {dead_letters.path}; "
            "fix the cause and run the same restore with --resume"
        )


def restore_backup(
    reader: BackupReader,
    client: weaviate.WeaviateClient,
    options: RestoreOptions,
    *,
    progress: ProgressCallback | None = None,
) -> RestoreReport:
    """Restore `reader`'s backup through `client`; see the module docstring for semantics.

    Steps: check the options, plan against the target (and refuse), open or reset the
    restore state, prepare the schema, write the batches, settle the state.
    """
    started = time.monotonic()
    options.validate()
    settings = options.settings or Settings.from_env()
    ids = options.normalized_ids()
    collection = _target_name(options, reader)
    manifest = reader.manifest
    report = _new_report(reader, options, collection)

    target = _Target(client)
    plan, target_description = _plan_against_target(
        reader, target, options, collection, ids, report
    )
    batch_size = options.batch_size or settings.batch_max_objects
    fingerprint = _fingerprint(options, ids, batch_size)
    tenants = _target_tenants(reader, target, collection, target_description)
    state = _open_state(settings, reader, options, collection, fingerprint, plan, report)
    _prepare_schema(target, plan, report, options.dry_run)
    nonempty = _prepare_tenants(reader, target, collection, tenants, report, options.dry_run)

    ctx = _Context(
        target=target,
        options=options,
        plan=plan,
        collection=collection,
        # An empty target holds nothing to compare with: no reads of existing objects.
        target_was_empty=plan.create_collection
        or (not nonempty if nonempty is not None else target.count(collection) == 0),
        backup_has_vectors=manifest.include_vectors,
        max_batch_objects=batch_size,
        max_batch_bytes=options.max_batch_bytes or settings.batch_max_bytes,
        dead_letters=None if options.dry_run else state.dead_letters,
        nonempty_tenants=nonempty,
    )
    if options.collect_ids or options.dry_run:
        report.ids = {k: [] for k in _OUTCOMES}
    expected = len(ids) if ids is not None else manifest.object_count
    tally = _Tally(report, collection, expected, progress)
    read = _ReadSpec(
        batch_size=batch_size,
        ids=frozenset(ids) if ids is not None else None,
        properties=None if options.properties is None else [p.source for p in plan.properties],
        include_vectors=manifest.include_vectors,
    )
    try:
        _write_batches(reader, ctx, state, tally, read)
    except KeyboardInterrupt:
        raise Interrupted(
            f"restore of {manifest.backup_id} into {collection} interrupted after "
            f"{report.total} objects",
            "run the same command with --resume to continue (finished batches are skipped)"
            if not options.dry_run
            else "run the dry run again",
        ) from None
    except ElysiaError:
        if report.total == 0:  # not one object read: a damaged backup, never a target fault
            _drop_if_untouched(target, plan, collection, options.dry_run)
        raise
    except Exception as exc:  # e.g. reading the target failed through every retry
        raise ElysiaError(
            f"restore of {manifest.backup_id} into {collection} stopped after "
            f"{report.total} objects: {short_error(exc)}",
            "check the target Weaviate, then run the same restore with --resume "
            "(finished batches are skipped)"
            if not options.dry_run
            else "check the target Weaviate and run the dry run again",
        ) from exc
    finally:
        ctx.close_worker_clients()
        target.close()
        if not options.dry_run:
            state.checkpoint.flush()  # an interrupted run resumes from every finished batch

    _settle_state(state, options, report)
    report.elapsed_s = time.monotonic() - started
    return report


def _drop_if_untouched(
    target: _Target, plan: MigrationPlan, collection: str, dry_run: bool
) -> None:
    """Remove the collection this restore created when not one object reached it.

    A damaged backup is found when its data is read, after the collection was created:
    leaving an empty collection behind would look like a restore that worked.
    """
    if dry_run or not plan.create_collection:
        return
    try:
        if target.count(collection) == 0:
            from elysia_pipelines.weaviate.schema import delete_collection

            delete_collection(target.client, collection)
    except Exception:  # best effort: the error that stopped the restore is the one to show
        log.warning("could not remove the empty collection %s", collection, exc_info=True)


# ------------------------------------------------------------------- round trip


@dataclass
class RoundtripResult:
    ok: bool
    expected_count: int
    restored_count: int
    mismatches: list[str]  # "<uuid>: missing" / "<uuid>: differs" (first 100)
    mismatch_count: int = 0
    scratch_collection: str = ""
    failed: int = 0  # objects the restore could not write

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scratch_collection_name(collection: str) -> str:
    return f"{collection[:1].upper()}{collection[1:]}_RestoreCheck"


def restore_roundtrip_check(
    settings: Settings,
    client: weaviate.WeaviateClient,
    backup_ref: str,
    *,
    workers: int = 4,
    max_listed: int = 100,
) -> RoundtripResult:
    """Prove a backup restores: restore into a scratch collection, compare, delete it.

    Compares the object count and, per object, a hash of its properties and vector with
    the backup; the scratch collection is removed even when the check fails.
    """
    from elysia_pipelines.backups.formats import property_types
    from elysia_pipelines.backups.restore_target import fetch_existing
    from elysia_pipelines.weaviate.objects import count
    from elysia_pipelines.weaviate.schema import collection_exists, delete_collection

    reader = open_backup(backup_ref, settings)
    scratch = scratch_collection_name(reader.collection)
    if collection_exists(client, scratch):
        delete_collection(client, scratch)  # left over from a crashed check
    mismatches: list[str] = []
    mismatch_count = 0
    try:
        report = restore_backup(
            reader,
            client,
            RestoreOptions(
                target_collection=scratch,
                strategy="overwrite",
                workers=workers,
                settings=settings,
                target_label="roundtrip",
            ),
        )
        if reader.multi_tenant:
            restored = sum(count(client, scratch, tenant=t) for t in reader.tenants)
        else:
            restored = count(client, scratch)
        types = property_types(reader.description)
        with_vectors = reader.manifest.include_vectors
        for batch in reader.iter_batches(settings.batch_max_objects):
            stored: dict[tuple[str | None, str], Any] = {}
            for tenant in dict.fromkeys(obj.tenant for obj in batch):
                found = fetch_existing(
                    client,
                    scratch,
                    [obj.uuid for obj in batch if obj.tenant == tenant],
                    properties=None,
                    include_vector=with_vectors,
                    tenant=tenant,
                )
                stored.update({(tenant, uuid): obj for uuid, obj in found.items()})
            for obj in batch:
                current = stored.get((obj.tenant, obj.uuid))
                problem = None
                if current is None:
                    problem = "missing"
                elif object_fingerprint(
                    obj.properties, obj.vector, types, include_vector=with_vectors
                ) != object_fingerprint(
                    current.properties, current.vector, types, include_vector=with_vectors
                ):
                    problem = "differs"
                if problem:
                    mismatch_count += 1
                    if len(mismatches) < max_listed:
                        mismatches.append(f"{obj.uuid}: {problem}")
        expected = reader.object_count
        return RoundtripResult(
            ok=restored == expected and mismatch_count == 0 and report.failed == 0,
            expected_count=expected,
            restored_count=restored,
            mismatches=mismatches,
            mismatch_count=mismatch_count,
            scratch_collection=scratch,
            failed=report.failed,
        )
    finally:
        if collection_exists(client, scratch):
            delete_collection(client, scratch)
        name = state_name(reader.backup_id, _state_target(scratch, "roundtrip"))
        (settings.checkpoints_dir / f"{name}.json").unlink(missing_ok=True)
        (settings.dead_letter_dir / f"{name}.jsonl").unlink(missing_ok=True)
