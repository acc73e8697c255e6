"""Ctrl-C during an in-process sync stops the command, as a user pressing it expects.

Dagster's in-process execution defers SIGINT to points it never reaches, so a Ctrl-C
was swallowed and the sync went on to "succeeded" (and Dagster's compute-log capture
swallowed whatever the CLI printed afterwards). The console script runs as a user types
it, in a session of its own that gets the SIGINT a terminal sends to its foreground group.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dagster import DagsterRunStatus

from elysia_pipelines.orchestration import open_instance
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import ELYSIACTL, ctrl_c, elysia_env, started_run, strip_ansi
from elysia_pipelines_tests.weaviate_server.process import start_server_process


def _status(dagster_home: Path, run_id: str) -> DagsterRunStatus:
    with open_instance(dagster_home) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None
        return run.status


def test_ctrl_c_stops_an_in_process_sync_and_the_next_sync_finishes(tmp_path: Path) -> None:
    source = GitRepo.init(tmp_path / "src")
    for i in range(60):
        source.write(f"pkg/mod_{i}.py", f"VALUE = {i}\n")
    source.commit("sixty files")
    with start_server_process() as server:
        env = {**elysia_env(tmp_path, server), "ELYSIA_RUN_MODE": "in-process"}
        added = subprocess.run(
            [ELYSIACTL, "repo", "add", source.url, "--name", "demo", "--no-sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert added.returncode == 0, added.stderr
        server.faults(latency_ms=1500)  # every request slow: the sync is still running
        sync, run_id, stopped_in = ctrl_c(
            [ELYSIACTL, "repo", "sync", "demo"],
            env,
            after=lambda: started_run(tmp_path / "dagster_home"),
        )
        err = sync.stderr
        err = strip_ansi(err)
        assert sync.returncode == 130, err
        assert "error: interrupted" in err and "hint:" in err, err
        assert stopped_in < 15, stopped_in  # not the whole sync
        assert _status(tmp_path / "dagster_home", run_id) is DagsterRunStatus.CANCELED

        server.faults(clear=True)
        again = subprocess.run(
            [ELYSIACTL, "repo", "sync", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert again.returncode == 0, again.stderr
        assert "60 documents" in strip_ansi(again.stdout), again.stdout
