"""Contract: the Weaviate behaviours the product relies on, each pinned by a test.

Marked `real_weaviate`: with WEAVIATE_URL set when pytest starts they run against
that Weaviate, otherwise against the test server (in-process here; the same tests
pass against it in a separate process). Collection names are unique and removed
afterwards. What they pin, beyond test_weaviate_server.py:
- cursor pages come in uuid order; a cursor with a filter, sort or offset is refused;
- batch errors are per object, with Weaviate's message, and the rest is stored;
- every data type the product writes (ingestion and restores) round-trips through
  gRPC and REST;
- unnamed (classic) and named vectors round-trip and are searchable;
- gRPC messages above the 4 MiB gRPC default are accepted both ways;
- impossible configs are refused: an unknown vectorizer module, more replicas than nodes;
- delete_many handles at most QUERY_MAXIMUM_RESULTS objects per call, counting all matches.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, Reconfigure
from weaviate.classes.data import DataObject, GeoCoordinate
from weaviate.classes.query import Filter, MetadataQuery, Sort
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateQueryError

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

pytestmark = pytest.mark.real_weaviate

QUERY_MAXIMUM_RESULTS = 10_000  # Weaviate's default, which the product pages by


@pytest.fixture
def name(collection_name: str) -> str:
    """The collection name these tests use (`collection_name`: deleted at teardown)."""
    return collection_name


@pytest.fixture
def http(weaviate_endpoint: WeaviateEndpoint) -> Iterator[httpx.Client]:
    key = weaviate_endpoint.api_key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=f"{weaviate_endpoint.url}/v1", headers=headers, timeout=60) as c:
        yield c


# --------------------------------------------------------------------------- cursor


def test_cursor_pages_in_uuid_order_and_refuses_filter_sort_and_offset(
    weaviate_client: weaviate.WeaviateClient, name: str
) -> None:
    collection = weaviate_client.collections.create(
        name, properties=[Property(name="n", data_type=DataType.INT)]
    )
    ids = [uuid.uuid4() for _ in range(25)]
    assert (
        collection.data.insert_many(
            [DataObject(properties={"n": i}, uuid=u) for i, u in enumerate(ids)]
        ).errors
        == {}
    )
    seen: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    while page := collection.query.fetch_objects(limit=10, after=after).objects:
        seen.extend(o.uuid for o in page)
        after = page[-1].uuid
    assert seen == sorted(ids, key=lambda u: u.bytes)  # uuid order, every object once

    first = seen[0]
    refused = {
        "where": {"filters": Filter.by_property("n").greater_than(1)},
        "sort": {"sort": Sort.by_property("n")},
        "offset": {"offset": 1},
    }
    for what, extra in refused.items():
        with pytest.raises(WeaviateQueryError) as caught:
            collection.query.fetch_objects(limit=5, after=first, **extra)  # type: ignore[arg-type]
        assert f"{what} cannot be set with after and limit parameters" in str(caught.value)


# --------------------------------------------------------------------------- batch errors


def test_batch_errors_are_per_object_with_weaviates_message(
    weaviate_client: weaviate.WeaviateClient, name: str
) -> None:
    collection = weaviate_client.collections.create(
        name,
        properties=[
            Property(name="size", data_type=DataType.INT),
            Property(name="when", data_type=DataType.DATE),
        ],
        vector_config=Configure.Vectors.self_provided(),
    )
    result = collection.data.insert_many(
        [
            DataObject(properties={"size": 1}, vector=[1.0, 0.0]),
            DataObject(properties={"size": "big"}, vector=[1.0, 0.0]),
            DataObject(properties={"when": "2024-05-01"}, vector=[1.0, 0.0]),
            DataObject(properties={"size": 4}, vector=[1.0, 0.0, 0.0]),
            DataObject(properties={"size": 5}, vector=[0.0, 1.0]),
        ]
    )
    assert sorted(result.errors) == [1, 2, 3]
    assert "invalid integer property 'size'" in result.errors[1].message
    assert "requires a string with a RFC3339 formatted date" in result.errors[2].message
    assert "vector with length 3" in result.errors[3].message
    stored = sorted(o.properties["size"] for o in collection.query.fetch_objects().objects)
    assert stored == [1, 5]

    # When every object fails the client raises, listing Weaviate's messages.
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError) as caught:
        collection.data.insert_many([{"size": "a"}, {"size": "b"}])
    assert "Here is the set of all errors:" in str(caught.value)
    assert "invalid integer property 'size'" in str(caught.value)


# --------------------------------------------------------------------------- data types

WHEN = dt.datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
LATER = dt.datetime(2024, 5, 2, 8, 30, tzinfo=dt.UTC)
REF_ID = uuid.UUID("8a6e0804-2bd0-4672-b79d-d97027f9071a")
BLOB = base64.b64encode(b"\x00\x01binary\xff").decode()


def _typed_properties() -> list[Property]:
    return [
        Property(name="text", data_type=DataType.TEXT),
        Property(name="texts", data_type=DataType.TEXT_ARRAY),
        Property(name="count", data_type=DataType.INT),
        Property(name="counts", data_type=DataType.INT_ARRAY),
        Property(name="score", data_type=DataType.NUMBER),
        Property(name="scores", data_type=DataType.NUMBER_ARRAY),
        Property(name="flag", data_type=DataType.BOOL),
        Property(name="flags", data_type=DataType.BOOL_ARRAY),
        Property(name="when", data_type=DataType.DATE),
        Property(name="whens", data_type=DataType.DATE_ARRAY),
        Property(name="ref", data_type=DataType.UUID),
        Property(name="refs", data_type=DataType.UUID_ARRAY),
        Property(name="data", data_type=DataType.BLOB),
        Property(name="place", data_type=DataType.GEO_COORDINATES),
        Property(
            name="meta",
            data_type=DataType.OBJECT,
            nested_properties=[
                Property(name="owner", data_type=DataType.TEXT),
                Property(name="lines", data_type=DataType.INT),
            ],
        ),
        Property(
            name="parts",
            data_type=DataType.OBJECT_ARRAY,
            nested_properties=[Property(name="label", data_type=DataType.TEXT)],
        ),
    ]


TYPED: dict[str, Any] = {
    "text": "héllo wörld",
    "texts": ["a", "b c"],
    "count": 2**40,
    "counts": [1, -2, 0],
    "score": 1.5,
    "scores": [0.25, -3.0],
    "flag": True,
    "flags": [True, False],
    "when": WHEN,
    "whens": [WHEN, LATER],
    "ref": REF_ID,
    "refs": [REF_ID],
    "data": BLOB,
    "place": GeoCoordinate(latitude=52.5, longitude=4.25),
    "meta": {"owner": "ann", "lines": 12},
    "parts": [{"label": "x"}, {"label": "y"}],
}


def test_every_data_type_the_product_writes_round_trips_through_grpc_and_rest(
    weaviate_client: weaviate.WeaviateClient, http: httpx.Client, name: str
) -> None:
    collection = weaviate_client.collections.create(name, properties=_typed_properties())
    uid = uuid.uuid4()
    assert collection.data.insert_many([DataObject(properties=TYPED, uuid=uid)]).errors == {}

    got = collection.query.fetch_object_by_id(uid)
    assert got is not None
    props = dict(got.properties)
    place = props.pop("place")
    assert (place.latitude, place.longitude) == (pytest.approx(52.5), pytest.approx(4.25))
    assert isinstance(props["count"], int) and isinstance(props["score"], float)
    assert props == {k: v for k, v in TYPED.items() if k != "place"}

    raw = http.get(f"/objects/{name}/{uid}").json()["properties"]
    assert {k: raw[k] for k in ("text", "texts", "count", "counts", "flag", "flags")} == {
        k: TYPED[k] for k in ("text", "texts", "count", "counts", "flag", "flags")
    }
    assert (raw["score"], raw["scores"]) == (1.5, [0.25, -3.0])
    assert dt.datetime.fromisoformat(raw["when"].replace("Z", "+00:00")) == WHEN
    assert [dt.datetime.fromisoformat(w.replace("Z", "+00:00")) for w in raw["whens"]] == [
        WHEN,
        LATER,
    ]
    assert (raw["ref"], raw["refs"], raw["data"]) == (str(REF_ID), [str(REF_ID)], BLOB)
    assert raw["place"] == {"latitude": pytest.approx(52.5), "longitude": pytest.approx(4.25)}
    assert raw["meta"] == {"owner": "ann", "lines": 12}
    assert raw["parts"] == [{"label": "x"}, {"label": "y"}]


# --------------------------------------------------------------------------- vectors


def test_unnamed_and_named_vectors_round_trip_and_are_searchable(
    weaviate_client: weaviate.WeaviateClient,
    http: httpx.Client,
    unique_collection_name: str,
) -> None:
    unnamed_name, named_name = unique_collection_name, unique_collection_name + "Named"
    try:
        # The classic unnamed vector, as the product provisions collections.
        unnamed = weaviate_client.collections.create(
            unnamed_name, vectorizer_config=Configure.Vectorizer.none()
        )
        a = unnamed.data.insert({"n": 1}, vector=[1.0, 0.0, 0.0])
        b = unnamed.data.insert({"n": 2}, vector=[0.0, 1.0, 0.0])
        got = unnamed.query.fetch_object_by_id(a, include_vector=True)
        assert got is not None and got.vector["default"] == pytest.approx([1.0, 0.0, 0.0])
        near = unnamed.query.near_vector(
            [0.1, 0.9, 0.0], limit=1, return_metadata=MetadataQuery(distance=True)
        ).objects
        assert [o.uuid for o in near] == [b]
        rest = http.get(f"/objects/{unnamed_name}/{a}", params={"include": "vector"}).json()
        assert rest["vector"] == pytest.approx([1.0, 0.0, 0.0])

        named = weaviate_client.collections.create(
            named_name,
            vector_config=[
                Configure.Vectors.self_provided(name="content"),
                Configure.Vectors.self_provided(name="title"),
            ],
        )
        c = named.data.insert({"n": 3}, vector={"content": [1.0, 0.0], "title": [0.0, 0.0, 1.0]})
        d = named.data.insert({"n": 4}, vector={"content": [0.0, 1.0], "title": [1.0, 0.0, 0.0]})
        got = named.query.fetch_object_by_id(c, include_vector=True)
        assert got is not None
        assert got.vector["content"] == pytest.approx([1.0, 0.0])
        assert got.vector["title"] == pytest.approx([0.0, 0.0, 1.0])
        by_title = named.query.near_vector([0.9, 0.1, 0.0], target_vector="title", limit=1)
        assert [o.uuid for o in by_title.objects] == [d]
        rest = http.get(f"/objects/{named_name}/{c}", params={"include": "vector"}).json()
        assert rest["vectors"]["content"] == pytest.approx([1.0, 0.0])
        assert rest["vectors"]["title"] == pytest.approx([0.0, 0.0, 1.0])
    finally:
        for each in (unnamed_name, named_name):
            weaviate_client.collections.delete(each)


# --------------------------------------------------------------------------- message size


def test_grpc_messages_above_the_4_mib_default_pass_both_ways(
    weaviate_client: weaviate.WeaviateClient, http: httpx.Client, name: str
) -> None:
    """The product batches up to 8 MB; Weaviate's gRPC limit (grpcMaxMessageSize) is larger."""
    assert int(http.get("/meta").json()["grpcMaxMessageSize"]) >= 8 * 1000**2
    collection = weaviate_client.collections.create(
        name, properties=[Property(name="content", data_type=DataType.TEXT)]
    )
    content = "x" * 20_000
    result = collection.data.insert_many([{"content": f"{i} {content}"} for i in range(300)])
    assert result.errors == {}  # one 6 MB request
    fetched = collection.query.fetch_objects(limit=300).objects  # one 6 MB answer
    assert len(fetched) == 300
    assert all(o.properties["content"].endswith(content) for o in fetched)


# --------------------------------------------------------------------------- refused configs


@pytest.mark.parametrize("named", [False, True], ids=["classic", "named"])
def test_a_vectorizer_module_that_is_not_enabled_is_refused(
    weaviate_client: weaviate.WeaviateClient, name: str, named: bool
) -> None:
    module = "text2vec-notamodule"
    config: dict[str, Any] = (
        {"vector_config": [Configure.Vectors.custom(name="main", module_name=module)]}
        if named
        else {"vectorizer_config": Configure.Vectorizer.custom(module_name=module)}
    )
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        weaviate_client.collections.create(name, **config)
    assert caught.value.status_code == 422
    assert f'no module with name "{module}" present' in str(caught.value)
    if named:
        assert 'target vector "main"' in str(caught.value)
    assert not weaviate_client.collections.exists(name)


def test_more_replicas_than_nodes_is_refused(
    weaviate_client: weaviate.WeaviateClient, name: str
) -> None:
    """64 replicas: more nodes than any test cluster has, on create and on update."""
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        weaviate_client.collections.create(
            name, replication_config=Configure.replication(factor=64)
        )
    assert caught.value.status_code == 422
    assert "could not find enough weaviate nodes for replication" in str(caught.value)
    assert not weaviate_client.collections.exists(name)

    collection = weaviate_client.collections.create(name)
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        collection.config.update(replication_config=Reconfigure.replication(factor=64))
    assert "not enough storage replicas" in str(caught.value)
    assert collection.config.get().replication_config.factor == 1


# --------------------------------------------------------------------------- delete_many


def test_delete_many_handles_at_most_query_maximum_results_per_call(
    weaviate_client: weaviate.WeaviateClient, http: httpx.Client, name: str
) -> None:
    """Weaviate counts every match but deletes (or dry-runs) at most 10,000 per call."""
    collection = weaviate_client.collections.create(
        name, properties=[Property(name="n", data_type=DataType.INT)]
    )
    total = QUERY_MAXIMUM_RESULTS + 5
    with collection.batch.fixed_size(batch_size=2000) as batch:
        for i in range(total):
            batch.add_object(properties={"n": i})
    assert collection.batch.failed_objects == []
    everything = Filter.by_property("n").greater_or_equal(0)

    dry = collection.data.delete_many(where=everything, dry_run=True)
    # gRPC counts handled dry-run objects as successful; REST reports them as neither.
    assert (dry.matches, dry.successful, dry.failed) == (total, QUERY_MAXIMUM_RESULTS, 0)
    where = {"path": ["n"], "operator": "GreaterThanEqual", "valueInt": 0}
    rest = http.request(
        "DELETE", "/batch/objects", json={"match": {"class": name, "where": where}, "dryRun": True}
    ).json()["results"]
    assert (rest["matches"], rest["limit"], rest["successful"], rest["failed"]) == (
        total,
        QUERY_MAXIMUM_RESULTS,
        0,
        0,
    )
    assert len(collection) == total

    first = collection.data.delete_many(where=everything)
    assert (first.matches, first.successful) == (total, QUERY_MAXIMUM_RESULTS)
    assert len(collection) == 5
    second = collection.data.delete_many(where=everything)
    assert (second.matches, second.successful) == (5, 5)
    assert len(collection) == 0
