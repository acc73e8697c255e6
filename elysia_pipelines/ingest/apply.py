"""Apply a collection's pending change sets to Weaviate, in order, exactly once in effect.

Exactly-once comes from three pieces that are each simple:

* Every write is idempotent: documents have deterministic UUIDs, upserts replace,
  deletes of missing objects are no-ops. Re-applying any prefix changes nothing.
* A checkpoint after every batch says how far the current change set got, so a
  killed run resumes there; at worst the last batch is written twice.
* A change set leaves pending/ only after it is fully applied (to processed/) or
  rejected as a whole before any write (to failed/, after validation). Nothing is
  ever half-applied and then abandoned.

Order matters (a later change set may modify what an earlier one added), so a
failed change set blocks the ones after it until an operator calls `unblock`, and
a file that may still be being written holds back the files after it.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elysia_pipelines.changes.format import (
    CONTENT_OPS,
    FILE_OPS,
    OP_BEGIN,
    OP_END,
    OP_SKIP,
    parse_sequence,
    weaviate_class_name,
)
from elysia_pipelines.changes.reader import KIND_FLAT, iter_change_set, validate_change_set
from elysia_pipelines.documents import document_uuid
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.ingest.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from elysia_pipelines.ingest.dead_letter import (
    DeadLetter,
    open_dead_letter_uuids,
    open_dead_letters,
    record_dead_letters,
    resolve_dead_letters,
)
from elysia_pipelines.ingest.moves import blocking_failure, fail_changeset, move_changeset
from elysia_pipelines.ingest.objects import RecordRef, WriteBatch, add_record
from elysia_pipelines.ingest.pending import FileState, file_status, pending_files
from elysia_pipelines.operations import bookkeeping
from elysia_pipelines.operations.bookkeeping import Stage, Status
from elysia_pipelines.registry import Registry, SyncRecord
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.session import (
    WeaviateSession,
    count,
    delete_ids,
    ensure_collection,
    iter_objects,
    upsert,
)
from elysia_pipelines.weaviate.spec import CollectionSpec
from elysia_pipelines.weaviate.writes import ObjectToWrite, UpsertResult

if TYPE_CHECKING:
    import weaviate

    # A weaviate-client client or a REST-first session (weaviate.session): both work.
    Conn = weaviate.WeaviateClient | WeaviateSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestProgress:
    collection: str
    file: str
    records_done: int
    records_total: int | None


ProgressCallback = Callable[[IngestProgress], None]


class Outcome(StrEnum):
    """What became of one change set (the value is what reports and JSON show)."""

    APPLIED = "applied"
    FAILED = "failed"  # moved to failed/; blocks the files after it
    STALE = "stale"  # moved to failed/; does not block
    EMPTY = "empty"  # moved to failed/; does not block
    INTERRUPTED = "interrupted"  # still pending


@dataclass
class ChangeSetResult:
    """One change set's outcome; also what the sync history row records."""

    file: str
    seq: int | None
    status: Outcome
    repo: str | None = None
    from_commit: str | None = None
    to_commit: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # change records by op
    skipped: dict[str, int] = field(default_factory=dict)  # skip records by reason
    failed: int = 0  # records dead-lettered
    duration_s: float = 0.0
    tracked_files: int | None = None
    written: int = 0  # objects upserted
    deleted: int = 0  # delete requests (incl. snapshot cleanup)
    resumed_from: int = 0  # records skipped because a checkpoint had them applied
    error: str | None = None


@dataclass
class IngestReport:
    collection: str
    results: list[ChangeSetResult] = field(default_factory=list)
    blocked_by: str | None = None  # "failed/<collection>/<file>"
    waiting_on: str | None = None  # a file that may still be being written
    remaining: int = 0  # change sets left in pending/
    open_dead_letters: int = 0
    collection_created: bool = False
    duration_s: float = 0.0

    @property
    def applied(self) -> list[ChangeSetResult]:
        return [r for r in self.results if r.status is Outcome.APPLIED]

    @property
    def rejected(self) -> list[ChangeSetResult]:
        return [r for r in self.results if r.status is not Outcome.APPLIED]

    def totals(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for result in self.applied:
            total.update(result.counts)
        return dict(total)

    def summary(self) -> str:
        parts = [f"{len(self.applied)} change set(s) applied"]
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected")
        totals = self.totals()
        if totals:
            parts.append(", ".join(f"{op} {n}" for op, n in sorted(totals.items())))
        if self.blocked_by:
            parts.append(f"blocked by {self.blocked_by}")
        if self.waiting_on:
            parts.append(f"waiting for {self.waiting_on} to be complete")
        if self.open_dead_letters:
            parts.append(f"{self.open_dead_letters} open dead letter(s)")
        return f"{self.collection}: " + "; ".join(parts)


@dataclass
class _Context:
    settings: Settings
    client: Conn
    collection: str
    expected_repo: str | None
    registry: Registry | None
    progress: ProgressCallback | None
    run_id: str | None
    checkpoint: Checkpoint
    dead_letter_uuids: set[str]

    def save(self, checkpoint: Checkpoint) -> None:
        save_checkpoint(self.settings, checkpoint)
        self.checkpoint = checkpoint


class _Rejected(Exception):
    """A change set that cannot be applied at all; it goes to failed/."""

    def __init__(
        self,
        reason: str,
        problems: list[str],
        *,
        blocking: bool = True,
        status: Outcome | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = problems
        self.blocking = blocking
        self.status = status or (Outcome.FAILED if blocking else Outcome.STALE)


@contextmanager
def collection_lock(settings: Settings, collection: str) -> Iterator[None]:
    """One ingestion per collection at a time (sensor run + manual run would race).

    An flock dies with its process, so a SIGKILLed run never leaves a stale lock.
    """
    settings.checkpoints_dir.mkdir(parents=True, exist_ok=True)
    path = settings.checkpoints_dir / f"{collection}.lock"
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ElysiaError(
                f"another ingestion of collection {collection!r} is running",
                "wait for it to finish; its progress is in the checkpoint, and the next run "
                "picks up whatever is left",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def registered_spec(
    collection: str, registry: Registry | None, repo: str | None
) -> tuple[CollectionSpec, str | None]:
    """The collection's provisioning settings and expected repository, from the registry."""
    if registry is None:
        return CollectionSpec(name=collection), repo
    entry = registry.get(repo) if repo else registry.by_collection(collection)
    if entry is None:
        return CollectionSpec(name=collection), repo
    if entry.collection != collection:
        raise ElysiaError(
            f"repository {entry.name!r} syncs into collection {entry.collection!r}, "
            f"not {collection!r}",
            "pass the repository's own collection, or fix it with `elysiactl repo update`",
        )
    from elysia_pipelines.operations.repo_options import spec_for

    return spec_for(entry), entry.name


def apply_pending(
    settings: Settings,
    client: Conn,
    collection: str,
    *,
    registry: Registry | None = None,
    repo: str | None = None,
    spec: CollectionSpec | None = None,
    max_files: int | None = None,
    progress: ProgressCallback | None = None,
    run_id: str | None = None,
) -> IngestReport:
    """Apply the collection's pending change sets in sequence order.

    `repo` (or the registry entry of the collection) is the only repository the
    change sets may name; with neither, whatever repository they name is accepted.
    `spec` overrides the provisioning settings taken from the registry. Transient
    Weaviate errors that outlast the retries raise ElysiaError; the checkpoint then
    lets the next run continue where this one stopped.
    """
    started = time.monotonic()
    settings.ensure_dirs()
    registry_spec, expected_repo = registered_spec(collection, registry, repo)
    spec = spec or registry_spec
    if spec.name != collection:
        raise ElysiaError(
            f"collection spec is for {spec.name!r} but ingesting {collection!r}",
            "pass a CollectionSpec whose name is the collection",
        )
    report = IngestReport(collection=collection)
    with collection_lock(settings, collection):
        ctx = _Context(
            settings=settings,
            client=client,
            collection=collection,
            expected_repo=expected_repo,
            registry=registry,
            progress=progress,
            run_id=run_id,
            checkpoint=load_checkpoint(settings, collection),
            dead_letter_uuids=open_dead_letter_uuids(settings, collection),
        )
        files = pending_files(settings, collection)
        _reconcile_checkpoint(ctx, files)
        blocker = blocking_failure(settings, collection)
        if blocker is not None:
            report.blocked_by = f"failed/{collection}/{blocker.file}"
        elif files:
            report.collection_created = _ensure(client, spec)
            _apply_files(ctx, files, report, max_files)
        report.remaining = len(pending_files(settings, collection))
        report.open_dead_letters = len(open_dead_letters(settings, collection))
    report.duration_s = time.monotonic() - started
    log.info(report.summary())
    return report


def _ensure(client: Conn, spec: CollectionSpec) -> bool:
    if isinstance(client, WeaviateSession):  # REST calls retry outages themselves
        return ensure_collection(client, spec).created
    from elysia_pipelines.weaviate.retry import transient_retry

    for attempt in transient_retry(what=f"provisioning {spec.name}"):
        with attempt:
            return ensure_collection(client, spec).created
    raise AssertionError("unreachable: transient_retry re-raises the last error")


def _apply_files(
    ctx: _Context, files: list[Path], report: IngestReport, max_files: int | None
) -> None:
    done = 0
    for path in files:
        if max_files is not None and done >= max_files:
            return
        try:
            status = file_status(path)
        except FileNotFoundError:
            continue  # removed by an operator while we worked
        if status.state is FileState.WRITING:
            report.waiting_on = f"pending/{ctx.collection}/{path.name} ({status.reason})"
            return
        result = _apply_or_reject(ctx, path, abandoned_reason=_abandoned(status))
        report.results.append(result)
        done += 1
        if result.status is Outcome.FAILED:
            report.blocked_by = f"failed/{ctx.collection}/{path.name}"
            return


def _abandoned(status: Any) -> str | None:
    return status.reason if status.state is FileState.ABANDONED else None


def _reconcile_checkpoint(ctx: _Context, files: list[Path]) -> None:
    """Forget a current file that is no longer pending (moved after a crash, or removed)."""
    current = ctx.checkpoint.current
    if current is None:
        return
    if not any(path.name == current.file for path in files):
        ctx.save(ctx.checkpoint.finished())


def _apply_or_reject(ctx: _Context, path: Path, *, abandoned_reason: str | None) -> ChangeSetResult:
    started_at = datetime.now(UTC)
    t0 = time.monotonic()
    seq = parse_sequence(path.name)
    try:
        result = _apply_changeset(ctx, path, seq, abandoned_reason)
    except ElysiaError as exc:
        # Weaviate stayed unreachable (or refused the collection): the change set
        # stays pending with its checkpoint; the history says why this run stopped.
        failed = ChangeSetResult(file=path.name, seq=seq, status=Outcome.INTERRUPTED, error=str(exc))
        failed.duration_s = time.monotonic() - t0
        _record_history(ctx, failed, started_at)
        raise
    except _Rejected as rejected:
        fail_changeset(
            ctx.settings,
            ctx.collection,
            path,
            reason=rejected.reason,
            problems=rejected.problems,
            blocking=rejected.blocking,
        )
        current = ctx.checkpoint.current
        if current is not None and current.file == path.name:
            ctx.save(ctx.checkpoint.finished())
        result = ChangeSetResult(
            file=path.name,
            seq=seq,
            status=rejected.status,
            error=rejected.reason + ("".join(f"\n  {p}" for p in rejected.problems[:10])),
        )
        log.warning("change set %s rejected: %s", path.name, rejected.reason)
    result.duration_s = time.monotonic() - t0
    _record_history(ctx, result, started_at)
    if result.status is Outcome.APPLIED:
        ctx.save(ctx.checkpoint.finished())
    return result


def _record_history(ctx: _Context, result: ChangeSetResult, started_at: datetime) -> None:
    repo = result.repo or ctx.expected_repo
    if ctx.registry is None or repo is None:
        return
    if result.status is Outcome.APPLIED:
        status = Status.SUCCESS if result.failed == 0 else Status.PARTIAL
    else:
        status = Status.FAILED
    bookkeeping.record_ingestion(
        ctx.registry,
        SyncRecord(
            repo=repo,
            stage=Stage.INGEST,
            status=status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            duration_s=result.duration_s,
            from_commit=result.from_commit,
            to_commit=result.to_commit,
            seq=result.seq,
            counts=result.counts,
            skipped=result.skipped,
            failed=result.failed,
            error=result.error,
            run_id=ctx.run_id,
        ),
    )


def _validate(ctx: _Context, path: Path, seq: int | None, abandoned_reason: str | None) -> Any:
    # Checked first: a stale file is rejected whatever its content.
    last = ctx.checkpoint.last_applied_seq
    if seq is not None and last is not None and seq < last:
        raise _Rejected(
            f"stale: sequence {seq} is older than the last applied {last}; applying it would "
            "roll newer changes back",
            [],
            blocking=False,
        )
    report = validate_change_set(path)
    problems = [str(p) for p in report.problems]
    if report.empty:
        # Nothing to apply means nothing later files could depend on.
        raise _Rejected(
            "empty change set: the file holds no records", problems, blocking=False, status=Outcome.EMPTY
        )
    if abandoned_reason is not None:
        raise _Rejected(abandoned_reason, problems)
    if not report.ok:
        raise _Rejected(f"invalid change set: {len(problems)} problem(s)", problems)
    begin = report.begin or {}
    named = begin.get("collection")
    if report.kind != KIND_FLAT and (
        not isinstance(named, str) or weaviate_class_name(named) != ctx.collection
    ):
        raise _Rejected(
            f"collection mismatch: the change set is for {begin.get('collection')!r} but lies "
            f"in pending/{ctx.collection}/",
            [],
        )
    return report


def _repos_of(path: Path, begin: dict[str, Any]) -> set[str]:
    if begin:
        return {begin["repo"]}
    return {
        r["repo"]
        for r in iter_change_set(path)
        if r.get("op") in FILE_OPS and isinstance(r.get("repo"), str)
    }


def _synced_at(begin: dict[str, Any], path: Path) -> datetime:
    """The change set's creation time, so applying it again writes identical objects."""
    created = begin.get("created_at")
    if isinstance(created, str):
        try:
            moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _apply_changeset(
    ctx: _Context, path: Path, seq: int | None, abandoned_reason: str | None
) -> ChangeSetResult:
    validation = _validate(ctx, path, seq, abandoned_reason)
    begin: dict[str, Any] = validation.begin or {}
    repos = _repos_of(path, begin)
    if ctx.expected_repo is not None and repos - {ctx.expected_repo}:
        raise _Rejected(
            f"repository mismatch: collection {ctx.collection!r} belongs to "
            f"{ctx.expected_repo!r} but the change set is for {', '.join(sorted(repos))}",
            [],
        )
    repo = begin.get("repo") or ctx.expected_repo or (min(repos) if repos else None)
    if repo is None:
        raise _Rejected("no repository: no record names one", [])
    result = ChangeSetResult(
        file=path.name,
        seq=seq,
        status=Outcome.APPLIED,
        repo=repo,
        from_commit=begin.get("from_commit"),
        to_commit=begin.get("to_commit"),
        tracked_files=validation.tracked_files,
    )
    current = ctx.checkpoint.current
    resuming = current is not None and current.file == path.name
    if resuming and current is not None and current.phase == "applied":
        # Killed after the last write but before the move: only the move is left.
        result.counts = {k: v for k, v in validation.counts.items() if k != OP_SKIP}
        result.skipped = dict(validation.skipped)
        result.resumed_from = current.records_applied
    else:
        start_at = current.records_applied if resuming and current is not None else 0
        _write_records(ctx, path, begin, repo, start_at, validation, result)
        ctx.save(
            ctx.checkpoint.applied(
                path.name,
                seq,
                sum(validation.counts.values()),
                result.to_commit,
                result.tracked_files,
            )
        )
    move_changeset(path, ctx.settings.processed_dir / ctx.collection)
    return result


def _write_records(
    ctx: _Context,
    path: Path,
    begin: dict[str, Any],
    repo: str,
    start_at: int,
    validation: Any,
    result: ChangeSetResult,
) -> None:
    settings = ctx.settings
    synced_at = _synced_at(begin, path)
    full_snapshot = bool(begin.get("full_snapshot"))
    # Nothing can lie outside a snapshot in an empty collection (a first sync); a
    # resumed run may already have written part of it, so it always scans.
    scan_needed = full_snapshot and (
        start_at > 0 or count(ctx.client, ctx.collection, attempts=settings.weaviate_attempts)
    )
    total = sum(validation.counts.values())
    snapshot: set[str] = set()
    counts: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    last_commit: str | None = None
    batch = WriteBatch()
    index = -1
    result.resumed_from = start_at
    with _Sender(ctx, path, total, result) as sender:
        for record in iter_change_set(path):
            op = record.get("op")
            if op in (OP_BEGIN, OP_END):
                continue
            index += 1
            if op == OP_SKIP:
                skipped[str(record.get("reason"))] += 1
            else:
                counts[op] += 1
                last_commit = record.get("commit") or last_commit
            if index < start_at:
                if scan_needed and op in CONTENT_OPS:
                    snapshot.add(document_uuid(record.get("repo") or repo, record["path"]))
                continue
            if not batch.has_room(record, settings.batch_max_objects, settings.batch_max_bytes):
                sender.send(batch, index)
                batch = WriteBatch()
            kept = add_record(
                batch,
                record,
                index=index,
                changeset=path,
                repo=repo,
                synced_at=synced_at,
                delete_skipped=not full_snapshot,
            )
            if scan_needed and kept is not None:
                snapshot.add(kept)
        if len(batch):
            sender.send(batch, total)
    if sender.reported != total:  # nothing left to send after the last full batch
        _progress(ctx, path, total, total)
    if scan_needed:
        result.deleted += _delete_outside_snapshot(ctx, repo, snapshot)
    result.counts = dict(counts)
    result.skipped = dict(skipped)
    if result.to_commit is None:
        result.to_commit = last_commit


@dataclass
class _InFlight:
    keys: set[str]
    records_done: int
    batch: WriteBatch
    future: Future[tuple[int, UpsertResult | None]]


class _Sender:
    """Sends batches on worker threads while the caller builds the next ones.

    Up to `depth` batches are in flight, so the client serialises one batch while
    Weaviate stores the previous one; a batch that touches a document of a batch
    still in flight waits for it, so a later delete can never overtake an earlier
    upsert of the same document. Results are accounted, and the checkpoint advanced,
    strictly in batch order, only for batches that completed.
    """

    def __init__(
        self, ctx: _Context, path: Path, total: int, result: ChangeSetResult, depth: int = 2
    ) -> None:
        self.ctx = ctx
        self.path = path
        self.total = total
        self.result = result
        self.depth = depth
        self.pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="ingest-send")
        self.inflight: deque[_InFlight] = deque()
        self.reported = -1  # records_done of the last checkpoint written

    def send(self, batch: WriteBatch, records_done: int) -> None:
        keys = set(batch.upserts) | set(batch.deletes)
        while self.inflight and (
            len(self.inflight) >= self.depth or any(keys & f.keys for f in self.inflight)
        ):
            self._complete_oldest()
        future = self.pool.submit(_write, self.ctx, batch)
        self.inflight.append(_InFlight(keys, records_done, batch, future))

    def _complete_oldest(self) -> None:
        done = self.inflight.popleft()
        deleted, outcome = done.future.result()  # re-raises the worker's error here
        _account(self.ctx, done.batch, deleted, outcome, self.result)
        _progress(self.ctx, self.path, done.records_done, self.total)
        self.reported = done.records_done

    def wait(self) -> None:
        while self.inflight:
            self._complete_oldest()

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.wait()
        finally:
            self.pool.shutdown(wait=True)


def _progress(ctx: _Context, path: Path, done: int, total: int) -> None:
    ctx.save(ctx.checkpoint.progress(path.name, parse_sequence(path.name), done))
    if ctx.progress is not None:
        ctx.progress(IngestProgress(ctx.collection, path.name, done, total))


def _write(ctx: _Context, batch: WriteBatch) -> tuple[int, UpsertResult | None]:
    """The network half of a batch (runs on a worker thread): deletes, then upserts.

    The Weaviate layer retries whole-request outages (5xx, 429, UNAVAILABLE, dropped
    connections) and objects whose error looks transient; what it still reports as
    failed is final for this run.
    """
    settings, client, collection = ctx.settings, ctx.client, ctx.collection
    attempts = settings.weaviate_attempts
    deleted = 0
    if batch.deletes:
        delete_ids(client, collection, list(batch.deletes), attempts=attempts)
        deleted = len(batch.deletes)
    outcome = None
    if batch.upserts:
        outcome = upsert(
            client,
            collection,
            [obj for obj, _ in batch.upserts.values()],
            max_batch_objects=settings.batch_max_objects,
            max_batch_bytes=settings.batch_max_bytes,
            attempts=attempts,
        )
    return deleted, outcome


def _account(
    ctx: _Context,
    batch: WriteBatch,
    deleted: int,
    outcome: UpsertResult | None,
    result: ChangeSetResult,
) -> None:
    """The bookkeeping half (caller's thread): counts, dead letters, resolved letters."""
    succeeded: set[str] = set(batch.deletes)
    result.deleted += deleted
    if outcome is not None:
        errors = {failure.uuid: failure.error for failure in outcome.failures}
        succeeded.update(uuid for uuid in batch.upserts if uuid not in errors)
        result.written += len(batch.upserts) - len(errors)
        if errors:
            _dead_letter(ctx, batch, errors, result)
    resolved = succeeded & ctx.dead_letter_uuids
    if resolved:
        resolve_dead_letters(ctx.settings, ctx.collection, resolved)
        ctx.dead_letter_uuids -= resolved


def _dead_letter(
    ctx: _Context,
    batch: WriteBatch,
    errors: dict[str, str],
    result: ChangeSetResult,
) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    letters = []
    for uuid, error in errors.items():
        obj, ref = batch.upserts[uuid]
        letters.append(_letter(ctx.collection, ref, obj, error, now))
    record_dead_letters(ctx.settings, letters)
    ctx.dead_letter_uuids.update(errors)
    result.failed += len(letters)
    log.warning("%d record(s) of %s dead-lettered", len(letters), letters[0].changeset)


def _letter(
    collection: str, ref: RecordRef, obj: ObjectToWrite, error: str, now: str
) -> DeadLetter:
    return DeadLetter(
        collection=collection,
        changeset=ref.changeset,
        index=ref.index,
        op=ref.op,
        path=ref.path,
        uuid=obj.uuid,
        error=error,
        attempts=1,
        failed_at=now,
        properties=dict(obj.properties),
    )


def _delete_outside_snapshot(ctx: _Context, repo: str, keep: set[str]) -> int:
    """Delete the repository's documents a full snapshot does not name.

    Scans uuid + repo only (no content), so the cost is one light page per 500
    documents; the UUIDs of the snapshot's documents are known without reading back.
    """
    attempts = ctx.settings.weaviate_attempts
    stale = [
        obj.uuid
        for obj in iter_objects(
            ctx.client, ctx.collection, return_properties=["repo"], attempts=attempts
        )
        if obj.uuid not in keep and obj.properties.get("repo") == repo
    ]
    if stale:
        delete_ids(ctx.client, ctx.collection, stale, attempts=attempts)
    resolved = set(stale) & ctx.dead_letter_uuids
    if resolved:
        resolve_dead_letters(ctx.settings, ctx.collection, resolved)
        ctx.dead_letter_uuids -= resolved
    return len(stale)


__all__ = [
    "ChangeSetResult",
    "IngestProgress",
    "IngestReport",
    "apply_pending",
    "collection_lock",
    "registered_spec",
]
