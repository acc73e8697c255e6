"""What weaviate-client actually raises for each injected fault, and how we classify it.

Each case provokes a real fault on the test server and calls the client directly
(no retries of ours), so the assertions pin down the client's real exception
shapes: if a client upgrade changes them, these tests say which one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import weaviate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateBatchError,
    WeaviateDeleteManyError,
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
    WeaviateRetryError,
    WeaviateTimeoutError,
)

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate import CollectionSpec, WeaviateTarget, ensure_collection, open_client
from elysia_pipelines.weaviate.retry import (
    is_transient,
    is_transient_message,
    retry_after_s,
    transient_retry,
)
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

pytestmark = pytest.mark.weaviate_test_server_only

Call = Callable[[weaviate.WeaviateClient], Any]

CALLS: dict[str, Call] = {
    "schema": lambda c: c.collections.get("Docs").config.get(),
    "batch": lambda c: c.collections.get("Docs").data.insert_many(
        [DataObject(properties={"repo": "x"})]
    ),
    "delete": lambda c: c.collections.get("Docs").data.delete_many(
        where=Filter.by_property("repo").equal("nothing")
    ),
    "search": lambda c: c.collections.get("Docs").query.fetch_objects(limit=1),
    "aggregate": lambda c: c.collections.get("Docs").aggregate.over_all(total_count=True),
}


@pytest.fixture
def docs_client(
    weaviate_server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> weaviate.WeaviateClient:
    ensure_collection(client, CollectionSpec("Docs"))
    return client


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("schema", UnexpectedStatusCodeError),  # HTTP 429, body only
        ("batch", WeaviateBatchError),  # RESOURCE_EXHAUSTED left as __context__
        ("delete", WeaviateDeleteManyError),
        ("search", WeaviateQueryError),
        ("aggregate", WeaviateQueryError),
    ],
)
def test_throttling_is_transient(
    weaviate_server: WeaviateTestServer,
    docs_client: weaviate.WeaviateClient,
    op: str,
    expected: type[Exception],
) -> None:
    weaviate_server.faults.throttle_next(1, op, retry_after_s=2)
    with pytest.raises(expected) as caught:
        CALLS[op](docs_client)
    assert is_transient(caught.value)


@pytest.mark.parametrize(
    ("op", "fault", "expected"),
    [
        ("schema", "error", UnexpectedStatusCodeError),  # 503
        ("schema", "drop", httpx.RemoteProtocolError),  # raised unwrapped by the client
        ("delete", "error", WeaviateDeleteManyError),  # [UNAVAILABLE] in the text
        ("delete", "drop", WeaviateDeleteManyError),
    ],
)
def test_unavailable_and_dropped_are_transient(
    weaviate_server: WeaviateTestServer,
    docs_client: weaviate.WeaviateClient,
    op: str,
    fault: str,
    expected: type[Exception],
) -> None:
    if fault == "error":
        weaviate_server.faults.fail_next(1, op)
    else:
        weaviate_server.faults.drop_next(1, op)
    with pytest.raises(expected) as caught:
        CALLS[op](docs_client)
    assert is_transient(caught.value)


def test_http_500_is_transient(
    weaviate_server: WeaviateTestServer, docs_client: weaviate.WeaviateClient
) -> None:
    weaviate_server.faults.fail_next(1, "schema", status=500)
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        CALLS["schema"](docs_client)
    assert caught.value.status_code == 500
    assert is_transient(caught.value)


def test_timeouts_are_transient(weaviate_server: WeaviateTestServer) -> None:
    target = WeaviateTarget.for_url(
        weaviate_server.url, weaviate_server.grpc_url, retries=0, timeout_s=0.3
    )
    with open_client(target) as impatient:
        ensure_collection(impatient, CollectionSpec("Docs"))
        weaviate_server.faults.latency(1200, ["schema", "search"])
        with pytest.raises(WeaviateTimeoutError) as rest_timeout:
            CALLS["schema"](impatient)  # httpx ReadTimeout, wrapped
        with pytest.raises(WeaviateQueryError) as grpc_timeout:
            CALLS["search"](impatient)  # DEADLINE_EXCEEDED
    assert is_transient(rest_timeout.value)
    assert is_transient(grpc_timeout.value)


def test_client_side_unavailable_retries_end_in_a_transient_retry_error() -> None:
    # The client retries UNAVAILABLE itself (1+2+4+8 s for a batch) before raising
    # WeaviateRetryError; too slow to provoke here, so build the shape it raises.
    assert is_transient(WeaviateRetryError("StatusCode.UNAVAILABLE", 3))


def test_bad_data_and_missing_collections_are_not_transient(
    docs_client: weaviate.WeaviateClient,
) -> None:
    with pytest.raises(WeaviateInsertManyAllFailedError) as bad_value:
        docs_client.collections.get("Docs").data.insert_many(
            [DataObject(properties={"size_bytes": "lots"})]
        )
    assert not is_transient(bad_value.value)
    with pytest.raises(WeaviateQueryError) as missing:
        docs_client.collections.get("Nope").query.fetch_objects(limit=1)
    assert not is_transient(missing.value)
    assert not is_transient(ElysiaError("ours"))
    assert not is_transient(ValueError("a bug"))


def test_retry_after_header_is_honoured_and_capped() -> None:
    request = httpx.Request("GET", "http://weaviate.test/v1/schema")
    response = httpx.Response(429, headers={"Retry-After": "7"}, request=request)
    throttled = httpx.HTTPStatusError("429", request=request, response=response)
    assert is_transient(throttled)
    assert retry_after_s(throttled) == 7.0

    waits: list[float] = []
    policy = transient_retry(3, max_wait_s=1.0, max_retry_after_s=0.2)
    policy.sleep = waits.append  # record instead of sleeping
    calls = iter([throttled, throttled, "ok"])

    def flaky() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert policy(flaky) == "ok"
    assert waits == [0.2, 0.2]  # the server asked for 7 s; capped at 0.2


def test_policy_reraises_permanent_errors_at_once() -> None:
    attempts: list[int] = []

    @transient_retry(5, max_wait_s=0.01).wraps
    def broken() -> None:
        attempts.append(1)
        raise ValueError("not transient")

    with pytest.raises(ValueError, match="not transient"):
        broken()
    assert len(attempts) == 1


def test_deadline_stops_retrying_an_outage() -> None:
    waits: list[float] = []
    policy = transient_retry(10, max_wait_s=0.01, deadline_s=0.0)
    policy.sleep = waits.append

    def down() -> None:
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(ConnectionResetError):
        policy(down)
    assert waits == []  # past the deadline after the first try: no retry scheduled


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("context deadline exceeded", True),
        ("connection refused: node weaviate-2 unreachable", True),
        ("UNAVAILABLE: shard is busy, try again", True),
        ("invalid integer property 'size_bytes' on class 'Docs': requires integer", False),
        ("no such prop with name 'owner' found in class 'Docs'", False),
        ("RESOURCE_EXHAUSTED: Received message larger than max (5000000 vs. 4194304)", False),
        ("store is read-only", True),
        ("not enough memory", True),
    ],
)
def test_per_object_error_messages(message: str, transient: bool) -> None:
    assert is_transient_message(message) is transient


@pytest.mark.parametrize("op", ["search", "aggregate", "delete", "schema"])
@pytest.mark.parametrize(
    "message", ["store is read-only", "not enough memory", "no space left on device"]
)
def test_weaviate_own_transient_errors_are_transient(
    weaviate_server: WeaviateTestServer, docs_client: weaviate.WeaviateClient, op: str, message: str
) -> None:
    """Weaviate sends its own errors as gRPC UNKNOWN / HTTP 500 with the message only."""
    weaviate_server.faults.weaviate_error_next(1, op, message=message)
    with pytest.raises(Exception, match=message) as caught:
        CALLS[op](docs_client)
    assert is_transient(caught.value)


def test_weaviate_request_errors_sent_as_unknown_stay_permanent(
    docs_client: weaviate.WeaviateClient,
) -> None:
    with pytest.raises(WeaviateQueryError) as caught:
        docs_client.collections.get("Docs").query.fetch_objects(
            filters=Filter.by_property("nope").equal("x")
        )
    assert not is_transient(caught.value)
