"""Vector searches as Weaviate 1.32 answers them: near_vector/near_object/near_text,
named vectors and multi-target combinations, and the stand-in text2vec-contextionary.

The contextionary here is a hashed bag of words (see weaviate_server/vectors.py), so
these tests assert only what holds for any vectorizer: identical texts coincide,
shared words are nearer than none, an object is its own nearest neighbour.
"""

from __future__ import annotations

from typing import Any

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import MetadataQuery, Move, TargetVectors
from weaviate.exceptions import WeaviateQueryError


@pytest.fixture
def named(weaviate_client: weaviate.WeaviateClient, collection_name: str) -> Any:
    collection = weaviate_client.collections.create(
        collection_name,
        vector_config=[
            Configure.Vectors.self_provided(name="first"),
            Configure.Vectors.self_provided(name="second"),
        ],
    )
    return collection


@pytest.mark.real_weaviate
def test_multi_target_combinations(named: Any) -> None:
    u1 = named.data.insert({}, vector={"first": [1, 0], "second": [0, 1, 0]})
    u2 = named.data.insert({}, vector={"first": [0, 1], "second": [1, 0, 0]})
    query = {"first": [0.0, 1.0], "second": [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]}
    for target, distances in (
        (TargetVectors.sum(["first", "second"]), [1.0, 3.0]),
        (TargetVectors.manual_weights({"first": 1, "second": [1, 2]}), [2.0, 4.0]),
        (TargetVectors.average(["first", "second"]), [1 / 3, 1.0]),
    ):
        objs = named.query.near_vector(
            query, target_vector=target, return_metadata=MetadataQuery(distance=True)
        ).objects
        assert [o.uuid for o in objs] == [u2, u1]
        assert [o.metadata.distance for o in objs] == pytest.approx(distances, abs=1e-6)
    # Default join is the minimum; a distance bound applies to the joined distance.
    near = named.query.near_vector(
        {"first": [1.0, 0.0], "second": [0.0, 1.0, 0.0]},
        target_vector=["first", "second"],
        distance=0.1,
    ).objects
    assert [o.uuid for o in near] == [u1]


@pytest.mark.real_weaviate
def test_named_vectors_need_a_target(named: Any) -> None:
    named.data.insert({}, vector={"first": [1, 0], "second": [0, 1, 0]})
    with pytest.raises(WeaviateQueryError, match="target vector"):
        named.query.near_vector([1.0, 0.0])
    assert len(named.query.near_vector([1.0, 0.0], target_vector="first").objects) == 1


@pytest.mark.real_weaviate
def test_near_object_uses_the_object_vector_with_distance_and_certainty(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name, vector_config=Configure.Vectors.self_provided()
    )
    a = collection.data.insert({}, vector=[1.0, 0.0])
    b = collection.data.insert({}, vector=[0.8, 0.6])
    collection.data.insert({}, vector=[0.0, 1.0])
    objs = collection.query.near_object(a, return_metadata=MetadataQuery.full()).objects
    assert [o.uuid for o in objs][:2] == [a, b]
    assert objs[1].metadata.distance == pytest.approx(0.2, abs=1e-6)
    assert objs[1].metadata.certainty == pytest.approx(0.9, abs=1e-6)
    assert len(collection.query.near_object(a, distance=0.25).objects) == 2
    assert len(collection.query.near_object(a, certainty=0.95).objects) == 1


@pytest.mark.weaviate_test_server_only
def test_contextionary_stand_in_vectorizes_and_answers_near_text(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[Property(name="value", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.text2vec_contextionary(vectorize_collection_name=False),
    )
    ids = collection.data.insert_many(
        [{"value": "Apple"}, {"value": "apple cake"}, {"value": "cake"}, {"value": "car"}]
    ).uuids
    obj = collection.query.fetch_object_by_id(ids[0], include_vector=True)
    assert len(obj.vector["default"]) == 300
    hits = collection.query.near_text("apple", return_metadata=MetadataQuery(distance=True))
    assert hits.objects[0].uuid == ids[0]
    assert hits.objects[0].metadata.distance == pytest.approx(0.0, abs=1e-5)
    moved = collection.query.near_text(
        "cake", move_to=Move(force=1.0, objects=ids[0]), move_away=Move(0.5, concepts="car")
    ).objects
    assert moved[0].uuid == ids[1]  # halfway between "cake" and "Apple"
    collection.data.update(ids[3], properties={"value": "apple"})  # re-vectorized
    again = collection.query.near_text("apple", distance=1e-4).objects
    assert {o.uuid for o in again} == {ids[0], ids[3]}


@pytest.mark.real_weaviate
def test_near_text_without_a_vectorizer_is_refused(named: Any) -> None:
    with pytest.raises(WeaviateQueryError):
        named.query.near_text("anything", target_vector="first")


@pytest.mark.real_weaviate
def test_aggregate_near_vector_counts_the_objects_in_reach(named: Any) -> None:
    named.data.insert({}, vector={"first": [1, 0], "second": [0, 1, 0]})
    named.data.insert({}, vector={"first": [0, 1], "second": [1, 0, 0]})
    agg = named.aggregate.near_vector(
        [1.0, 0.0], target_vector="first", distance=0.5, total_count=True
    )
    assert agg.total_count == 1
