"""Every injected fault ends in the right data (retries) or one clear error.

The assertions are about end state, counts and contents, never about how many
calls were made: the client's own UNAVAILABLE retries and ours may share the work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import weaviate

from elysia_pipelines.documents import document_uuid
from elysia_pipelines.errors import ElysiaError, ErrorKind
from elysia_pipelines.weaviate import (
    CollectionSpec,
    ObjectToWrite,
    WeaviateTarget,
    WeaviateUnavailableError,
    count,
    delete_ids,
    ensure_collection,
    fetch_by_ids,
    iter_objects,
    open_client,
    upsert,
)
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

pytestmark = pytest.mark.weaviate_test_server_only

ALL_DATA_OPS = ["schema", "batch", "delete", "search", "aggregate"]


def docs(n: int, repo: str = "r") -> list[ObjectToWrite]:
    return [
        ObjectToWrite(
            document_uuid(repo, f"f{i}.py"),
            {"repo": repo, "path": f"f{i}.py", "content": f"line {i}\n", "size_bytes": i},
        )
        for i in range(n)
    ]


def full_cycle(client: weaviate.WeaviateClient, n: int = 250) -> None:
    """Provision, write, read back, delete: the operations every pipeline stage uses."""
    fast = {"max_wait_s": 0.5}  # short backoff keeps the suite quick; the policy is the same
    objects = docs(n)
    assert ensure_collection(client, CollectionSpec("Docs")).differences == []
    result = upsert(client, "Docs", objects, max_batch_objects=50, **fast)
    assert (result.written, result.failures) == (n, [])
    assert count(client, "Docs", **fast) == n
    seen = {o.uuid: o.properties for o in iter_objects(client, "Docs", page_size=60, **fast)}
    assert seen == {str(o.uuid): dict(o.properties) for o in objects}
    gone = [o.uuid for o in objects[:20]]
    assert delete_ids(client, "Docs", gone, **fast) == 20
    assert count(client, "Docs", **fast) == n - 20
    assert fetch_by_ids(client, "Docs", gone, **fast) == {}


def test_latency(weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient) -> None:
    weaviate_server.faults.latency(40)
    full_cycle(client)


def test_fraction_of_requests_failing_with_503_unavailable(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    weaviate_server.faults.reseed(11)
    weaviate_server.faults.fail_rate(0.4, ["schema", "delete"])
    weaviate_server.faults.fail_rate(0.15, ["batch", "search", "aggregate"])
    full_cycle(client)
    assert weaviate_server.faults.injected_total("error") > 0  # the faults did happen


def test_burst_of_failures(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    weaviate_server.faults.fail_next(2, "schema")
    weaviate_server.faults.fail_next(3, "delete")
    weaviate_server.faults.fail_next(1, "batch")  # the client retries UNAVAILABLE itself
    full_cycle(client)


def test_throttling_with_retry_after(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    for op in ALL_DATA_OPS:
        weaviate_server.faults.throttle_next(1, op, retry_after_s=1)
    full_cycle(client)


def test_dropped_connections(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    weaviate_server.faults.drop_next(2, "schema")
    weaviate_server.faults.drop_next(2, "delete")
    weaviate_server.faults.drop_next(1, "batch")
    weaviate_server.faults.drop_next(1, "search")
    full_cycle(client)


def test_server_restart_in_the_middle_of_a_scan(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    objects = docs(300)
    ensure_collection(client, CollectionSpec("Docs"))
    upsert(client, "Docs", objects)
    seen: list[str] = []
    for obj in iter_objects(client, "Docs", page_size=50):
        seen.append(obj.uuid)
        if len(seen) == 120:  # mid-page: the next page is asked from a restarted server
            weaviate_server.restart(keep_data=True)
    assert sorted(seen) == sorted(str(o.uuid) for o in objects)


def test_server_back_after_an_outage_during_writes(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    ensure_collection(client, CollectionSpec("Docs"))
    weaviate_server.stop()
    restarter = threading.Timer(1.0, weaviate_server.start)
    restarter.start()
    try:
        assert delete_ids(client, "Docs", [o.uuid for o in docs(5)]) == 0  # waits it out
        result = upsert(client, "Docs", docs(120))
    finally:
        restarter.join()
    assert result.written == 120
    assert count(client, "Docs") == 120


def test_server_down_for_good_gives_one_clear_error(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    ensure_collection(client, CollectionSpec("Docs"))
    weaviate_server.stop()
    with pytest.raises(WeaviateUnavailableError) as caught:
        delete_ids(client, "Docs", [o.uuid for o in docs(3)], attempts=2)
    assert "Docs" in caught.value.message
    assert caught.value.hint is not None and "WEAVIATE_URL" in caught.value.hint
    # The kind is decided here, where the outage is seen: retries and alerts read it.
    assert caught.value.kind is ErrorKind.TRANSIENT
    with pytest.raises(ElysiaError, match="did not answer") as refused:
        ensure_collection(client, CollectionSpec("Other"))
    assert refused.value.kind is ErrorKind.TRANSIENT


def test_connect_retries_through_a_burst_at_start_up(weaviate_server: WeaviateTestServer) -> None:
    weaviate_server.faults.fail_next(2, "meta")
    target = WeaviateTarget.for_url(weaviate_server.url, weaviate_server.grpc_url, retries=3)
    with open_client(target) as client:
        assert ensure_collection(client, CollectionSpec("Docs")).created


def test_connect_gives_up_with_one_error_naming_the_server(
    weaviate_server: WeaviateTestServer,
) -> None:
    weaviate_server.faults.fail_next(10, "meta")
    target = WeaviateTarget.for_url(weaviate_server.url, weaviate_server.grpc_url, retries=1)
    with pytest.raises(ElysiaError) as caught, open_client(target):
        pass
    assert weaviate_server.url in caught.value.message
    assert weaviate_server.grpc_url in caught.value.message


def test_outage_in_the_middle_of_an_upsert_reports_what_was_written(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    ensure_collection(client, CollectionSpec("Docs"))
    objects = docs(150)

    def stream() -> Iterator[ObjectToWrite]:
        for i, obj in enumerate(objects):
            if i == 51:  # the first batch of 50 has been sent: now the server sheds load
                weaviate_server.faults.throttle_next(1000, "batch")
            yield obj

    with pytest.raises(WeaviateUnavailableError) as caught:
        upsert(client, "Docs", stream(), max_batch_objects=50, attempts=2, max_wait_s=0.2)
    assert caught.value.written == 50
    assert "Docs" in caught.value.message
    assert caught.value.hint is not None and "re-running is safe" in caught.value.hint
    weaviate_server.faults.clear()
    assert count(client, "Docs") == 50
    assert set(fetch_by_ids(client, "Docs", [o.uuid for o in objects])) == {
        str(o.uuid) for o in objects[:50]
    }


@pytest.mark.parametrize("message", ["store is read-only", "not enough memory"])
def test_weaviate_own_transient_batch_errors_are_sent_again(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient, message: str
) -> None:
    """A degraded node fails every object of a batch with its own message; we retry them."""
    ensure_collection(client, CollectionSpec("Docs"))
    weaviate_server.faults.weaviate_error_next(1, "batch", message=message)
    result = upsert(client, "Docs", docs(20), max_wait_s=0.05)
    assert result.failures == [] and result.written == 20
    assert weaviate_server.faults.injected_total("weaviate") == 1
    assert count(client, "Docs") == 20
