"""Test-server specifics: auto-schema switch, limits, named vectors, concurrency, state.

White-box where it says so (`weaviate_server.store`); skipped against a real Weaviate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.query import Filter, MetadataQuery

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

pytestmark = pytest.mark.weaviate_test_server_only


def test_objects_are_stored_compactly_with_schema_types(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient
) -> None:
    collection = weaviate_client.collections.create(
        "Docs",
        properties=[
            Property(name="size", data_type=DataType.INT),
            Property(name="path", data_type=DataType.TEXT),
        ],
        vector_config=Configure.Vectors.self_provided(),
    )
    uid = collection.data.insert_many(
        [weaviate.classes.data.DataObject(properties={"size": 3, "path": "a"}, vector=[1.0, 2.0])]
    ).uuids[0]
    stored = weaviate_server.store.get("Docs", str(uid))
    assert stored is not None
    assert stored.properties == {"size": 3, "path": "a"}
    assert type(stored.properties["size"]) is int
    assert stored.vectors is not None and stored.vectors["default"] == bytes.fromhex(
        "0000803f00000040"
    )


def test_missing_class_is_a_batch_error_when_auto_schema_is_off(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient
) -> None:
    weaviate_server.store.auto_schema = False
    weaviate_client.collections.create(
        "Known", properties=[Property(name="a", data_type=DataType.INT)]
    )
    with weaviate_client.batch.fixed_size(batch_size=10) as batch:
        batch.add_object(collection="Known", properties={"a": 1})
        batch.add_object(collection="Unknown", properties={"a": 1})
        batch.add_object(collection="Known", properties={"b": 1})
    failed = weaviate_client.batch.failed_objects
    assert sorted(f.object_.collection for f in failed) == ["Known", "Unknown"]
    messages = " / ".join(f.message for f in failed)
    assert "auto-schema is disabled" in messages
    assert "no such prop with name 'b'" in messages
    assert len(weaviate_client.collections.use("Known")) == 1
    weaviate_server.store.auto_schema = True
    assert weaviate_client.collections.use("Known").data.insert_many([{"b": 1}]).errors == {}


def test_all_objects_failing_raises_with_the_reasons(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient
) -> None:
    weaviate_server.store.auto_schema = False
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError, match="Unknown"):
        weaviate_client.collections.use("Unknown").data.insert_many([{"a": 1}])


def test_invalid_class_name_is_a_per_object_error(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    with weaviate_client.batch.fixed_size(batch_size=10) as batch:
        batch.add_object(collection="Good", properties={"a": 1})
        batch.add_object(collection="Bad-Name", properties={"a": 1})
    failed = weaviate_client.batch.failed_objects
    assert [f.object_.collection for f in failed] == ["Bad-Name"]
    assert "not a valid class name" in failed[0].message
    assert weaviate_client.collections.exists("Good")


def test_messages_above_the_grpc_default_limit_are_accepted(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    collection = weaviate_client.collections.create(
        "Big", properties=[Property(name="content", data_type=DataType.TEXT)]
    )
    content = "x" * 10_000
    result = collection.data.insert_many([{"content": content} for _ in range(500)])
    assert result.errors == {}
    fetched = collection.query.fetch_objects(limit=500)
    assert len(fetched.objects) == 500
    assert all(o.properties["content"] == content for o in fetched.objects)


def test_vector_dimension_mismatch_is_rejected_per_object(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    collection = weaviate_client.collections.create(
        "Vec", vector_config=Configure.Vectors.self_provided()
    )
    result = collection.data.insert_many(
        [
            weaviate.classes.data.DataObject(properties={"n": 1}, vector=[1.0, 0.0]),
            weaviate.classes.data.DataObject(properties={"n": 2}, vector=[1.0, 0.0, 0.0]),
        ]
    )
    assert list(result.errors) == [1]
    assert "vector with length 3" in result.errors[1].message


@pytest.mark.weaviate_test_server_only
def test_dates_without_an_offset_and_non_base64_blobs_are_refused_per_object(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    """Weaviate wants RFC 3339 date-times with an offset and base64 blobs; the rest lands."""
    collection = weaviate_client.collections.create(
        "Strict",
        properties=[
            Property(name="when", data_type=DataType.DATE),
            Property(name="data", data_type=DataType.BLOB),
        ],
    )
    result = collection.data.insert_many(
        [
            {"when": "2024-05-01T10:00:00+02:00", "data": "aGVsbG8="},
            {"when": "2024-05-01"},
            {"when": "2024-05-01T10:00:00"},
            {"data": "not base64!"},
        ]
    )
    assert sorted(result.errors) == [1, 2, 3]
    assert "RFC3339" in result.errors[1].message and "RFC3339" in result.errors[2].message
    assert "base64" in result.errors[3].message
    assert len(collection) == 1


def test_named_vectors_are_searched_by_target(weaviate_client: weaviate.WeaviateClient) -> None:
    collection = weaviate_client.collections.create(
        "Named",
        vector_config=[
            Configure.Vectors.self_provided(name="code"),
            Configure.Vectors.self_provided(name="summary"),
        ],
    )
    collection.data.insert_many(
        [
            weaviate.classes.data.DataObject(
                properties={"n": i}, vector={"code": [1.0, float(i)], "summary": [float(i), 1.0]}
            )
            for i in range(5)
        ]
    )
    by_code = collection.query.near_vector([1.0, 4.0], target_vector="code", limit=1)
    by_summary = collection.query.near_vector([1.0, 4.0], target_vector="summary", limit=1)
    assert by_code.objects[0].properties["n"] == 4
    assert by_summary.objects[0].properties["n"] == 0
    with_vectors = collection.query.fetch_objects(limit=1, include_vector=True)
    assert set(with_vectors.objects[0].vector) == {"code", "summary"}


def test_bm25_ranks_keyword_matches(weaviate_client: weaviate.WeaviateClient) -> None:
    collection = weaviate_client.collections.create(
        "Texts", properties=[Property(name="body", data_type=DataType.TEXT)]
    )
    collection.data.insert_many(
        [
            {"body": "parse the config file"},
            {"body": "config config config loader"},
            {"body": "unrelated words"},
        ]
    )
    result = collection.query.bm25("config", return_metadata=MetadataQuery(score=True))
    assert [o.properties["body"] for o in result.objects] == [
        "config config config loader",
        "parse the config file",
    ]
    assert result.objects[0].metadata.score > result.objects[1].metadata.score
    hybrid = collection.query.hybrid("loader config", limit=1)
    assert hybrid.objects[0].properties["body"] == "config config config loader"


def test_rest_where_filters_accept_weaviate_value_keys(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient
) -> None:
    collection = weaviate_client.collections.create(
        "Rest",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        # Weaviate filters on _creationTimeUnix only when timestamps are indexed.
        inverted_index_config=Configure.inverted_index(index_timestamps=True),
    )
    collection.data.insert_many([{"name": n} for n in ("alpha", "beta", "gamma")])
    where = {
        "operator": "And",
        "operands": [
            {
                "operator": "LessThan",
                "path": ["_creationTimeUnix"],
                "valueString": "99999999999999",
            },
            {
                "operator": "Or",
                "operands": [
                    {"operator": "Equal", "path": ["name"], "valueText": "alpha"},
                    {"operator": "Like", "path": ["name"], "valueText": "gam*"},
                ],
            },
        ],
    }
    answer = httpx.request(
        "DELETE",
        f"{weaviate_server.url}/v1/batch/objects",
        json={"match": {"class": "Rest", "where": where}, "output": "minimal"},
    ).json()
    assert answer["results"]["matches"] == 2
    assert "objects" not in answer["results"]
    assert [o.properties["name"] for o in collection.query.fetch_objects().objects] == ["beta"]
    bad = httpx.request(
        "DELETE",
        f"{weaviate_server.url}/v1/batch/objects",
        json={"match": {"class": "Rest", "where": {"operator": "Equal", "path": ["name"]}}},
    )
    assert bad.status_code == 422


def test_cursor_with_a_filter_is_refused_like_weaviate(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    collection = weaviate_client.collections.create("Cur")
    collection.data.insert_many([{"n": 1}, {"n": 2}])
    first = collection.query.fetch_objects(limit=1).objects[0].uuid
    with pytest.raises(weaviate.exceptions.WeaviateQueryError, match="after"):
        collection.query.fetch_objects(
            limit=1, after=first, filters=Filter.by_property("n").equal(2)
        )


def test_cursor_without_a_limit_pages_by_the_default_limit(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    collection = weaviate_client.collections.create("Cur")
    collection.data.insert_many([{"n": i} for i in range(12)])
    ids = sorted(str(o.uuid) for o in collection.query.fetch_objects(limit=20).objects)
    after_first = collection.query.fetch_objects(after=ids[0]).objects
    assert [str(o.uuid) for o in after_first] == ids[1:11]  # QUERY_DEFAULTS_LIMIT 10


def test_query_window_is_capped_at_query_maximum_results(
    weaviate_client: weaviate.WeaviateClient,
) -> None:
    collection = weaviate_client.collections.create("Cap")
    with pytest.raises(weaviate.exceptions.WeaviateQueryError, match="maximum results"):
        collection.query.fetch_objects(limit=100, offset=9_950)


def test_concurrent_rest_and_grpc_writes_all_land(
    weaviate_server: WeaviateTestServer, weaviate_endpoint: WeaviateEndpoint
) -> None:
    with weaviate_endpoint.connect() as client:
        client.collections.create("Mixed", properties=[Property(name="n", data_type=DataType.INT)])

    def grpc_writer(offset: int) -> None:
        with weaviate_endpoint.connect() as client:
            collection = client.collections.use("Mixed")
            for start in range(offset, offset + 200, 50):
                result = collection.data.insert_many([{"n": i} for i in range(start, start + 50)])
                assert result.errors == {}

    def rest_writer(offset: int) -> None:
        with httpx.Client(base_url=weaviate_server.url) as http:
            for i in range(offset, offset + 50):
                answer = http.post("/v1/objects", json={"class": "Mixed", "properties": {"n": i}})
                assert answer.status_code == 200

    threads = [
        threading.Thread(target=grpc_writer, args=(0,)),
        threading.Thread(target=grpc_writer, args=(200,)),
        threading.Thread(target=rest_writer, args=(400,)),
        threading.Thread(target=rest_writer, args=(450,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert weaviate_server.store.count("Mixed") == 500
    values = sorted(o.properties["n"] for o in weaviate_server.store.matching("Mixed"))
    assert values == list(range(500))


def test_backups_outlive_the_server_and_restore_elsewhere(
    weaviate_server: WeaviateTestServer,
    weaviate_client: weaviate.WeaviateClient,
    tmp_path: Path,
) -> None:
    weaviate_client.collections.create("Keep").data.insert_many([{"n": i} for i in range(7)])
    weaviate_client.backup.create(
        backup_id="nightly", backend="filesystem", wait_for_completion=True
    )
    assert weaviate_server.backups.root is not None
    with (
        WeaviateTestServer(backup_dir=weaviate_server.backups.root) as other,
        WeaviateEndpoint.for_server(other).connect() as client,
    ):
        restored = client.backup.restore(
            backup_id="nightly", backend="filesystem", wait_for_completion=True
        )
        assert restored.collections == ["Keep"]
        assert len(client.collections.use("Keep")) == 7
        listed = client.backup.list_backups(backend="filesystem")
        assert [b.backup_id for b in listed] == ["nightly"]


def test_backup_errors_are_clear(
    weaviate_client: weaviate.WeaviateClient, weaviate_server: WeaviateTestServer
) -> None:
    weaviate_client.collections.create("Keep")
    weaviate_client.backup.create(backup_id="once", backend="filesystem", wait_for_completion=True)
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="already exists"):
        weaviate_client.backup.create(backup_id="once", backend="filesystem")
    with pytest.raises(weaviate.exceptions.WeaviateBaseError, match="not found"):
        weaviate_client.backup.get_create_status(backup_id="never", backend="filesystem")
    with WeaviateTestServer() as no_backups:
        answer = httpx.post(f"{no_backups.url}/v1/backups/filesystem", json={"id": "x"})
        assert answer.status_code == 422
        assert "--backup-dir" in answer.json()["error"][0]["message"]


def test_reset_fixture_gives_each_test_a_clean_module_server(
    weaviate_server_reset: WeaviateTestServer,
) -> None:
    assert weaviate_server_reset.store.collections == {}
    weaviate_server_reset.store.create_class({"class": "Leftover"})
    weaviate_server_reset.faults.fail_next(5)


def test_reset_fixture_really_reset_the_previous_test(
    weaviate_server_reset: WeaviateTestServer,
) -> None:
    assert weaviate_server_reset.store.collections == {}
    assert weaviate_server_reset.faults.rules == []


def test_two_servers_are_independent(
    weaviate_server: WeaviateTestServer, second_weaviate_server: WeaviateTestServer
) -> None:
    assert weaviate_server.url != second_weaviate_server.url
    weaviate_server.store.create_class({"class": "OnlyHere"})
    assert second_weaviate_server.store.get_class("OnlyHere") is None


def test_weaviate_env_points_settings_at_the_server(
    weaviate_env: WeaviateEndpoint, weaviate_server: WeaviateTestServer
) -> None:
    from elysia_pipelines.settings import Settings

    settings = Settings.from_env()
    assert settings.weaviate_url == weaviate_server.url
    assert settings.weaviate_grpc_url == weaviate_server.grpc_url
    assert settings.weaviate_mode == "url"


def test_batches_and_requests_are_observable(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient
) -> None:
    collection = weaviate_client.collections.create("Obs")
    collection.data.insert_many([{"n": i} for i in range(3)])
    collection.data.insert_many([{"text": "x" * 1000}])
    sizes = weaviate_server.batches
    assert [objects for objects, _ in sizes] == [3, 1]
    assert sizes[1][1] > 1000
    collection.query.fetch_objects()
    counts = weaviate_server.request_counts
    assert counts["batch"] == 2
    assert counts["search"] == 1
    assert counts["schema"] >= 1


def test_modules_and_node_count_decide_which_configs_are_accepted(
    weaviate_server_factory: Callable[..., WeaviateTestServer],
) -> None:
    """Like a Weaviate with ENABLE_MODULES=text2vec-openai on a 3-node cluster."""
    server = weaviate_server_factory(modules=["text2vec-openai"], nodes=3)
    client = WeaviateEndpoint.for_server(server).connect()
    try:
        client.collections.create(
            "Openai",
            vector_config=Configure.Vectors.text2vec_openai(),
            replication_config=Configure.replication(factor=3),
        )
        assert client.collections.get("Openai").config.get().replication_config.factor == 3
        with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="3 available, 4"):
            client.collections.create("Four", replication_config=Configure.replication(factor=4))
        with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="contextionary"):
            client.collections.create(
                "Ctx", vector_config=Configure.Vectors.text2vec_contextionary()
            )
        meta = httpx.get(f"{server.url}/v1/meta").json()
        assert set(meta["modules"]) == {"text2vec-openai", "backup-filesystem"}
        nodes = client.cluster.nodes(output="verbose")
        assert [n.name for n in nodes] == [f"weaviate-test-{i}" for i in range(3)]
        assert all(n.shards and n.shards[0].collection == "Openai" for n in nodes)

        server.set_cluster(modules=[], nodes=1)  # until reset()
        assert len(client.cluster.nodes()) == 1
        with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError, match="no module"):
            client.collections.create("Again", vector_config=Configure.Vectors.text2vec_openai())
        server.reset()
        assert len(client.cluster.nodes()) == 3
        client.collections.create("Again", vector_config=Configure.Vectors.text2vec_openai())
    finally:
        client.close()


def test_a_grpc_message_above_the_servers_maximum_is_refused_as_permanent(
    weaviate_server_factory: Callable[..., WeaviateTestServer],
) -> None:
    """RESOURCE_EXHAUSTED 'larger than max': the product must not retry it."""
    import grpc
    from weaviate.proto.v1 import batch_pb2, weaviate_pb2_grpc

    from elysia_pipelines.weaviate.messages import is_transient_message

    server = weaviate_server_factory(max_message_bytes=1_000_000)
    assert httpx.get(f"{server.url}/v1/meta").json()["grpcMaxMessageSize"] == 1_000_000
    big = batch_pb2.BatchObject(
        collection="Big",
        uuid="8a6e0804-2bd0-4672-b79d-d97027f9071a",
        properties=batch_pb2.BatchObject.Properties(
            non_ref_properties={"content": "x" * 1_500_000}  # type: ignore[dict-item]
        ),
    )
    # A client that ignores the advertised limit: the server itself refuses.
    with grpc.insecure_channel(
        server.grpc_url, options=[("grpc.max_send_message_length", 10_000_000)]
    ) as channel:
        stub = weaviate_pb2_grpc.WeaviateStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.BatchObjects(batch_pb2.BatchObjectsRequest(objects=[big]), timeout=30)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in str(caught.value.details())
    assert not is_transient_message(f"RESOURCE_EXHAUSTED: {caught.value.details()}")

    # weaviate-client applies the advertised limit and refuses before sending.
    client = WeaviateEndpoint.for_server(server).connect()
    try:
        collection = client.collections.create(
            "Big", properties=[Property(name="content", data_type=DataType.TEXT)]
        )
        with pytest.raises(Exception, match="larger than max") as refused:
            collection.data.insert_many([{"content": "x" * 1_500_000}])
        assert not is_transient_message(str(refused.value))
        assert len(collection) == 0
    finally:
        client.close()
