"""Counting, streaming, fetching, upserting and deleting objects, robust to outages.

Ingestion, backup and restore move whole collections, so each helper is built for
volume and for flaky networks: reads page with a cursor (memory bounded by one
page), writes go in batches capped by count *and* bytes (gRPC rejects oversized
messages), every call is retried on transient errors, and per-object errors that
the server reports inside a successful batch are read and returned, never dropped.

Writes are upserts: objects carry deterministic UUIDs (documents.document_uuid), and
a batch insert with an existing UUID replaces the object, so re-running a batch
after a timeout cannot create duplicates.
"""

from __future__ import annotations

import logging
import uuid as uuid_lib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import WeaviateInsertManyAllFailedError

from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.weaviate.retry import (
    WeaviateUnavailableError,
    is_transient,
    short_error,
    transient_retry,
)
from elysia_pipelines.weaviate.schema import collection_exists, uses_named_vectors
from elysia_pipelines.weaviate.stored import StoredObject, Vector
from elysia_pipelines.weaviate.writes import (  # re-exported: callers import them from here
    DATE_PROPERTIES as DATE_PROPERTIES,
)
from elysia_pipelines.weaviate.writes import ObjectFailure as ObjectFailure
from elysia_pipelines.weaviate.writes import ObjectToWrite as ObjectToWrite
from elysia_pipelines.weaviate.writes import UpsertResult as UpsertResult
from elysia_pipelines.weaviate.writes import _uuid_str, upsert_with
from elysia_pipelines.weaviate.writes import estimate_bytes as estimate_bytes
from elysia_pipelines.weaviate.writes import normalize_properties as normalize_properties
from elysia_pipelines.weaviate.writes import split_batches as split_batches

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

ID_CHUNK = 200  # ids per ContainsAny filter: small requests, few round trips
DELETE_CHUNK = 500  # below Weaviate's default QUERY_MAXIMUM_RESULTS (10000)
_ALL_FAILED_PREFIX = "Here is the set of all errors:"
# No single call keeps retrying beyond this: an outage becomes an error a run can report.
CALL_DEADLINE_S = 180.0


# --------------------------------------------------------------------------- shared


def _unavailable(what: str, collection: str, exc: BaseException, written: int = 0) -> ElysiaError:
    if is_transient(exc):
        return WeaviateUnavailableError(
            f"Weaviate kept failing to {what} in {collection!r}: {short_error(exc)}",
            "the server is down or overloaded; check it (WEAVIATE_URL) and run again; "
            "writes are idempotent, so re-running is safe",
            written=written,
        )
    return ElysiaError(
        f"Weaviate refused to {what} in {collection!r}: {short_error(exc)}",
        "check the collection exists and the request matches its schema",
    )


def _call(
    client: weaviate.WeaviateClient,
    what: str,
    collection: str,
    attempts: int,
    max_wait_s: float,
    fn: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Run one idempotent client call under the transient-retry policy."""
    try:
        for attempt in transient_retry(
            attempts, max_wait_s, deadline_s=CALL_DEADLINE_S, what=f"{what} in {collection}"
        ):
            with attempt:
                return fn(*args, **kwargs)
    except ElysiaError:
        raise
    except Exception as exc:
        if not is_transient(exc) and not collection_exists(client, collection):
            raise _not_found(collection) from exc
        raise _unavailable(what, collection, exc) from exc
    raise AssertionError("unreachable")


def _not_found(collection: str) -> NotFoundError:
    return NotFoundError(
        f"collection {collection!r} does not exist in Weaviate",
        "check the name (class names start with a capital letter) or create it first",
    )


def _handle(client: weaviate.WeaviateClient, collection: str, tenant: str | None) -> Any:
    """The collection handle, scoped to `tenant` on a multi-tenant collection."""
    coll = client.collections.get(collection)
    return coll.with_tenant(tenant) if tenant else coll


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _vector_out(raw: Mapping[str, Any] | None, named: bool) -> Vector | None:
    if not raw:
        return None
    if not named and set(raw) == {"default"}:
        return [float(x) for x in raw["default"]]
    return {name: [float(x) for x in vec] for name, vec in raw.items()}


def _stored(obj: Any, named: bool) -> StoredObject:
    return StoredObject(
        uuid=str(obj.uuid),
        properties=dict(obj.properties or {}),
        vector=_vector_out(obj.vector, named),
    )


# --------------------------------------------------------------------------- reading


def count(
    client: weaviate.WeaviateClient,
    collection: str,
    filters: _Filters | None = None,
    *,
    attempts: int = 5,
    max_wait_s: float = 10.0,
    tenant: str | None = None,
) -> int:
    """Objects in the collection (or its `tenant`) matching `filters`, via one aggregate call."""
    coll = _handle(client, collection, tenant)
    result = _call(
        client,
        "count objects",
        collection,
        attempts,
        max_wait_s,
        coll.aggregate.over_all,
        total_count=True,
        filters=filters,
    )
    return int(result.total_count or 0)


def count_or_zero(client: weaviate.WeaviateClient, collection: str) -> int:
    """Objects in the collection, 0 when it does not exist (yet, or any more)."""
    return count(client, collection) if collection_exists(client, collection) else 0


def iter_objects(
    client: weaviate.WeaviateClient,
    collection: str,
    *,
    include_vector: bool = False,
    page_size: int = 500,
    return_properties: Sequence[str] | None = None,
    start_after: str | None = None,
    attempts: int = 5,
    max_wait_s: float = 10.0,
    tenant: str | None = None,
) -> Iterator[StoredObject]:
    """Every object (after `start_after`, if given), in uuid order, one page in memory
    at a time.

    Pages follow the server's cursor (`after` = last uuid seen), so a page that
    fails transiently is simply asked for again without restarting the scan.
    """
    if page_size < 1:
        raise ElysiaError(f"page_size must be positive, got {page_size}")
    coll = _handle(client, collection, tenant)
    named = include_vector and uses_named_vectors(client, collection)
    props = list(return_properties) if return_properties is not None else None
    after = start_after
    while True:
        page = _call(
            client,
            "read objects",
            collection,
            attempts,
            max_wait_s,
            coll.query.fetch_objects,
            limit=page_size,
            after=after,
            include_vector=include_vector,
            return_properties=props,
        )
        for obj in page.objects:
            yield _stored(obj, named)
        if len(page.objects) < page_size:
            return
        after = str(page.objects[-1].uuid)


def fetch_by_ids(
    client: weaviate.WeaviateClient,
    collection: str,
    uuids: Iterable[str | uuid_lib.UUID],
    *,
    include_vector: bool = False,
    return_properties: Sequence[str] | None = None,
    named_vectors: bool | None = None,
    attempts: int = 5,
    max_wait_s: float = 10.0,
    tenant: str | None = None,
) -> dict[str, StoredObject]:
    """The objects that exist among `uuids` (missing ones are absent from the dict).

    `return_properties=None` returns every property, `[]` none (an existence check).
    `named_vectors=False` skips the schema lookup that tells a single vector from a
    named one called "default", for callers that read many batches of one collection.
    """
    wanted = list(dict.fromkeys(_uuid_str(u) for u in uuids))
    if not wanted:
        return {}
    coll = _handle(client, collection, tenant)
    if named_vectors is None:
        named_vectors = include_vector and uses_named_vectors(client, collection)
    named = named_vectors
    props = list(return_properties) if return_properties is not None else None
    found: dict[str, StoredObject] = {}
    for chunk in _chunks(wanted, ID_CHUNK):
        result = _call(
            client,
            "fetch objects by id",
            collection,
            attempts,
            max_wait_s,
            coll.query.fetch_objects,
            filters=Filter.by_id().contains_any(list(chunk)),
            limit=len(chunk),
            include_vector=include_vector,
            return_properties=props,
        )
        for obj in result.objects:
            stored = _stored(obj, named)
            found[stored.uuid] = stored
    return found


# --------------------------------------------------------------------------- writing


def _vector_in(vector: Any) -> Any:
    if vector is None:
        return None
    if isinstance(vector, Mapping):
        return {name: [float(x) for x in vec] for name, vec in vector.items()}
    return [float(x) for x in vector]


def _all_failed_messages(exc: WeaviateInsertManyAllFailedError) -> list[str]:
    text = str(exc)
    if _ALL_FAILED_PREFIX in text:
        text = text.split(_ALL_FAILED_PREFIX, 1)[1]
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


class _Writer:
    """One upsert call's state: the collection handle, limits and retry budget."""

    def __init__(
        self,
        client: weaviate.WeaviateClient,
        collection: str,
        attempts: int,
        max_wait_s: float,
        tenant: str | None = None,
    ) -> None:
        self.client = client
        self.collection = collection
        self.coll = _handle(client, collection, tenant)
        self.attempts = attempts
        self.max_wait_s = max_wait_s

    def insert(self, objs: Sequence[ObjectToWrite]) -> dict[int, str]:
        """Write `objs`; return {index: error} for those the server did not store.

        Whole-request transient failures are retried; a whole-request permanent
        failure (e.g. every object rejected, or a client-side validation error) is
        narrowed down by halving, so one bad object does not fail its neighbours.
        """
        data = [
            DataObject(
                properties=normalize_properties(o.properties),
                uuid=_uuid_str(o.uuid),
                vector=_vector_in(o.vector),
            )
            for o in objs
        ]
        try:
            for attempt in transient_retry(
                self.attempts,
                self.max_wait_s,
                deadline_s=CALL_DEADLINE_S,
                what=f"write {len(objs)} objects to {self.collection}",
            ):
                with attempt:
                    result = self.coll.data.insert_many(data)
        except WeaviateInsertManyAllFailedError as exc:
            if is_transient(exc):
                raise _unavailable("write objects", self.collection, exc) from exc
            messages = _all_failed_messages(exc)
            if len(objs) == 1 or len(set(messages)) == 1:
                message = messages[0] if messages else short_error(exc)
                return dict.fromkeys(range(len(objs)), message)
            return self._bisect(objs)
        except ElysiaError:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise _unavailable("write objects", self.collection, exc) from exc
            if not collection_exists(self.client, self.collection):
                raise _not_found(self.collection) from exc
            if len(objs) == 1:
                return {0: short_error(exc)}
            return self._bisect(objs)
        return {int(i): str(err.message) for i, err in result.errors.items()}

    def _bisect(self, objs: Sequence[ObjectToWrite]) -> dict[int, str]:
        mid = len(objs) // 2
        left = self.insert(objs[:mid])
        right = self.insert(objs[mid:])
        return {**left, **{mid + i: msg for i, msg in right.items()}}


def upsert(
    client: weaviate.WeaviateClient,
    collection: str,
    objects: Iterable[ObjectToWrite],
    *,
    max_batch_objects: int = 200,
    max_batch_bytes: int = 8 * 1000**2,
    attempts: int = 5,
    max_wait_s: float = 30.0,
    object_retries: int = 2,
    tenant: str | None = None,
) -> UpsertResult:
    """Insert-or-replace `objects` through weaviate-client; see `writes.upsert_with`.

    On a multi-tenant collection every object goes to `tenant`.
    """
    writer = _Writer(client, collection, attempts, max_wait_s, tenant)
    return upsert_with(
        writer.insert,
        collection,
        objects,
        max_batch_objects=max_batch_objects,
        max_batch_bytes=max_batch_bytes,
        max_wait_s=max_wait_s,
        object_retries=object_retries,
    )


# --------------------------------------------------------------------------- deleting


def _delete_many(
    client: weaviate.WeaviateClient,
    collection: str,
    where: _Filters,
    what: str,
    attempts: int,
    max_wait_s: float,
) -> Any:
    """One retried `delete_many`; objects it could not delete fail the call (a rerun is safe)."""
    delete_many = client.collections.get(collection).data.delete_many
    result = _call(client, "delete objects", collection, attempts, max_wait_s, delete_many, where=where)
    if result.failed:
        raise ElysiaError(
            f"Weaviate failed to delete {result.failed} {what} in {collection!r}",
            "check the server's logs; running the deletion again is safe",
        )
    return result


def delete_ids(
    client: weaviate.WeaviateClient,
    collection: str,
    uuids: Iterable[str | uuid_lib.UUID],
    *,
    attempts: int = 5,
    max_wait_s: float = 10.0,
) -> int:
    """Delete these objects (absent ones are ignored); returns how many were deleted.

    Deleting is idempotent, so a chunk is simply resent after a transient failure;
    objects deleted by an attempt whose reply was lost are then not counted.
    """
    wanted = list(dict.fromkeys(_uuid_str(u) for u in uuids))
    deleted = 0
    for chunk in _chunks(wanted, DELETE_CHUNK):
        where = Filter.by_id().contains_any(list(chunk))
        result = _delete_many(
            client, collection, where, f"of {len(chunk)} objects", attempts, max_wait_s
        )
        deleted += int(result.successful)
    return deleted


def delete_where(
    client: weaviate.WeaviateClient,
    collection: str,
    filters: _Filters,
    *,
    attempts: int = 5,
    max_wait_s: float = 10.0,
) -> int:
    """Delete every object matching `filters`; returns how many were deleted.

    A server deletes at most QUERY_MAXIMUM_RESULTS objects per request, so this
    repeats until nothing matches any more.
    """
    deleted = 0
    while True:
        result = _delete_many(client, collection, filters, "matching objects", attempts, max_wait_s)
        deleted += int(result.successful)
        if result.matches == 0 or result.successful == 0:
            return deleted
