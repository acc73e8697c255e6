"""REST contract: the object endpoints REST-only tools use, and filesystem backups.

Marked `real_weaviate` like the client contract tests: they run against a real
Weaviate when WEAVIATE_URL is set (backups need its backup-filesystem module).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import weaviate
from weaviate.backup.backup import BackupStatus
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

pytestmark = pytest.mark.real_weaviate


@pytest.fixture
def http(weaviate_endpoint: WeaviateEndpoint) -> Iterator[httpx.Client]:
    headers = (
        {"Authorization": f"Bearer {weaviate_endpoint.api_key}"}
        if weaviate_endpoint.api_key
        else {}
    )
    with httpx.Client(
        base_url=f"{weaviate_endpoint.url}/v1", headers=headers, timeout=30
    ) as client:
        yield client


@pytest.fixture
def collection_name(
    weaviate_client: weaviate.WeaviateClient, unique_collection_name: str
) -> Iterator[str]:
    weaviate_client.collections.create(
        unique_collection_name,
        properties=[
            Property(name="title", data_type=DataType.TEXT),
            Property(name="count", data_type=DataType.INT),
        ],
    )
    yield unique_collection_name
    weaviate_client.collections.delete(unique_collection_name)


def test_meta_reports_version_and_grpc_message_size(http: httpx.Client) -> None:
    meta = http.get("/meta").json()
    assert meta["version"]
    assert int(meta.get("grpcMaxMessageSize", 104858000)) >= 10_000_000
    assert http.get("/.well-known/ready").status_code == 200


def test_rest_object_lifecycle(http: httpx.Client, collection_name: str) -> None:
    uid = str(uuid.uuid4())
    created = http.post(
        "/objects",
        json={"class": collection_name, "id": uid, "properties": {"title": "one", "count": 1}},
    )
    assert created.status_code == 200, created.text
    assert created.json()["id"] == uid
    duplicate = http.post("/objects", json={"class": collection_name, "id": uid, "properties": {}})
    assert duplicate.status_code == 422

    got = http.get(f"/objects/{collection_name}/{uid}")
    assert got.status_code == 200
    assert got.json()["properties"] == {"title": "one", "count": 1}
    assert got.json()["class"] == collection_name

    patched = http.patch(
        f"/objects/{collection_name}/{uid}",
        json={"class": collection_name, "properties": {"count": 2}},
    )
    assert patched.status_code == 204
    assert http.get(f"/objects/{collection_name}/{uid}").json()["properties"] == {
        "title": "one",
        "count": 2,
    }

    replaced = http.put(
        f"/objects/{collection_name}/{uid}",
        json={"class": collection_name, "id": uid, "properties": {"title": "two"}},
    )
    assert replaced.status_code == 200
    assert http.get(f"/objects/{collection_name}/{uid}").json()["properties"] == {"title": "two"}

    assert http.delete(f"/objects/{collection_name}/{uid}").status_code == 204
    assert http.get(f"/objects/{collection_name}/{uid}").status_code == 404
    assert http.delete(f"/objects/{collection_name}/{uid}").status_code == 404


def test_rest_rejects_a_value_of_the_wrong_type(http: httpx.Client, collection_name: str) -> None:
    response = http.post(
        "/objects", json={"class": collection_name, "properties": {"count": "many"}}
    )
    assert response.status_code == 422
    assert response.json()["error"][0]["message"]


def test_rest_batch_then_list_with_cursor(http: httpx.Client, collection_name: str) -> None:
    objects = [
        {"class": collection_name, "properties": {"title": f"t{i}", "count": i}} for i in range(30)
    ]
    objects.append({"class": collection_name, "properties": {"count": "bad"}})
    answer = http.post("/batch/objects", json={"objects": objects})
    assert answer.status_code == 200
    results = answer.json()
    assert len(results) == 31
    failed = [r for r in results if r["result"].get("errors")]
    assert len(failed) == 1
    assert failed[0]["properties"] == {"count": "bad"}

    seen: list[str] = []
    after = None
    while True:
        params = {"class": collection_name, "limit": 7}
        if after:
            params["after"] = after
        page = http.get("/objects", params=params).json()["objects"]
        if not page:
            break
        seen.extend(o["id"] for o in page)
        after = page[-1]["id"]
    assert len(seen) == len(set(seen)) == 30
    assert seen == sorted(seen)
    first_page = http.get("/objects", params={"class": collection_name, "limit": 5}).json()
    assert len(first_page["objects"]) == 5


def test_rest_batch_delete_with_where_filter(http: httpx.Client, collection_name: str) -> None:
    objects = [
        {"class": collection_name, "properties": {"title": f"t{i}", "count": i}} for i in range(20)
    ]
    assert http.post("/batch/objects", json={"objects": objects}).status_code == 200
    where = {"path": ["count"], "operator": "GreaterThanEqual", "valueInt": 15}
    body = {
        "match": {"class": collection_name, "where": where},
        "output": "verbose",
        "dryRun": True,
    }
    dry = http.request("DELETE", "/batch/objects", json=body)
    assert dry.status_code == 200
    assert dry.json()["results"]["matches"] == 5
    assert len(dry.json()["results"]["objects"]) == 5
    body["dryRun"] = False
    done = http.request("DELETE", "/batch/objects", json=body).json()["results"]
    assert (done["matches"], done["successful"], done["failed"]) == (5, 5, 0)
    remaining = http.get("/objects", params={"class": collection_name, "limit": 100}).json()
    assert sorted(o["properties"]["count"] for o in remaining["objects"]) == list(range(15))


def test_rest_and_grpc_share_one_store(
    http: httpx.Client, weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    uid = str(uuid.uuid4())
    http.post("/objects", json={"class": collection_name, "id": uid, "properties": {"count": 9}})
    collection = weaviate_client.collections.use(collection_name)
    found = collection.query.fetch_objects(filters=Filter.by_property("count").equal(9))
    assert [str(o.uuid) for o in found.objects] == [uid]
    collection.data.insert_many([{"title": "grpc", "count": 10}])
    listed = http.get("/objects", params={"class": collection_name}).json()["objects"]
    assert sorted(o["properties"]["count"] for o in listed) == [9, 10]


def test_backup_create_and_restore_round_trip(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    collection = weaviate_client.collections.use(collection_name)
    collection.data.insert_many([{"title": f"t{i}", "count": i} for i in range(25)])
    backup_id = f"contract-{uuid.uuid4().hex[:10]}"
    backup: dict[str, Any] = {
        "backup_id": backup_id,
        "backend": "filesystem",
        "include_collections": [collection_name],
        "wait_for_completion": True,
    }
    created = weaviate_client.backup.create(**backup)
    assert created.status == BackupStatus.SUCCESS
    assert collection_name in created.collections
    status = weaviate_client.backup.get_create_status(backup_id=backup_id, backend="filesystem")
    assert status.status == BackupStatus.SUCCESS

    weaviate_client.collections.delete(collection_name)
    restored = weaviate_client.backup.restore(**backup)
    assert restored.status == BackupStatus.SUCCESS
    restored_collection = weaviate_client.collections.use(collection_name)
    assert restored_collection.aggregate.over_all(total_count=True).total_count == 25
    counts = sorted(o.properties["count"] for o in restored_collection.iterator())
    assert counts == list(range(25))


def test_restore_into_an_existing_collection_is_refused(
    weaviate_client: weaviate.WeaviateClient, collection_name: str
) -> None:
    backup_id = f"contract-{uuid.uuid4().hex[:10]}"
    weaviate_client.collections.use(collection_name).data.insert_many([{"count": 1}])
    weaviate_client.backup.create(
        backup_id=backup_id,
        backend="filesystem",
        include_collections=[collection_name],
        wait_for_completion=True,
    )
    with pytest.raises(weaviate.exceptions.WeaviateBaseError):
        weaviate_client.backup.restore(
            backup_id=backup_id,
            backend="filesystem",
            include_collections=[collection_name],
            wait_for_completion=True,
        )


def test_rest_vectors_round_trip(
    http: httpx.Client, weaviate_client: weaviate.WeaviateClient, unique_collection_name: str
) -> None:
    weaviate_client.collections.create(
        unique_collection_name, vector_config=Configure.Vectors.self_provided()
    )
    try:
        uid = str(uuid.uuid4())
        created = http.post(
            "/objects",
            json={
                "class": unique_collection_name,
                "id": uid,
                "properties": {"n": 1},
                "vectors": {"default": [0.5, 0.25]},
            },
        )
        assert created.status_code == 200, created.text
        got = http.get(f"/objects/{unique_collection_name}/{uid}", params={"include": "vector"})
        assert got.json()["vectors"]["default"] == pytest.approx([0.5, 0.25])
        found = weaviate_client.collections.use(unique_collection_name).query.near_vector(
            [0.5, 0.25], limit=1
        )
        assert str(found.objects[0].uuid) == uid
    finally:
        weaviate_client.collections.delete(unique_collection_name)


def test_rest_list_limit_offset_and_total_results(http: httpx.Client, collection_name: str) -> None:
    """handlers_objects.go: totalResults is the page's size; offset + limit <= 10,000."""
    objects = [{"class": collection_name, "properties": {"count": i}} for i in range(30)]
    assert http.post("/batch/objects", json={"objects": objects}).status_code == 200
    by_class = {"class": collection_name}

    default = http.get("/objects", params=by_class).json()
    assert (len(default["objects"]), default["totalResults"]) == (10, 10)  # QUERY_DEFAULTS_LIMIT
    ordered = [
        o["id"] for o in http.get("/objects", params={**by_class, "limit": 30}).json()["objects"]
    ]
    assert ordered == sorted(ordered)
    page = http.get("/objects", params={**by_class, "limit": 8, "offset": 25}).json()
    assert [o["id"] for o in page["objects"]] == ordered[25:]
    assert page["totalResults"] == 5
    empty = http.get("/objects", params={**by_class, "limit": 0}).json()
    assert (empty["objects"], empty["totalResults"]) == ([], 0)

    too_far = http.get("/objects", params={**by_class, "limit": 20, "offset": 9_990})
    assert too_far.status_code == 422
    assert "query maximum results exceeded" in too_far.text
    unscoped = http.get("/objects", params={"limit": 20, "offset": 9_990})
    assert unscoped.status_code == 500  # without a class Weaviate answers an internal error
    assert "query maximum results exceeded" in unscoped.text
    assert http.get("/objects", params={"class": collection_name + "Gone"}).status_code == 404


def test_rest_list_cursor_needs_a_limit_a_class_and_no_offset(
    http: httpx.Client, collection_name: str
) -> None:
    objects = [{"class": collection_name, "properties": {"count": i}} for i in range(12)]
    assert http.post("/batch/objects", json={"objects": objects}).status_code == 200
    ids = sorted(
        o["id"]
        for o in http.get("/objects", params={"class": collection_name, "limit": 12}).json()[
            "objects"
        ]
    )
    start = http.get("/objects", params={"class": collection_name, "after": "", "limit": 5})
    assert [o["id"] for o in start.json()["objects"]] == ids[:5]  # empty `after`: from the start
    nxt = http.get("/objects", params={"class": collection_name, "after": ids[4], "limit": 5})
    assert [o["id"] for o in nxt.json()["objects"]] == ids[5:10]
    assert nxt.json()["totalResults"] == 5

    refusals = {
        "limit parameter must be set": {"class": collection_name, "after": ids[0]},
        "offset cannot be set with after and limit parameters": {
            "class": collection_name,
            "after": ids[0],
            "limit": 2,
            "offset": 1,
        },
        "is not a valid uuid": {"class": collection_name, "after": "nope", "limit": 2},
    }
    for message, params in refusals.items():
        refused = http.get("/objects", params=params)
        assert refused.status_code == 422, params
        assert "cursor api: invalid 'after' parameter" in refused.text
        assert message in refused.text
    unscoped = http.get("/objects", params={"after": ids[0], "limit": 2})
    assert unscoped.status_code == 500
    assert "cursor must be specific to one class" in unscoped.text
