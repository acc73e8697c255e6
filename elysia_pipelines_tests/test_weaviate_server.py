"""Contract tests: what weaviate-client 4.x sees from a Weaviate.

They use only the public client API and check end results, so they run unchanged
against a real Weaviate: set WEAVIATE_URL (and WEAVIATE_GRPC_URL, WEAVIATE_API_KEY)
before starting pytest. Otherwise they run against the in-process test server.
Collection names are unique per test and removed afterwards, so a shared real
server is left as it was.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.query import Filter, MetadataQuery, Sort
from weaviate.collections import Collection

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

pytestmark = pytest.mark.real_weaviate

UTC = dt.UTC
BASE_DATE = dt.datetime(2024, 1, 1, tzinfo=UTC)


def _doc_properties() -> list[Property]:
    return [
        Property(name="path", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        Property(name="content", data_type=DataType.TEXT),
        Property(name="language", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        Property(name="size_bytes", data_type=DataType.INT),
        Property(name="score", data_type=DataType.NUMBER),
        Property(name="binary", data_type=DataType.BOOL),
        Property(name="synced_at", data_type=DataType.DATE),
        Property(name="tags", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
        Property(name="lines", data_type=DataType.INT_ARRAY),
    ]


def _doc(i: int) -> dict[str, object]:
    return {
        "path": f"src/module_{i:03d}.py",
        "content": f"def function_{i}(): return {i} # shared words here",
        "language": "python" if i % 3 else "rust",
        "size_bytes": i * 100,
        "score": i / 4,
        "binary": i % 5 == 0,
        "synced_at": BASE_DATE + dt.timedelta(days=i),
        "tags": ["even" if i % 2 == 0 else "odd", f"group{i % 4}"],
        "lines": [i, i + 1],
    }


def _doc_uuid(i: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"doc-{i}")


def _vector(i: int) -> list[float]:
    angle = i * math.pi / 20
    return [math.cos(angle), math.sin(angle), 0.5]


@pytest.fixture
def docs(weaviate_client: weaviate.WeaviateClient, collection_name: str) -> Collection:
    """A collection of 40 documents with explicit uuids and vectors."""
    collection = weaviate_client.collections.create(
        collection_name,
        properties=_doc_properties(),
        vector_config=Configure.Vectors.self_provided(),
    )
    result = collection.data.insert_many(
        [
            weaviate.classes.data.DataObject(
                properties=_doc(i), uuid=_doc_uuid(i), vector=_vector(i)
            )
            for i in range(40)
        ]
    )
    assert result.errors == {}
    return collection


def _paths(objects: list[object]) -> set[str]:
    return {o.properties["path"] for o in objects}  # type: ignore[attr-defined]


def _expected_paths(pred: object) -> set[str]:
    return {str(_doc(i)["path"]) for i in range(40) if pred(i)}  # type: ignore[operator]


def test_server_is_ready_live_and_reports_a_supported_version(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    assert weaviate_client.is_ready()
    assert weaviate_client.is_live()
    major, minor, *_ = (int(p) for p in weaviate_client.get_meta()["version"].split("."))
    assert (major, minor) >= (1, 27)


def test_connecting_with_init_checks_runs_the_health_check(
    weaviate_endpoint: WeaviateEndpoint,
) -> None:
    client = weaviate_endpoint.connect(skip_init_checks=False)
    try:
        assert client.is_connected()
        assert client.is_ready()
    finally:
        client.close()


def test_collection_create_get_list_delete(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    weaviate_client.collections.create(
        collection_name,
        properties=_doc_properties(),
        vector_config=Configure.Vectors.self_provided(),
    )
    assert weaviate_client.collections.exists(collection_name)
    config = weaviate_client.collections.use(collection_name).config.get()
    assert config.name == collection_name
    types = {p.name: p.data_type for p in config.properties}
    assert types["path"] == DataType.TEXT
    assert types["size_bytes"] == DataType.INT
    assert types["synced_at"] == DataType.DATE
    assert types["tags"] == DataType.TEXT_ARRAY
    tokenization = {p.name: p.tokenization for p in config.properties}
    assert tokenization["path"] == Tokenization.FIELD
    assert tokenization["content"] == Tokenization.WORD
    assert config.inverted_index_config.bm25.b == pytest.approx(0.75)
    assert config.replication_config.factor >= 1
    assert collection_name in weaviate_client.collections.list_all()
    weaviate_client.collections.delete(collection_name)
    assert not weaviate_client.collections.exists(collection_name)


def test_creating_an_existing_collection_fails(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    weaviate_client.collections.create(collection_name)
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError) as info:
        weaviate_client.collections.create(collection_name)
    assert info.value.status_code == 422


def test_insert_many_round_trips_every_data_type(docs: Collection) -> None:
    obj = docs.query.fetch_object_by_id(_doc_uuid(7), include_vector=True)
    assert obj is not None
    expected = _doc(7)
    assert obj.properties["path"] == expected["path"]
    assert obj.properties["size_bytes"] == 700
    assert isinstance(obj.properties["size_bytes"], int)
    assert obj.properties["score"] == pytest.approx(1.75)
    assert obj.properties["binary"] is False
    assert obj.properties["synced_at"] == expected["synced_at"]
    assert obj.properties["tags"] == ["odd", "group3"]
    assert obj.properties["lines"] == [7, 8]
    assert obj.vector["default"] == pytest.approx(_vector(7), abs=1e-6)
    assert obj.metadata.creation_time is not None
    assert obj.metadata.last_update_time is not None
    assert docs.query.fetch_object_by_id(uuid.uuid4()) is None


@pytest.mark.parametrize(
    ("flt", "pred"),
    [
        (Filter.by_property("path").equal("src/module_004.py"), lambda i: i == 4),
        (Filter.by_property("language").not_equal("python"), lambda i: i % 3 == 0),
        (Filter.by_property("size_bytes").greater_than(3500), lambda i: i * 100 > 3500),
        (Filter.by_property("size_bytes").greater_or_equal(3500), lambda i: i * 100 >= 3500),
        (Filter.by_property("score").less_than(2.0), lambda i: i / 4 < 2.0),
        (Filter.by_property("score").less_or_equal(2.0), lambda i: i / 4 <= 2.0),
        (Filter.by_property("binary").equal(True), lambda i: i % 5 == 0),
        (
            Filter.by_property("synced_at").greater_than(BASE_DATE + dt.timedelta(days=30)),
            lambda i: i > 30,
        ),
        (Filter.by_property("path").like("src/module_01*"), lambda i: 10 <= i <= 19),
        (Filter.by_property("content").equal("function_12"), lambda i: i == 12),
        (Filter.by_property("tags").contains_any(["group1", "group2"]), lambda i: i % 4 in (1, 2)),
        (Filter.by_property("tags").contains_all(["even", "group2"]), lambda i: i % 4 == 2),
        (Filter.by_property("lines").contains_any([5]), lambda i: i in (4, 5)),
        (
            Filter.by_property("language").equal("rust") & Filter.by_property("binary").equal(True),
            lambda i: i % 3 == 0 and i % 5 == 0,
        ),
        (
            Filter.by_property("size_bytes").less_than(300)
            | Filter.by_property("size_bytes").greater_than(3800),
            lambda i: i < 3 or i > 38,
        ),
        (Filter.by_property("language").not_equal("python"), lambda i: i % 3 == 0),
        (Filter.by_id().equal(_doc_uuid(9)), lambda i: i == 9),
        (Filter.by_id().contains_any([_doc_uuid(1), _doc_uuid(2)]), lambda i: i in (1, 2)),
    ],
)
def test_fetch_objects_filters(docs: Collection, flt: object, pred: object) -> None:
    result = docs.query.fetch_objects(filters=flt, limit=100)  # type: ignore[arg-type]
    assert _paths(result.objects) == _expected_paths(pred)


def test_fetch_objects_default_limit_offset_sort_and_return_properties(docs: Collection) -> None:
    assert len(docs.query.fetch_objects().objects) == 10
    ordered = docs.query.fetch_objects(
        limit=5, offset=2, sort=Sort.by_property("size_bytes", ascending=False)
    )
    assert [o.properties["size_bytes"] for o in ordered.objects] == [3700, 3600, 3500, 3400, 3300]
    slim = docs.query.fetch_objects(limit=3, return_properties=["path"])
    assert all(set(o.properties) == {"path"} for o in slim.objects)


def test_cursor_pagination_and_iterator_visit_every_object_once(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name, properties=[Property(name="n", data_type=DataType.INT)]
    )
    assert collection.data.insert_many([{"n": i} for i in range(250)]).errors == {}
    seen = [o.properties["n"] for o in collection.iterator()]
    assert sorted(seen) == list(range(250))

    pages, after, ids = 0, None, []
    while True:
        page = collection.query.fetch_objects(limit=100, after=after)
        if not page.objects:
            break
        pages += 1
        ids.extend(o.uuid for o in page.objects)
        after = page.objects[-1].uuid
    assert pages == 3
    assert len(ids) == len(set(ids)) == 250
    assert ids == sorted(ids, key=lambda u: u.bytes)


def test_near_vector_returns_nearest_first_with_distances(docs: Collection) -> None:
    result = docs.query.near_vector(
        _vector(10), limit=3, return_metadata=MetadataQuery(distance=True)
    )
    assert result.objects[0].properties["path"] == "src/module_010.py"
    distances = [o.metadata.distance for o in result.objects]
    assert distances[0] == pytest.approx(0.0, abs=1e-5)
    assert distances == sorted(distances)
    assert _paths(result.objects) == {"src/module_010.py", "src/module_009.py", "src/module_011.py"}
    filtered = docs.query.near_vector(
        _vector(10), limit=3, filters=Filter.by_property("language").equal("rust")
    )
    assert _paths(filtered.objects) == {
        "src/module_009.py",
        "src/module_012.py",
        "src/module_006.py",
    }


def test_aggregate_counts_with_and_without_filter(docs: Collection) -> None:
    assert docs.aggregate.over_all(total_count=True).total_count == 40
    rust = docs.aggregate.over_all(
        total_count=True, filters=Filter.by_property("language").equal("rust")
    )
    assert rust.total_count == len([i for i in range(40) if i % 3 == 0])
    assert len(docs) == 40


def test_delete_many_dry_run_verbose_then_for_real(docs: Collection) -> None:
    where = Filter.by_property("size_bytes").less_than(1000)
    dry = docs.data.delete_many(where=where, dry_run=True, verbose=True)
    assert dry.matches == 10
    assert dry.successful == 10  # as Weaviate: nothing failed
    assert dry.objects is not None
    assert {o.uuid for o in dry.objects} == {_doc_uuid(i) for i in range(10)}
    assert docs.aggregate.over_all(total_count=True).total_count == 40

    done = docs.data.delete_many(where=where)
    assert (done.matches, done.successful, done.failed) == (10, 10, 0)
    assert docs.aggregate.over_all(total_count=True).total_count == 30
    assert docs.query.fetch_objects(filters=where).objects == []


def test_delete_by_id(docs: Collection) -> None:
    assert docs.data.delete_by_id(_doc_uuid(3)) is True
    assert docs.query.fetch_object_by_id(_doc_uuid(3)) is None
    assert docs.data.delete_by_id(_doc_uuid(3)) is False
    assert docs.aggregate.over_all(total_count=True).total_count == 39


def test_per_object_batch_errors_leave_the_valid_objects_stored(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="path", data_type=DataType.TEXT),
            Property(name="size_bytes", data_type=DataType.INT),
        ],
    )
    result = collection.data.insert_many(
        [
            {"path": "a.py", "size_bytes": 1},
            {"path": "b.py", "size_bytes": "not a number"},
            {"path": 42, "size_bytes": 3},
            {"path": "d.py", "size_bytes": 4},
        ]
    )
    assert set(result.errors) == {1, 2}
    assert all(err.message for err in result.errors.values())
    assert len(result.uuids) == 2
    stored = collection.query.fetch_objects(limit=10).objects
    assert sorted(o.properties["path"] for o in stored) == ["a.py", "d.py"]


def test_batch_upsert_replaces_existing_objects(docs: Collection) -> None:
    uid = _doc_uuid(5)
    before = docs.query.fetch_object_by_id(uid)
    assert before is not None
    result = docs.data.insert_many(
        [weaviate.classes.data.DataObject(properties={"path": "moved.py"}, uuid=uid)]
    )
    assert result.errors == {}
    after = docs.query.fetch_object_by_id(uid)
    assert after is not None
    assert after.properties["path"] == "moved.py"
    assert "size_bytes" not in after.properties or after.properties["size_bytes"] is None
    assert docs.aggregate.over_all(total_count=True).total_count == 40


def test_batch_fixed_size_and_dynamic(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[Property(name="n", data_type=DataType.INT)],
        vector_config=Configure.Vectors.self_provided(),
    )
    with collection.batch.fixed_size(batch_size=50, concurrent_requests=2) as batch:
        for i in range(120):
            batch.add_object(properties={"n": i}, vector=[float(i), 1.0])
    assert collection.batch.failed_objects == []
    with collection.batch.dynamic() as batch:
        for i in range(120, 200):
            batch.add_object(properties={"n": i})
    assert collection.batch.failed_objects == []
    assert collection.aggregate.over_all(total_count=True).total_count == 200
    with weaviate_client.batch.fixed_size(batch_size=10) as batch:
        batch.add_object(collection=collection_name, properties={"n": "wrong type"})
    failed = weaviate_client.batch.failed_objects
    assert len(failed) == 1
    assert failed[0].object_.properties == {"n": "wrong type"}


def test_single_object_crud_through_the_client(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="title", data_type=DataType.TEXT),
            Property(name="count", data_type=DataType.INT),
        ],
    )
    uid = collection.data.insert({"title": "first", "count": 1})
    assert collection.data.exists(uid)
    collection.data.update(uid, properties={"count": 2})
    got = collection.query.fetch_object_by_id(uid)
    assert got is not None
    assert got.properties == {"title": "first", "count": 2}
    collection.data.replace(uid, properties={"title": "second"})
    got = collection.query.fetch_object_by_id(uid)
    assert got is not None
    assert got.properties.get("title") == "second"
    assert got.properties.get("count") is None
    collection.data.delete_by_id(uid)
    assert not collection.data.exists(uid)


def test_auto_schema_creates_a_collection_with_inferred_types(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.use(collection_name)
    result = collection.data.insert_many(
        [
            {
                "title": "hello",
                "amount": 2.5,
                "active": True,
                "when": dt.datetime(2024, 5, 1, tzinfo=UTC),
                "labels": ["a", "b"],
                "counts": [1, 2, 3],
            }
        ]
    )
    assert result.errors == {}
    types = {p.name: p.data_type for p in collection.config.get().properties}
    assert types == {
        "title": DataType.TEXT,
        "amount": DataType.NUMBER,
        "active": DataType.BOOL,
        "when": DataType.DATE,
        "labels": DataType.TEXT_ARRAY,
        "counts": DataType.INT_ARRAY,
    }
    stored = collection.query.fetch_objects().objects[0].properties
    assert stored["counts"] == [1, 2, 3]
    assert stored["when"] == dt.datetime(2024, 5, 1, tzinfo=UTC)


def test_null_state_length_and_contains_none_filters(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="title", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(name="tags", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
        ],
        inverted_index_config=Configure.inverted_index(
            index_null_state=True, index_property_length=True
        ),
    )
    collection.data.insert_many(
        [
            {"title": "a", "tags": ["x"]},
            {"title": "bbb", "tags": ["x", "y"]},
            {"tags": ["z"]},
        ]
    )

    def titles(flt: object) -> list[object]:
        found = collection.query.fetch_objects(filters=flt)  # type: ignore[arg-type]
        return sorted((o.properties.get("title") or "-") for o in found.objects)

    assert titles(Filter.by_property("title").is_none(True)) == ["-"]
    assert titles(Filter.by_property("title").is_none(False)) == ["a", "bbb"]
    assert titles(Filter.by_property("title", length=True).greater_than(1)) == ["bbb"]


@pytest.mark.parametrize(
    "flt",
    [
        Filter.not_(Filter.by_property("path").equal("x")),
        Filter.by_property("tags").contains_none(["odd"]),
    ],
    ids=["not", "contains_none"],
)
@pytest.mark.weaviate_test_server_only
def test_operators_newer_than_the_claimed_version_are_refused(
    docs: Collection, flt: object
) -> None:
    """The server reports 1.32.0; `not` and `contains_none` arrived in Weaviate 1.33."""
    with pytest.raises(weaviate.exceptions.WeaviateQueryError, match="unknown filter operator"):
        docs.query.fetch_objects(filters=flt)  # type: ignore[arg-type]


def test_filtering_on_an_unknown_property_is_an_error(docs: Collection) -> None:
    with pytest.raises(weaviate.exceptions.WeaviateQueryError):
        docs.query.fetch_objects(filters=Filter.by_property("no_such_prop").equal("x"))


def test_aggregate_property_metrics(docs: Collection) -> None:
    from weaviate.classes.aggregate import Metrics

    result = docs.aggregate.over_all(
        filters=Filter.by_property("size_bytes").less_than(1000),
        return_metrics=[
            Metrics("size_bytes").integer(sum_=True, minimum=True, maximum=True, mean=True),
            Metrics("language").text(top_occurrences_count=True, top_occurrences_value=True),
            Metrics("binary").boolean(total_true=True, total_false=True),
            Metrics("synced_at").date_(minimum=True, maximum=True),
        ],
        total_count=True,
    )
    assert result.total_count == 10
    sizes = result.properties["size_bytes"]
    assert (sizes.sum_, sizes.minimum, sizes.maximum) == (4500, 0, 900)
    assert sizes.mean == pytest.approx(450.0)
    top = {o.value: o.count for o in result.properties["language"].top_occurrences}
    assert top == {"python": 6, "rust": 4}
    flags = result.properties["binary"]
    assert (flags.total_true, flags.total_false) == (2, 8)
    dates = result.properties["synced_at"]

    def when(value: object) -> dt.datetime:  # the client hands aggregated dates back as text
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    assert when(dates.minimum) == BASE_DATE
    assert when(dates.maximum) == BASE_DATE + dt.timedelta(days=9)
