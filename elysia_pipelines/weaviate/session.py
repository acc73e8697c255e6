"""What a sync's steps talk to Weaviate with: REST for its calls, the client only if needed.

A sync (`repo sync`, the first sync of `repo add`, a sensor's run) checks the
collection, counts it, writes and deletes documents and reads back a sample. Over
weaviate-client that meant importing it (0.6-1.0 CPU-s, a third of a 10-file sync in
its own process) and opening a gRPC channel; over REST (`rest_session.RestSession`:
one keep-alive connection, orjson) none of that. The objects stored are the same
either way: the same properties, UUIDs and dates go through the same batching and
per-object retry (`writes.upsert_with`); `test_ingest_backends` compares them.

The functions below take either a `WeaviateSession` or a weaviate-client client, so
ingestion (`ingest.apply`) and its checks run on both; callers that hold a client (the
CLI's own commands, tests) keep using it. A session connects the client only for
what REST does not do here (creating a collection, scanning a collection by property
for a full snapshot's cleanup), and to report an unreachable server with the same
error a client connection gives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate.description import TEXT_TYPES, description_from_schema
from elysia_pipelines.weaviate.messages import WeaviateUnavailableError
from elysia_pipelines.weaviate.rest_session import RestSession, _converters, _stored
from elysia_pipelines.weaviate.spec import (
    CollectionSpec,
    ProvisionResult,
    SchemaMismatchError,
    compare_schema,
)
from elysia_pipelines.weaviate.stored import StoredObject
from elysia_pipelines.weaviate.target import WeaviateTarget
from elysia_pipelines.weaviate.writes import ObjectToWrite, UpsertResult, _uuid_str, upsert_with

if TYPE_CHECKING:
    import weaviate

log = logging.getLogger(__name__)

RANGE_TYPES = frozenset({"int", "number", "date"})
DELETE_CHUNK = 500  # as objects.DELETE_CHUNK: below Weaviate's QUERY_MAXIMUM_RESULTS


class WeaviateSession:
    """REST calls to one target, and a weaviate-client connection opened on first need."""

    def __init__(self, target: WeaviateTarget) -> None:
        self.target = target
        self.rest = RestSession(target)
        self._client: weaviate.WeaviateClient | None = None
        if target.mode == "embedded":
            self.client  # noqa: B018 - connecting starts (or finds) the embedded server

    def __enter__(self) -> WeaviateSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.rest.close()
        client, self._client = self._client, None
        if client is not None:
            client.close()

    @property
    def client(self) -> weaviate.WeaviateClient:
        if self._client is None:
            from elysia_pipelines.weaviate.connection import connect

            self._client = connect(self.target)
        return self._client

    def _reachable(self, exc: WeaviateUnavailableError) -> None:
        """Raise what a client connection says about this server (same text as before)
        when it cannot connect either; otherwise leave `exc` to the caller."""
        if "Cannot reach Weaviate" in exc.message:
            self.client  # noqa: B018 - raises the connection's own ElysiaError


def _rest(conn: Any) -> RestSession | None:
    return conn.rest if isinstance(conn, WeaviateSession) else None


def _guarded(conn: WeaviateSession, call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except WeaviateUnavailableError as exc:
        conn._reachable(exc)
        raise


def collection_exists(conn: Any, collection: str) -> bool:
    if isinstance(conn, WeaviateSession):
        return bool(_guarded(conn, conn.rest.collection_exists, collection))
    from elysia_pipelines.weaviate.schema import collection_exists as by_client

    return by_client(conn, collection)


def count(conn: Any, collection: str, *, attempts: int = 5) -> int:
    if isinstance(conn, WeaviateSession):
        return int(_guarded(conn, conn.rest.count, collection))
    from elysia_pipelines.weaviate.objects import count as by_client

    return by_client(conn, collection, attempts=attempts)


def count_or_zero(conn: Any, collection: str) -> int:
    """Objects in the collection, 0 when it does not exist (yet, or any more)."""
    return count(conn, collection) if collection_exists(conn, collection) else 0


def ensure_collection(conn: Any, spec: CollectionSpec) -> ProvisionResult:
    """`schema.ensure_collection`: created if missing, else it must match the spec.

    Over REST for a session when the spec is one `rest_class` can write (what `repo
    add` creates by default); anything else is created by the client, as before.
    """
    if isinstance(conn, WeaviateSession):
        created = False
        if not collection_exists(conn, spec.name):
            body = rest_class(spec)
            if body is None:
                from elysia_pipelines.weaviate.schema import ensure_collection as by_client

                return by_client(conn.client, spec)
            created = _create(conn, spec.name, body)
        raw = _guarded(conn, conn.rest.schema, spec.name)
        differences = compare_schema(description_from_schema(raw), spec)
        if differences:
            raise SchemaMismatchError(spec.name, differences)
        if created:
            log.info("created collection %s", spec.name)
        return ProvisionResult(created=created)
    from elysia_pipelines.weaviate.schema import ensure_collection as by_client

    return by_client(conn, spec)


def rest_class(spec: CollectionSpec) -> dict[str, Any] | None:
    """The class definition weaviate-client's `collections.create` sends for `spec`, or
    None when the spec needs more than this writes (a vectorizer module, a named vector,
    an index type or distance, tenants): those are created by the client.

    `test_ingest_backends` compares it with the client's own request body.
    """
    if (
        spec.vectorizer != "none"
        or spec.vector_name is not None
        or spec.vector_index_type is not None
        or spec.distance is not None
        or spec.multi_tenancy
    ):
        return None
    properties = []
    for prop in spec.properties:
        entry: dict[str, Any] = {"name": prop.name, "dataType": [prop.data_type]}
        if prop.description:
            entry["description"] = prop.description
        entry["indexFilterable"] = prop.filterable
        if prop.data_type in TEXT_TYPES:
            entry["indexSearchable"] = prop.searchable
        if prop.data_type in RANGE_TYPES:
            entry["indexRangeFilters"] = prop.range_filters
        tokenization = spec.tokenization_of(prop)
        if tokenization:
            entry["tokenization"] = tokenization
        properties.append(entry)
    body: dict[str, Any] = {
        "replicationConfig": {"factor": spec.replication_factor},
        "vectorizer": "none",
        "vectorIndexType": "hnsw",
        "class": spec.name,
        "properties": properties,
    }
    if spec.description is not None:
        body["description"] = spec.description
    return body


def _create(conn: WeaviateSession, name: str, body: dict[str, Any]) -> bool:
    """POST the class; False when it already existed (created concurrently)."""
    try:
        _guarded(conn, conn.rest.call, "POST", "/v1/schema", body, what="create", collection=name)
    except WeaviateUnavailableError:
        raise
    except ElysiaError as exc:
        if "already exists" in exc.message.lower():
            log.info("collection %s was created concurrently", name)
            return False
        raise ElysiaError(
            f"Weaviate refused to create collection {name!r}: {exc.message}",
            "see the server's message above; the collection definition may be invalid "
            "for this server (e.g. a vectorizer module that is not enabled)",
        ) from exc
    return True


def node_count(conn: Any) -> int:
    """Nodes in the cluster; 1 for an old server or a proxy without `/v1/nodes`."""
    if not isinstance(conn, WeaviateSession):
        from elysia_pipelines.weaviate.connection import node_count as by_client

        return by_client(conn)
    try:
        _, answer = conn.rest.call("GET", "/v1/nodes", what="list nodes", collection="-")
    except Exception:
        return 1
    nodes = (answer or {}).get("nodes")
    return len(nodes) if isinstance(nodes, list) and nodes else 1


def upsert(
    conn: Any,
    collection: str,
    objects: Iterable[ObjectToWrite],
    *,
    max_batch_objects: int = 200,
    max_batch_bytes: int = 8 * 1000**2,
    attempts: int = 5,
) -> UpsertResult:
    if isinstance(conn, WeaviateSession):
        insert = conn.rest.insert
        return _guarded(
            conn,
            upsert_with,
            lambda objs: insert(collection, objs),
            collection,
            objects,
            max_batch_objects=max_batch_objects,
            max_batch_bytes=max_batch_bytes,
        )
    from elysia_pipelines.weaviate.objects import upsert as by_client

    return by_client(
        conn,
        collection,
        objects,
        max_batch_objects=max_batch_objects,
        max_batch_bytes=max_batch_bytes,
        attempts=attempts,
    )


def delete_ids(conn: Any, collection: str, uuids: Iterable[Any], *, attempts: int = 5) -> int:
    """Delete these objects (absent ones are ignored); how many were deleted."""
    if not isinstance(conn, WeaviateSession):
        from elysia_pipelines.weaviate.objects import delete_ids as by_client

        return by_client(conn, collection, uuids, attempts=attempts)
    wanted = list(dict.fromkeys(_uuid_str(u) for u in uuids))
    deleted = 0
    for start in range(0, len(wanted), DELETE_CHUNK):
        chunk = wanted[start : start + DELETE_CHUNK]
        body = {
            "match": {
                "class": collection,
                "where": {"path": ["id"], "operator": "ContainsAny", "valueTextArray": chunk},
            },
            "output": "minimal",
        }
        _, answer = _guarded(
            conn,
            conn.rest.call,
            "DELETE",
            "/v1/batch/objects",
            body,
            what="delete objects",
            collection=collection,
        )
        results = (answer or {}).get("results") or {}
        deleted += int(results.get("successful") or 0)
        failed = int(results.get("failed") or 0)
        if failed:
            raise ElysiaError(
                f"Weaviate failed to delete {failed} of {len(chunk)} objects in {collection!r}",
                "check the server's logs; running the deletion again is safe",
            )
    return deleted


def iter_objects(
    conn: Any,
    collection: str,
    *,
    page_size: int = 500,
    return_properties: Sequence[str] | None = None,
    start_after: str | None = None,
    attempts: int = 5,
) -> Iterator[StoredObject]:
    """Objects in uuid order after `start_after`, with (at least) `return_properties`.

    A session reads small pages (a sample) over REST, which returns whole objects;
    a scan of a large collection for a few properties goes through the client, which
    asks for just those.
    """
    if isinstance(conn, WeaviateSession) and page_size <= 100:
        return _rest_objects(conn, collection, page_size, start_after)
    from elysia_pipelines.weaviate.objects import iter_objects as by_client

    client = conn.client if isinstance(conn, WeaviateSession) else conn
    return by_client(
        client,
        collection,
        page_size=page_size,
        return_properties=return_properties,
        start_after=start_after,
        attempts=attempts,
    )


def _rest_objects(
    conn: WeaviateSession, collection: str, page_size: int, start_after: str | None
) -> Iterator[StoredObject]:
    convert = _converters(description_from_schema(_guarded(conn, conn.rest.schema, collection)))
    after = start_after
    while True:
        path = f"/v1/objects?class={quote(collection)}&limit={page_size}"
        _, answer = _guarded(
            conn,
            conn.rest.call,
            "GET",
            path + (f"&after={after}" if after else ""),
            what="read objects",
            collection=collection,
        )
        page = (answer or {}).get("objects") or []
        yield from (_stored(raw, convert, False, False) for raw in page)
        if len(page) < page_size:
            return
        after = page[-1]["id"]
