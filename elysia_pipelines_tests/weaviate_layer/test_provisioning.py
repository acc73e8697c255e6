"""Provisioning against a server: create, idempotence, mismatch, describe/recreate."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import weaviate

from elysia_pipelines.documents import DOCUMENT_PROPERTIES, PropertySpec
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.weaviate import (
    CollectionSpec,
    ObjectToWrite,
    SchemaMismatchError,
    collection_exists,
    create_collection_from_description,
    delete_collection,
    describe_collection,
    ensure_collection,
    iter_objects,
    spec_from_description,
    upsert,
)
from elysia_pipelines_tests.weaviate_layer.specs import EVERY_KIND
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

pytestmark = pytest.mark.real_weaviate


@pytest.fixture(autouse=True)
def _drop_test_collections(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> Iterator[None]:
    """Leave nothing behind on a shared (possibly real) server."""
    yield
    for name in (unique_collection_name, unique_collection_name + "_copy"):
        delete_collection(shared_client, name)


def test_create_with_document_properties_then_idempotent(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    spec = CollectionSpec(unique_collection_name)
    first = ensure_collection(shared_client, spec)
    second = ensure_collection(shared_client, spec)
    assert (first.created, first.differences) == (True, [])
    assert (second.created, second.differences) == (False, [])

    desc = describe_collection(shared_client, unique_collection_name)
    props = {p["name"]: p for p in desc["properties"]}
    assert list(props) == [p.name for p in DOCUMENT_PROPERTIES]
    for expected in DOCUMENT_PROPERTIES:
        got = props[expected.name]
        assert got["data_type"] == expected.data_type
        assert got["filterable"] == expected.filterable
        assert got["range_filters"] == expected.range_filters
        if expected.data_type == "text":
            assert got["searchable"] == expected.searchable
            assert got["tokenization"] == "word"
    assert props["content"]["filterable"] is False
    assert (desc["vectorizer"], desc["model"], desc["replication_factor"]) == ("none", None, 1)
    assert desc["vector_dimension"] is None  # empty collection: nothing to measure
    json.dumps(desc)  # stored as-is in backups


@pytest.mark.weaviate_test_server_only  # a real server may lack the module or the nodes
@pytest.mark.parametrize(
    ("vectorizer", "model", "factor"),
    [
        ("text2vec-openai", "text-embedding-3-small", 1),
        ("text2vec-ollama", "nomic-embed-text", 3),
        ("text2vec-transformers", None, 3),
    ],
)
def test_vectorizer_module_model_and_replication(
    client: weaviate.WeaviateClient,
    weaviate_server: WeaviateTestServer,
    unique_collection_name: str,
    vectorizer: str,
    model: str | None,
    factor: int,
) -> None:
    """On a 3-node server with the module enabled, as Weaviate needs for this spec."""
    weaviate_server.set_cluster(modules=[vectorizer], nodes=3)
    spec = CollectionSpec(
        unique_collection_name, vectorizer=vectorizer, model=model, replication_factor=factor
    )
    assert ensure_collection(client, spec).created
    assert ensure_collection(client, spec).differences == []
    desc = describe_collection(client, unique_collection_name)
    assert (desc["vectorizer"], desc["model"], desc["replication_factor"]) == (
        vectorizer,
        model,
        factor,
    )


def test_more_replicas_than_nodes_is_refused_with_a_hint(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    """Weaviate cannot place 64 replicas (no test cluster has that many nodes)."""
    spec = CollectionSpec(unique_collection_name, replication_factor=64)
    with pytest.raises(ElysiaError) as caught:
        ensure_collection(shared_client, spec)
    assert "could not find enough weaviate nodes for replication" in str(caught.value)
    assert "replication factor above the number of nodes" in str(caught.value)
    assert collection_exists(shared_client, unique_collection_name) is False


@pytest.mark.weaviate_test_server_only  # a real server may have the module enabled
def test_a_vectorizer_module_the_server_lacks_is_refused_with_a_hint(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    spec = CollectionSpec(unique_collection_name, vectorizer="text2vec-openai")
    with pytest.raises(ElysiaError) as caught:
        ensure_collection(shared_client, spec)
    assert 'no module with name "text2vec-openai" present' in str(caught.value)
    assert "vectorizer module that is not enabled" in str(caught.value)
    assert collection_exists(shared_client, unique_collection_name) is False


def test_mismatch_raises_with_every_difference(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    ensure_collection(shared_client, CollectionSpec(unique_collection_name))
    changed = CollectionSpec(
        unique_collection_name,
        properties=(
            *(p for p in DOCUMENT_PROPERTIES if p.name != "commit"),
            PropertySpec("owner", "text"),
        ),
    )
    with pytest.raises(SchemaMismatchError) as caught:
        ensure_collection(shared_client, changed)
    text = str(caught.value)
    assert "property 'owner' (text) is missing from the collection" in text
    assert "the collection has property 'commit' (text) that the spec does not define" in text
    assert f"elysiactl col backup {unique_collection_name}" in text
    assert "another collection name" in text

    report = ensure_collection(shared_client, changed, strict=False)
    assert report.created is False
    assert len(report.differences) == 2


def test_describe_then_recreate_any_collection(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    source = CollectionSpec(
        unique_collection_name, properties=EVERY_KIND, tokenization={"title": "lowercase"}
    )
    ensure_collection(shared_client, source)
    upsert(
        shared_client,
        unique_collection_name,
        [
            ObjectToWrite(
                "8a6e0804-2bd0-4672-b79d-d97027f9071a",
                {"title": "A", "tags": ["x"], "score": 1.5, "done": True, "votes": [1, 2]},
                vector=[0.1, 0.2, 0.3, 0.4],
            )
        ],
    )
    desc = json.loads(json.dumps(describe_collection(shared_client, unique_collection_name)))
    assert desc["vector_dimension"] == 4
    assert {p["name"]: p["tokenization"] for p in desc["properties"]}["title"] == "lowercase"

    copy_name = unique_collection_name + "_copy"
    created = create_collection_from_description(shared_client, copy_name, desc)
    assert created.created
    copy_desc = describe_collection(shared_client, copy_name)
    assert copy_desc["properties"] == desc["properties"]
    assert (copy_desc["vectorizer"], copy_desc["replication_factor"]) == ("none", 1)
    # Recreating into the existing copy is idempotent; a different spec is not accepted.
    assert create_collection_from_description(shared_client, copy_name, desc).created is False
    changed = {**desc, "properties": desc["properties"][:-1]}
    with pytest.raises(SchemaMismatchError, match="'votes'"):
        create_collection_from_description(shared_client, copy_name, changed)
    assert spec_from_description(desc, name=copy_name).properties == EVERY_KIND
    delete_collection(shared_client, copy_name)


def test_exists_delete_and_missing(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    assert collection_exists(shared_client, unique_collection_name) is False
    ensure_collection(shared_client, CollectionSpec(unique_collection_name))
    assert collection_exists(shared_client, unique_collection_name) is True
    assert delete_collection(shared_client, unique_collection_name) is True
    assert delete_collection(shared_client, unique_collection_name) is False
    with pytest.raises(NotFoundError, match=unique_collection_name):
        describe_collection(shared_client, unique_collection_name)


@pytest.mark.weaviate_test_server_only  # uses a vectorizer module a real server may lack
def test_named_vectors_round_trip_through_a_description(
    client: weaviate.WeaviateClient,
    weaviate_server: WeaviateTestServer,
    unique_collection_name: str,
) -> None:
    weaviate_server.set_cluster(modules=["text2vec-openai"])  # the extra vector's module
    named, copy = unique_collection_name, unique_collection_name + "_copy"
    spec = CollectionSpec(named, vector_name="default", properties=(PropertySpec("title", "text"),))
    assert ensure_collection(client, spec).created
    uuid = "8a6e0804-2bd0-4672-b79d-d97027f9071a"
    upsert(
        client, named, [ObjectToWrite(uuid, {"title": "a"}, vector={"default": [1.0, 2.0]})]
    )
    assert [o.vector for o in iter_objects(client, named, include_vector=True)] == [
        {"default": [1.0, 2.0]}
    ]

    desc = describe_collection(client, named)
    assert (desc["vector_name"], desc["vector_dimension"]) == ("default", 2)
    desc["vectors"].append(
        {
            "name": "code",
            "vectorizer": "text2vec-openai",
            "model": "text-embedding-3-small",
            "module_config": {"model": "text-embedding-3-small"},
            "source_properties": ["title"],
            "index_type": "flat",
            "distance": "dot",
            "dimension": None,
        }
    )
    assert create_collection_from_description(client, copy, desc).created
    vectors = {v["name"]: v for v in describe_collection(client, copy)["vectors"]}
    assert set(vectors) == {"default", "code"}
    assert (vectors["default"]["vectorizer"], vectors["default"]["index_type"]) == ("none", "hnsw")
    code = vectors["code"]
    assert (code["vectorizer"], code["model"], code["source_properties"]) == (
        "text2vec-openai",
        "text-embedding-3-small",
        ["title"],
    )
    assert (code["index_type"], code["distance"]) == ("flat", "dot")


def test_concurrent_provisioning_creates_once(
    shared_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    spec = CollectionSpec(unique_collection_name)
    barrier = threading.Barrier(4)

    def provision() -> bool:
        barrier.wait()
        return ensure_collection(shared_client, spec).created

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = list(pool.map(lambda _: provision(), range(4)))
    assert created.count(True) == 1
    assert describe_collection(shared_client, unique_collection_name)["properties"][0]["name"] == (
        DOCUMENT_PROPERTIES[0].name
    )
