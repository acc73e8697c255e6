"""A real `dagster-webserver` process for one DAGSTER_HOME, and its GraphQL API (tests).

The UI tests start the webserver the way `./dev.sh ui` does (the project's workspace.yaml,
the shipped dagster.yaml in DAGSTER_HOME) and then talk to it over HTTP: GraphQL for
the API tests, a browser for the end-to-end test. One helper keeps the start-up wait,
the output capture and the shutdown the same for all of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elysia_pipelines_tests.support import (
    free_port,
    start_logged,
    stop_process_group,
)

ROOT = Path(__file__).resolve().parent.parent
# The instance config `./dev.sh ui` copies into DAGSTER_HOME.
INSTANCE_TEMPLATE = ROOT / "dagster.yaml"


class WebserverDidNotStart(RuntimeError):
    pass


def install_instance_config(dagster_home: Path, *, config: str | None = None) -> Path:
    """Put the shipped dagster.yaml (or the given text) into DAGSTER_HOME, as `dev.sh ui` does."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    target.write_text(config if config is not None else INSTANCE_TEMPLATE.read_text())
    return target


def create_instance_storage(dagster_home: Path) -> None:
    """Create a new instance's SQLite schemas (runs, event log, schedules) in this process.

    Two processes started at once on a fresh DAGSTER_HOME both run the schema migrations
    and one fails ("table ... already exists"); tests that start several do this first.
    """
    from elysia_pipelines.orchestration import open_instance

    with open_instance(dagster_home) as instance:
        instance.get_runs(limit=1)
        instance.all_instigator_state()
        instance.get_dynamic_partitions("repositories")


@dataclass
class Webserver:
    """Handle of a running webserver: where it listens, its log, and a GraphQL client."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL answer; GraphQL-level errors fail loudly with the body."""
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]


@contextmanager
def running_webserver(
    dagster_home: Path, env: Mapping[str, str] | None = None, *, timeout_s: float = 120.0
) -> Iterator[Webserver]:
    """Start dagster-webserver on a free port, wait for /server_info, stop it after.

    Output goes to `webserver.log` in DAGSTER_HOME (a pipe nobody reads would block it).
    """
    if not (dagster_home / "dagster.yaml").exists():
        install_instance_config(dagster_home)
    port = free_port()
    log_path = dagster_home / "webserver.log"
    log = log_path.open("ab")
    full_env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(dagster_home)}
    exe = Path(sys.executable).with_name("dagster-webserver")
    proc = start_logged(
        [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        log=log,
        env=full_env,
        cwd=ROOT,
    )
    server = Webserver(process=proc, port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/server_info", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise WebserverDidNotStart(
                        f"dagster-webserver did not start:\n{server.log_tail()}"
                    ) from None
                time.sleep(0.5)
        yield server
    finally:
        stop_process_group(proc, signal.SIGINT, timeout_s=20)
        log.close()
