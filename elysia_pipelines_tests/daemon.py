"""A real `dagster-daemon run` process for one DAGSTER_HOME (tests and benchmarks).

The daemon loads the project's workspace.yaml (location `elysia_pipelines`), dequeues
runs with the instance's QueuedRunCoordinator and launches them with its run launcher,
exactly as on a deployment; its environment is the caller's plus the given overrides.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from elysia_pipelines.orchestration import open_instance
from elysia_pipelines_tests.support import start_logged, stop_process_group
from elysia_pipelines_tests.webserver import INSTANCE_TEMPLATE, ROOT


class DaemonDidNotStart(RuntimeError):
    pass


@contextmanager
def running_daemon(
    dagster_home: Path, env: Mapping[str, str] | None = None, *, timeout_s: float = 180.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the daemon, wait until its queue heartbeat is on the instance, stop it after."""

    from elysia_pipelines import run_queue

    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_TEMPLATE.read_text())
    log = (dagster_home / "daemon.log").open("ab")
    full_env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(dagster_home)}
    exe = Path(sys.executable).with_name("dagster-daemon")
    proc = start_logged([str(exe), "run", "-w", "workspace.yaml"], log=log, env=full_env, cwd=ROOT)
    try:
        instance = open_instance(dagster_home)
        deadline = time.monotonic() + timeout_s
        while not run_queue.daemon_serves_queue(instance):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (dagster_home / "daemon.log").read_text(errors="replace")[-4000:]
                raise DaemonDidNotStart(f"dagster-daemon did not start:\n{tail}")
            time.sleep(0.5)
        yield proc
    finally:
        stop_process_group(proc)
        log.close()
