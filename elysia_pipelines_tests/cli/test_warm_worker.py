"""`elysiactl` runs its Dagster work in a warm worker: same runs, same output, no Dagster start-up.

Each test runs the console script as a user does, with ELYSIA_WARM on (the suite turns
it off elsewhere), against a real test server, and stops its worker at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterRunStatus

from elysia_pipelines import warm_worker
from elysia_pipelines.orchestration import open_instance
from elysia_pipelines_tests.cli.test_import_set import FORBIDDEN, WRAPPER
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import ELYSIACTL, elysia_env, strip_ansi
from elysia_pipelines_tests.weaviate_server.process import ServerProcess, start_server_process


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    with start_server_process() as running:
        yield running


@pytest.fixture
def env(tmp_path: Path, server: ServerProcess) -> Iterator[dict[str, str]]:
    environment = {**elysia_env(tmp_path, server), "ELYSIA_WARM": "on"}
    yield environment
    home = Path(environment["ELYSIA_HOME"])
    warm_worker.stop(home)
    deadline = time.monotonic() + 30
    while _serving(home) and time.monotonic() < deadline:
        time.sleep(0.05)


def _serving(home: Path) -> bool:
    return any(warm_worker._lock_held(lock) for lock in (home / "run").glob("warm-*.lock"))


def _ready(home: Path, timeout_s: float = 60) -> None:
    """Wait until the worker a command started is listening (it imports Dagster first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if warm_worker.ready(home):
            return
        time.sleep(0.05)
    log = home / "logs" / "warm-worker.log"
    raise AssertionError(f"no warm worker: {log.read_text() if log.exists() else 'no log'}")


def _elysiactl(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ELYSIACTL, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _source(tmp_path: Path, files: int = 5) -> GitRepo:
    source = GitRepo.init(tmp_path / "src")
    for i in range(files):
        source.write(f"pkg/mod_{i}.py", f"VALUE = {i}\n")
    source.commit("files")
    return source


def test_repo_sync_runs_in_the_warm_worker_without_importing_dagster(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = _source(tmp_path)
    added = _elysiactl(env, "repo", "add", source.url, "--name", "demo")
    assert added.returncode == 0, added.stderr
    home = Path(env["ELYSIA_HOME"])
    _ready(home)
    source.write("pkg/extra.py", "EXTRA = 1\n")
    source.commit("one more")

    # The console script's own process (the wrapper reports its modules at exit).
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(FORBIDDEN), "repo", "sync", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(strip_ansi(proc.stdout).split())
    assert "running in elysiactl's warm worker (process" in out, out
    assert "6 documents" in out, out
    loaded = json.loads(proc.stderr.split("LOADED ")[-1].splitlines()[0])
    assert "dagster" not in loaded and "weaviate" not in loaded, loaded

    # The run is on the instance as an in-process run is: tagged, succeeded, partitioned.
    with open_instance(Path(env["DAGSTER_HOME"])) as instance:
        runs = instance.get_runs()
    assert [run.status for run in runs[:2]] == [DagsterRunStatus.SUCCESS] * 2
    assert runs[0].tags["dagster/partition"] == "demo"
    assert runs[0].tags["elysia/source"] == "elysiactl"

    as_json = _elysiactl(env, "repo", "sync", "demo", "--json")
    assert as_json.returncode == 0, as_json.stderr
    outcome = json.loads(as_json.stdout)
    assert outcome["success"] and outcome["documents"] == 6, outcome


def test_an_error_raised_in_the_worker_reaches_the_user_whole(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """An ElysiaError crosses the process boundary with its hint and exit status."""
    source = _source(tmp_path)
    assert _elysiactl(env, "repo", "add", source.url, "--name", "demo", "--no-sync").returncode == 0
    _ready(Path(env["ELYSIA_HOME"]))
    queued = _elysiactl({**env, "ELYSIA_RUN_MODE": "queue"}, "repo", "sync", "demo")
    assert queued.returncode == 1
    err = " ".join(strip_ansi(queued.stderr).split())
    assert "error: ELYSIA_RUN_MODE=queue but no Dagster daemon serves the run queue" in err, err
    assert "hint: start `dagster-daemon run`" in err, err
    assert "Traceback" not in queued.stderr


def test_ctrl_c_is_forwarded_and_the_run_is_canceled(
    tmp_path: Path, env: dict[str, str], server: ServerProcess
) -> None:
    source = _source(tmp_path, files=60)
    assert _elysiactl(env, "repo", "add", source.url, "--name", "demo", "--no-sync").returncode == 0
    _ready(Path(env["ELYSIA_HOME"]))
    server.faults(latency_ms=1500)
    sync = subprocess.Popen(
        [ELYSIACTL, "repo", "sync", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        run_id = _started_run(Path(env["DAGSTER_HOME"]))
        time.sleep(1.0)
        os.killpg(sync.pid, signal.SIGINT)  # what a terminal does: the CLI's group only
        out, err = sync.communicate(timeout=60)
    finally:
        if sync.poll() is None:
            os.killpg(sync.pid, signal.SIGKILL)
    assert "warm worker" in " ".join(out.split()), out
    assert sync.returncode == 130, err
    assert "error: interrupted" in strip_ansi(err), err
    with open_instance(Path(env["DAGSTER_HOME"])) as instance:
        run = instance.get_run_by_id(run_id)
    assert run is not None and run.status is DagsterRunStatus.CANCELED
    server.faults(clear=True)
    again = _elysiactl(env, "repo", "sync", "demo")
    assert again.returncode == 0, again.stderr
    assert "60 documents" in strip_ansi(again.stdout)


def _started_run(dagster_home: Path, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open_instance(dagster_home) as instance:
            for run in instance.get_runs():
                if run.status is DagsterRunStatus.STARTED:
                    return run.run_id
        time.sleep(0.3)
    raise AssertionError("no run started")


def test_the_worker_leaves_when_idle_or_when_its_socket_is_removed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = _source(tmp_path)
    home = Path(env["ELYSIA_HOME"])
    idle = {**env, warm_worker.IDLE_ENV: "1"}
    assert (
        _elysiactl(idle, "repo", "add", source.url, "--name", "demo", "--no-sync").returncode == 0
    )
    _ready(home)
    deadline = time.monotonic() + 30
    while _serving(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _serving(home), "an idle worker stayed"
    assert not warm_worker.socket_path(home).exists()

    assert _elysiactl(env, "repo", "sync", "demo").returncode == 0  # starts another
    _ready(home)
    warm_worker.socket_path(home).unlink()
    deadline = time.monotonic() + 30
    while _serving(home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _serving(home), "a worker whose socket was removed stayed"


def test_the_code_key_changes_with_the_code_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    module = package / "mod.py"
    module.write_text("X = 1\n")
    first = warm_worker.code_key(package)
    assert warm_worker.code_key(package) == first
    module.write_text("X = 22\n")
    assert warm_worker.code_key(package) != first
    edited = warm_worker.code_key(package)
    with monkeypatch.context() as patch:
        patch.setenv("PYTHONPATH", str(tmp_path))
        assert warm_worker.code_key(package) != edited
    with monkeypatch.context() as patch:
        patch.setenv("DAGSTER_TEST_FLAG", "1")
        assert warm_worker.code_key(package) != edited
    with monkeypatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(tmp_path))  # read per call, not at import
        assert warm_worker.code_key(package) == edited


def test_off_runs_in_the_command_and_starts_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    source = _source(tmp_path)
    off = {**env, "ELYSIA_WARM": "off"}
    added = _elysiactl(off, "repo", "add", source.url, "--name", "demo")
    assert added.returncode == 0, added.stderr
    assert "running in this process" in " ".join(strip_ansi(added.stdout).split())
    time.sleep(0.5)
    assert not _serving(Path(env["ELYSIA_HOME"]))
