"""The gRPC half: `weaviate.v1.Weaviate` (Search, BatchObjects, BatchDelete, Aggregate).

Built on the client's own generated servicer so the wire format can never drift from
what `weaviate-client` sends. Faults are applied in a server interceptor, before any
handler runs, so they hit exactly the calls a test targets.
"""

from __future__ import annotations

import statistics
import struct
import time
import uuid as uuid_lib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np
from google.protobuf import struct_pb2
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    base_search_pb2,
    batch_delete_pb2,
    batch_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from elysia_pipelines_tests.weaviate_server import filters as flt
from elysia_pipelines_tests.weaviate_server import vectors as vec
from elysia_pipelines_tests.weaviate_server.references import BEACON_PREFIX, is_reference
from elysia_pipelines_tests.weaviate_server.schema import SchemaError, parse_date
from elysia_pipelines_tests.weaviate_server.store import (
    MAX_RESULTS,
    IncomingObject,
    Store,
    StoredObject,
    StoreError,
    normalize_class_name,
)

if TYPE_CHECKING:
    from elysia_pipelines_tests.weaviate_server.faults import Faults

GRPC_OPERATIONS = {
    "Search": "search",
    "BatchObjects": "batch",
    "BatchReferences": "batch",
    "BatchStream": "batch",
    "BatchDelete": "delete",
    "Aggregate": "aggregate",
    "TenantsGet": "schema",
    "Check": "meta",
    "Watch": "meta",
}


_TENANT_STATUS = {
    "ACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_ACTIVE,
    "INACTIVE": tenants_pb2.TENANT_ACTIVITY_STATUS_INACTIVE,
}

# ------------------------------------------------------------------ decoding


def _struct_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {k: _struct_value(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_struct_value(v) for v in value.list_value.values]
    return None


def _decode_properties(props: Any) -> tuple[dict[str, Any], set[str]]:
    """BatchObject.Properties / ObjectPropertiesValue -> (dict, names of int arrays)."""
    out: dict[str, Any] = {k: _struct_value(v) for k, v in props.non_ref_properties.fields.items()}
    int_arrays: set[str] = set()
    for arr in props.text_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.int_array_properties:
        out[arr.prop_name] = list(arr.values)
        int_arrays.add(arr.prop_name)
    for arr in props.boolean_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.number_array_properties:
        if arr.values_bytes:
            n = len(arr.values_bytes) // 8
            out[arr.prop_name] = list(struct.unpack(f"<{n}d", arr.values_bytes))
        else:
            out[arr.prop_name] = list(arr.values)
    for obj in props.object_properties:
        out[obj.prop_name] = _decode_properties(obj.value)[0]
    for arr in props.object_array_properties:
        out[arr.prop_name] = [_decode_properties(v)[0] for v in arr.values]
    for name in props.empty_list_props:
        out[name] = []
    return out, int_arrays


def decode_batch_object(obj: batch_pb2.BatchObject) -> IncomingObject:
    properties: dict[str, Any] = {}
    int_arrays: set[str] = set()
    if obj.HasField("properties"):
        properties, int_arrays = _decode_properties(obj.properties)
        for ref in obj.properties.single_target_ref_props:
            properties[ref.prop_name] = [{"beacon": f"weaviate://localhost/{u}"} for u in ref.uuids]
        for ref in obj.properties.multi_target_ref_props:
            properties[ref.prop_name] = [
                {"beacon": f"weaviate://localhost/{ref.target_collection}/{u}"} for u in ref.uuids
            ]
    vectors: dict[str, bytes] = {}
    if obj.vector_bytes:
        vectors[""] = obj.vector_bytes
    elif len(obj.vector) > 0:
        vectors[""] = struct.pack(f"<{len(obj.vector)}f", *obj.vector)
    for named in obj.vectors:
        if named.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
            raise SchemaError("multi-vectors are not supported by the test server")
        vectors[named.name or ""] = named.vector_bytes
    return IncomingObject(
        class_name=obj.collection,
        uuid=obj.uuid or None,
        properties=properties,
        vectors=vectors,
        int_arrays=frozenset(int_arrays),
        tenant=obj.tenant,
    )


# ------------------------------------------------------------------ encoding


def _plain_value(value: Any) -> properties_pb2.Value:
    """Encode a value without schema help (nested objects)."""
    if value is None:
        return properties_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int):
        return properties_pb2.Value(int_value=value)
    if isinstance(value, float):
        return properties_pb2.Value(number_value=value)
    if isinstance(value, dict):
        return properties_pb2.Value(object_value=_plain_properties(value))
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return properties_pb2.Value(
                list_value=properties_pb2.ListValue(
                    object_values=properties_pb2.ObjectValues(
                        values=[_plain_properties(v) for v in value]
                    )
                )
            )
        return _list_value(value, _infer_list_type(value))
    return properties_pb2.Value(text_value=str(value))


def _plain_properties(value: dict[str, Any]) -> properties_pb2.Properties:
    return properties_pb2.Properties(fields={k: _plain_value(v) for k, v in value.items()})


def _infer_list_type(value: list[Any]) -> str:
    sample = value[0] if value else ""
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int):
        return "int"
    if isinstance(sample, float):
        return "number"
    return "text"


def _list_value(values: list[Any], inner: str) -> properties_pb2.Value:
    if inner == "int":
        lv = properties_pb2.ListValue(
            int_values=properties_pb2.IntValues(
                values=struct.pack(f"<{len(values)}q", *[int(v) for v in values])
            )
        )
    elif inner == "number":
        lv = properties_pb2.ListValue(
            number_values=properties_pb2.NumberValues(
                values=struct.pack(f"<{len(values)}d", *[float(v) for v in values])
            )
        )
    elif inner == "boolean":
        lv = properties_pb2.ListValue(bool_values=properties_pb2.BoolValues(values=values))
    elif inner == "date":
        lv = properties_pb2.ListValue(date_values=properties_pb2.DateValues(values=values))
    elif inner == "uuid":
        lv = properties_pb2.ListValue(uuid_values=properties_pb2.UuidValues(values=values))
    elif inner == "object":
        lv = properties_pb2.ListValue(
            object_values=properties_pb2.ObjectValues(values=[_plain_properties(v) for v in values])
        )
    else:
        lv = properties_pb2.ListValue(
            text_values=properties_pb2.TextValues(values=[str(v) for v in values])
        )
    return properties_pb2.Value(list_value=lv)


def encode_nested(
    value: dict[str, Any],
    nested: list[dict[str, Any]] | None,
    wanted: search_get_pb2.ObjectPropertiesRequest | None = None,
) -> properties_pb2.Properties:
    """A nested object typed by its nestedProperties, cut down to what `wanted` asks for."""
    by_name = {p["name"]: p for p in nested or []}
    names: list[str] = list(value)
    sub: dict[str, search_get_pb2.ObjectPropertiesRequest] = {}
    if wanted is not None:
        sub = {o.prop_name: o for o in wanted.object_properties}
        names = [n for n in [*wanted.primitive_properties, *sub] if n in value]
    fields = {}
    for name in names:
        prop = by_name.get(name)
        fields[name] = encode_value(
            value[name],
            prop["dataType"][0] if prop else None,
            prop.get("nestedProperties") if prop else None,
            sub.get(name),
        )
    return properties_pb2.Properties(fields=fields)


def encode_value(
    value: Any,
    data_type: str | None,
    nested: list[dict[str, Any]] | None = None,
    wanted: search_get_pb2.ObjectPropertiesRequest | None = None,
) -> properties_pb2.Value:
    """Encode a stored value as the schema's type (ints were doubles on the way in)."""
    if value is None:
        return properties_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if data_type is None:
        return _plain_value(value)
    if data_type == "object":
        return properties_pb2.Value(object_value=encode_nested(value, nested, wanted))
    if data_type == "object[]":
        return properties_pb2.Value(
            list_value=properties_pb2.ListValue(
                object_values=properties_pb2.ObjectValues(
                    values=[encode_nested(v, nested, wanted) for v in value]
                )
            )
        )
    if data_type.endswith("[]"):
        return _list_value(list(value), data_type[:-2])
    if data_type == "text":
        return properties_pb2.Value(text_value=value)
    if data_type == "int":
        return properties_pb2.Value(int_value=int(value))
    if data_type == "number":
        return properties_pb2.Value(number_value=float(value))
    if data_type == "boolean":
        return properties_pb2.Value(bool_value=bool(value))
    if data_type == "date":
        return properties_pb2.Value(date_value=value)
    if data_type == "uuid":
        return properties_pb2.Value(uuid_value=value)
    if data_type == "blob":
        return properties_pb2.Value(blob_value=value)
    if data_type == "geoCoordinates":
        return properties_pb2.Value(
            geo_value=properties_pb2.GeoCoordinate(
                latitude=float(value.get("latitude", 0.0)),
                longitude=float(value.get("longitude", 0.0)),
            )
        )
    return _plain_value(value)


_ALL_METADATA = search_get_pb2.MetadataRequest(
    creation_time_unix=True,
    last_update_time_unix=True,
    distance=True,
    certainty=True,
    score=True,
    explain_score=True,
    is_consistent=True,
)


def _result(
    store: Store,
    collection: str,
    obj: StoredObject,
    props: dict[str, dict[str, Any]],
    wanted: search_get_pb2.PropertiesRequest | None,
    metadata: search_get_pb2.MetadataRequest | None,
    distance: float | None,
    score: float | None,
    metric: str,
) -> search_get_pb2.SearchResult:
    """One hit: its properties as asked for (references resolved) and its metadata."""
    return search_get_pb2.SearchResult(
        properties=_properties_result(store, collection, obj, props, wanted),
        metadata=_metadata_result(obj, metadata, distance, score, metric),
    )


def _properties_result(
    store: Store,
    collection: str,
    obj: StoredObject,
    props: dict[str, dict[str, Any]],
    wanted: search_get_pb2.PropertiesRequest | None,
    *,
    depth: int = 0,
) -> search_get_pb2.PropertiesResult:
    """Non-reference properties (all, or the ones asked for) plus requested references.

    Property names in the request lose a capital first letter, as Weaviate's parser
    does; a reference lists the targets that still exist (a dangling beacon is skipped).
    """
    nested_wanted: dict[str, search_get_pb2.ObjectPropertiesRequest] = {}
    if wanted is None or wanted.return_all_nonref_properties:
        names = [n for n in obj.properties if not (n in props and is_reference(props[n]))]
    else:
        nested_wanted = {_lower_first(o.prop_name): o for o in wanted.object_properties}
        names = [_lower_first(n) for n in wanted.non_ref_properties] + list(nested_wanted)
        names = [n for n in names if n in obj.properties]
    fields = {}
    for name in names:
        prop = props.get(name)
        if prop is not None and is_reference(prop):
            continue  # cross-references are only returned when asked for as references
        fields[name] = encode_value(
            obj.properties[name],
            prop["dataType"][0] if prop else None,
            prop.get("nestedProperties") if prop else None,
            nested_wanted.get(name),
        )
    result = search_get_pb2.PropertiesResult(
        non_ref_props=properties_pb2.Properties(fields=fields),
        target_collection=collection,
    )
    if wanted is None or len(wanted.ref_properties) == 0:
        return result
    result.ref_props_requested = True
    for ref_request in wanted.ref_properties:
        name = _lower_first(ref_request.reference_property)
        prop = props.get(name)
        if prop is None or not is_reference(prop):
            raise SchemaError(
                f"could not find reference property '{name}' in collection {collection}"
            )
        targets: list[search_get_pb2.PropertiesResult] = []
        for beacon in obj.properties.get(name) or []:
            found = store.resolve(beacon["beacon"], obj.tenant)
            if found is None:
                continue
            target_name, target = found
            if ref_request.target_collection and target_name != normalize_class_name(
                ref_request.target_collection
            ):
                continue
            target_props = store.collection(target_name).props
            inner = _properties_result(
                store,
                target_name,
                target,
                target_props,
                ref_request.properties if ref_request.HasField("properties") else None,
                depth=depth + 1,
            )
            inner.metadata.CopyFrom(
                _metadata_result(
                    target,
                    ref_request.metadata if ref_request.HasField("metadata") else _NO_METADATA,
                    None,
                    None,
                    "cosine",
                )
            )
            targets.append(inner)
        if targets:
            result.ref_props.append(
                search_get_pb2.RefPropertiesResult(prop_name=name, properties=targets)
            )
    return result


_NO_METADATA = search_get_pb2.MetadataRequest()


def _lower_first(name: str) -> str:
    """schema.LowercaseFirstLetter: how Weaviate reads property names in requests."""
    return name[:1].lower() + name[1:]


def _metadata_result(
    obj: StoredObject,
    metadata: search_get_pb2.MetadataRequest | None,
    distance: float | None,
    score: float | None,
    metric: str,
) -> search_get_pb2.MetadataResult:
    # Like Weaviate, only the metadata asked for comes back; asked-for scores that this
    # search does not compute are present with their zero value (score 0, empty explanation).
    asked = metadata if metadata is not None else _ALL_METADATA
    meta = search_get_pb2.MetadataResult(id=obj.uuid, id_as_bytes=uuid_lib.UUID(obj.uuid).bytes)
    if asked.creation_time_unix:
        meta.creation_time_unix = obj.created_ms
        meta.creation_time_unix_present = True
    if asked.last_update_time_unix:
        meta.last_update_time_unix = obj.updated_ms
        meta.last_update_time_unix_present = True
    if distance is not None and asked.distance:
        meta.distance = distance
        meta.distance_present = True
    if distance is not None and asked.certainty and metric == "cosine":
        meta.certainty = 1.0 - distance / 2.0
        meta.certainty_present = True
    if asked.score:
        meta.score = score or 0.0
        meta.score_present = True
    if asked.explain_score:
        meta.explain_score = "" if score is None else f", BM25F_score:{score:.6f}"
        meta.explain_score_present = True
    if asked.is_consistent:
        meta.is_consistent = True
        meta.is_consistent_present = True
    if metadata is not None and (metadata.vector or len(metadata.vectors) > 0):
        names_wanted = set(metadata.vectors)
        for vname, data in (obj.vectors or {}).items():
            if metadata.vector or vname in names_wanted:
                meta.vectors.append(
                    base_pb2.Vectors(
                        name=vname,
                        vector_bytes=data,
                        type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32,
                    )
                )
    return meta


# ------------------------------------------------------------------ servicer


@contextmanager
def _request_errors(context: grpc.ServicerContext) -> Iterator[None]:
    """Weaviate's gRPC handlers return request errors as plain errors: status UNKNOWN.

    So clients (and our retry classification) see a permanent error with a message,
    never INVALID_ARGUMENT/NOT_FOUND, exactly as against a real 1.32 node.
    """
    try:
        yield
    except (SchemaError, StoreError) as exc:
        context.abort(
            grpc.StatusCode.UNKNOWN, exc.message if isinstance(exc, StoreError) else str(exc)
        )
        raise  # unreachable: abort raises


def _batch_reply(reply: Any, start: float, errors: dict[int, str]) -> Any:
    """A batch reply (`BatchObjectsReply` or `BatchReferencesReply`): the time since `start`
    and the per-index errors in index order, as Weaviate answers them."""
    return reply(
        took=time.perf_counter() - start,
        errors=[reply.BatchError(index=i, error=e) for i, e in sorted(errors.items())],
    )


class WeaviateServicer(weaviate_pb2_grpc.WeaviateServicer):
    """The four RPCs weaviate-client 4.x uses below server version 1.36."""

    def __init__(
        self,
        store_getter: Callable[[], Store],
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._store = store_getter
        self._on_batch = on_batch

    def BatchObjects(
        self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext
    ) -> batch_pb2.BatchObjectsReply:
        start = time.perf_counter()
        if self._on_batch is not None:
            self._on_batch(len(request.objects), request.ByteSize())
        store = self._store()
        errors: dict[int, str] = {}
        with store.lock:
            for index, obj in enumerate(request.objects):
                try:
                    store.put(decode_batch_object(obj))
                except (SchemaError, StoreError) as exc:
                    errors[index] = str(exc)
        return _batch_reply(batch_pb2.BatchObjectsReply, start, errors)

    def BatchReferences(
        self, request: batch_pb2.BatchReferencesRequest, context: grpc.ServicerContext
    ) -> batch_pb2.BatchReferencesReply:
        start = time.perf_counter()
        refs = [
            (
                ref.from_collection,
                ref.from_uuid,
                ref.name,
                f"{BEACON_PREFIX}{ref.to_collection + '/' if ref.to_collection else ''}"
                f"{ref.to_uuid}",
                ref.tenant,
            )
            for ref in request.references
        ]
        errors = self._store().batch_references(refs)
        return _batch_reply(batch_pb2.BatchReferencesReply, start, errors)

    def BatchDelete(
        self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext
    ) -> batch_delete_pb2.BatchDeleteReply:
        start = time.perf_counter()
        with _request_errors(context):
            where = flt.from_grpc(request.filters) if request.HasField("filters") else None
            if where is None:
                raise SchemaError("batch delete needs a filter")
            matches, ids = self._store().delete_where(
                request.collection, where, dry_run=request.dry_run, tenant=request.tenant
            )
        reply = batch_delete_pb2.BatchDeleteReply(
            took=time.perf_counter() - start,
            matches=matches,
            # batchDeleteReplyFromObjects (grpc/v1/batch_delete.go) counts every handled
            # object without an error as successful, dry-run ones included (REST marks
            # them DRYRUN instead); at most QUERY_MAXIMUM_RESULTS are handled per call.
            successful=len(ids),
            failed=0,
        )
        if request.verbose:
            reply.objects.extend(
                # Weaviate marks dry-run matches successful too: nothing failed.
                batch_delete_pb2.BatchDeleteObject(uuid=uuid_lib.UUID(uid).bytes, successful=True)
                for uid in ids
            )
        return reply

    def Search(
        self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> search_get_pb2.SearchReply:
        start = time.perf_counter()
        store = self._store()
        with _request_errors(context):
            unsupported = [name for name in ("generative", "rerank") if request.HasField(name)]
            if unsupported:
                raise SchemaError(
                    f"the test server does not support {', '.join(unsupported)}; use "
                    "fetch_objects, near_vector, near_object, near_text, bm25 or hybrid"
                )
            grouping = request.group_by if request.HasField("group_by") else None
            where = flt.from_grpc(request.filters) if request.HasField("filters") else None
            keyword = None
            alpha = None
            if request.HasField("bm25_search"):
                keyword = (request.bm25_search.query, list(request.bm25_search.properties) or None)
            with store.lock:
                coll = store.collection(request.collection)
                query = vector_query(store, coll, request, request.tenant)
                if request.HasField("hybrid_search"):
                    keyword, query, alpha = hybrid_args(
                        store, coll, request.hybrid_search, request.tenant
                    )
                rows = store.query(
                    request.collection,
                    flt=where,
                    limit=MAX_RESULTS if grouping is not None else request.limit,
                    offset=0 if grouping is not None else request.offset,
                    after=request.after,
                    sort=[(s.path[0], s.ascending) for s in request.sort_by if s.path],
                    vector_query=query,
                    keyword=keyword,
                    alpha=alpha,
                    tenant=request.tenant,
                )
                props = coll.props
                metric = coll.distance_metric(
                    next(iter(query.targets())) if query else coll.default_vector_name()
                )
                wanted = request.properties if request.HasField("properties") else None
                metadata = request.metadata if request.HasField("metadata") else None
                if grouping is not None:
                    groups = []
                    for value, members in _search_groups(rows, grouping, props):
                        dists = [d for _, d, _ in members if d is not None]
                        groups.append(
                            search_get_pb2.GroupByResult(
                                name=value,
                                min_distance=min(dists, default=0.0),
                                max_distance=max(dists, default=0.0),
                                number_of_objects=len(members),
                                objects=[
                                    _result(
                                        store, coll.name, o, props, wanted, metadata, d, sc, metric
                                    )
                                    for o, d, sc in members
                                ],
                            )
                        )
                    return search_get_pb2.SearchReply(
                        took=time.perf_counter() - start, group_by_results=groups
                    )
                results = [
                    _result(store, coll.name, obj, props, wanted, metadata, dist, score, metric)
                    for obj, dist, score in rows
                ]
        return search_get_pb2.SearchReply(took=time.perf_counter() - start, results=results)

    def Aggregate(
        self, request: aggregate_pb2.AggregateRequest, context: grpc.ServicerContext
    ) -> aggregate_pb2.AggregateReply:
        start = time.perf_counter()
        store = self._store()
        with _request_errors(context):
            where = flt.from_grpc(request.filters) if request.HasField("filters") else None
            with store.lock:
                coll = store.collection(request.collection)
                query = vector_query(store, coll, request, request.tenant)
                keyword = alpha = None
                if request.HasField("hybrid"):
                    keyword, query, alpha = hybrid_args(store, coll, request.hybrid, request.tenant)
                if query is not None or keyword is not None:
                    rows = store.query(
                        request.collection,
                        flt=where,
                        limit=request.object_limit or 10_000,
                        vector_query=query,
                        keyword=keyword,
                        alpha=alpha,
                        tenant=request.tenant,
                    )
                    objects = [row[0] for row in rows]
                else:
                    objects = store.matching(request.collection, where, request.tenant)
                props = coll.props
                if request.HasField("group_by"):
                    grouped = _aggregate_groups(request, objects, props)
                    return aggregate_pb2.AggregateReply(
                        took=time.perf_counter() - start, grouped_results=grouped
                    )
                single = aggregate_pb2.AggregateReply.Single()
                if request.objects_count:
                    single.objects_count = len(objects)
                if len(request.aggregations) > 0:
                    single.aggregations.CopyFrom(_aggregations(request, objects, props))
        return aggregate_pb2.AggregateReply(took=time.perf_counter() - start, single_result=single)

    def TenantsGet(
        self, request: tenants_pb2.TenantsGetRequest, context: grpc.ServicerContext
    ) -> tenants_pb2.TenantsGetReply:
        start = time.perf_counter()
        with _request_errors(context):
            tenants = self._store().list_tenants(request.collection)
        if request.HasField("names"):
            wanted = set(request.names.values)
            tenants = [t for t in tenants if t["name"] in wanted]
        return tenants_pb2.TenantsGetReply(
            took=time.perf_counter() - start,
            tenants=[
                tenants_pb2.Tenant(
                    name=t["name"], activity_status=_TENANT_STATUS[t["activityStatus"]]
                )
                for t in tenants
            ],
        )


_COMBINATIONS = {
    base_search_pb2.COMBINATION_METHOD_TYPE_SUM: "sum",
    base_search_pb2.COMBINATION_METHOD_TYPE_MIN: "min",
    base_search_pb2.COMBINATION_METHOD_TYPE_AVERAGE: "average",
    base_search_pb2.COMBINATION_METHOD_TYPE_RELATIVE_SCORE: "relative",
    base_search_pb2.COMBINATION_METHOD_TYPE_MANUAL: "manual",
}


def _target_names(search: Any) -> tuple[list[str], Any]:
    """Target vector names of a near_* search and its Targets message (if any)."""
    if search.HasField("targets") and len(search.targets.target_vectors) > 0:
        return list(search.targets.target_vectors), search.targets
    return list(search.target_vectors), None


def _query_rows(vectors: Any) -> list[np.ndarray]:
    """A base.Vectors as query rows: a multi (2-D) query is several query vectors."""
    if vectors.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
        return vec.decode_multi(vectors.vector_bytes)
    return [vec.decode(vectors.vector_bytes)]


def vector_query(store: Store, coll: Any, request: Any, tenant: str) -> vec.VectorQuery | None:
    """near_vector / near_object / near_text of a Search or Aggregate request, resolved.

    Each query vector is paired with its target; several vectors for one target are
    several pairs (Weaviate >= 1.27), weighted in order by `weights_for_targets`.
    """
    kind = next(
        (
            k
            for k in ("near_vector", "near_object", "near_text")
            if k in request.DESCRIPTOR.fields_by_name and request.HasField(k)
        ),
        None,
    )
    if kind is None:
        return None
    search = getattr(request, kind)
    names, targets = _target_names(search)
    named = coll.schema.get("vectorConfig") or {}
    if not names:
        if len(named) > 1:
            raise SchemaError(
                "multiple vectors configured for class, target vector must be specified"
            )
        names = [coll.default_vector_name()]
    for name in names:
        if named and name not in named:
            raise SchemaError(f"target vector {name!r} not found in class {coll.name}")
    query = vec.VectorQuery()
    if kind == "near_vector":
        if len(search.vector_for_targets) > 0:
            for entry in search.vector_for_targets:
                if len(entry.vectors) > 0:
                    for vectors in entry.vectors:
                        query.pairs += [(entry.name, q, 1.0) for q in _query_rows(vectors)]
                else:
                    query.pairs.append((entry.name, vec.decode(entry.vector_bytes), 1.0))
        elif len(search.vector_per_target) > 0:
            for name, data in search.vector_per_target.items():
                query.pairs.append((name, vec.decode(data), 1.0))
        else:
            rows = _sent_vectors(search)
            if not rows:
                raise SchemaError("near_vector without a vector")
            query.pairs = [(name, q, 1.0) for name in names for q in rows]
    elif kind == "near_object":
        shard = store.shard(coll, tenant)
        found = shard.objects.get(str(uuid_lib.UUID(search.id))) if search.id else None
        if found is None:
            raise SchemaError(f"nearObject: vector not found for id {search.id}")
        for name in names:
            data = (found.vectors or {}).get(name)
            if data is None:
                raise SchemaError(f"nearObject: object {search.id} has no vector {name!r}")
            query.pairs.append((name, vec.decode(data), 1.0))
    else:
        for name in names:
            query.pairs.append((name, _near_text_vector(store, coll, search, tenant), 1.0))
    if targets is not None:
        query.combination = _COMBINATIONS.get(targets.combination, "min")
        if len(targets.weights_for_targets) > 0:
            weights = [w.weight for w in targets.weights_for_targets]
            if len(weights) == len(query.pairs):
                query.pairs = [(n, q, w) for (n, q, _), w in zip(query.pairs, weights, strict=True)]
    if search.HasField("distance"):
        query.max_distance = search.distance
    elif search.HasField("certainty"):
        query.max_distance = 2.0 * (1.0 - search.certainty)
    return query


def _sent_vectors(search: Any) -> list[np.ndarray]:
    """The query vectors of a `NearVector` or `Hybrid` message, in the first of the three
    forms clients send (`vectors`, `vector_bytes`, the deprecated float list); none: []."""
    if len(search.vectors) > 0:
        return [q for v in search.vectors for q in _query_rows(v)]
    if search.vector_bytes:
        return [vec.decode(search.vector_bytes)]
    if len(search.vector) > 0:
        return [np.array(search.vector, dtype=np.float64)]
    return []


def hybrid_args(
    store: Store, coll: Any, hybrid: Any, tenant: str
) -> tuple[tuple[str, list[str] | None], vec.VectorQuery | None, float | None]:
    """(keyword half, vector half, alpha) of a hybrid search.

    The vector half is the vector sent, else the query text through the modelled
    contextionary; without either (no vectorizer) only the keyword half runs.
    """
    keyword = (hybrid.query, list(hybrid.properties) or None)
    names, _ = _target_names(hybrid)
    if not names:
        names = [coll.default_vector_name()]
    query: vec.VectorQuery | None = None
    if hybrid.HasField("near_vector"):
        query = vector_query(store, coll, hybrid, tenant)
    else:
        rows = _sent_vectors(hybrid)
        if (
            not rows
            and hybrid.query
            and any(
                module == vec.CONTEXTIONARY for module, _ in vec.vectorizers(coll.schema).values()
            )
        ):
            rows = [vec.embed_text(hybrid.query)]
        if rows:
            query = vec.VectorQuery(pairs=[(n, q, 1.0) for n in names for q in rows])
    if query is None:
        return keyword, None, None
    alpha = hybrid.alpha_param if hybrid.use_alpha_param else hybrid.alpha
    return keyword, query, float(alpha)


def _near_text_vector(store: Store, coll: Any, search: Any, tenant: str) -> np.ndarray:
    """The concepts' vector, moved toward / away from concepts and objects as asked."""
    if not any(module == vec.CONTEXTIONARY for module, _ in vec.vectorizers(coll.schema).values()):
        raise SchemaError(
            f"could not vectorize input for collection {coll.name}: near_text needs a "
            "vectorizer module (the test server models text2vec-contextionary only)"
        )
    query = vec.embed_text(" ".join(search.query))
    for field_name, away in (("move_to", False), ("move_away", True)):
        if not search.HasField(field_name):
            continue
        movement = getattr(search, field_name)
        parts = [vec.embed_text(c) for c in movement.concepts]
        shard = store.shard(coll, tenant)
        for uid in movement.uuids:
            found = shard.objects.get(str(uuid_lib.UUID(uid)))
            data = (found.vectors or {}).get(coll.default_vector_name()) if found else None
            if data is not None:
                parts.append(vec.decode(data))
        if parts:
            query = vec.move(query, np.mean(parts, axis=0), movement.force, away=away)
    return query


def _search_groups(
    rows: list[tuple[StoredObject, float | None, float | None]],
    grouping: search_get_pb2.GroupBy,
    props: dict[str, dict[str, Any]],
) -> list[tuple[str, list[tuple[StoredObject, float | None, float | None]]]]:
    """Hits grouped by a property's value in rank order: the first `number_of_groups`
    values met, each with its first `objects_per_group` hits."""
    name = _lower_first(grouping.path[0]) if grouping.path else ""
    if name not in props:
        raise SchemaError(f"groupBy: property {name!r} not found in the collection")
    groups: dict[str, list[tuple[StoredObject, float | None, float | None]]] = {}
    for row in rows:
        value = row[0].properties.get(name)
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            key = str(item)
            if key not in groups and len(groups) >= grouping.number_of_groups:
                continue
            members = groups.setdefault(key, [])
            if len(members) < grouping.objects_per_group:
                members.append(row)
    return list(groups.items())


def _aggregations(
    request: aggregate_pb2.AggregateRequest,
    objects: list[StoredObject],
    props: dict[str, dict[str, Any]],
) -> aggregate_pb2.AggregateReply.Aggregations:
    return aggregate_pb2.AggregateReply.Aggregations(
        aggregations=[_aggregate_property(a, objects, props) for a in request.aggregations]
    )


def _aggregate_groups(
    request: aggregate_pb2.AggregateRequest,
    objects: list[StoredObject],
    props: dict[str, dict[str, Any]],
) -> aggregate_pb2.AggregateReply.Grouped:
    """Groups by one property's value (each element of an array), largest group first."""
    name = _lower_first(request.group_by.property)
    prop = props.get(name)
    if prop is None:
        raise SchemaError(
            f"could not find property {name!r} in collection {request.collection} to group by"
        )
    data_type = prop["dataType"][0].removesuffix("[]")
    groups: dict[Any, list[StoredObject]] = {}
    for obj in objects:
        value = obj.properties.get(name)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                groups.setdefault(item, []).append(obj)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    if request.HasField("limit"):
        ordered = ordered[: request.limit]
    out = aggregate_pb2.AggregateReply.Grouped()
    for value, members in ordered:
        by = aggregate_pb2.AggregateReply.Group.GroupedBy(path=[name])
        if data_type == "int":
            by.int = int(value)
        elif data_type == "number":
            by.number = float(value)
        elif data_type == "boolean":
            by.boolean = bool(value)
        else:
            by.text = str(value)
        group = aggregate_pb2.AggregateReply.Group(grouped_by=by)
        if request.objects_count:
            group.objects_count = len(members)
        if len(request.aggregations) > 0:
            group.aggregations.CopyFrom(_aggregations(request, members, props))
        out.groups.append(group)
    return out


def _aggregate_property(
    agg: aggregate_pb2.AggregateRequest.Aggregation,
    objects: list[StoredObject],
    props: dict[str, dict[str, Any]],
) -> aggregate_pb2.AggregateReply.Aggregations.Aggregation:
    reply_cls = aggregate_pb2.AggregateReply.Aggregations.Aggregation
    name = agg.property
    values: list[Any] = []
    for obj in objects:
        value = obj.properties.get(name)
        if isinstance(value, list):
            values.extend(value)
        elif value is not None:
            values.append(value)
    kind = agg.WhichOneof("aggregation")
    data_type = (props.get(name) or {"dataType": ["text"]})["dataType"][0]
    if kind in ("int", "number"):
        nums = [float(v) for v in values]
        cls = reply_cls.Integer if kind == "int" else reply_cls.Number
        conv: Callable[[float], Any] = int if kind == "int" else float
        out = cls(count=len(nums), type=data_type)
        if nums:
            out.mean = statistics.fmean(nums)
            out.median = float(statistics.median(nums))
            out.mode = conv(Counter(nums).most_common(1)[0][0])
            out.maximum = conv(max(nums))
            out.minimum = conv(min(nums))
            out.sum = conv(sum(nums))
        return reply_cls(property=name, **{kind: out})
    if kind == "text":
        limit = agg.text.top_occurences_limit or 5
        top = Counter(str(v) for v in values).most_common(limit)
        text = reply_cls.Text(
            count=len(values),
            type=data_type,
            top_occurences=reply_cls.Text.TopOccurrences(
                items=[
                    reply_cls.Text.TopOccurrences.TopOccurrence(value=v, occurs=n) for v, n in top
                ]
            ),
        )
        return reply_cls(property=name, text=text)
    if kind == "boolean":
        trues = sum(1 for v in values if v is True)
        falses = len(values) - trues
        total = len(values) or 1
        boolean = reply_cls.Boolean(
            count=len(values),
            type=data_type,
            total_true=trues,
            total_false=falses,
            percentage_true=trues / total,
            percentage_false=falses / total,
        )
        return reply_cls(property=name, boolean=boolean)
    if kind == "date":
        parsed = sorted((parse_date(v), v) for v in values)
        date = reply_cls.Date(count=len(values), type=data_type)
        if parsed:
            date.minimum = parsed[0][1]
            date.maximum = parsed[-1][1]
            date.median = parsed[len(parsed) // 2][1]
            date.mode = Counter(v for _, v in parsed).most_common(1)[0][0]
        return reply_cls(property=name, date=date)
    raise SchemaError(f"aggregation {kind!r} is not supported by the test server")


class FaultInterceptor(grpc.ServerInterceptor):
    """Applies the server's fault rules to every unary call before its handler runs."""

    def __init__(self, faults_getter: Callable[[], Faults]) -> None:
        self._faults = faults_getter

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method.rsplit("/", 1)[-1]
        op = GRPC_OPERATIONS.get(method, "meta")
        inner = handler.unary_unary
        faults = self._faults

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            decision = faults().decide(op)
            if decision.latency_s:
                time.sleep(decision.latency_s)
            if decision.action == "error":
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault: service unavailable")
            elif decision.action == "throttle":
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "injected fault: too many requests"
                )
            elif decision.action == "drop":
                context.abort(grpc.StatusCode.UNAVAILABLE, "injected fault: connection dropped")
            elif decision.action == "weaviate":
                if method == "BatchObjects":
                    return batch_pb2.BatchObjectsReply(
                        errors=[
                            batch_pb2.BatchObjectsReply.BatchError(index=i, error=decision.message)
                            for i in range(len(request.objects))
                        ]
                    )
                context.abort(grpc.StatusCode.UNKNOWN, decision.message)
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
