"""Aggregations as Weaviate 1.32 answers them: group by a property, hybrid with alpha."""

from __future__ import annotations

from typing import Any

import pytest
import weaviate
from weaviate.classes.aggregate import GroupByAggregate, Metrics
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.query import MetadataQuery

pytestmark = pytest.mark.real_weaviate


@pytest.fixture
def docs(weaviate_client: weaviate.WeaviateClient, collection_name: str) -> Any:
    collection = weaviate_client.collections.create(
        collection_name,
        properties=[
            Property(name="repo", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(name="size", data_type=DataType.INT),
            Property(name="body", data_type=DataType.TEXT),
        ],
        vector_config=Configure.Vectors.self_provided(),
    )
    collection.data.insert({"repo": "a", "size": 1, "body": "apple pie"}, vector=[1.0, 0.0])
    collection.data.insert({"repo": "a", "size": 3, "body": "banana"}, vector=[0.0, 1.0])
    collection.data.insert({"repo": "b", "size": 10, "body": "cherry"}, vector=[0.6, 0.8])
    return collection


def test_group_by_property_with_metrics_and_limit(docs: Any) -> None:
    res = docs.aggregate.over_all(
        group_by=GroupByAggregate(prop="repo"),
        total_count=True,
        return_metrics=Metrics("size").integer(sum_=True, maximum=True),
    )
    groups = {g.grouped_by.value: g for g in res.groups}
    assert set(groups) == {"a", "b"}
    assert groups["a"].grouped_by.prop == "repo"
    assert groups["a"].total_count == 2
    assert groups["a"].properties["size"].sum_ == 4
    assert groups["b"].properties["size"].maximum == 10
    limited = docs.aggregate.over_all(group_by=GroupByAggregate(prop="repo", limit=1))
    assert [g.grouped_by.value for g in limited.groups] == ["a"]  # largest group first


def test_hybrid_alpha_weighs_vector_against_keyword(docs: Any) -> None:
    keyword_only = docs.query.hybrid("banana", alpha=0, vector=[1.0, 0.0]).objects
    assert [o.properties["body"] for o in keyword_only] == ["banana"]
    vector_only = docs.query.hybrid(
        "banana", alpha=1, vector=[1.0, 0.0], return_metadata=MetadataQuery(score=True)
    ).objects
    assert vector_only[0].properties["body"] == "apple pie"
    assert len(vector_only) == 3
    agg = docs.aggregate.hybrid(None, alpha=1, vector=[1.0, 0.0], object_limit=1, total_count=True)
    assert agg.total_count == 1


def test_search_group_by_keeps_rank_order_and_caps(docs: Any) -> None:
    from weaviate.classes.query import GroupBy

    res = docs.query.near_vector(
        [1.0, 0.0],
        group_by=GroupBy(prop="repo", number_of_groups=2, objects_per_group=1),
        return_metadata=MetadataQuery(distance=True),
    )
    assert [o.belongs_to_group for o in res.objects] == ["a", "b"]
    assert res.groups["a"].number_of_objects == 1
    assert res.objects[0].properties["body"] == "apple pie"
    keyword = docs.query.bm25(
        "banana", group_by=GroupBy(prop="repo", number_of_groups=5, objects_per_group=5)
    )
    assert [o.belongs_to_group for o in keyword.objects] == ["a"]
