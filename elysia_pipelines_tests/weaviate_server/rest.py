"""The REST half: meta/health, schema, objects, batch, nodes, backups and test controls.

Runs on the standard library's ThreadingHTTPServer speaking HTTP/1.1 with
Content-Length on every answer, because httpx (the client's transport) keeps
connections alive and would hang on an answer without a length.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
import socket
import struct
import threading
import time
import uuid as uuid_lib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import orjson

from elysia_pipelines_tests.weaviate_server import filters as flt
from elysia_pipelines_tests.weaviate_server.references import (
    BEACON_PREFIX,
    is_reference,
    rest_references,
)
from elysia_pipelines_tests.weaviate_server.schema import SchemaError
from elysia_pipelines_tests.weaviate_server.store import (
    DEFAULT_LIMIT,
    MAX_RESULTS,
    IncomingObject,
    StoredObject,
    StoreError,
    normalize_class_name,
    normalize_uuid,
)

if TYPE_CHECKING:
    from elysia_pipelines_tests.weaviate_server.server import WeaviateTestServer

Response = tuple[int, Any, dict[str, str]]
Route = tuple[str, re.Pattern[str], Callable[..., Response]]

_CLASS_COUNT = r"(\w+)\s*\{\s*meta\s*\{\s*count\s*\}\s*\}"
# One or more classes in one query, as Weaviate allows: `{ Aggregate { A {...} B {...} } }`.
_AGGREGATE_COUNT = re.compile(r"\{\s*Aggregate\s*\{\s*((?:" + _CLASS_COUNT + r"\s*)+)\}\s*\}")
_CLASS_COUNT_RE = re.compile(_CLASS_COUNT)


def classify(method: str, path: str) -> str | None:
    """The fault-injection operation kind of a REST request (None: never faulted)."""
    if path.startswith("/__test__"):
        return None
    if path.startswith("/v1/schema"):
        return "schema"
    if path.startswith("/v1/batch"):
        return "delete" if method == "DELETE" else "batch"
    if path.startswith("/v1/objects"):
        if method in ("GET", "HEAD"):
            return "search"
        return "delete" if method == "DELETE" else "objects"
    if path.startswith("/v1/backups"):
        return "backup"
    if path.startswith("/v1/graphql"):
        return "search"
    return "meta"


def _ok(payload: Any = None, status: int = 200) -> Response:
    return status, payload, {}


def _vector_bytes(values: Any) -> bytes:
    if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
        raise SchemaError("vector must be a list of numbers")
    return struct.pack(f"<{len(values)}f", *values)


def object_json(
    class_name: str,
    obj: StoredObject,
    *,
    include_vector: bool,
    named: bool = False,
    references: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Weaviate's REST object; `named` collections answer `vectors`, legacy ones `vector`.

    Reference properties (`references`) answer each beacon with its `href`.
    """
    properties = obj.properties
    if references & properties.keys():
        properties = {
            k: rest_references(v) if k in references else v for k, v in properties.items()
        }
    out: dict[str, Any] = {
        "class": class_name,
        "id": obj.uuid,
        "properties": properties,
        "creationTimeUnix": obj.created_ms,
        "lastUpdateTimeUnix": obj.updated_ms,
    }
    if obj.tenant:
        out["tenant"] = obj.tenant
    if include_vector and obj.vectors:
        decoded = {
            name: list(struct.unpack(f"<{len(data) // 4}f", data))
            for name, data in obj.vectors.items()
        }
        if not named and set(decoded) == {"default"}:
            out["vector"] = decoded["default"]
        else:
            out["vectors"] = decoded
    return out


def _incoming(
    body: dict[str, Any], class_name: str | None = None, uid: str | None = None
) -> IncomingObject:
    if not isinstance(body, dict):
        raise SchemaError("object must be a JSON object")
    name = class_name or body.get("class")
    if not name:
        raise SchemaError("object has no 'class'")
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise SchemaError("'properties' must be an object")
    vectors: dict[str, bytes] = {}
    if body.get("vector"):
        vectors[""] = _vector_bytes(body["vector"])
    for vname, values in (body.get("vectors") or {}).items():
        vectors[vname] = _vector_bytes(values)
    return IncomingObject(
        class_name=str(name),
        uuid=uid or body.get("id"),
        properties=properties,
        vectors=vectors,
        tenant=body.get("tenant") or "",
    )


class RestApi:
    """Routes REST requests to the store; every method returns (status, json, headers)."""

    def __init__(self, server: WeaviateTestServer) -> None:
        self.server = server
        u = r"(?P<uid>[0-9a-fA-F-]{32,36})"
        c = r"(?P<cls>[^/]+)"
        b = r"(?P<backend>[^/]+)"
        i = r"(?P<bid>[^/]+)"
        r = r"(?P<prop>[^/]+)"
        t = r"(?P<tenant>[^/]+)"
        raw: list[tuple[str, str, Callable[..., Response]]] = [
            ("GET", r"/v1/meta", self.meta),
            ("GET", r"/v1/\.well-known/ready", lambda **_: _ok(None)),
            ("GET", r"/v1/\.well-known/live", lambda **_: _ok(None)),
            ("GET", r"/v1/\.well-known/openid-configuration", self.openid),
            ("GET", r"/v1/nodes(?:/(?P<cls>[^/]+))?", self.nodes),
            ("GET", r"/v1/schema", self.schema_list),
            ("POST", r"/v1/schema", self.schema_create),
            ("GET", rf"/v1/schema/{c}", self.schema_get),
            ("PUT", rf"/v1/schema/{c}", self.schema_update),
            ("DELETE", rf"/v1/schema/{c}", self.schema_delete),
            ("POST", rf"/v1/schema/{c}/properties", self.schema_add_property),
            ("GET", rf"/v1/schema/{c}/shards", self.schema_shards),
            ("PUT", rf"/v1/schema/{c}/shards/(?P<shard>[^/]+)", self.schema_shard_update),
            ("GET", rf"/v1/schema/{c}/tenants", self.tenants_list),
            ("POST", rf"/v1/schema/{c}/tenants", self.tenants_add),
            ("PUT", rf"/v1/schema/{c}/tenants", self.tenants_update),
            ("DELETE", rf"/v1/schema/{c}/tenants", self.tenants_delete),
            ("GET", rf"/v1/schema/{c}/tenants/{t}", self.tenant_get),
            ("HEAD", rf"/v1/schema/{c}/tenants/{t}", self.tenant_head),
            ("GET", r"/v1/objects", self.objects_list),
            ("POST", r"/v1/objects", self.object_create),
            ("GET", rf"/v1/objects/{c}/{u}", self.object_get),
            ("HEAD", rf"/v1/objects/{c}/{u}", self.object_head),
            ("PUT", rf"/v1/objects/{c}/{u}", self.object_replace),
            ("PATCH", rf"/v1/objects/{c}/{u}", self.object_merge),
            ("DELETE", rf"/v1/objects/{c}/{u}", self.object_delete),
            ("GET", rf"/v1/objects/{u}", self.object_get),
            ("HEAD", rf"/v1/objects/{u}", self.object_head),
            ("PUT", rf"/v1/objects/{u}", self.object_replace),
            ("PATCH", rf"/v1/objects/{u}", self.object_merge),
            ("DELETE", rf"/v1/objects/{u}", self.object_delete),
            ("POST", rf"/v1/objects/{c}/{u}/references/{r}", self.reference_add),
            ("PUT", rf"/v1/objects/{c}/{u}/references/{r}", self.reference_replace),
            ("DELETE", rf"/v1/objects/{c}/{u}/references/{r}", self.reference_delete),
            ("POST", r"/v1/batch/objects", self.batch_objects),
            ("POST", r"/v1/batch/references", self.batch_references),
            ("POST", r"/v1/graphql", self.graphql),
            ("DELETE", r"/v1/batch/objects", self.batch_delete),
            ("POST", rf"/v1/backups/{b}", self.backup_create),
            ("GET", rf"/v1/backups/{b}", self.backup_list),
            ("GET", rf"/v1/backups/{b}/{i}", self.backup_status),
            ("POST", rf"/v1/backups/{b}/{i}/restore", self.backup_restore),
            ("GET", rf"/v1/backups/{b}/{i}/restore", self.backup_restore_status),
            ("GET", r"/__test__/faults", self.control_faults_get),
            ("POST", r"/__test__/faults", self.control_faults_set),
            ("DELETE", r"/__test__/faults", self.control_faults_clear),
            ("POST", r"/__test__/reset", self.control_reset),
            ("POST", r"/__test__/restart", self.control_restart),
            ("POST", r"/__test__/config", self.control_config),
            ("GET", r"/__test__/stats", self.control_stats),
        ]
        self.routes: list[Route] = [(m, re.compile(p + r"/?$"), f) for m, p, f in raw]

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Response:
        known_path = False
        for route_method, pattern, func in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            known_path = True
            if route_method != method:
                continue
            payload: Any = None
            if body:
                try:
                    payload = decode_json(body)
                except ValueError:
                    raise StoreError(400, "request body is not valid JSON") from None
            return func(query=query, body=payload, **match.groupdict())
        if known_path:
            raise StoreError(405, f"method {method} not allowed on {path}")
        raise StoreError(404, f"path {path} not found")

    @property
    def store(self) -> Any:
        return self.server.store

    # ------------------------------------------------------------ meta

    def meta(self, **_: Any) -> Response:
        return _ok(
            {
                "hostname": f"http://127.0.0.1:{self.server.http_port}",
                "version": self.server.version,
                "modules": self._modules(),
                "grpcMaxMessageSize": self.server.max_message_bytes,
            }
        )

    def _modules(self) -> dict[str, Any]:
        """As /v1/meta lists enabled modules: name -> module-specific metadata."""
        modules: dict[str, Any] = {name: {} for name in sorted(self.store.modules)}
        if self.server.backups.root is not None:
            modules["backup-filesystem"] = {"backupsPath": str(self.server.backups.root)}
        return modules

    def openid(self, **_: Any) -> Response:
        return 404, None, {}

    def nodes(self, query: dict[str, list[str]], cls: str | None = None, **_: Any) -> Response:
        """One entry per node; node i holds the shards of classes replicated more than i times."""
        verbose = query.get("output", ["minimal"])[0] == "verbose"
        wanted_shard = query.get("shardName", [""])[0]
        with self.store.lock:
            colls = [self.store.collection(cls)] if cls else list(self.store.collections.values())
            out = []
            for index in range(self.store.nodes):
                held = [
                    c
                    for c in colls
                    if index == 0
                    or (c.schema.get("replicationConfig") or {}).get("factor", 1) > index
                ]
                node: dict[str, Any] = {
                    "name": f"weaviate-test-{index}",
                    "status": "HEALTHY",
                    "version": self.server.version,
                    "gitHash": "testserver",
                    "batchStats": {"queueLength": 0, "ratePerSecond": 0},
                    "stats": {
                        "objectCount": sum(c.object_total() for c in held),
                        "shardCount": sum(len(c.shards()) for c in held),
                    },
                }
                if verbose:
                    node["shards"] = [
                        {
                            "name": c.shard_name(tenant),
                            "class": c.name,
                            "objectCount": len(shard.objects),
                            "vectorIndexingStatus": "READY",
                            "vectorQueueLength": 0,
                            "compressed": False,
                            "loaded": True,
                        }
                        for c in held
                        for tenant, shard in c.shards()
                        if not wanted_shard or c.shard_name(tenant) == wanted_shard
                    ]
                out.append(node)
        return _ok({"nodes": out})

    # ------------------------------------------------------------ schema

    def schema_list(self, **_: Any) -> Response:
        return _ok({"classes": self.store.list_classes()})

    def schema_create(self, body: Any, **_: Any) -> Response:
        if not isinstance(body, dict):
            raise StoreError(422, "class definition must be a JSON object")
        return _ok(self.store.create_class(body))

    def schema_get(self, cls: str, **_: Any) -> Response:
        schema = self.store.get_class(cls)
        if schema is None:
            return 404, None, {}
        return _ok(schema)

    def schema_update(self, cls: str, body: Any, **_: Any) -> Response:
        return _ok(self.store.update_class(cls, body or {}))

    def schema_delete(self, cls: str, **_: Any) -> Response:
        self.store.delete_class(cls)
        return _ok(None)

    def schema_add_property(self, cls: str, body: Any, **_: Any) -> Response:
        return _ok(self.store.add_property(cls, body or {}))

    def schema_shards(self, cls: str, query: dict[str, list[str]], **_: Any) -> Response:
        """One shard per tenant (named after it), else the class's single shard."""
        with self.store.lock:
            coll = self.store.collection(cls)
            wanted = query.get("tenant", [""])[0]
            shards = [
                {
                    "name": coll.shard_name(tenant),
                    "status": shard.status
                    if not tenant or coll.tenants[tenant].status == "ACTIVE"
                    else "INACTIVE",
                    "vectorQueueSize": 0,
                }
                for tenant, shard in coll.shards()
                if not wanted or tenant == wanted
            ]
        return _ok(shards)

    def schema_shard_update(self, cls: str, shard: str, body: Any, **_: Any) -> Response:
        status = self.store.update_shard_status(cls, shard, (body or {}).get("status"))
        return _ok({"status": status})

    def tenants_list(self, cls: str, **_: Any) -> Response:
        return _ok(self.store.list_tenants(cls))

    def tenants_add(self, cls: str, body: Any, **_: Any) -> Response:
        return _ok(self.store.add_tenants(cls, body))

    def tenants_update(self, cls: str, body: Any, **_: Any) -> Response:
        return _ok(self.store.update_tenants(cls, body))

    def tenants_delete(self, cls: str, body: Any, **_: Any) -> Response:
        self.store.delete_tenants(cls, body)
        return _ok(None)

    def tenant_get(self, cls: str, tenant: str, **_: Any) -> Response:
        found = self.store.get_tenant(cls, tenant)
        return (404, None, {}) if found is None else _ok(found)

    def tenant_head(self, cls: str, tenant: str, **_: Any) -> Response:
        return (404 if self.store.get_tenant(cls, tenant) is None else 200), None, {}

    # ------------------------------------------------------------ objects

    def _include_vector(self, query: dict[str, list[str]]) -> bool:
        return "vector" in ",".join(query.get("include", []))

    def objects_list(self, query: dict[str, list[str]], **_: Any) -> Response:
        """GET /v1/objects as Weaviate 1.32 answers it (handlers_objects.go getObjects/query).

        `limit` defaults to QUERY_DEFAULTS_LIMIT (10); `offset + limit` above
        QUERY_MAXIMUM_RESULTS is refused (422 with `class`, 500 without); `totalResults`
        is the size of the returned page. With `class`, a cursor (`after`, even empty)
        needs `limit` and refuses `offset`. Without `class` every class is listed in
        turn, skipping those the tenant (or its absence) does not address.
        """
        include_vector = self._include_vector(query)
        offset = _int_param(query, "offset", 0)
        limit = _int_param(query, "limit", None)
        after = query["after"][0] if "after" in query else None
        cls = query.get("class", [""])[0]
        tenant = query.get("tenant", [""])[0]
        page_limit = DEFAULT_LIMIT if limit is None else limit
        exceeded = offset + page_limit > MAX_RESULTS
        if not cls:
            if exceeded:
                raise StoreError(500, "list objects: query maximum results exceeded")
            if after is not None:
                raise StoreError(
                    500,
                    "list objects: after parameter not allowed, cursor must be specific "
                    "to one class, set class query param",
                )
            rows = self._list_all(offset, page_limit, tenant, include_vector)
        else:
            if exceeded:
                raise StoreError(
                    422, "msg:offset or limit code:400 err:query maximum results exceeded"
                )
            rows = self._list_class(cls, offset, page_limit, limit, after, tenant, include_vector)
        return _ok({"objects": rows, "totalResults": len(rows), "deprecations": None})

    def _list_class(
        self,
        cls: str,
        offset: int,
        page_limit: int,
        limit: int | None,
        after: str | None,
        tenant: str,
        include_vector: bool,
    ) -> list[dict[str, Any]]:
        """DB.Query (adapters/repos/db/search.go) for one class, uuid order."""
        if offset + page_limit == 0:
            return []  # answered before the class is even looked up, as Weaviate does
        name = normalize_class_name(cls)
        with self.store.lock:
            if name not in self.store.collections:
                raise StoreError(404, "")
            if after is not None:
                problem = _cursor_problem(after, offset, limit)
                if problem:
                    raise StoreError(
                        422, f"msg:cursor api: invalid 'after' parameter code:400 err:{problem}"
                    )
            try:
                coll = self.store.scoped(name, tenant)
            except StoreError as exc:
                raise StoreError(
                    exc.status, f"msg:search index {name.lower()} code:422 err:{exc.message}"
                ) from None
            ids = coll.sorted_ids()
            if after is not None:
                ids = ids[bisect.bisect_right(ids, normalize_uuid(after)) if after else 0 :]
                ids = ids[:page_limit]
            else:
                ids = ids[offset : offset + page_limit]
            return [self._json(name, coll.objects[uid], include_vector) for uid in ids]

    def _list_all(
        self, offset: int, page_limit: int, tenant: str, include_vector: bool
    ) -> list[dict[str, Any]]:
        """DB.objectSearch: every class in turn, until offset + limit objects are found."""
        wanted = offset + page_limit
        rows: list[dict[str, Any]] = []
        with self.store.lock:
            for name in sorted(self.store.collections):
                try:
                    coll = self.store.scoped(name, tenant)
                except StoreError as exc:
                    if "multi-tenancy" in exc.message or "tenant not found" in exc.message:
                        continue  # this class is not addressed by the (missing) tenant
                    raise StoreError(
                        500, f"list objects: search index {name.lower()}: {exc.message}"
                    ) from None
                for uid in coll.sorted_ids()[:wanted]:
                    rows.append(self._json(name, coll.objects[uid], include_vector))
                if len(rows) >= wanted:
                    break
        return rows[offset:wanted]

    def graphql(self, body: Any, **_: Any) -> Response:
        """Only `{ Aggregate { Class { meta { count } } ... } }`: the counts REST-only tools ask.

        Anything else answers a GraphQL error (status 200, as Weaviate does), so a
        caller relying on more than this fails loudly instead of reading nothing.
        """
        query = (body or {}).get("query", "") if isinstance(body, dict) else ""
        match = _AGGREGATE_COUNT.fullmatch(query.strip())
        if match is None:
            return _ok({"errors": [{"message": "test server: only Aggregate meta count"}]})
        names = _CLASS_COUNT_RE.findall(match.group(1))
        answer: dict[str, Any] = {}
        with self.store.lock:
            for name in names:
                coll = self.store.collections.get(normalize_class_name(name))
                if coll is None:
                    # A validation error: the whole query fails, as GraphQL does.
                    message = f'Cannot query field "{name}" on type "AggregateObjectsObj".'
                    return _ok({"errors": [{"message": message}]})
                answer[name] = [{"meta": {"count": coll.object_total()}}]
        return _ok({"data": {"Aggregate": answer}})

    def _json(self, class_name: str, obj: StoredObject, include_vector: bool) -> dict[str, Any]:
        coll = self.store.collections.get(class_name)
        named = bool(coll is not None and coll.schema.get("vectorConfig"))
        refs = frozenset(
            n for n, p in (coll.props if coll is not None else {}).items() if is_reference(p)
        )
        return object_json(
            class_name, obj, include_vector=include_vector, named=named, references=refs
        )

    def _locate(
        self, cls: str | None, uid: str, tenant: str = ""
    ) -> tuple[str, StoredObject] | None:
        if cls:
            obj = self.store.get(cls, uid, tenant)
            return (normalize_class_name(cls), obj) if obj else None
        return self.store.find(uid)

    def object_get(
        self, query: dict[str, list[str]], uid: str, cls: str | None = None, **_: Any
    ) -> Response:
        found = self._locate(cls, uid, _tenant(query))
        if found is None:
            return 404, None, {}
        return _ok(self._json(found[0], found[1], self._include_vector(query)))

    def object_head(
        self, query: dict[str, list[str]], uid: str, cls: str | None = None, **_: Any
    ) -> Response:
        return (204 if self._locate(cls, uid, _tenant(query)) else 404), None, {}

    def object_create(self, body: Any, **_: Any) -> Response:
        incoming = _incoming(body)
        with self.store.lock:
            coll = self.store.collections.get(normalize_class_name(incoming.class_name))
            if (
                incoming.uuid
                and coll is not None
                and normalize_uuid(incoming.uuid)
                in self.store.shard(coll, incoming.tenant, write=True).objects
            ):
                raise StoreError(422, f"id '{normalize_uuid(incoming.uuid)}' already exists")
            obj = self._put(incoming)
        return _ok(self._json(normalize_class_name(incoming.class_name), obj, True))

    def object_replace(
        self, body: Any, query: dict[str, list[str]], uid: str, cls: str | None = None, **_: Any
    ) -> Response:
        return self._update(body, query, uid, cls, merge=False)

    def object_merge(
        self, body: Any, query: dict[str, list[str]], uid: str, cls: str | None = None, **_: Any
    ) -> Response:
        return self._update(body, query, uid, cls, merge=True)

    def _update(
        self, body: Any, query: dict[str, list[str]], uid: str, cls: str | None, *, merge: bool
    ) -> Response:
        """PUT (replace, answers the object) and PATCH (merge, answers 204) of one object."""
        incoming_tenant = (body or {}).get("tenant") or _tenant(query)
        with self.store.lock:
            found = self._locate(cls or (body or {}).get("class"), uid, incoming_tenant)
            if found is None:
                return 404, None, {}
            incoming = _incoming(body or {}, found[0], uid)
            incoming.tenant = incoming_tenant
            obj = self._put(incoming, merge=merge)
        return (204, None, {}) if merge else _ok(self._json(found[0], obj, True))

    def object_delete(
        self, query: dict[str, list[str]], uid: str, cls: str | None = None, **_: Any
    ) -> Response:
        with self.store.lock:
            found = self._locate(cls, uid, _tenant(query))
            if found is None:
                return 404, None, {}
            self.store.delete(found[0], uid, _tenant(query))
        return 204, None, {}

    def _put(self, incoming: IncomingObject, *, merge: bool = False) -> StoredObject:
        try:
            return self.store.put(incoming, merge=merge)
        except SchemaError as exc:
            raise StoreError(422, str(exc)) from None

    # ------------------------------------------------------------ batch

    def batch_objects(self, body: Any, **_: Any) -> Response:
        objects = (body or {}).get("objects")
        if not isinstance(objects, list):
            raise StoreError(422, "batch body needs an 'objects' list")
        out = []
        with self.store.lock:
            for raw in objects:
                entry = dict(raw) if isinstance(raw, dict) else {"object": raw}
                try:
                    obj = self.store.put(_incoming(raw))
                    entry["id"] = obj.uuid
                    entry["creationTimeUnix"] = obj.created_ms
                    entry["lastUpdateTimeUnix"] = obj.updated_ms
                    entry["result"] = {"status": "SUCCESS"}
                except (SchemaError, StoreError) as exc:
                    entry["result"] = {
                        "status": "FAILED",
                        "errors": {"error": [{"message": str(exc)}]},
                    }
                out.append(entry)
        return _ok(out)

    def batch_references(self, body: Any, query: dict[str, list[str]], **_: Any) -> Response:
        """POST /v1/batch/references: `from` is `weaviate://localhost/<Class>/<uuid>/<prop>`."""
        if not isinstance(body, list) or not body:
            raise StoreError(
                422,
                "invalid params: length cannot be 0, need at least one reference for batching",
            )
        parsed: list[tuple[str, str, str, str, str]] = []
        bad: dict[int, str] = {}
        for index, entry in enumerate(body):
            entry = entry if isinstance(entry, dict) else {}
            source = str(entry.get("from") or "")
            parts = source.removeprefix(BEACON_PREFIX).split("/")
            if not source.startswith(BEACON_PREFIX) or len(parts) != 3:
                bad[index] = (
                    f"invalid from: path must be of format '<class>/<uuid>/<prop>', got '{source}'"
                )
                parsed.append(("", "", "", "", ""))
                continue
            tenant = str(entry.get("tenant") or query.get("tenant", [""])[0])
            parsed.append((parts[0], parts[1], parts[2], str(entry.get("to") or ""), tenant))
        usable = [i for i in range(len(parsed)) if i not in bad]
        errors = self.store.batch_references([parsed[i] for i in usable])
        for position, message in errors.items():
            bad[usable[position]] = message
        out = []
        for index, entry in enumerate(body):
            result: dict[str, Any] = {"status": "SUCCESS"}
            if index in bad:
                result = {"status": "FAILED", "errors": {"error": [{"message": bad[index]}]}}
            out.append({**(entry if isinstance(entry, dict) else {}), "result": result})
        return _ok(out)

    def _references(
        self, mode: str, cls: str, uid: str, prop: str, body: Any, query: dict[str, list[str]]
    ) -> None:
        beacons = body if mode == "replace" else [body]
        if not isinstance(beacons, list):
            raise StoreError(422, "msg:bad inputs code:400 err:references must be a list")
        tenant = query.get("tenant", [""])[0]
        self.store.change_references(cls, uid, prop, beacons, mode=mode, tenant=tenant)

    def reference_add(
        self, cls: str, uid: str, prop: str, body: Any, query: dict[str, list[str]], **_: Any
    ) -> Response:
        self._references("add", cls, uid, prop, body, query)
        return _ok(body)

    def reference_replace(
        self, cls: str, uid: str, prop: str, body: Any, query: dict[str, list[str]], **_: Any
    ) -> Response:
        self._references("replace", cls, uid, prop, body, query)
        return _ok(body)

    def reference_delete(
        self, cls: str, uid: str, prop: str, body: Any, query: dict[str, list[str]], **_: Any
    ) -> Response:
        self._references("delete", cls, uid, prop, body, query)
        return 204, None, {}

    def batch_delete(self, body: Any, **_: Any) -> Response:
        body = body or {}
        match = body.get("match") or {}
        cls = match.get("class")
        if not cls:
            raise StoreError(422, "batch delete needs match.class")
        where = match.get("where")
        if not where:
            raise StoreError(422, "batch delete needs match.where")
        try:
            condition = flt.from_rest(where)
        except SchemaError as exc:
            raise StoreError(422, str(exc)) from None
        dry_run = bool(body.get("dryRun", False))
        output = body.get("output") or "minimal"
        tenant = str(body.get("tenant") or "")
        matches, ids = self.store.delete_where(cls, condition, dry_run=dry_run, tenant=tenant)
        # handlers_batch_objects.go objectsDeleteResponse: dry-run objects count as
        # neither successful nor failed; only the handled (capped) ones are counted.
        results: dict[str, Any] = {
            "matches": matches,
            "limit": MAX_RESULTS,
            "successful": 0 if dry_run else len(ids),
            "failed": 0,
        }
        if output == "verbose":
            results["objects"] = [
                {"id": uid, "status": "DRYRUN" if dry_run else "SUCCESS"} for uid in ids
            ]
        return _ok({"match": match, "output": output, "dryRun": dry_run, "results": results})

    # ------------------------------------------------------------ backups

    def backup_create(self, backend: str, body: Any, **_: Any) -> Response:
        return _ok(self.server.backups.create(self.store, backend, body or {}))

    def backup_list(self, backend: str, **_: Any) -> Response:
        return _ok(self.server.backups.list(backend))

    def backup_status(self, backend: str, bid: str, **_: Any) -> Response:
        return _ok(self.server.backups.create_status(backend, bid))

    def backup_restore(self, backend: str, bid: str, body: Any, **_: Any) -> Response:
        return _ok(self.server.backups.restore(self.store, backend, bid, body or {}))

    def backup_restore_status(self, backend: str, bid: str, **_: Any) -> Response:
        return _ok(self.server.backups.restore_status(backend, bid))

    # ------------------------------------------------------------ test controls

    def control_faults_get(self, **_: Any) -> Response:
        return _ok(self.server.faults.describe())

    def control_faults_set(self, body: Any, **_: Any) -> Response:
        try:
            self.server.faults.configure(body or {})
        except (TypeError, ValueError) as exc:
            raise StoreError(422, f"bad fault spec: {exc}") from None
        return _ok(self.server.faults.describe())

    def control_faults_clear(self, **_: Any) -> Response:
        self.server.faults.clear()
        return _ok(self.server.faults.describe())

    def control_reset(self, **_: Any) -> Response:
        self.server.reset()
        return _ok({"reset": True})

    def control_restart(self, body: Any, **_: Any) -> Response:
        """Stop and start again after `down_s`, after this answer has gone out."""
        body = body or {}
        down_s = float(body.get("down_s", 0.0))
        keep_data = bool(body.get("keep_data", True))

        def bounce() -> None:
            time.sleep(0.05)  # let the answer reach the caller first
            self.server.outage(down_s, keep_data=keep_data).join()

        threading.Thread(target=bounce, name="weaviate-test-restart", daemon=True).start()
        return _ok({"restarting": True, "down_s": down_s, "keep_data": keep_data})

    def control_config(self, body: Any, **_: Any) -> Response:
        body = body or {}
        if "auto_schema" in body:
            self.store.auto_schema = bool(body["auto_schema"])
        if "modules" in body:
            self.store.modules = frozenset(str(m) for m in body["modules"] or ())
        if "nodes" in body:
            if not isinstance(body["nodes"], int) or body["nodes"] < 1:
                raise StoreError(422, "nodes must be a whole number of at least 1")
            self.store.nodes = body["nodes"]
        return _ok(
            {
                "auto_schema": self.store.auto_schema,
                "modules": sorted(self.store.modules),
                "nodes": self.store.nodes,
            }
        )

    def control_stats(self, **_: Any) -> Response:
        with self.store.lock:
            counts = {n: c.object_total() for n, c in self.store.collections.items()}
        return _ok({"collections": counts, "faults": self.server.faults.describe()})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "WeaviateTestServer"
    timeout = 120  # idle keep-alive connections end eventually
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        """Every method goes to `_dispatch`: `self.command` is the request's method."""
        self._dispatch(self.command)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        body = self._read_body()
        op = classify(method, parts.path)
        if op is not None:
            decision = app.faults.decide(op)
            if decision.latency_s:
                time.sleep(decision.latency_s)
            if decision.action == "drop":
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if decision.action == "error":
                self._send(
                    decision.status, _error("injected fault: service unavailable"), {}, method
                )
                return
            if decision.action == "weaviate":
                self._send_weaviate_error(method, parts.path, body, decision.message)
                return
            if decision.action == "throttle":
                self._send(
                    429,
                    _error("injected fault: too many requests"),
                    {"Retry-After": str(decision.retry_after_s)},
                    method,
                )
                return
        try:
            status, payload, headers = app.rest.handle(
                method, parts.path, parse_qs(parts.query, keep_blank_values=True), body
            )
        except StoreError as exc:
            payload = _error(exc.message) if exc.message else None
            status, headers = exc.status, {}
        except SchemaError as exc:
            status, payload, headers = 422, _error(str(exc)), {}
        except Exception as exc:  # an answer beats a hung client; the message says what broke
            status, payload, headers = 500, _error(f"{type(exc).__name__}: {exc}"), {}
        self._send(status, payload, headers, method)

    def _send_weaviate_error(self, method: str, path: str, body: bytes, message: str) -> None:
        """A batch fails object by object (200), anything else is a 500 with the message."""
        if method == "POST" and path.rstrip("/") == "/v1/batch/objects":
            with contextlib.suppress(ValueError, AttributeError):
                objects = json.loads(body or b"{}").get("objects") or []
                failed = {"status": "FAILED", "errors": {"error": [{"message": message}]}}
                self._send(200, [{**o, "result": failed} for o in objects], {}, method)
                return
        self._send(500, _error(message), {}, method)

    def _send(self, status: int, payload: Any, headers: dict[str, str], method: str) -> None:
        data = b"" if payload is None else encode_json(payload)
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "0" if method == "HEAD" else str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data and method != "HEAD":
            self.wfile.write(data)


def encode_json(payload: Any) -> bytes:
    """An answer's body: orjson, or the standard library for what orjson refuses.

    orjson is ~8x faster on text-heavy objects (a page of source files is mostly string
    escaping), which on a Python stand-in for a Go server is most of the cost of every
    object read and every batch echoed back. Its output is compact and UTF-8, as real
    Weaviate answers; integers beyond 64 bits and non-string keys take the old path.
    """
    try:
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(payload).encode("utf-8")


def decode_json(body: bytes) -> Any:
    """A request's body: orjson, or the standard library for what orjson refuses.

    The fallback keeps everything the server accepted before (NaN, UTF-16 bodies, lone
    surrogates); orjson reads an integer beyond 64 bits as a float, as Go's decoder does.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _int_param(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    """An int64 query parameter; anything else is go-swagger's 422."""
    if name not in query:
        return default
    raw = query[name][0]
    try:
        return int(raw)
    except ValueError:
        raise StoreError(422, f"{name} in query must be of type int64: {raw!r}") from None


def _cursor_problem(after: str, offset: int, limit: int | None) -> str:
    """filters.ValidateCursor: why `after` cannot be used here ("" when it can)."""
    if offset > 0:
        return "offset cannot be set with after and limit parameters"
    if after:
        try:
            uuid_lib.UUID(after)
        except ValueError:
            length = len(after)
            detail = (
                "invalid UUID format"
                if length in (32, 36, 38, 41, 45)
                else f"invalid UUID length: {length}"
            )
            return f"after parameter '{after}' is not a valid uuid: {detail}"
    if limit is None:
        return "limit parameter must be set"
    return ""


def _tenant(query: dict[str, list[str]]) -> str:
    return query.get("tenant", [""])[0]


def _error(message: str) -> dict[str, Any]:
    return {"error": [{"message": message}]}


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can cut keep-alive clients off like a crash."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: WeaviateTestServer) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is normal in fault tests; stay quiet.
        return

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
            self._open.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def make_http_server(host: str, port: int, app: WeaviateTestServer) -> _HTTPServer:
    return _HTTPServer((host, port), app)
