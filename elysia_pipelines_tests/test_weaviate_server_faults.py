"""Fault injection and lifecycle: every fault is visible to the real client, then heals.

These need the in-process server (its fault controls and restart), so they are
skipped when the suite targets a real Weaviate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import httpx
import pytest
import weaviate
from weaviate.classes.config import DataType, Property
from weaviate.proto.v1 import search_get_pb2, weaviate_pb2_grpc

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint
from elysia_pipelines_tests.weaviate_server import Faults, WeaviateTestServer

pytestmark = pytest.mark.weaviate_test_server_only


@pytest.fixture
def docs(weaviate_client: weaviate.WeaviateClient) -> weaviate.collections.Collection:
    collection = weaviate_client.collections.create(
        "Docs", properties=[Property(name="n", data_type=DataType.INT)]
    )
    assert collection.data.insert_many([{"n": i} for i in range(5)]).errors == {}
    return collection


def _raw_search(server: WeaviateTestServer, collection: str) -> search_get_pb2.SearchReply:
    with grpc.insecure_channel(server.grpc_url) as channel:
        stub = weaviate_pb2_grpc.WeaviateStub(channel)
        return stub.Search(
            search_get_pb2.SearchRequest(collection=collection, limit=10, uses_127_api=True),
            timeout=10,
        )


def test_rest_failures_hit_only_the_targeted_operation(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient, docs: object
) -> None:
    weaviate_server.faults.fail_next(2, "schema")
    for _ in range(2):
        with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError) as info:
            weaviate_client.collections.list_all()
        assert info.value.status_code == 503
        assert weaviate_client.is_ready()  # "meta" is not targeted
    assert "Docs" in weaviate_client.collections.list_all()


def test_rest_throttling_answers_429_with_retry_after(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient, docs: object
) -> None:
    weaviate_server.faults.throttle_next(2, "objects", retry_after_s=3)
    answer = httpx.post(f"{weaviate_server.url}/v1/objects", json={"class": "Docs"})
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
    collection = weaviate_client.collections.use("Docs")
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError) as info:
        collection.data.insert({"n": 99})
    assert info.value.status_code == 429
    uid = collection.data.insert({"n": 99})
    assert collection.data.exists(uid)


def test_rest_dropped_connection_then_recovery(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient, docs: object
) -> None:
    weaviate_server.faults.drop_next(1, "schema")
    with pytest.raises((httpx.RemoteProtocolError, weaviate.exceptions.WeaviateConnectionError)):
        weaviate_client.collections.list_all()
    assert "Docs" in weaviate_client.collections.list_all()
    assert weaviate_server.faults.injected_total("drop") == 1


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("error", grpc.StatusCode.UNAVAILABLE),
        ("drop", grpc.StatusCode.UNAVAILABLE),
        ("throttle", grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
def test_grpc_faults_carry_the_status_codes_clients_retry_on(
    weaviate_server: WeaviateTestServer, docs: object, mode: str, code: grpc.StatusCode
) -> None:
    {"error": weaviate_server.faults.fail_next, "drop": weaviate_server.faults.drop_next}.get(
        mode, weaviate_server.faults.throttle_next
    )(1, "search")
    with pytest.raises(grpc.RpcError) as info:
        _raw_search(weaviate_server, "Docs")
    assert info.value.code() == code  # type: ignore[attr-defined]
    assert len(_raw_search(weaviate_server, "Docs").results) == 5


def test_client_retries_a_single_unavailable_search(
    weaviate_server: WeaviateTestServer, docs: weaviate.collections.Collection
) -> None:
    weaviate_server.faults.fail_next(1, "search")
    assert len(docs.query.fetch_objects().objects) == 5
    assert weaviate_server.faults.describe()["injected"] == {"error:search": 1}


def test_grpc_throttling_breaks_batches_but_not_connect(
    weaviate_server: WeaviateTestServer, weaviate_endpoint: WeaviateEndpoint
) -> None:
    weaviate_server.faults.throttle_next(1000, "batch")
    client = weaviate_endpoint.connect(skip_init_checks=False)
    try:
        collection = client.collections.create("Docs")
        with pytest.raises(weaviate.exceptions.WeaviateBaseError, match="too many requests"):
            collection.data.insert_many([{"n": 1}])
        weaviate_server.faults.clear()
        assert collection.data.insert_many([{"n": 1}]).errors == {}
        assert len(collection) == 1
    finally:
        client.close()


def test_latency_is_added_to_targeted_requests(
    weaviate_server: WeaviateTestServer, docs: weaviate.collections.Collection
) -> None:
    weaviate_server.faults.latency(200, "aggregate")
    start = time.perf_counter()
    assert docs.aggregate.over_all(total_count=True).total_count == 5
    assert time.perf_counter() - start >= 0.2


def test_fail_rate_is_reproducible_with_a_seed(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient
) -> None:
    def pattern() -> list[bool]:
        weaviate_server.faults.clear()
        weaviate_server.faults.reseed(7)
        weaviate_server.faults.fail_rate(0.5, "schema")
        outcome = []
        for _ in range(16):
            try:
                weaviate_client.collections.list_all()
                outcome.append(True)
            except weaviate.exceptions.UnexpectedStatusCodeError:
                outcome.append(False)
        return outcome

    first = pattern()
    assert first == pattern()
    assert True in first and False in first


def test_fault_spec_validation() -> None:
    faults = Faults()
    with pytest.raises(ValueError, match="unknown operation"):
        faults.fail_next(1, "writes")
    with pytest.raises(ValueError, match="rate"):
        faults.fail_rate(1.5)
    with pytest.raises(ValueError, match="unknown fault rule fields"):
        faults.configure({"rules": [{"mode": "error", "colour": "red"}]})


def test_control_endpoint_changes_faults_at_run_time(
    weaviate_server: WeaviateTestServer, weaviate_client: weaviate.WeaviateClient, docs: object
) -> None:
    answer = httpx.post(
        f"{weaviate_server.url}/__test__/faults",
        json={"clear": True, "fail_next": 1, "ops": ["schema"]},
    )
    assert answer.status_code == 200
    assert answer.json()["rules"][0]["ops"] == ["schema"]
    with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError):
        weaviate_client.collections.list_all()
    stats = httpx.get(f"{weaviate_server.url}/__test__/stats").json()
    assert stats["collections"] == {"Docs": 5}
    bad = httpx.post(f"{weaviate_server.url}/__test__/faults", json={"fail_next": 1, "ops": ["x"]})
    assert bad.status_code == 422
    httpx.post(f"{weaviate_server.url}/__test__/reset")
    assert weaviate_client.collections.list_all() == {}


def test_restart_keeps_data_and_the_client_reconnects(
    weaviate_server: WeaviateTestServer, docs: weaviate.collections.Collection
) -> None:
    http_port, grpc_port = weaviate_server.http_port, weaviate_server.grpc_port
    weaviate_server.restart(keep_data=True)
    assert (weaviate_server.http_port, weaviate_server.grpc_port) == (http_port, grpc_port)
    assert len(docs.query.fetch_objects().objects) == 5
    assert docs.config.get().name == "Docs"


def test_restart_losing_data(
    weaviate_server: WeaviateTestServer,
    weaviate_client: weaviate.WeaviateClient,
    docs: weaviate.collections.Collection,
) -> None:
    weaviate_server.restart(keep_data=False)
    assert not weaviate_client.collections.exists("Docs")


def test_stopped_server_refuses_connections_until_started(
    weaviate_server: WeaviateTestServer,
    weaviate_client: weaviate.WeaviateClient,
    docs: weaviate.collections.Collection,
) -> None:
    weaviate_server.stop()
    with pytest.raises(weaviate.exceptions.WeaviateConnectionError):
        weaviate_client.collections.list_all()
    weaviate_server.start()
    assert "Docs" in weaviate_client.collections.list_all()
    assert len(docs.query.fetch_objects().objects) == 5


def test_an_outage_is_ridden_out_by_the_clients_grpc_retries(
    weaviate_server: WeaviateTestServer, docs: weaviate.collections.Collection
) -> None:
    back = weaviate_server.outage(0.3)
    assert len(docs.query.fetch_objects().objects) == 5  # UNAVAILABLE, retried after 1 s
    back.join()


def test_factory_starts_servers_with_options(
    weaviate_server_factory: Callable[..., WeaviateTestServer],
) -> None:
    strict = weaviate_server_factory(auto_schema=False, latency_ms=10, seed=3)
    assert strict.store.auto_schema is False
    assert [r.mode for r in strict.faults.rules] == ["latency"]
    with (
        WeaviateEndpoint.for_server(strict).connect() as client,
        pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError),
    ):
        client.collections.use("Missing").data.insert_many([{"a": 1}])


def test_weaviate_error_mode_answers_as_a_degraded_node(
    weaviate_server: WeaviateTestServer, docs: weaviate.collections.Collection
) -> None:
    weaviate_server.faults.weaviate_error_next(1, "search", message="not enough memory")
    with pytest.raises(grpc.RpcError) as info:
        _raw_search(weaviate_server, "Docs")
    assert info.value.code() == grpc.StatusCode.UNKNOWN  # type: ignore[attr-defined]
    assert info.value.details() == "not enough memory"  # type: ignore[attr-defined]
    weaviate_server.faults.weaviate_error_next(2, "batch")
    with pytest.raises(weaviate.exceptions.WeaviateInsertManyAllFailedError, match="read-only"):
        docs.data.insert_many([{"n": 7}, {"n": 8}, {"n": 9}])
    rest = httpx.post(
        f"{weaviate_server.url}/v1/batch/objects",
        json={"objects": [{"class": "Docs", "properties": {"n": 1}}]},
    ).json()
    assert rest[0]["result"]["errors"]["error"][0]["message"] == "store is read-only"
    assert len(docs) == 5
