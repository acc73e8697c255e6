"""The daemon's run launcher starts runs in a fork of the warm worker, and stops them.

A real `dagster-daemon run` (the shipped dagster.yaml: WarmRunLauncher) with ELYSIA_WARM
on serves the queue; runs are submitted as the UI's "Materialize" submits them.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from elysia_pipelines import orchestration, run_queue, warm_worker
from elysia_pipelines.run_launcher import WORKER_PID_TAG
from elysia_pipelines_tests.daemon import running_daemon
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import ELYSIACTL, elysia_env
from elysia_pipelines_tests.weaviate_server.process import start_server_process


def _wait_finished(
    instance: dg.DagsterInstance, run_id: str, timeout_s: float = 180
) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def _started_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


@pytest.mark.slow
def test_daemon_runs_start_in_the_warm_worker_and_terminate(tmp_path: Path) -> None:
    source = GitRepo.init(tmp_path / "src")
    for i in range(30):
        source.write(f"pkg/mod_{i}.py", f"VALUE = {i}\n")
    source.commit("files")
    with start_server_process() as server:
        env = {**elysia_env(tmp_path, server), "ELYSIA_WARM": "on"}
        home, dagster_home = Path(env["ELYSIA_HOME"]), Path(env["DAGSTER_HOME"])
        for name in ("first", "second", "third"):
            added = subprocess.run(
                [ELYSIACTL, "repo", "add", source.url, "--name", name, "--no-sync"],
                env={**env, "ELYSIA_WARM": "off"},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert added.returncode == 0, added.stderr
        assert not warm_worker.ready(home)
        try:
            with running_daemon(dagster_home, env):
                instance = orchestration.open_instance(dagster_home)
                submit = lambda name: run_queue.submit(  # noqa: E731
                    instance,
                    orchestration.SYNC_JOB,
                    tags={"dagster/partition": name},
                    run_config={},
                )
                # No warm worker yet: Dagster's own launcher, and one is started.
                first = _wait_finished(instance, submit("first"))
                assert first.status is dg.DagsterRunStatus.SUCCESS
                assert WORKER_PID_TAG not in first.tags
                deadline = time.monotonic() + 60
                while not warm_worker.ready(home) and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert warm_worker.ready(home)

                second = _wait_finished(instance, submit("second"))
                assert second.status is dg.DagsterRunStatus.SUCCESS
                pid = int(second.tags[WORKER_PID_TAG])
                assert _started_pid(instance, second.run_id) == pid

                server.faults(latency_ms=1500)  # slow enough to be stopped mid-run
                third_id = submit("third")
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    run = instance.get_run_by_id(third_id)
                    if run is not None and run.status is dg.DagsterRunStatus.STARTED:
                        break
                    time.sleep(0.1)
                time.sleep(1.0)
                assert instance.run_launcher.terminate(third_id)  # the UI's "Terminate"
                third = _wait_finished(instance, third_id, timeout_s=60)
                log = [e.message for e in instance.all_logs(third_id)]
                assert third.status is dg.DagsterRunStatus.CANCELED, "\n".join(log)
                assert WORKER_PID_TAG in third.tags
                server.faults(clear=True)
        finally:
            warm_worker.stop(home)
