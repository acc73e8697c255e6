"""Helpers shared by tests and benchmarks, kept out of conftest files so both can import them.

One free-port probe, one way to drive `elysiactl` in-process and one ANSI pattern: copies of
these drifted apart (two ANSI regexes matched different escape sets) before they lived here.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from click.testing import Result

T = TypeVar("T")

# CSI sequences, OSC titles/links, charset switches and keypad modes: everything rich or a
# pseudo-terminal may emit around text.
ANSI_RE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")
# The console script of this environment, for tests and benchmarks that run it as a user does.
ELYSIACTL = str(Path(sys.executable).with_name("elysiactl"))
# The headline and tiles `elysiactl repo dashboard` shows for a healthy installation.
DASHBOARD_TILES = (
    "overall health: healthy",
    "Repositories",
    "Documents",
    "Success rate",
    "Avg sync time",
    "Active syncs",
    "Storage",
    "Recent activity",
)


def free_port() -> int:
    """A local TCP port nothing listens on right now (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def elysia_env(root: Path, server: Any) -> dict[str, str]:
    """This environment, with ELYSIA_HOME and DAGSTER_HOME under `root` and Weaviate at `server`.

    What an `elysiactl` or Dagster subprocess of a test or benchmark needs; `server` is a
    test server (anything with `url` and `grpc_url`).
    """
    return {
        **os.environ,
        "ELYSIA_HOME": str(root / "home"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "WEAVIATE_MODE": "url",
        "WEAVIATE_URL": server.url,
        "WEAVIATE_GRPC_URL": server.grpc_url,
    }


def start_logged(
    argv: Sequence[str], *, log: IO[bytes], env: Mapping[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own, its output into `log`.

    Its own session is what lets `stop_process_group` end it with every child it forks.
    """
    return subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process_group(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 30
) -> None:
    """Stop a server started with `start_new_session=True` and everything it forked.

    Dagster's daemon and webserver, and a Celery worker, run their work in child
    processes: signalling the group, then killing it after `timeout_s`, leaves none
    behind to hold ports or files of the next test.
    """
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def assert_mentions(text: str, labels: Iterable[str]) -> None:
    """Every label appears in `text`; a failure names the missing ones and shows the text."""
    missing = [label for label in labels if label not in text]
    assert not missing, f"missing {missing} in:\n{text}"


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def run_cli(*args: str, input: str | None = None) -> Result:
    """`elysiactl ARGS...` in this process; exceptions propagate so a traceback fails the test."""
    from typer.testing import CliRunner

    from elysia_pipelines.cli.main import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def started_run(dagster_home: Path, timeout_s: float = 60) -> str:
    """The id of a run of that instance once one is STARTED (a command's sync is underway)."""
    import time

    from dagster import DagsterRunStatus

    from elysia_pipelines.orchestration import open_instance

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (dagster_home / "dagster.yaml").exists():
            with open_instance(dagster_home) as instance:
                for run in instance.get_runs():
                    if run.status is DagsterRunStatus.STARTED:
                        return run.run_id
        time.sleep(0.2)
    raise AssertionError(f"no run of {dagster_home} started in {timeout_s:.0f} s")


def ctrl_c(
    argv: Sequence[str], env: Mapping[str, str], *, after: Callable[[], T], settle_s: float = 1.0
) -> tuple[subprocess.CompletedProcess[str], T, float]:
    """Run `argv` as a terminal runs a command, and press Ctrl-C once `after()` returned.

    The command gets a session of its own; SIGINT goes to its process group only, as a
    terminal sends it to its foreground group. Returns the finished process (killed if
    it does not end within 60 s of the Ctrl-C), `after()`'s value, and the seconds from
    the Ctrl-C to its exit.
    """
    import time

    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        value = after()
        time.sleep(settle_s)
        pressed = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
        stopped_in = time.monotonic() - pressed
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return subprocess.CompletedProcess(list(argv), process.returncode, out, err), value, stopped_in
