"""The server's state: collections, objects and the operations both APIs share.

One re-entrant lock guards everything, because REST and gRPC handlers run in
different threads and a test asserts on the result of interleaved writes. Objects
are kept compactly (a plain properties dict plus float32 vectors as bytes) so a
benchmark can hold tens of thousands of source files.
"""

from __future__ import annotations

import bisect
import copy
import re
import threading
import time
import uuid as uuid_lib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from elysia_pipelines_tests.weaviate_server.filters import Evaluator, Filter, id_candidates
from elysia_pipelines_tests.weaviate_server.references import (
    Ref,
    coerce_references,
    is_reference,
    parse_beacon,
)
from elysia_pipelines_tests.weaviate_server.schema import (
    SchemaError,
    check_property,
    coerce_value,
    complete_class,
    complete_property,
    extend_nested,
    infer_property,
    property_types,
)
from elysia_pipelines_tests.weaviate_server.vectors import VectorQuery, fill_vectors, rank

# Weaviate's QUERY_MAXIMUM_RESULTS and QUERY_DEFAULTS_LIMIT defaults.
MAX_RESULTS = 10_000
DEFAULT_LIMIT = 10
# Vectorizer modules a server has unless told otherwise: the one it models.
DEFAULT_MODULES = ("text2vec-contextionary",)
TENANT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class StoreError(Exception):
    """An error with the HTTP status and message a real Weaviate would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    vectors: dict[str, bytes] | None
    created_ms: int
    updated_ms: int
    tenant: str = ""


@dataclass(slots=True)
class IncomingObject:
    """An object as decoded from either API, before schema checks."""

    class_name: str
    uuid: str | None
    properties: dict[str, Any]
    vectors: dict[str, bytes] = field(default_factory=dict)
    int_arrays: frozenset[str] = frozenset()
    tenant: str = ""


# Activity statuses as 1.32 answers them (the deprecated HOT/COLD are accepted on input).
TENANT_STATUSES = {"HOT": "ACTIVE", "ACTIVE": "ACTIVE", "COLD": "INACTIVE", "INACTIVE": "INACTIVE"}


@dataclass(slots=True)
class Tenant:
    """One tenant of a multi-tenant collection: its activity status and its own shard."""

    name: str
    status: str
    shard: Collection


@dataclass(slots=True)
class Collection:
    """A collection, or one tenant's shard of it (sharing the collection's schema dict).

    A multi-tenant collection keeps no objects of its own: each tenant's objects live
    in `tenants[name].shard`, so the same uuid can exist once per tenant, as in Weaviate.
    """

    schema: dict[str, Any]
    objects: dict[str, StoredObject] = field(default_factory=dict)
    vector_dims: dict[str, int] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)
    status: str = "READY"  # the shard's storage status: READY or READONLY
    _sorted: list[str] | None = None
    _props: tuple[int, dict[str, dict[str, Any]], list[Any]] | None = None

    @property
    def name(self) -> str:
        return self.schema["class"]

    @property
    def multi_tenant(self) -> bool:
        return bool((self.schema.get("multiTenancyConfig") or {}).get("enabled"))

    def shards(self) -> list[tuple[str, Collection]]:
        """(tenant, shard) pairs: one per tenant, or ("", self) for a single-tenant class."""
        if self.multi_tenant:
            return [(t.name, t.shard) for t in self.tenants.values()]
        return [("", self)]

    def shard_name(self, tenant: str = "") -> str:
        return tenant or f"{self.name.lower()}_shard0"

    def object_total(self) -> int:
        return sum(len(shard.objects) for _, shard in self.shards())

    def add_tenant(self, name: str, status: str = "ACTIVE") -> Tenant:
        tenant = Tenant(name, status, Collection(schema=self.schema))
        self.tenants[name] = tenant
        return tenant

    @property
    def props(self) -> dict[str, dict[str, Any]]:
        # Properties are only ever appended, so their count tells whether the cache is stale.
        props = self.schema.get("properties") or []
        if self._props is None or self._props[0] != len(props) or self._props[2] is not props:
            self._props = (len(props), property_types(self.schema), props)
        return self._props[1]

    def sorted_ids(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def invalidate(self) -> None:
        self._sorted = None

    def select(self, flt: Filter | None) -> list[StoredObject]:
        """Objects matching `flt`, in uuid order (a filter on `_id` is a direct lookup)."""
        if flt is None:
            return [self.objects[uid] for uid in self.sorted_ids()]
        match = Evaluator(self.props, self.name, self.schema).compile(flt)
        ids = id_candidates(flt)
        if ids is not None:
            picked = sorted(uid for uid in ids if uid in self.objects)
            return [self.objects[uid] for uid in picked if match(self.objects[uid])]
        return [obj for uid in self.sorted_ids() if match(obj := self.objects[uid])]

    def default_vector_name(self) -> str:
        names = list((self.schema.get("vectorConfig") or {}).keys())
        return names[0] if len(names) == 1 else "default"

    def distance_metric(self, vector_name: str) -> str:
        named = (self.schema.get("vectorConfig") or {}).get(vector_name)
        cfg = named["vectorIndexConfig"] if named else self.schema.get("vectorIndexConfig", {})
        return str(cfg.get("distance", "cosine"))


# Data types whose values of exactly this Python type are stored as they come.
_AS_IS: dict[str, type] = {"text": str, "int": int, "number": float, "boolean": bool}


def normalize_class_name(name: str) -> str:
    return name[:1].upper() + name[1:] if name else name


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalize_uuid(value: str | bytes) -> str:
    """Canonical lowercase form; raises StoreError(422) for anything else."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # already what str(UUID(value)) gives, without building one
    try:
        if isinstance(value, bytes):
            return str(uuid_lib.UUID(bytes=value))
        return str(uuid_lib.UUID(str(value)))
    except ValueError:
        raise StoreError(422, f"id '{value!r}' is not a valid uuid") from None


_last_ms = 0
_clock_lock = threading.Lock()


def now_ms() -> int:
    """Wall-clock milliseconds, strictly increasing per process.

    Two writes in one millisecond would share a timestamp and a creation-time filter
    could not tell them apart; a real node is slow enough that this rarely happens.
    """
    global _last_ms
    with _clock_lock:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return _last_ms


def _check_cursor(has_filter: bool, has_sort: bool, has_search: bool, offset: int) -> None:
    """Explorer.validateCursor + filters.ValidateCursor: a cursor pages a plain listing."""
    problem = ""
    if has_search:
        problem = "other params cannot be set with after and limit parameters"
    elif offset > 0 or has_filter or has_sort:
        names = [
            name
            for name, present in (("offset", offset > 0), ("where", has_filter), ("sort", has_sort))
            if present
        ]
        problem = f"{','.join(names)} cannot be set with after and limit parameters"
    if problem:
        raise StoreError(422, f"cursor api: invalid 'after' parameter: {problem}")


class Store:
    """All collections and objects; every public method takes the lock."""

    def __init__(
        self,
        *,
        auto_schema: bool = True,
        modules: Iterable[str] = DEFAULT_MODULES,
        nodes: int = 1,
    ) -> None:
        self.lock = threading.RLock()
        self.auto_schema = auto_schema
        self.collections: dict[str, Collection] = {}
        self.modules = frozenset(modules)
        self.nodes = nodes

    def _check_vectorizers(self, schema: dict[str, Any]) -> None:
        """validateVectorSettings (usecases/schema/class.go): only enabled modules."""

        def check(module: str, prefix: str = "") -> None:
            if module != "none" and module not in self.modules:
                raise StoreError(422, f'{prefix}vectorizer: no module with name "{module}" present')

        if schema.get("vectorizer"):
            check(str(schema["vectorizer"]))
        for name, cfg in (schema.get("vectorConfig") or {}).items():
            vectorizer = cfg.get("vectorizer")
            if isinstance(vectorizer, dict) and len(vectorizer) == 1:
                check(str(next(iter(vectorizer))), f'target vector "{name}": ')

    def _check_scaling(self, coll: Collection, replication: Any) -> None:
        """Scaler.Scale (usecases/scaler): out only, and only onto nodes that exist."""
        factor = replication.get("factor") if isinstance(replication, dict) else None
        before = (coll.schema.get("replicationConfig") or {}).get("factor", 1)
        if not isinstance(factor, int) or factor < 1 or factor == before:
            return
        prefix = f"scale {coll.name!r} from {before} replicas to {factor}: ".replace("'", '"')
        if factor < before:
            raise StoreError(422, prefix + "scaling in not supported yet")
        # Every shard gets the new replicas; a multi-tenant class without tenants has none.
        if factor > self.nodes and (not coll.multi_tenant or coll.tenants):
            raise StoreError(
                422, prefix + f"not enough storage replicas: found {self.nodes} want {factor}"
            )

    def _check_replicas(self, factor: Any) -> None:
        """sharding.InitState: a factor above the node count cannot be placed."""
        if isinstance(factor, int) and factor > self.nodes:
            raise StoreError(
                422,
                "init sharding state: could not find enough weaviate nodes for "
                f"replication: {self.nodes} available, {factor} requested",
            )

    # ------------------------------------------------------------ schema

    def reset(self) -> None:
        with self.lock:
            self.collections.clear()

    def collection(self, name: str) -> Collection:
        coll = self.collections.get(normalize_class_name(name))
        if coll is None:
            raise StoreError(404, f"could not find class {normalize_class_name(name)} in schema")
        return coll

    def shard(self, coll: Collection, tenant: str, *, write: bool = False) -> Collection:
        """The shard a request with `tenant` addresses, refused as Weaviate 1.32 refuses it.

        A multi-tenant class needs an existing, active tenant (unless auto tenant
        creation/activation is on); a single-tenant class refuses any tenant.
        """
        if not coll.multi_tenant:
            if tenant:
                raise StoreError(
                    422,
                    f"class {coll.name} has multi-tenancy disabled, but request was with tenant",
                )
            return coll
        if not tenant:
            raise StoreError(
                422,
                f"class {coll.name} has multi-tenancy enabled, but request was without tenant",
            )
        config = coll.schema.get("multiTenancyConfig") or {}
        found = coll.tenants.get(tenant)
        if found is None:
            if not (write and config.get("autoTenantCreation")):
                raise StoreError(422, f'tenant not found: "{tenant}"')
            found = coll.add_tenant(tenant)
        if found.status != "ACTIVE":
            if not config.get("autoTenantActivation"):
                raise StoreError(422, f"tenant not active: '{tenant}'")
            found.status = "ACTIVE"
        return found.shard

    def scoped(self, class_name: str, tenant: str = "", *, write: bool = False) -> Collection:
        return self.shard(self.collection(class_name), tenant, write=write)

    def update_shard_status(self, class_name: str, shard_name: str, status: Any) -> str:
        """PUT /v1/schema/{class}/shards/{shard}: READY or READONLY (writes refused)."""
        if status not in ("READY", "READONLY"):
            raise StoreError(422, "invalid storage status")
        with self.lock:
            coll = self.collection(class_name)
            for tenant, shard in coll.shards():
                if coll.shard_name(tenant) == shard_name:
                    shard.status = status
                    return status
        raise StoreError(404, f"shard {shard_name!r} not found")

    # ------------------------------------------------------------ tenants

    def list_tenants(self, class_name: str) -> list[dict[str, str]]:
        with self.lock:
            coll = self._mt_collection(class_name)
            return [{"name": t.name, "activityStatus": t.status} for t in coll.tenants.values()]

    def _mt_collection(self, class_name: str) -> Collection:
        coll = self.collection(class_name)
        if not coll.multi_tenant:
            raise StoreError(422, f"multi-tenancy is not enabled for class {coll.name!r}")
        return coll

    def _tenant_specs(self, body: Any, *, update: bool) -> list[tuple[str, str | None]]:
        if not isinstance(body, list):
            raise StoreError(422, "tenants must be a list")
        specs: list[tuple[str, str | None]] = []
        for entry in body:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not TENANT_NAME_RE.match(name):
                raise StoreError(
                    422,
                    f"tenant name should only contain alphanumeric characters (a-z, A-Z, 0-9), "
                    f"underscore (_), and hyphen (-), with a length between 1 and 64 "
                    f"characters: {name!r}",
                )
            raw = entry.get("activityStatus")
            if raw is not None and raw not in TENANT_STATUSES:
                # FROZEN/OFFLOADED need an offload module, the rest are transitions.
                raise StoreError(422, f"invalid activity status: {raw}")
            specs.append((name, TENANT_STATUSES.get(raw) if raw is not None else None))
        return specs

    def add_tenants(self, class_name: str, body: Any) -> list[dict[str, str]]:
        """Existing tenants are left as they are, as Weaviate's AddTenants does."""
        with self.lock:
            coll = self._mt_collection(class_name)
            specs = self._tenant_specs(body, update=False)
            out = []
            for name, status in specs:
                tenant = coll.tenants.get(name) or coll.add_tenant(name, status or "ACTIVE")
                out.append({"name": tenant.name, "activityStatus": tenant.status})
            return out

    def update_tenants(self, class_name: str, body: Any) -> list[dict[str, str]]:
        with self.lock:
            coll = self._mt_collection(class_name)
            specs = self._tenant_specs(body, update=True)
            missing = [name for name, _ in specs if name not in coll.tenants]
            if missing:
                raise StoreError(422, f"tenant not found: {', '.join(missing)}")
            out = []
            for name, status in specs:
                if status is None:
                    raise StoreError(422, f"tenant {name!r}: activityStatus is required")
                coll.tenants[name].status = status
                out.append({"name": name, "activityStatus": status})
            return out

    def delete_tenants(self, class_name: str, names: Any) -> None:
        with self.lock:
            coll = self._mt_collection(class_name)
            if not isinstance(names, list):
                raise StoreError(422, "tenant names must be a list")
            for name in names:
                coll.tenants.pop(str(name), None)

    def get_tenant(self, class_name: str, name: str) -> dict[str, str] | None:
        with self.lock:
            coll = self._mt_collection(class_name)
            tenant = coll.tenants.get(name)
            return None if tenant is None else {"name": name, "activityStatus": tenant.status}

    # ------------------------------------------------------------ classes

    def create_class(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            try:
                schema = complete_class(body)
            except SchemaError as exc:
                raise StoreError(422, str(exc)) from None
            name = schema["class"]
            if any(n.lower() == name.lower() for n in self.collections):
                raise StoreError(422, f"class name {name!r} already exists")
            self._check_vectorizers(schema)
            self._check_replicas((schema.get("replicationConfig") or {}).get("factor"))
            try:
                for prop in schema["properties"]:
                    check_property(prop, name, self._class_exists)
            except SchemaError as exc:
                raise StoreError(422, str(exc)) from None
            self.collections[name] = Collection(schema=schema)
            return copy.deepcopy(schema)

    def _class_exists(self, name: str) -> bool:
        return normalize_class_name(name) in self.collections

    def get_class(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            coll = self.collections.get(normalize_class_name(name))
            return copy.deepcopy(coll.schema) if coll else None

    def list_classes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(c.schema) for c in self.collections.values()]

    def delete_class(self, name: str) -> bool:
        with self.lock:
            return self.collections.pop(normalize_class_name(name), None) is not None

    def update_class(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Mutable settings only; properties and vector setup stay as they are."""
        with self.lock:
            coll = self.collection(name)
            enabled = (body.get("multiTenancyConfig") or {}).get("enabled")
            if enabled is not None and bool(enabled) != coll.multi_tenant:
                raise StoreError(
                    422,
                    "enabling multi-tenancy for an existing class is not supported"
                    if enabled
                    else "disabling multi-tenancy for an existing class is not supported",
                )
            self._check_scaling(coll, body.get("replicationConfig"))
            merged = copy.deepcopy(coll.schema)
            for key in (
                "description",
                "invertedIndexConfig",
                "replicationConfig",
                "multiTenancyConfig",
            ):
                if key in body and isinstance(body[key], dict | str):
                    merged[key] = (
                        body[key]
                        if isinstance(body[key], str)
                        else {
                            **merged.get(key, {}),
                            **body[key],
                        }
                    )
            if "vectorIndexConfig" in body and "vectorIndexConfig" in merged:
                merged["vectorIndexConfig"].update(body["vectorIndexConfig"])
            # In place: tenant shards share this dict.
            coll.schema.clear()
            coll.schema.update(merged)
            coll._props = None
            for tenant in coll.tenants.values():
                tenant.shard._props = None
            return copy.deepcopy(merged)

    def add_property(self, name: str, prop: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            coll = self.collection(name)
            try:
                completed = complete_property(prop)
                check_property(completed, coll.name, self._class_exists)
            except SchemaError as exc:
                raise StoreError(422, str(exc)) from None
            if any(
                p["name"].lower() == completed["name"].lower() for p in coll.schema["properties"]
            ):
                raise StoreError(422, f"property {completed['name']!r} already exists")
            coll.schema["properties"].append(completed)
            return copy.deepcopy(completed)

    # ------------------------------------------------------------ writes

    def _ensure_collection(self, class_name: str) -> Collection:
        name = normalize_class_name(class_name)
        coll = self.collections.get(name)
        if coll is not None:
            return coll
        if not self.auto_schema:
            raise SchemaError(
                f"class {name!r} not found in schema and auto-schema is disabled: "
                "create the collection first"
            )
        try:
            schema = complete_class({"class": name})
        except SchemaError as exc:
            raise SchemaError(f"invalid class name: {exc}") from None
        coll = Collection(schema=schema)
        self.collections[name] = coll
        return coll

    def _prepare_properties(
        self, coll: Collection, incoming: IncomingObject, *, check_refs: bool = True
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Validate and coerce; returns the stored properties and schema changes.

        Schema changes are auto-schema's doing: new properties, and nested properties
        added to an existing object property (as Weaviate's auto-schema extends
        `nestedProperties`); they are applied only when the whole object is valid.
        """
        known = coll.props
        # Case-insensitive lookup, built on the first name the exact lookups miss.
        lowered: dict[str, dict[str, Any]] = {}
        lowered_built = False
        out: dict[str, Any] = {}
        added: list[dict[str, Any]] = []
        for name, value in incoming.properties.items():
            # Properties are stored with a lowercase first letter (LowercaseFirstLetter).
            prop = known.get(name) or known.get(name[:1].lower() + name[1:])
            if prop is None:
                if not lowered_built:
                    lowered, lowered_built = {k.lower(): v for k, v in known.items()}, True
                prop = lowered.get(name.lower())
            if prop is None:
                if not self.auto_schema:
                    raise SchemaError(
                        f"no such prop with name '{name}' found in class '{coll.name}' in the "
                        "schema. Check your schema files for which properties in this class "
                        "are available"
                    )
                if value is None or value == []:
                    continue
                prop = infer_property(name, value, int_array=name in incoming.int_arrays)
                if prop is None:
                    raise SchemaError(
                        f"property '{name}' on class '{coll.name}': cannot infer a data type "
                        f"for value {value!r}"
                    )
                added.append(prop)
                lowered[name.lower()] = prop
            elif self.auto_schema and prop["dataType"][0] in ("object", "object[]"):
                extended = extend_nested(prop, value)
                if extended is not None:
                    added.append(extended)
                    prop = extended
            if value is None:
                continue
            # What coerce_value returns for these, without its checks' calls (most of
            # a batch's values are text).
            if _AS_IS.get(prop["dataType"][0]) is type(value):
                out[prop["name"]] = value
                continue
            if is_reference(prop):
                out[prop["name"]] = coerce_references(
                    coll.name,
                    prop,
                    value,
                    (lambda ref: self._ref_exists(ref, incoming.tenant)) if check_refs else None,
                )
                continue
            coerced = coerce_value(coll.name, prop, value)
            if coerced is not None:
                out[prop["name"]] = coerced
        return out, added

    def _shard_or_none(self, coll: Collection, tenant: str) -> Collection | None:
        """The shard a reference resolves in: same tenant for a multi-tenant target."""
        if not coll.multi_tenant:
            return coll
        found = coll.tenants.get(tenant) if tenant else None
        return found.shard if found is not None else None

    def _ref_exists(self, ref: Ref, tenant: str = "") -> bool:
        colls = (
            [self.collections[ref.class_name]]
            if ref.class_name in self.collections
            else []
            if ref.class_name
            else list(self.collections.values())
        )
        for coll in colls:
            shard = self._shard_or_none(coll, tenant)
            if shard is not None and ref.uuid in shard.objects:
                return True
        return False

    def _apply_schema_changes(self, coll: Collection, changes: list[dict[str, Any]]) -> None:
        """New properties are appended; an extended object property replaces its old self."""
        props = coll.schema["properties"]
        for change in changes:
            for index, existing in enumerate(props):
                if existing["name"] == change["name"]:
                    props[index] = change
                    coll._props = None
                    for tenant in coll.tenants.values():
                        tenant.shard._props = None
                    break
            else:
                props.append(change)

    def _prepare_vectors(
        self, coll: Collection, vectors: dict[str, bytes]
    ) -> dict[str, bytes] | None:
        if not vectors:
            return None
        out: dict[str, bytes] = {}
        named = coll.schema.get("vectorConfig") or {}
        for name, data in vectors.items():
            key = name or coll.default_vector_name()
            if named and key not in named:
                raise SchemaError(
                    f"collection {coll.name} does not have a named vector {key!r}; "
                    f"configured: {sorted(named)}"
                )
            if len(data) % 4:
                raise SchemaError(f"vector {key!r} is not a float32 array")
            dims = len(data) // 4
            known = coll.vector_dims.get(key)
            if known is not None and known != dims and coll.objects:
                raise SchemaError(
                    f"new node has a vector with length {dims}. "
                    f"Existing nodes have vectors with length {known}"
                )
            out[key] = bytes(data)
        return out

    def put(self, incoming: IncomingObject, *, merge: bool = False) -> StoredObject:
        """Insert or replace one object (upsert, as Weaviate's batch does).

        With `merge`, properties and vectors are overlaid on the existing object
        (PATCH semantics). Raises SchemaError for invalid objects and changes nothing.
        """
        with self.lock:
            coll = self._ensure_collection(incoming.class_name)
            shard = self.shard(coll, incoming.tenant, write=True)
            if shard.status == "READONLY":
                raise StoreError(422, "store is read-only")
            uid = normalize_uuid(incoming.uuid) if incoming.uuid else str(uuid_lib.uuid4())
            properties, added = self._prepare_properties(coll, incoming)
            vectors = self._prepare_vectors(shard, incoming.vectors)
            existing = shard.objects.get(uid)
            stamp = now_ms()
            if merge and existing is not None:
                properties = {**existing.properties, **properties}
            self._apply_schema_changes(coll, added)
            # The modelled vectorizer fills what was not sent (a merge re-vectorizes).
            vectors = fill_vectors(coll.schema, properties, vectors)
            if merge and existing is not None and existing.vectors:
                vectors = {**existing.vectors, **(vectors or {})}
            obj = StoredObject(
                uuid=uid,
                properties=properties,
                vectors=vectors,
                created_ms=existing.created_ms if existing else stamp,
                updated_ms=stamp,
                tenant=incoming.tenant,
            )
            for name, data in (vectors or {}).items():
                shard.vector_dims.setdefault(name, len(data) // 4)
            if existing is None:
                shard.invalidate()
            shard.objects[uid] = obj
            return obj

    def batch_put(self, objects: Iterable[IncomingObject]) -> dict[int, str]:
        """Store each object independently; returns per-index error messages."""
        errors: dict[int, str] = {}
        with self.lock:
            for index, incoming in enumerate(objects):
                try:
                    self.put(incoming)
                except (SchemaError, StoreError) as exc:
                    errors[index] = str(exc)
        return errors

    def get(self, class_name: str, uid: str, tenant: str = "") -> StoredObject | None:
        with self.lock:
            coll = self.collections.get(normalize_class_name(class_name))
            if coll is None:
                return None
            return self.shard(coll, tenant).objects.get(normalize_uuid(uid))

    def find(self, uid: str) -> tuple[str, StoredObject] | None:
        """Look an id up across all collections (legacy `/v1/objects/{id}` paths)."""
        key = normalize_uuid(uid)
        with self.lock:
            for coll in self.collections.values():
                if not coll.multi_tenant and key in coll.objects:
                    return coll.name, coll.objects[key]
        return None

    def delete(self, class_name: str, uid: str, tenant: str = "") -> bool:
        with self.lock:
            coll = self.collections.get(normalize_class_name(class_name))
            if coll is None:
                return False
            shard = self.shard(coll, tenant)
            removed = shard.objects.pop(normalize_uuid(uid), None)
            if removed is not None:
                shard.invalidate()
            return removed is not None

    def delete_where(
        self, class_name: str, flt: Filter | None, *, dry_run: bool, tenant: str = ""
    ) -> tuple[int, list[str]]:
        """Objects matching a filter, deleted unless dry_run: (matches, ids handled).

        As DB.BatchDeleteObjects (adapters/repos/db/batch.go): `matches` counts every
        object the filter matches, but one call handles (deletes, or reports in a dry
        run) at most QUERY_MAXIMUM_RESULTS of them; the caller repeats for the rest.
        """
        with self.lock:
            coll = self.scoped(class_name, tenant)
            matched = [obj.uuid for obj in coll.select(flt)]
            handled = matched[:MAX_RESULTS]
            if handled and not dry_run and coll.status == "READONLY":
                raise StoreError(422, "store is read-only")
            if not dry_run and handled:
                for uid in handled:
                    del coll.objects[uid]
                coll.invalidate()
            return len(matched), handled

    # ------------------------------------------------------------ references

    def _reference_property(self, coll: Collection, prop_name: str) -> dict[str, Any]:
        """validateReferenceSchema: the property exists and is a reference."""
        name = prop_name[:1].lower() + prop_name[1:]
        prop = coll.props.get(name)
        if prop is None:
            raise SchemaError(
                f"no such prop with name '{name}' found in class '{coll.name}' in the schema. "
                "Check your schema files for which properties in this class are available"
            )
        if not is_reference(prop):
            raise SchemaError(f"property '{name}' is not a reference-type")
        return prop

    def change_references(
        self,
        class_name: str,
        uid: str,
        prop_name: str,
        beacons: list[Any],
        *,
        mode: str,
        tenant: str = "",
    ) -> None:
        """REST reference add / replace / delete on one object (mode: add, replace, delete).

        StoreError 404 when the source object is missing, 422 for a bad property or
        beacon and for a target that does not exist (add and replace check it).
        """
        with self.lock:
            coll = self.collections.get(normalize_class_name(class_name))
            if coll is None:
                raise StoreError(
                    422,
                    f"msg:collection not found code:400 err:collection "
                    f'"{normalize_class_name(class_name)}" not found in schema',
                )
            try:
                prop = self._reference_property(coll, prop_name)
                refs = coerce_references(
                    coll.name,
                    prop,
                    [{"beacon": b.get("beacon") if isinstance(b, dict) else b} for b in beacons],
                    None,
                )
            except SchemaError as exc:
                raise StoreError(422, f"msg:bad inputs code:400 err:{exc}") from None
            obj = self.shard(coll, tenant).objects.get(normalize_uuid(uid))
            if obj is None:
                raise StoreError(404, "")
            if mode != "delete":
                for ref in refs:
                    if not self._ref_exists(parse_beacon(ref["beacon"]), tenant):
                        raise StoreError(
                            422,
                            "msg:validate existence code:400 err:validate reference: no object "
                            f"with id {parse_beacon(ref['beacon']).uuid} found",
                        )
            current = list(obj.properties.get(prop["name"]) or [])
            if mode == "add":
                current.extend(refs)
            elif mode == "replace":
                current = refs
            else:
                drop = {r["beacon"] for r in refs}
                current = [r for r in current if r["beacon"] not in drop]
            obj.properties[prop["name"]] = current
            obj.updated_ms = now_ms()

    def batch_references(self, refs: list[tuple[str, str, str, str, str]]) -> dict[int, str]:
        """Batch references (from class, from uuid, property, to beacon, tenant).

        As Weaviate's batch, the target's existence is not checked; a missing source
        object, class or property is that reference's error. Returns errors by index.
        """
        errors: dict[int, str] = {}
        with self.lock:
            for index, (from_class, from_uuid, prop_name, to_beacon, tenant) in enumerate(refs):
                try:
                    coll = self.collections.get(normalize_class_name(from_class))
                    if coll is None:
                        raise SchemaError(
                            f'source class "{normalize_class_name(from_class)}" not found in schema'
                        )
                    try:
                        prop = self._reference_property(coll, prop_name)
                    except SchemaError:
                        raise SchemaError(
                            f"property {prop_name[:1].lower() + prop_name[1:]} does not exist "
                            f"for class {coll.name}"
                        ) from None
                    (ref,) = coerce_references(coll.name, prop, [{"beacon": to_beacon}], None)
                    obj = self.shard(coll, tenant).objects.get(normalize_uuid(from_uuid))
                    if obj is None:
                        raise SchemaError(
                            f"source object {normalize_uuid(from_uuid)} not found in class "
                            f"{coll.name}"
                        )
                    obj.properties.setdefault(prop["name"], []).append(ref)
                    obj.updated_ms = now_ms()
                except (SchemaError, StoreError) as exc:
                    errors[index] = str(exc)
        return errors

    def resolve(self, beacon: str, tenant: str = "") -> tuple[str, StoredObject] | None:
        """The object a stored beacon points to, if it still exists (same tenant)."""
        ref = parse_beacon(beacon)
        with self.lock:
            if ref.class_name:
                coll = self.collections.get(ref.class_name)
                colls = [coll] if coll is not None else []
            else:
                colls = list(self.collections.values())
            for coll in colls:
                shard = self._shard_or_none(coll, tenant)
                if shard is not None and ref.uuid in shard.objects:
                    return coll.name, shard.objects[ref.uuid]
        return None

    # ------------------------------------------------------------ reads

    def query(
        self,
        class_name: str,
        *,
        flt: Filter | None = None,
        limit: int = 0,
        offset: int = 0,
        after: str = "",
        sort: list[tuple[str, bool]] | None = None,
        vector_query: VectorQuery | None = None,
        alpha: float | None = None,
        keyword: tuple[str, list[str] | None] | None = None,
        tenant: str = "",
    ) -> list[tuple[StoredObject, float | None, float | None]]:
        """Matching objects in answer order as (object, distance, score)."""
        with self.lock:
            coll = self.scoped(class_name, tenant)
            if after:
                _check_cursor(
                    flt is not None, bool(sort), vector_query is not None or bool(keyword), offset
                )
            limit = limit if limit > 0 else DEFAULT_LIMIT
            if offset + limit > MAX_RESULTS and not after:
                raise StoreError(
                    422,
                    f"query maximum results exceeded: offset {offset} + limit {limit} > "
                    f"{MAX_RESULTS} (QUERY_MAXIMUM_RESULTS)",
                )
            ids = coll.sorted_ids()
            if after:
                key = normalize_uuid(after)
                ids = ids[bisect.bisect_right(ids, key) :]
                return [(coll.objects[uid], None, None) for uid in ids[:limit]]
            candidates = coll.select(flt)
            scored: list[tuple[StoredObject, float | None, float | None]]
            if alpha is not None and keyword is not None and vector_query is not None:
                metrics = {n: coll.distance_metric(n) for n in vector_query.targets()}
                scored = _fuse(
                    rank(candidates, vector_query, metrics),
                    _rank_by_keyword(candidates, keyword[0], keyword[1], coll.props),
                    alpha,
                )
            elif vector_query is not None:
                metrics = {n: coll.distance_metric(n) for n in vector_query.targets()}
                scored = [
                    (obj, dist, None) for obj, dist in rank(candidates, vector_query, metrics)
                ]
            elif keyword is not None:
                scored = _rank_by_keyword(candidates, keyword[0], keyword[1], coll.props)
            else:
                scored = [(obj, None, None) for obj in candidates]
            if sort:
                for path, ascending in reversed(sort):
                    scored.sort(
                        key=lambda row, p=path: _sort_key(row[0], p),
                        reverse=not ascending,
                    )
            return scored[offset : offset + limit]

    def count(self, class_name: str, flt: Filter | None = None, tenant: str = "") -> int:
        with self.lock:
            coll = self.scoped(class_name, tenant)
            if flt is None:
                return len(coll.objects)
            return len(coll.select(flt))

    def matching(
        self, class_name: str, flt: Filter | None = None, tenant: str = ""
    ) -> list[StoredObject]:
        with self.lock:
            return self.scoped(class_name, tenant).select(flt)

    def object_count(self) -> int:
        with self.lock:
            return sum(c.object_total() for c in self.collections.values())


def _sort_key(obj: StoredObject, path: str) -> tuple[int, Any]:
    if path == "_id":
        return (0, obj.uuid)
    if path == "_creationTimeUnix":
        return (0, obj.created_ms)
    if path == "_lastUpdateTimeUnix":
        return (0, obj.updated_ms)
    value = obj.properties.get(path)
    if value is None:
        return (1, 0)
    if isinstance(value, list):
        value = tuple(value)
    return (0, value)


def _fuse(
    vector_rows: list[tuple[StoredObject, float]],
    keyword_rows: list[tuple[StoredObject, float | None, float | None]],
    alpha: float,
) -> list[tuple[StoredObject, float | None, float | None]]:
    """Hybrid's relativeScoreFusion: each half min-max scaled to [0, 1], weighted by alpha.

    alpha 1 is the vector half alone, alpha 0 the keyword half alone (as in Weaviate,
    the other half is then not searched at all).
    """

    def scaled(rows: list[tuple[StoredObject, float]]) -> dict[str, tuple[StoredObject, float]]:
        if not rows:
            return {}
        lo, hi = min(v for _, v in rows), max(v for _, v in rows)
        return {o.uuid: (o, (v - lo) / (hi - lo) if hi > lo else 1.0) for o, v in rows}

    halves: list[tuple[float, dict[str, tuple[StoredObject, float]]]] = []
    if alpha > 0:
        halves.append((alpha, scaled([(o, -d) for o, d in vector_rows])))
    if alpha < 1:
        halves.append((1 - alpha, scaled([(o, s or 0.0) for o, _, s in keyword_rows])))
    fused: dict[str, list[Any]] = {}
    for weight, half in halves:
        for uid, (obj, value) in half.items():
            fused.setdefault(uid, [obj, 0.0])[1] += weight * value
    rows = [(obj, None, float(score)) for obj, score in fused.values()]
    rows.sort(key=lambda row: -(row[2] or 0.0))
    return rows


def _rank_by_keyword(
    objects: list[StoredObject],
    query: str,
    properties: list[str] | None,
    props: dict[str, dict[str, Any]],
) -> list[tuple[StoredObject, float | None, float | None]]:
    """A small BM25 over searchable text properties (enough to rank obvious matches)."""
    import math

    from elysia_pipelines_tests.weaviate_server.filters import tokenize

    fields = properties or [
        n
        for n, p in props.items()
        if p["dataType"][0] in ("text", "text[]") and p.get("indexSearchable", True)
    ]
    fields = [f.split("^")[0] for f in fields]
    terms = tokenize(query, "word")
    docs: list[list[str]] = []
    for obj in objects:
        tokens: list[str] = []
        for f in fields:
            value = obj.properties.get(f)
            values = value if isinstance(value, list) else [value] if value is not None else []
            for item in values:
                tokens.extend(tokenize(str(item), "word"))
        docs.append(tokens)
    n = len(docs) or 1
    avg = (sum(len(d) for d in docs) / n) or 1.0
    df = {t: sum(1 for d in docs if t in d) for t in set(terms)}
    rows: list[tuple[StoredObject, float | None, float | None]] = []
    for obj, tokens in zip(objects, docs, strict=True):
        score = 0.0
        for t in terms:
            tf = tokens.count(t)
            if not tf:
                continue
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(tokens) / avg))
        if score > 0:
            rows.append((obj, None, score))
    rows.sort(key=lambda row: -(row[2] or 0.0))
    return rows
