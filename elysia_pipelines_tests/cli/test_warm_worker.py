"""`elysiactl` runs its Dagster work, backups and restores in a warm worker: same runs, same
output, no Dagster or pyarrow start-up.

Each test runs the console script as a user does, with ELYSIA_WARM on (the suite turns
it off elsewhere), against a real test server, and stops its worker at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterRunStatus

from elysia_pipelines import warm_worker
from elysia_pipelines.orchestration import open_instance
from elysia_pipelines_tests.cli.test_import_set import FORBIDDEN, WRAPPER, run_command
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import ELYSIACTL, ctrl_c, elysia_env, started_run, strip_ansi
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
    sync, run_id, _ = ctrl_c(
        [ELYSIACTL, "repo", "sync", "demo"],
        env,
        after=lambda: started_run(Path(env["DAGSTER_HOME"])),
    )
    out, err = sync.stdout, sync.stderr
    assert "warm worker" in " ".join(out.split()), out
    assert sync.returncode == 130, err
    assert "error: interrupted" in strip_ansi(err), err
    assert "Traceback" not in err, err  # Dagster's log helpers are not in the terminal's group
    with open_instance(Path(env["DAGSTER_HOME"])) as instance:
        run = instance.get_run_by_id(run_id)
    assert run is not None and run.status is DagsterRunStatus.CANCELED
    server.faults(clear=True)
    again = _elysiactl(env, "repo", "sync", "demo")
    assert again.returncode == 0, again.stderr
    assert "60 documents" in strip_ansi(again.stdout)


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


def _rest(url: str, method: str, path: str, body: object = None) -> Any:
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _collection(url: str, name: str, objects: int = 0) -> None:
    _rest(url, "POST", "/v1/schema", {"class": name, "vectorizer": "none"})
    batch = [
        {
            "class": name,
            "properties": {"path": f"pkg/mod_{i}.py", "content": f"VALUE = {i}\n" * (i + 1)},
            "vector": [i / 10, 1.0, -0.5],
        }
        for i in range(objects)
    ]
    if batch:
        _rest(url, "POST", "/v1/batch/objects", {"objects": batch})


def _stored(url: str, name: str) -> int:
    return len(_rest(url, "GET", f"/v1/objects?class={name}&limit=1000")["objects"])


def _wrapped(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The console script's own process, reporting at exit the heavy packages it loaded."""
    proc, loaded = run_command(list(args), env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, loaded


# What a backup's --json says that does not depend on when or where it ran.
_SAME = (
    "collection",
    "format",
    "compression",
    "level",
    "object_count",
    "include_vectors",
    "vector_dimension",
    "partition_by",
    "filter",
    "tags",
    "scanned_count",
    "tenant_count",
)


def _content(document: dict[str, Any]) -> dict[str, Any]:
    same = {key: document[key] for key in _SAME}
    same["rows"] = [f["rows"] for f in document["files"]]
    return same


def test_col_backup_and_restore_run_in_the_warm_worker_without_pyarrow(
    env: dict[str, str], server: ServerProcess
) -> None:
    """The command process of a Parquet backup, a JSON+zstd backup and a restore loads no
    pyarrow (nor numpy): the worker has; their --json is what an in-process run prints."""
    _collection(server.url, "Docs", objects=25)
    home = Path(env["ELYSIA_HOME"])
    off = {**env, "ELYSIA_WARM": "off"}
    parquet = ["col", "backup", "Docs", "--json"]
    zstd = ["col", "backup", "Docs", "--format", "json", "--compression", "zstd", "--json"]
    commands = {"parquet": parquet, "json": zstd}
    here = {}
    for label, args in commands.items():
        proc = _elysiactl(off, *args)
        assert proc.returncode == 0, proc.stderr
        here[label] = json.loads(proc.stdout)
    assert not _serving(home)  # off started nothing
    assert _elysiactl(env, *zstd).returncode == 0  # runs here and starts the worker
    _ready(home)

    warm = {}
    for label, args in commands.items():
        proc, loaded = _wrapped(env, *args)
        assert loaded == [], f"`elysiactl {' '.join(args)}` loaded {loaded}"
        warm[label] = json.loads(proc.stdout)
        assert _content(warm[label]) == _content(here[label])
        assert warm[label]["backup_id"] != here[label]["backup_id"]
        assert warm[label]["format"] == label and warm[label]["object_count"] == 25

    _collection(server.url, "Copy")
    restore = ["col", "restore", warm["parquet"]["backup_id"], "--target-collection", "Copy"]
    proc, loaded = _wrapped(env, *restore, "--workers", "4", "--json")
    assert loaded == [], f"restore loaded {loaded}"
    report = json.loads(proc.stdout)
    assert (report["created"], report["failed"], report["total"]) == (25, 0, 25), report
    assert _stored(server.url, "Copy") == 25

    # Again, in the command's process: the same report but for its timing.
    again = _elysiactl(off, *restore, "--json")
    assert again.returncode == 0, again.stderr
    in_process = json.loads(again.stdout)
    assert in_process["updated"] == 25 and in_process["created"] == 0
    assert set(in_process) == set(report)


def test_col_backup_progress_and_errors_cross_the_warm_worker(
    env: dict[str, str], server: ServerProcess
) -> None:
    """On a terminal the bar is driven by the counts the child sends; a backup that is
    not there fails with error:, hint: and exit 1 as in-process."""
    _collection(server.url, "Docs", objects=25)
    home = Path(env["ELYSIA_HOME"])
    assert _elysiactl(env, "col", "backup", "Docs", "--json").returncode == 0  # starts it
    _ready(home)
    terminal = {**env, "ELYSIA_FORCE_TERMINAL": "1"}
    proc = _elysiactl(terminal, "col", "backup", "Docs", "--format", "jsonl")
    assert proc.returncode == 0, proc.stderr
    assert "Backed up 25 objects of Docs as jsonl" in " ".join(strip_ansi(proc.stdout).split())
    assert "Traceback" not in proc.stderr

    missing = _elysiactl(env, "col", "restore", "no-such-backup", "--json")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    err = strip_ansi(missing.stderr)
    assert "error:" in err and "hint:" in err and "Traceback" not in err, err
    assert json.loads(missing.stdout)["kind"]


def test_ctrl_c_stops_a_warm_restore_which_resume_finishes(
    env: dict[str, str], server: ServerProcess
) -> None:
    _collection(server.url, "Docs", objects=25)
    home = Path(env["ELYSIA_HOME"])
    backed_up = _elysiactl(env, "col", "backup", "Docs", "--json")  # starts the worker
    assert backed_up.returncode == 0, backed_up.stderr
    backup_id = json.loads(backed_up.stdout)["backup_id"]
    _collection(server.url, "Copy")
    _ready(home)
    server.faults(latency_ms=3000, ops=["batch"])
    restore = [ELYSIACTL, "col", "restore", backup_id, "--target-collection", "Copy"]
    # Its one batch is waiting for the server when Ctrl-C is pressed.
    running, _, _ = ctrl_c(restore, env, after=lambda: None, settle_s=1.5)
    err = running.stderr
    assert running.returncode == 130, err
    err = " ".join(strip_ansi(err).split())
    assert "error: restore of" in err and "interrupted" in err, err
    assert "hint: run the same command with --resume" in err, err
    server.faults(clear=True)
    resumed = _elysiactl(env, *restore[1:], "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert _stored(server.url, "Copy") == 25


def test_a_server_that_cannot_serve_is_not_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a server found it cannot serve this code (no Unix sockets where the home is,
    threads after its imports), commands run in their own process without starting
    another one that would import for seconds only to give up the same way."""
    monkeypatch.setenv("ELYSIA_WARM", "on")
    home = tmp_path / "home"
    sock, lock = warm_worker._paths(home, warm_worker.code_key())
    lock.parent.mkdir(parents=True)
    warm_worker._refuse(lock, "cannot listen: test")
    assert warm_worker.start(home) is None
    assert warm_worker.call(home, "posixpath:join", {"a": "x"}) == "x"  # in this process
    assert not warm_worker._lock_held(lock) and not sock.exists()
