"""`probe`: existence and counts of many collections in a few REST calls, against the test server."""

from __future__ import annotations

import pytest
import weaviate

from elysia_pipelines.operations.weaviate_probe import probe
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate import rest
from elysia_pipelines.weaviate.schema import CollectionSpec, delete_collection, ensure_collection


@pytest.fixture
def collections(
    weaviate_env: object, weaviate_client: weaviate.WeaviateClient, unique_collection_name: str
) -> list[str]:
    names = [f"{unique_collection_name}{i}" for i in range(5)]
    for i, name in enumerate(names):
        ensure_collection(weaviate_client, CollectionSpec(name=name))
        if i:
            weaviate_client.collections.get(name).data.insert_many(
                [{"path": f"f{j}.py", "content": "x"} for j in range(i)]
            )
    yield names
    for name in names:
        delete_collection(weaviate_client, name)


def test_counts_existing_and_reports_missing_collections(
    elysia_home: object, collections: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of two: three Aggregate queries, one of them with a missing class in it.
    monkeypatch.setattr(rest, "COUNT_CHUNK", 2)
    missing = collections[0] + "Gone"
    lower = collections[3][0].lower() + collections[3][1:]  # Weaviate capitalises names
    facts = probe(Settings.from_env(), [*collections, missing, lower])
    assert facts.reachable and facts.error is None
    assert [facts.documents(n) for n in collections] == [0, 1, 2, 3, 4]
    assert facts.collections[missing].exists is False
    assert facts.documents(missing) is None
    assert facts.documents(lower) == 3


def test_a_class_gone_between_schema_and_count_falls_back_to_one_count_each(
    elysia_home: object, collections: list[str]
) -> None:
    target = rest.WeaviateTarget.from_settings(Settings.from_env())
    gone = collections[0] + "Gone"
    with pytest.raises(rest.RestError, match=gone):
        rest.counts(target, [collections[1], gone])
    assert rest.counts(target, collections[1:3]) == {collections[1]: 1, collections[2]: 2}
