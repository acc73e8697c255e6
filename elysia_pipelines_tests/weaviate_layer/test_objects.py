"""Counting, streaming, fetching, upserting and deleting objects on a server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import weaviate
from weaviate.classes.query import Filter

from elysia_pipelines.documents import document_uuid
from elysia_pipelines.errors import NotFoundError
from elysia_pipelines.weaviate import (
    CollectionSpec,
    ObjectToWrite,
    count,
    delete_collection,
    delete_ids,
    delete_where,
    ensure_collection,
    fetch_by_ids,
    iter_objects,
    upsert,
)
from elysia_pipelines.weaviate.objects import estimate_bytes, split_batches

pytestmark = pytest.mark.real_weaviate


def doc(repo: str, i: int, *, content: str = "print('hi')\n", **changes: object) -> ObjectToWrite:
    path = f"src/file_{i:05d}.py"
    props: dict[str, object] = {
        "repo": repo,
        "path": path,
        "file_name": f"file_{i:05d}.py",
        "extension": "py",
        "language": "python",
        "content": content,
        "content_hash": f"sha256:{i:064x}",
        "size_bytes": len(content.encode()),
        "line_count": content.count("\n"),
        "commit": "a" * 40,
        "synced_at": "2024-05-01T10:00:00Z",
    }
    props.update(changes)
    return ObjectToWrite(document_uuid(repo, path), props)


@pytest.fixture
def docs(shared_client: weaviate.WeaviateClient, unique_collection_name: str) -> Iterator[str]:
    ensure_collection(shared_client, CollectionSpec(unique_collection_name))
    yield unique_collection_name
    delete_collection(shared_client, unique_collection_name)  # nothing left on a real server


def test_upsert_is_idempotent_and_iteration_streams_every_page(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    objects = [doc("r", i) for i in range(730)]
    first = upsert(shared_client, docs, objects, max_batch_objects=100)
    again = upsert(shared_client, docs, objects, max_batch_objects=100)
    assert (first.written, first.failures) == (730, [])
    assert (again.written, again.failures) == (730, [])
    assert count(shared_client, docs) == 730

    seen = list(iter_objects(shared_client, docs, page_size=100))  # 8 pages
    assert len(seen) == 730
    assert sorted(o.uuid for o in seen) == sorted(str(o.uuid) for o in objects)
    by_id = {o.uuid: o for o in seen}
    sample = by_id[str(objects[42].uuid)]
    assert sample.properties["path"] == "src/file_00042.py"
    assert sample.properties["size_bytes"] == objects[42].properties["size_bytes"]
    assert sample.properties["synced_at"] == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert sample.vector is None


def test_iteration_with_vectors_and_selected_properties(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    objects = [
        ObjectToWrite(o.uuid, o.properties, vector=[float(i), 0.5, -1.0])
        for i, o in enumerate(doc("r", i) for i in range(7))
    ]
    upsert(shared_client, docs, objects)
    seen = {
        o.uuid: o
        for o in iter_objects(
            shared_client, docs, include_vector=True, page_size=3, return_properties=["path"]
        )
    }
    assert len(seen) == 7
    third = seen[str(objects[3].uuid)]
    assert third.properties == {"path": "src/file_00003.py"}
    assert third.vector == [3.0, 0.5, -1.0]


def test_dates_as_datetime_naive_or_string_are_all_accepted(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    when = datetime(2024, 6, 2, 8, 30, tzinfo=UTC)
    variants = [
        doc("r", 1, synced_at=when),
        doc("r", 2, synced_at=when.replace(tzinfo=None)),  # naive: taken as UTC
        doc("r", 3, synced_at="2024-06-02T08:30:00+00:00"),
        doc("r", 4, synced_at="2024-06-02T08:30:00Z"),
        doc("r", 5, synced_at="2024-06-02T08:30:00"),
    ]
    result = upsert(shared_client, docs, variants)
    assert (result.written, result.failures) == (5, [])
    stored = fetch_by_ids(shared_client, docs, [o.uuid for o in variants])
    assert {o.properties["synced_at"] for o in stored.values()} == {when}


def test_batches_are_split_by_bytes(shared_client: weaviate.WeaviateClient, docs: str) -> None:
    body = ("x = 1  # some source line that is long enough\n" * 1100)[:50_000]
    objects = [doc("big", i, content=body) for i in range(200)]  # ~10 MB in total
    batches = list(split_batches(objects, max_objects=200, max_bytes=1_000_000))
    assert len(batches) >= 10
    assert all(sum(estimate_bytes(o) for o in b) <= 1_000_000 for b in batches)
    assert [o.uuid for b in batches for o in b] == [o.uuid for o in objects]

    result = upsert(shared_client, docs, objects, max_batch_objects=200, max_batch_bytes=1_000_000)
    assert (result.written, result.failures) == (200, [])
    assert count(shared_client, docs) == 200
    stored = fetch_by_ids(shared_client, docs, [objects[199].uuid])
    assert stored[str(objects[199].uuid)].properties["content"] == body


def test_oversized_object_goes_in_a_batch_of_its_own() -> None:
    small, huge = doc("r", 1), doc("r", 2, content="y" * 5000)
    batches = list(split_batches([small, huge, small], max_objects=10, max_bytes=2000))
    assert [len(b) for b in batches] == [1, 1, 1]


def test_wrong_typed_property_is_returned_as_a_failure_not_raised(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    objects = [doc("r", i) for i in range(10)]
    bad = doc("r", 99, size_bytes="lots")
    result = upsert(shared_client, docs, [*objects[:5], bad, *objects[5:]])
    assert result.written == 10
    assert [f.uuid for f in result.failures] == [str(bad.uuid)]
    assert "size_bytes" in result.failures[0].error
    assert result.failures[0].object is bad
    assert count(shared_client, docs) == 10


def test_a_batch_in_which_every_object_fails_is_reported_per_object(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    bad = [doc("r", 1, size_bytes="x"), doc("r", 2, line_count="y"), doc("r", 3, size_bytes="z")]
    result = upsert(shared_client, docs, bad)
    assert result.written == 0
    errors = {f.uuid: f.error for f in result.failures}
    assert set(errors) == {str(o.uuid) for o in bad}
    assert "size_bytes" in errors[str(bad[0].uuid)]
    assert "line_count" in errors[str(bad[1].uuid)]
    assert count(shared_client, docs) == 0


def test_fetch_by_ids_across_chunks_skips_missing(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    objects = [doc("r", i) for i in range(450)]
    upsert(shared_client, docs, objects)
    missing = document_uuid("r", "not/there.py")
    wanted = [o.uuid for o in objects[::2]] + [missing]  # 225 ids: two chunks
    found = fetch_by_ids(shared_client, docs, wanted)
    assert set(found) == {str(o.uuid) for o in objects[::2]}
    assert found[str(objects[10].uuid)].properties["path"] == "src/file_00010.py"
    assert fetch_by_ids(shared_client, docs, []) == {}


def test_count_with_filter_and_deletes(shared_client: weaviate.WeaviateClient, docs: str) -> None:
    upsert(
        shared_client, docs, [doc("a", i) for i in range(120)] + [doc("b", i) for i in range(30)]
    )
    assert count(shared_client, docs, Filter.by_property("repo").equal("b")) == 30

    doomed = [document_uuid("a", f"src/file_{i:05d}.py") for i in range(0, 120, 3)]
    assert delete_ids(shared_client, docs, doomed) == 40
    assert delete_ids(shared_client, docs, doomed) == 0  # already gone: idempotent
    assert count(shared_client, docs) == 110
    assert fetch_by_ids(shared_client, docs, doomed) == {}

    assert delete_where(shared_client, docs, Filter.by_property("repo").equal("b")) == 30
    assert count(shared_client, docs) == 80
    assert count(shared_client, docs, Filter.by_property("repo").equal("b")) == 0


def test_missing_collection_is_a_not_found_error(shared_client: weaviate.WeaviateClient) -> None:
    with pytest.raises(NotFoundError, match="Missing_collection_x"):
        count(shared_client, "Missing_collection_x")
    with pytest.raises(NotFoundError, match="Missing_collection_x"):
        list(iter_objects(shared_client, "Missing_collection_x"))


def test_an_object_the_client_cannot_encode_fails_alone(
    shared_client: weaviate.WeaviateClient, docs: str
) -> None:
    objects = [doc("r", i) for i in range(9)]
    unencodable = doc("r", 50, commit=object())  # the client rejects the whole request
    result = upsert(shared_client, docs, [*objects[:4], unencodable, *objects[4:]])
    assert result.written == 9
    assert [f.uuid for f in result.failures] == [str(unencodable.uuid)]
    assert count(shared_client, docs) == 9
