"""Collection provisioning, schema comparison, and a portable schema description.

Ingestion calls `ensure_collection` on every run, so it must be idempotent and must
never silently write into a collection whose schema is not the one we expect (a
different data type or vectorizer would corrupt search). Backup stores
`describe_collection`'s dict next to the data, and restore rebuilds a collection
from it with `create_collection_from_description`, possibly on another cluster,
possibly for a collection we never created, so the description covers arbitrary
property lists, not only the document properties.

The description dict (format 1, JSON-serialisable)::

    {
      "format": 1,
      "name": "My_repo",                 # Weaviate class name
      "description": str | None,
      "properties": [                     # in server order
        {"name": "size_bytes", "data_type": "int",      # Weaviate type: text, text[],
         "filterable": true, "searchable": false,        # int, number, boolean, date,
         "range_filters": true,                          # uuid, ... (and [] arrays)
         "tokenization": "word" | None,                  # text / text[] only
         "description": str | None},
        ...
      ],
      "vectorizer": "none" | "text2vec-openai" | ...,   # module of the main vector
      "model": str | None,                # the module's model setting, if any
      "module_config": {...},             # the module's full settings as stored
      "vector_name": None | "default",    # None: the classic unnamed vector
      "vectors": [                        # every vector; one entry unless named vectors
        {"name": str | None, "vectorizer": str, "model": str | None,
         "module_config": {...}, "source_properties": [str] | None,
         "index_type": "hnsw" | "flat" | ..., "distance": "cosine" | ...,
         "dimension": int | None}        # from a stored object; None if empty
      ],
      "vector_index_type": str | None,    # of the main vector
      "distance": str | None,
      "vector_dimension": int | None,
      "replication_factor": int,
      "multi_tenancy": bool,
      "auto_tenant_creation": bool,       # multiTenancyConfig's switches (False when
      "auto_tenant_activation": bool,     # multi_tenancy is off)
      "references": [{"name": str, "target_collections": [str]}],   # informational
    }
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import weaviate
from tenacity import Retrying
from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    Tokenization,
    VectorDistances,
)
from weaviate.collections.classes.config import CollectionConfig
from weaviate.collections.classes.config_vector_index import _VectorIndexConfigCreate
from weaviate.collections.classes.config_vectors import _VectorConfigCreate
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateBaseError

from elysia_pipelines.documents import PropertySpec
from elysia_pipelines.errors import ConfigError, ElysiaError, NotFoundError, TransientError
from elysia_pipelines.weaviate.description import (
    DESCRIPTION_FORMAT,
    VECTORIZER_MODEL_KEYS,
    assemble_description,
    with_dimensions,
)
from elysia_pipelines.weaviate.description import json_safe as _json_safe
from elysia_pipelines.weaviate.description import model_from as _model_from
from elysia_pipelines.weaviate.retry import is_transient, short_error, transient_retry
from elysia_pipelines.weaviate.spec import _TEXT_TYPES
from elysia_pipelines.weaviate.spec import DEFAULT_TOKENIZATION as DEFAULT_TOKENIZATION
from elysia_pipelines.weaviate.spec import SUPPORTED_VECTORIZERS as SUPPORTED_VECTORIZERS
from elysia_pipelines.weaviate.spec import CollectionSpec as CollectionSpec
from elysia_pipelines.weaviate.spec import ProvisionResult as ProvisionResult
from elysia_pipelines.weaviate.spec import SchemaMismatchError as SchemaMismatchError
from elysia_pipelines.weaviate.spec import compare_schema as compare_schema

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


def _value(item: Any) -> Any:
    return item.value if isinstance(item, Enum) else item


def _retry(what: str) -> Retrying:
    return transient_retry(4, max_wait_s=10.0, what=what)


def _wrap(exc: BaseException, what: str, name: str) -> ElysiaError:
    if isinstance(exc, ElysiaError):
        return exc
    if is_transient(exc):
        return TransientError(
            f"Weaviate did not answer while trying to {what} {name!r}: {short_error(exc)}",
            "check the server is up and reachable (WEAVIATE_URL), then run again",
        )
    return ElysiaError(
        f"Weaviate refused to {what} {name!r}: {short_error(exc)}",
        "see the server's message above; the collection definition may be invalid "
        "for this server (e.g. a vectorizer module that is not enabled, or a "
        "replication factor above the number of nodes)",
    )


# --------------------------------------------------------------------------- reading


def collection_exists(client: weaviate.WeaviateClient, name: str) -> bool:
    try:
        for attempt in _retry(f"check collection {name}"):
            with attempt:
                return bool(client.collections.exists(name))
    except Exception as exc:
        raise _wrap(exc, "look up collection", name) from exc
    raise AssertionError("unreachable")


def list_collections(client: weaviate.WeaviateClient) -> list[str]:
    """Names of every collection on the server, sorted."""
    try:
        for attempt in _retry("list collections"):
            with attempt:
                return sorted(client.collections.list_all(simple=True))
    except Exception as exc:
        raise _wrap(exc, "list collections on", "the server") from exc
    raise AssertionError("unreachable")


def _get_config(client: weaviate.WeaviateClient, name: str) -> CollectionConfig:
    try:
        for attempt in _retry(f"read schema of {name}"):
            with attempt:
                return client.collections.get(name).config.get()
    except UnexpectedStatusCodeError as exc:
        if exc.status_code == 404:
            raise _not_found(name) from exc
        raise _wrap(exc, "read the schema of", name) from exc
    except WeaviateBaseError as exc:
        if not collection_exists(client, name):
            raise _not_found(name) from exc
        raise _wrap(exc, "read the schema of", name) from exc
    raise AssertionError("unreachable")


def _not_found(name: str) -> NotFoundError:
    return NotFoundError(
        f"collection {name!r} does not exist in Weaviate",
        "check the name (class names start with a capital letter) or create it first",
    )


def _vectors_of(config: CollectionConfig) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = []
    if config.vector_config:
        for vname, named in config.vector_config.items():
            module = str(_value(named.vectorizer.vectorizer))
            module_config = _json_safe(dict(named.vectorizer.model or {}))
            index = named.vector_index_config
            vectors.append(
                {
                    "name": vname,
                    "vectorizer": module,
                    "model": _model_from(module, module_config),
                    "module_config": module_config,
                    "source_properties": list(named.vectorizer.source_properties)
                    if named.vectorizer.source_properties
                    else None,
                    "index_type": _value(index.vector_index_type()) if index else None,
                    "distance": _value(getattr(index, "distance_metric", None)),
                    "dimension": None,
                }
            )
    if not vectors or config.vector_index_config is not None:
        # The classic unnamed vector: present unless the class has only named vectors.
        module = str(_value(config.vectorizer) or "none")
        module_config: dict[str, Any] = {}
        if config.vectorizer_config is not None:
            module = str(_value(config.vectorizer_config.vectorizer))
            module_config = _json_safe(dict(config.vectorizer_config.model or {}))
        vectors.insert(
            0,
            {
                "name": None,
                "vectorizer": module,
                "model": _model_from(module, module_config) if module != "none" else None,
                "module_config": module_config,
                "source_properties": None,
                "index_type": _value(config.vector_index_type),
                "distance": _value(getattr(config.vector_index_config, "distance_metric", None)),
                "dimension": None,
            },
        )
    return vectors


def _property_description(prop: Any) -> dict[str, Any]:
    data_type = str(_value(prop.data_type))
    return {
        "name": prop.name,
        "data_type": data_type,
        "filterable": bool(prop.index_filterable),
        "searchable": bool(prop.index_searchable) if data_type in _TEXT_TYPES else False,
        "range_filters": bool(prop.index_range_filters),
        "tokenization": _value(prop.tokenization) if data_type in _TEXT_TYPES else None,
        "description": prop.description,
    }


def description_from_config(config: CollectionConfig) -> dict[str, Any]:
    """The portable description (module docstring) of a parsed collection config."""
    tenancy = config.multi_tenancy_config
    return assemble_description(
        name=config.name,
        description=config.description,
        properties=[_property_description(p) for p in config.properties],
        vectors=_vectors_of(config),
        replication_factor=int(config.replication_config.factor),
        multi_tenancy=bool(tenancy.enabled),
        auto_tenant_creation=bool(tenancy.auto_tenant_creation),
        auto_tenant_activation=bool(tenancy.auto_tenant_activation),
        references=[
            {"name": r.name, "target_collections": list(r.target_collections)}
            for r in config.references
        ],
    )


# Tenants tried for a vector sample when describing a multi-tenant collection.
_SAMPLE_TENANTS = 5


def _vector_dimensions(
    client: weaviate.WeaviateClient, name: str, multi_tenancy: bool = False
) -> dict[str, int]:
    """Dimensions of the stored vectors, read from one object (the schema does not say).

    A multi-tenant collection is read per tenant: its first active tenants are sampled.
    """
    coll = client.collections.get(name)
    handles = [coll]
    if multi_tenancy:
        active = [t for t, status in list_tenants(client, name).items() if status == "ACTIVE"]
        handles = [coll.with_tenant(t) for t in active[:_SAMPLE_TENANTS]]
    for handle in handles:
        try:
            for attempt in _retry(f"sample a vector of {name}"):
                with attempt:
                    result = handle.query.fetch_objects(
                        limit=1, include_vector=True, return_properties=[]
                    )
        except Exception as exc:
            log.warning("could not read a vector of %s: %s", name, short_error(exc))
            return {}
        if result.objects:
            vector = result.objects[0].vector or {}
            return {k: len(v) for k, v in vector.items() if v and not isinstance(v[0], list)}
    return {}


def list_tenants(client: weaviate.WeaviateClient, name: str) -> dict[str, str]:
    """{tenant: activity status} of a multi-tenant collection, sorted by name.

    Statuses are Weaviate 1.32's names (ACTIVE, INACTIVE, OFFLOADED, ...); the older
    HOT/COLD/FROZEN are reported as ACTIVE/INACTIVE/OFFLOADED.
    """
    aliases = {"HOT": "ACTIVE", "COLD": "INACTIVE", "FROZEN": "OFFLOADED"}
    try:
        for attempt in _retry(f"list tenants of {name}"):
            with attempt:
                tenants = client.collections.get(name).tenants.get()
    except Exception as exc:
        raise _wrap(exc, "list the tenants of", name) from exc
    found = {}
    for tenant_name, tenant in tenants.items():
        status = str(_value(tenant.activity_status))
        found[str(tenant_name)] = aliases.get(status, status)
    return dict(sorted(found.items()))


def add_tenants(client: weaviate.WeaviateClient, name: str, tenants: Sequence[str]) -> None:
    """Create these tenants (active); existing ones are left as they are."""
    from weaviate.classes.tenants import Tenant

    if not tenants:
        return
    try:
        for attempt in _retry(f"create tenants of {name}"):
            with attempt:
                client.collections.get(name).tenants.create([Tenant(name=t) for t in tenants])
    except Exception as exc:
        raise _wrap(exc, "create tenants in", name) from exc


def uses_named_vectors(client: weaviate.WeaviateClient, name: str) -> bool:
    """True when the collection has only named vectors (objects then carry a dict)."""
    config = _get_config(client, name)
    return bool(config.vector_config) and config.vector_index_config is None


def describe_collection(client: weaviate.WeaviateClient, name: str) -> dict[str, Any]:
    """JSON-serialisable schema description, stored in backups and used by restore."""
    description = description_from_config(_get_config(client, name))
    dims = _vector_dimensions(client, name, bool(description["multi_tenancy"]))
    return with_dimensions(description, dims)


# --------------------------------------------------------------------------- creating


def _property(prop: PropertySpec, tokenization: str | None) -> Property:
    searchable = prop.searchable if prop.data_type in _TEXT_TYPES else None
    return Property(
        name=prop.name,
        data_type=DataType(prop.data_type),
        description=prop.description or None,
        index_filterable=prop.filterable,
        index_searchable=searchable,
        index_range_filters=prop.range_filters
        if prop.data_type in {"int", "number", "date"}
        else None,
        tokenization=Tokenization(tokenization) if tokenization else None,
    )


def _index_config(index_type: str | None, distance: str | None) -> _VectorIndexConfigCreate | None:
    if index_type is None and distance is None:
        return None
    metric = VectorDistances(distance) if distance else None
    if index_type == "flat":
        return Configure.VectorIndex.flat(distance_metric=metric)
    if index_type in (None, "hnsw"):
        return Configure.VectorIndex.hnsw(distance_metric=metric)
    raise ConfigError(f"vector index type {index_type!r} cannot be recreated", "use hnsw or flat")


def _named_vector(vector: Mapping[str, Any]) -> _VectorConfigCreate:
    index = _index_config(vector.get("index_type"), vector.get("distance"))
    if vector["vectorizer"] == "none":
        return Configure.Vectors.self_provided(name=vector["name"], vector_index_config=index)
    return Configure.Vectors.custom(
        name=vector["name"],
        module_name=vector["vectorizer"],
        module_config=dict(vector.get("module_config") or {}) or None,
        source_properties=vector.get("source_properties"),
        vector_index_config=index,
    )


def _create(
    client: weaviate.WeaviateClient,
    *,
    name: str,
    properties: list[Property],
    vectors: list[Mapping[str, Any]],
    replication_factor: int,
    description: str | None,
    multi_tenancy: tuple[bool, bool] | None = None,
) -> bool:
    """Create the class; False if it already existed (a concurrent run created it).

    `multi_tenancy` is (auto tenant creation, auto tenant activation) for a
    multi-tenant class, None for a single-tenant one.

    A retried create whose first reply was lost also reports False: the server
    cannot tell us which request made it, only that it now exists.
    """
    kwargs: dict[str, Any] = {}
    unnamed = [v for v in vectors if v.get("name") is None]
    named = [v for v in vectors if v.get("name") is not None]
    if unnamed:
        main = unnamed[0]
        module = main["vectorizer"]
        kwargs["vectorizer_config"] = (
            Configure.Vectorizer.none()
            if module == "none"
            else Configure.Vectorizer.custom(module, dict(main.get("module_config") or {}) or None)
        )
        index = _index_config(main.get("index_type"), main.get("distance"))
        if index is not None:
            kwargs["vector_index_config"] = index
    if named:
        kwargs["vector_config"] = [_named_vector(v) for v in named]
    if multi_tenancy is not None:
        kwargs["multi_tenancy_config"] = Configure.multi_tenancy(
            enabled=True,
            auto_tenant_creation=multi_tenancy[0],
            auto_tenant_activation=multi_tenancy[1],
        )
    try:
        for attempt in _retry(f"create collection {name}"):
            with attempt, warnings.catch_warnings():
                # We keep the classic unnamed vector on purpose (objects then carry a
                # plain list, the shape ingestion and restore use); Weaviate 1.32
                # supports it, the client only nudges towards named vectors.
                # Both of its deprecation warnings (Dep024 vectorizer_config, Dep025
                # vector_index_config) would otherwise reach the user's terminal.
                warnings.filterwarnings(
                    "ignore", message=".*(vectorizer_config|vector_index_config)"
                )
                client.collections.create(
                    name,
                    description=description,
                    properties=properties,
                    replication_config=Configure.replication(factor=replication_factor),
                    **kwargs,
                )
    except UnexpectedStatusCodeError as exc:
        # A concurrent run (or a retried request that did land) created it first.
        if exc.status_code == 422 and "already exists" in str(exc).lower():
            log.info("collection %s was created concurrently", name)
            return False
        raise _wrap(exc, "create collection", name) from exc
    except Exception as exc:
        raise _wrap(exc, "create collection", name) from exc
    return True


def _spec_multi_tenancy(spec: CollectionSpec) -> tuple[bool, bool] | None:
    if not spec.multi_tenancy:
        return None
    return (spec.auto_tenant_creation, spec.auto_tenant_activation)


def _spec_vectors(spec: CollectionSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.vector_name,
            "vectorizer": spec.vectorizer,
            "module_config": spec.effective_module_config() if spec.vectorizer != "none" else {},
            "index_type": spec.vector_index_type,
            "distance": spec.distance,
            "source_properties": None,
        }
    ]


def ensure_collection(
    client: weaviate.WeaviateClient, spec: CollectionSpec, *, strict: bool = True
) -> ProvisionResult:
    """Create the collection if missing; otherwise check it matches the spec.

    With `strict` (the default) a mismatch raises `SchemaMismatchError`, whose
    message lists every difference and what to do; with `strict=False` the
    differences are returned for the caller to report.
    """
    if not collection_exists(client, spec.name):
        created = _create(
            client,
            name=spec.name,
            properties=[_property(p, spec.tokenization_of(p)) for p in spec.properties],
            vectors=_spec_vectors(spec),
            replication_factor=spec.replication_factor,
            description=spec.description,
            multi_tenancy=_spec_multi_tenancy(spec),
        )
        differences = compare_schema(_get_config(client, spec.name), spec)
        if not differences:
            if created:
                log.info("created collection %s", spec.name)
            return ProvisionResult(created=created)
        # Someone else created it concurrently with another schema.
        if strict:
            raise SchemaMismatchError(spec.name, differences)
        return ProvisionResult(created=False, differences=differences)
    differences = compare_schema(_get_config(client, spec.name), spec)
    if differences and strict:
        raise SchemaMismatchError(spec.name, differences)
    return ProvisionResult(created=False, differences=differences)


def delete_collection(client: weaviate.WeaviateClient, name: str) -> bool:
    """Delete the collection and all its objects; False if it did not exist."""
    if not collection_exists(client, name):
        return False
    try:
        for attempt in _retry(f"delete collection {name}"):
            with attempt:
                client.collections.delete(name)
    except Exception as exc:
        raise _wrap(exc, "delete collection", name) from exc
    return True


def add_property(
    client: weaviate.WeaviateClient, collection: str, name: str, data_type: str
) -> None:
    """Add one property with an explicit type (instead of letting auto-schema guess one)."""
    prop = Property(name=name, data_type=DataType(data_type))
    try:
        for attempt in _retry(f"add property {collection}.{name}"):
            with attempt:
                client.collections.get(collection).config.add_property(prop)
    except Exception as exc:
        raise _wrap(exc, f"add property {name!r} to", collection) from exc


# --------------------------------------------------------------------------- restoring


def _check_description(desc: Mapping[str, Any]) -> None:
    fmt = desc.get("format")
    if fmt != DESCRIPTION_FORMAT:
        raise ElysiaError(
            f"collection description has format {fmt!r}; this version reads format "
            f"{DESCRIPTION_FORMAT}",
            "restore it with the elysia_pipelines version that made the backup",
        )
    if not isinstance(desc.get("properties"), list):
        raise ElysiaError(
            "collection description has no property list",
            "the backup's schema file is damaged; verify the backup",
        )


def _property_specs(desc: Mapping[str, Any]) -> tuple[list[PropertySpec], dict[str, str]]:
    props: list[PropertySpec] = []
    tokenization: dict[str, str] = {}
    for p in desc["properties"]:
        props.append(
            PropertySpec(
                name=p["name"],
                data_type=p["data_type"],
                filterable=bool(p.get("filterable", True)),
                searchable=bool(p.get("searchable", False)),
                range_filters=bool(p.get("range_filters", False)),
                description=p.get("description") or "",
            )
        )
        if p.get("tokenization"):
            tokenization[p["name"]] = p["tokenization"]
    return props, tokenization


def spec_from_description(
    desc: Mapping[str, Any],
    *,
    name: str | None = None,
    vectorizer: str | None = None,
    model: str | None = None,
    replication_factor: int | None = None,
) -> CollectionSpec:
    """A spec equal to the described collection; keywords override (e.g. another cluster).

    Only the main vector is kept: use `create_collection_from_description` to rebuild
    collections with several named vectors.
    """
    _check_description(desc)
    props, tokenization = _property_specs(desc)
    overridden = vectorizer is not None and vectorizer != desc.get("vectorizer")
    chosen = vectorizer or desc.get("vectorizer") or "none"
    module_config = {} if overridden or chosen == "none" else dict(desc.get("module_config") or {})
    if model is None and not overridden and VECTORIZER_MODEL_KEYS.get(chosen):
        model = desc.get("model")
    key = VECTORIZER_MODEL_KEYS.get(chosen)
    if key:
        module_config.pop(key, None)
    return CollectionSpec(
        name=name or desc["name"],
        vectorizer=chosen,
        model=model if key else None,
        replication_factor=replication_factor or int(desc.get("replication_factor", 1)),
        properties=tuple(props),
        tokenization=tokenization,
        module_config=module_config,
        vector_name=desc.get("vector_name"),
        vector_index_type=desc.get("vector_index_type"),
        distance=desc.get("distance"),
        description=desc.get("description"),
        # A module the source server reported is trusted; an override is user input.
        strict_vectorizer=vectorizer is not None,
        multi_tenancy=bool(desc.get("multi_tenancy")),
        auto_tenant_creation=bool(desc.get("auto_tenant_creation")),
        auto_tenant_activation=bool(desc.get("auto_tenant_activation")),
    )


def create_collection_from_description(
    client: weaviate.WeaviateClient,
    name: str,
    desc: Mapping[str, Any],
    *,
    vectorizer: str | None = None,
    model: str | None = None,
    replication_factor: int | None = None,
) -> ProvisionResult:
    """Recreate a described collection under `name` (any properties, all its vectors).

    If it already exists it must match (else `SchemaMismatchError`), so restoring into
    an existing collection never mixes schemas. Overrides apply to the main vector,
    for clusters that lack the source's vectorizer module or nodes.
    """
    spec = spec_from_description(
        desc,
        name=name,
        vectorizer=vectorizer,
        model=model,
        replication_factor=replication_factor,
    )
    extra_named = [v for v in desc.get("vectors", [])[1:] if v.get("name") is not None]
    if not extra_named:
        return ensure_collection(client, spec)
    if collection_exists(client, name):
        differences = compare_schema(_get_config(client, name), spec)
        if differences:
            raise SchemaMismatchError(name, differences)
        return ProvisionResult(created=False)
    created = _create(
        client,
        name=name,
        properties=[_property(p, spec.tokenization_of(p)) for p in spec.properties],
        vectors=_spec_vectors(spec) + [dict(v) for v in extra_named],
        replication_factor=spec.replication_factor,
        description=spec.description,
        multi_tenancy=_spec_multi_tenancy(spec),
    )
    return ProvisionResult(created=created)
