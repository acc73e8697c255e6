"""Reading a whole collection over Weaviate's REST API, without weaviate-client.

`elysiactl col backup` is one pass over a collection: schema, count, then every
object in cursor pages. weaviate-client costs ~0.6 CPU-seconds and ~80 MB just to
import, plus a gRPC channel and meta calls to connect - more than the reading itself
on a 7,000-object collection (benchmarks/backup_restore_cli.py). A `RestSession` is
one keep-alive `http.client` connection with orjson: the same target, key and headers
as `connection.open_client`, the same retry policy for outages (5xx, 429, dropped
connections; `WEAVIATE_RETRIES` attempts, backoff to 10 s, 180 s per call), and the
same objects as `objects.iter_objects` returns (values typed by the schema: dates as
aware datetimes, ints as int, numbers as float).

`iter_objects` fetches the next page on a second connection while the caller works
on the current one, so the server's encoding overlaps our writing.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from elysia_pipelines.errors import AuthError, ElysiaError, NotFoundError
from elysia_pipelines.weaviate.description import description_from_schema, with_dimensions
from elysia_pipelines.weaviate.messages import WeaviateUnavailableError, short_error
from elysia_pipelines.weaviate.stored import StoredObject, Vector
from elysia_pipelines.weaviate.target import WeaviateTarget
from elysia_pipelines.weaviate.writes import ObjectToWrite, _uuid_str, normalize_properties

log = logging.getLogger(__name__)

# Dates as RFC 3339 with an offset (Weaviate insists), numpy vectors as lists.
_ORJSON = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
CALL_DEADLINE_S = 180.0
MAX_WAIT_S = 10.0
# Pages ready ahead of the consumer (one more is in flight): memory stays ~3 pages.
PREFETCH_PAGES = 1
# Tenant activity as Weaviate 1.32 names it; HOT/COLD are the names before 1.26.
ACTIVE = "ACTIVE"
_STATUS_ALIASES = {"HOT": "ACTIVE", "COLD": "INACTIVE", "FROZEN": "OFFLOADED"}
_TENANTS_PER_CALL = 100
# Tenants tried for a vector sample when describing a multi-tenant class.
_SAMPLE_TENANTS = 5


class _Transient(Exception):
    """A failed call worth retrying (outage, overload), with what the server said."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable  # no connection at all (refused, unknown host)


class RestSession:
    """One REST connection to one Weaviate target; use as a context manager."""

    def __init__(self, target: WeaviateTarget) -> None:
        endpoint = target.http_endpoint
        self.target = target
        self._host, self._port, self._secure = endpoint.host, endpoint.port, endpoint.secure
        self._headers = target.rest_headers()
        self._attempts = max(1, target.retries + 1)
        # One keep-alive connection per thread: restore workers write in parallel.
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def __enter__(self) -> RestSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    @property
    def url(self) -> str:
        return f"{'https' if self._secure else 'http'}://{self._host}:{self._port}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.target.timeout_s)
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            with self._lock:
                if conn in self._all:
                    self._all.remove(conn)

    def _once(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=self._headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()  # a broken keep-alive connection is never reused
            unreachable = isinstance(exc, ConnectionRefusedError | socket.gaierror)
            raise _Transient(short_error(exc), unreachable=unreachable) from exc
        if response.status in TRANSIENT_STATUS:
            raise _Transient(f"status code: {response.status} {data[:200]!r}")
        return response.status, data

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        what: str,
        collection: str,
        parse: Callable[[bytes], Any] | None = None,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or None) under the retry policy; 404 is an answer.

        `parse` replaces `orjson.loads` for a successful answer (e.g. to skip one).
        """
        payload = None if body is None else orjson.dumps(body, option=_ORJSON)
        deadline = time.monotonic() + CALL_DEADLINE_S
        for attempt in range(1, self._attempts + 1):
            try:
                status, data = self._once(method, path, payload)
                break
            except _Transient as exc:
                wait = min(MAX_WAIT_S, 0.1 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
                if attempt == self._attempts or time.monotonic() + wait > deadline:
                    if exc.unreachable:
                        raise WeaviateUnavailableError(
                            f"Cannot reach Weaviate at {self.url} after {attempt} "
                            f"attempt(s): {exc}",
                            f"is the Weaviate server running? Check {self.target.url_setting} "
                            "(the host name, the port) and that no firewall blocks its HTTP port",
                        ) from exc
                    raise _unavailable(self.target.shown_url, what, collection, str(exc)) from exc
                log.warning("%s in %s failed (%s); retrying in %.1f s", what, collection, exc, wait)
                time.sleep(wait)
        if status in (401, 403):
            raise AuthError(
                f"Weaviate refused the request ({status}) at {self.target.shown_url}",
                f"check the API key in ${self.target.api_key_env or 'WEAVIATE_API_KEY'}",
            )
        if parse is not None and status < 400:
            return status, parse(data)
        parsed = orjson.loads(data) if data else None
        if status >= 400 and status != 404:
            raise ElysiaError(
                f"Weaviate refused to {what} in {collection!r}: {status} {_message(parsed)}",
                "check the collection exists and the request matches its schema",
            )
        return status, parsed

    # ------------------------------------------------------------------ questions

    def server_version(self) -> str | None:
        _, meta = self.call("GET", "/v1/meta", what="read server meta", collection="-")
        return (meta or {}).get("version")

    def schema(self, collection: str) -> dict[str, Any]:
        """The raw class definition; NotFoundError when there is no such collection."""
        status, raw = self.call(
            "GET", f"/v1/schema/{quote(collection)}", what="read the schema", collection=collection
        )
        if status == 404 or not raw:
            raise NotFoundError(
                f"collection {collection!r} does not exist in Weaviate",
                "check the name (class names start with a capital letter) or create it first",
            )
        return dict(raw)

    def describe_collection(self, collection: str) -> dict[str, Any]:
        """What `schema.describe_collection` returns, from REST (dimensions from one object)."""
        raw = self.schema(collection)
        description = description_from_schema(raw)
        # A multi-tenant class is read per tenant: sample the first active tenants.
        scopes: list[str | None] = [None]
        if description.get("multi_tenancy"):
            scopes = [t for t, status in self.tenants(raw["class"]).items() if status == ACTIVE]
        dims: dict[str, int] = {}
        for tenant in scopes[:_SAMPLE_TENANTS]:
            _, page = self.call(
                "GET",
                f"/v1/objects?class={quote(raw['class'])}&limit=1&include=vector"
                + _tenant_arg(tenant),
                what="sample a vector",
                collection=collection,
            )
            for obj in (page or {}).get("objects") or []:
                raw_vectors = _raw_vectors(obj)
                dims = {
                    k: len(v) for k, v in raw_vectors.items() if v and not isinstance(v[0], list)
                }
            if dims:
                break
        return with_dimensions(description, dims)

    def tenants(self, collection: str) -> dict[str, str]:
        """{tenant name: activity status} of a multi-tenant collection, sorted by name.

        Statuses are Weaviate 1.32's names (`ACTIVE`, `INACTIVE`, `OFFLOADED`, ...);
        the older `HOT`/`COLD` are read as `ACTIVE`/`INACTIVE`.
        """
        status, answer = self.call(
            "GET",
            f"/v1/schema/{quote(collection)}/tenants",
            what="list tenants",
            collection=collection,
        )
        if status == 404:
            raise NotFoundError(
                f"collection {collection!r} does not exist in Weaviate",
                "check the name (class names start with a capital letter) or create it first",
            )
        found = {
            str(t["name"]): _STATUS_ALIASES.get(str(t.get("activityStatus")), "")
            or str(t.get("activityStatus") or ACTIVE)
            for t in answer or []
        }
        return dict(sorted(found.items()))

    def add_tenants(self, collection: str, names: Sequence[str]) -> None:
        """Create these tenants (active); existing ones are left as they are."""
        for start in range(0, len(names), _TENANTS_PER_CALL):
            chunk = names[start : start + _TENANTS_PER_CALL]
            self.call(
                "POST",
                f"/v1/schema/{quote(collection)}/tenants",
                [{"name": name, "activityStatus": ACTIVE} for name in chunk],
                what="create tenants",
                collection=collection,
            )

    def has_objects(self, collection: str, tenant: str | None = None) -> bool:
        """Whether the collection (or one tenant of it) holds any object: one page of one.

        Weaviate refuses a count without a tenant on a multi-tenant class, and the
        REST API has no count of its own; emptiness is what restore needs.
        """
        _, page = self.call(
            "GET",
            f"/v1/objects?class={quote(collection)}&limit=1" + _tenant_arg(tenant),
            what="look for objects",
            collection=collection,
        )
        return bool((page or {}).get("objects"))

    def count(self, collection: str) -> int:
        """Objects in the collection: the GraphQL aggregate weaviate-client uses too."""
        query = f"{{ Aggregate {{ {collection} {{ meta {{ count }} }} }} }}"
        _, answer = self.call(
            "POST", "/v1/graphql", {"query": query}, what="count objects", collection=collection
        )
        errors = (answer or {}).get("errors")
        if errors:
            raise ElysiaError(f"counting {collection} failed: {_message(answer)}")
        try:
            return int(answer["data"]["Aggregate"][collection][0]["meta"]["count"] or 0)
        except (KeyError, IndexError, TypeError, ValueError):
            raise ElysiaError(f"counting {collection}: unexpected answer {answer!r:.200}") from None

    def collection_exists(self, collection: str) -> bool:
        status, _ = self.call(
            "GET", f"/v1/schema/{quote(collection)}", what="look up", collection=collection
        )
        return status == 200

    def add_property(self, collection: str, name: str, data_type: str) -> None:
        """Add one property with an explicit type (instead of letting auto-schema guess one)."""
        status, _ = self.call(
            "POST",
            f"/v1/schema/{quote(collection)}/properties",
            {"name": name, "dataType": [data_type]},
            what=f"add property {name!r}",
            collection=collection,
        )
        if status == 404:
            raise NotFoundError(
                f"collection {collection!r} does not exist in Weaviate",
                "check the name (class names start with a capital letter) or create it first",
            )

    def insert(
        self, collection: str, objs: Sequence[ObjectToWrite], tenant: str | None = None
    ) -> dict[int, str]:
        """Batch-write `objs` (`POST /v1/batch/objects`); {index: error} for the rejected.

        Same contract as `objects._Writer.insert`: transient failures of the whole
        request are retried (then WeaviateUnavailableError); a request refused as a
        whole is narrowed down by halving, so one bad object fails alone.
        """
        body = {"objects": [_batch_object(collection, o, tenant) for o in objs]}
        try:
            _, answer = self.call(
                "POST",
                "/v1/batch/objects",
                body,
                what="write objects",
                collection=collection,
                parse=_batch_answer,
            )
        except (WeaviateUnavailableError, AuthError):
            raise
        except ElysiaError as exc:
            if len(objs) == 1:
                return {0: exc.message}
            mid = len(objs) // 2
            left = self.insert(collection, objs[:mid], tenant)
            right = self.insert(collection, objs[mid:], tenant)
            return {**left, **{mid + i: msg for i, msg in right.items()}}
        if answer is None:
            return {}  # no object reported an error
        errors: dict[int, str] = {}
        for index, item in enumerate(answer):
            problems = ((item.get("result") or {}).get("errors") or {}).get("error") or []
            if problems:
                errors[index] = "; ".join(str(p.get("message", p)) for p in problems)
        if len(answer) != len(objs):
            for index in range(len(answer), len(objs)):
                errors[index] = "the server did not report this object"
        return errors

    def iter_objects(
        self,
        collection: str,
        description: Mapping[str, Any],
        *,
        include_vector: bool = False,
        page_size: int = 500,
        tenant: str | None = None,
    ) -> Iterator[StoredObject]:
        """Every object in uuid order, typed like `objects.iter_objects`, one page ahead.

        `description` (from `describe_collection`) gives the property types and whether
        the collection has only named vectors (objects then carry a dict). A
        multi-tenant collection is read one `tenant` at a time.
        """
        if page_size < 1:
            raise ElysiaError(f"page_size must be positive, got {page_size}")
        convert = _converters(description)
        named = _only_named_vectors(description)
        include = ("&include=vector" if include_vector else "") + _tenant_arg(tenant)
        base = f"/v1/objects?class={quote(collection)}&limit={page_size}{include}"
        pages: queue.Queue[Any] = queue.Queue(maxsize=PREFETCH_PAGES)
        stop = threading.Event()
        # The fetcher gets its own connection: this session stays usable meanwhile.
        fetcher_session = RestSession(self.target)

        def fetch() -> None:
            after = ""
            try:
                while not stop.is_set():
                    _, answer = fetcher_session.call(
                        "GET",
                        base + (f"&after={after}" if after else ""),
                        what="read objects",
                        collection=collection,
                    )
                    page = (answer or {}).get("objects") or []
                    _put(pages, stop, page)
                    if len(page) < page_size:
                        break
                    after = page[-1]["id"]
                _put(pages, stop, None)
            except BaseException as exc:  # handed to the consumer, raised there
                _put(pages, stop, exc)
            finally:
                fetcher_session.close()

        thread = threading.Thread(target=fetch, name=f"read-{collection}", daemon=True)
        thread.start()
        try:
            while True:
                page = pages.get()
                if page is None:
                    return
                if isinstance(page, BaseException):
                    raise page
                for raw in page:
                    yield _stored(raw, convert, named, include_vector)
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    pages.get_nowait()
            thread.join(timeout=5)


def _batch_answer(data: bytes) -> list[Any] | None:
    """The batch answer's items, or None when no object has an error.

    Weaviate echoes every written object back (the whole batch again); when the word
    `errors` appears nowhere in it no object failed, and parsing it is skipped.
    """
    if b'"errors"' not in data:
        return None
    return list(orjson.loads(data) or [])


def _batch_object(collection: str, obj: ObjectToWrite, tenant: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "class": collection,
        "id": _uuid_str(obj.uuid),
        "properties": normalize_properties(obj.properties),
    }
    if tenant:
        record["tenant"] = tenant
    vector = obj.vector
    if isinstance(vector, Mapping):
        record["vectors"] = dict(vector)
    elif vector is not None:
        record["vector"] = vector
    return record


def _tenant_arg(tenant: str | None) -> str:
    return f"&tenant={quote(tenant)}" if tenant else ""


def _put(pages: queue.Queue[Any], stop: threading.Event, item: Any) -> None:
    while not stop.is_set():
        try:
            pages.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def _message(answer: Any) -> str:
    """The server's error text from a Weaviate error body (`error` or `errors`)."""
    if isinstance(answer, dict):
        for key in ("error", "errors"):
            items = answer.get(key)
            if isinstance(items, list) and items:
                first = items[0]
                return str(first.get("message", first) if isinstance(first, dict) else first)
            if isinstance(items, str):
                return items
    return repr(answer)[:200]


def _unavailable(url: str, what: str, collection: str, reason: str) -> ElysiaError:
    return WeaviateUnavailableError(
        f"Weaviate at {url} kept failing to {what} in {collection!r}: {reason}",
        "the server is down or overloaded; check it (WEAVIATE_URL) and run again; "
        "writes are idempotent, so re-running is safe",
    )


# ------------------------------------------------------------------ values


def _as_datetime(value: Any) -> Any:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def _as_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _as_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


_SCALAR: dict[str, Callable[[Any], Any]] = {
    "date": _as_datetime,
    "int": _as_int,
    "number": _as_float,
}


def _converters(description: Mapping[str, Any]) -> dict[str, Callable[[Any], Any] | None]:
    """Per property: how a JSON value becomes what weaviate-client would return (None: as is).

    Properties missing here (cross-references) are dropped, as the client's
    `fetch_objects` does not return them unless asked.
    """
    out: dict[str, Callable[[Any], Any] | None] = {}
    for prop in description.get("properties") or []:
        data_type = str(prop.get("data_type", "text"))
        base = data_type.removesuffix("[]")
        scalar = _SCALAR.get(base)
        if scalar is not None and data_type.endswith("[]"):
            out[prop["name"]] = lambda values, f=scalar: (
                None if values is None else [f(v) for v in values]
            )
        else:
            out[prop["name"]] = scalar
    return out


def _only_named_vectors(description: Mapping[str, Any]) -> bool:
    vectors = description.get("vectors") or []
    return bool(vectors) and all(v.get("name") for v in vectors)


def _raw_vectors(obj: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    if obj.get("vector"):
        raw["default"] = obj["vector"]
    raw.update(obj.get("vectors") or {})
    return raw


def _stored(
    obj: Mapping[str, Any],
    convert: Mapping[str, Callable[[Any], Any] | None],
    named: bool,
    include_vector: bool,
) -> StoredObject:
    properties: dict[str, Any] = {}
    for name, value in (obj.get("properties") or {}).items():
        if name not in convert:
            continue
        fix = convert[name]
        properties[name] = value if fix is None or value is None else fix(value)
    vector: Vector | None = None
    if include_vector:
        raw = _raw_vectors(obj)
        if raw:
            if not named and set(raw) == {"default"}:
                vector = [float(x) for x in raw["default"]]
            else:
                vector = {name: [float(x) for x in vec] for name, vec in raw.items()}
    return StoredObject(uuid=obj["id"], properties=properties, vector=vector)
