from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from elysia_pipelines.operations.alerts import build_alert, post_alert, send_failure_alert
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.support import free_port


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # Status codes to answer, in order; 200 once they run out.
    script: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.bodies.append(json.loads(self.rfile.read(length)))
            state.headers.append(dict(self.headers))
            status = state.script.pop(0) if state.script else 200
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/elysia"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_alert_is_posted_as_json(receiver: Receiver) -> None:
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    alert = build_alert(
        "api",
        "fatal: Authentication failed for 'https://example.com/org/api.git/'",
        run_id="run-123",
        job="sync_repository",
        at=at,
    )
    result = post_alert(receiver.url, alert, initial_wait_s=0)
    assert result.delivered and result.attempts == 1 and result.status == 200
    assert receiver.bodies == [
        {
            "repo": "api",
            "run_id": "run-123",
            "job": "sync_repository",
            "error": "fatal: Authentication failed for 'https://example.com/org/api.git/'",
            "time": "2026-03-01T08:30:00+00:00",
            "hint": alert.hint,
            "kind": "user_fixable",
        }
    ]
    assert "elysiactl repo fix-auth api" in alert.hint
    assert receiver.headers[0]["Content-Type"] == "application/json"


def test_alert_retries_server_errors(receiver: Receiver) -> None:
    receiver.script = [503, 500]
    result = post_alert(receiver.url, build_alert("web", "connection reset"), initial_wait_s=0)
    assert result.delivered and result.attempts == 3
    assert len(receiver.bodies) == 3


def test_alert_gives_up_without_raising(receiver: Receiver) -> None:
    receiver.script = [502, 502, 502]
    result = post_alert(receiver.url, build_alert("web", "boom"), attempts=3, initial_wait_s=0)
    assert not result.delivered and result.attempts == 3
    assert "502" in (result.error or "")


def test_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.script = [400]
    result = post_alert(receiver.url, build_alert("web", "boom"), initial_wait_s=0)
    assert not result.delivered and result.attempts == 1 and result.status == 400


def test_unreachable_webhook_is_reported(receiver: Receiver) -> None:
    port = free_port()
    result = post_alert(
        f"http://127.0.0.1:{port}/", build_alert("web", "x"), attempts=2, initial_wait_s=0
    )
    assert not result.delivered and result.attempts == 2
    assert "unreachable" in (result.error or "")


def test_send_failure_alert_uses_settings(receiver: Receiver, tmp_path) -> None:
    off = Settings.from_env({"ELYSIA_HOME": str(tmp_path)})
    assert send_failure_alert(off, "api", "boom") is None
    on = Settings.from_env({"ELYSIA_HOME": str(tmp_path), "ELYSIA_ALERT_WEBHOOK_URL": receiver.url})
    result = send_failure_alert(on, "api", "HTTP 429; Retry-After: 60", run_id="r1", job="sync")
    assert result is not None and result.delivered
    assert receiver.bodies[-1]["kind"] == "rate_limited"
    assert receiver.bodies[-1]["run_id"] == "r1"
