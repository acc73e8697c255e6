"""`elysiactl` runs through the run queue when a daemon serves it, in-process otherwise.

The slow test starts a real `dagster-daemon run` for a temporary DAGSTER_HOME: the CLI's
runs must be enqueued, dequeued by that daemon and launched by its run launcher (not
executed in the test process), with the same outcome and error text as in-process.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from elysia_pipelines import orchestration, run_queue
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.daemon import running_daemon
from elysia_pipelines_tests.gitrepo import make_repo


def _heartbeat(instance: dg.DagsterInstance, age_s: float) -> None:
    from dagster._daemon.types import DaemonHeartbeat

    instance.add_daemon_heartbeat(
        DaemonHeartbeat(
            timestamp=time.time() - age_s,
            daemon_type=run_queue.QUEUE_DAEMON,
            daemon_id="test",
            errors=[],
        )
    )


def test_daemon_detection_follows_the_heartbeat(cli: Cli) -> None:
    instance = orchestration.get_instance(cli.settings())
    assert run_queue.uses_run_queue(instance)
    assert run_queue.daemon_heartbeat_age(instance) is None
    assert not run_queue.daemon_serves_queue(instance)
    _heartbeat(instance, age_s=run_queue.HEARTBEAT_TOLERANCE_S + 60)
    assert not run_queue.daemon_serves_queue(instance)
    _heartbeat(instance, age_s=1)
    assert run_queue.daemon_serves_queue(instance)


def test_without_a_daemon_the_cli_runs_in_process_and_says_so(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repo(tmp_path / "src")
    result = cli.run("add", str(tmp_path / "src"), "--name", "demo")
    assert result.exit_code == 0, result.output
    assert "no Dagster daemon serves the run queue: running in this process" in result.output
    data = json.loads(cli.run("sync", "demo", "--json").stdout)
    assert data["success"] is True and data["executed"] == "in-process"
    assert data["finished"] is True and data["documents"] == 3

    monkeypatch.setenv("ELYSIA_RUN_MODE", "queue")
    refused = cli.run("sync", "demo")
    assert refused.exit_code != 0
    assert "error: ELYSIA_RUN_MODE=queue but no Dagster daemon serves the run queue" in (
        refused.output
    )
    assert "Traceback" not in refused.output


def _events(instance: dg.DagsterInstance, run_id: str) -> set[dg.DagsterEventType]:
    return {
        r.event_log_entry.dagster_event.event_type
        for r in instance.get_records_for_run(run_id).records
        if r.event_log_entry.dagster_event is not None
    }


@pytest.mark.slow
def test_with_a_daemon_runs_go_through_the_queue(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_repo(tmp_path / "src")
    instance = orchestration.get_instance(cli.settings())
    with running_daemon(cli.dagster_home):
        added = cli.run("add", source.url, "--name", "demo")
        assert added.exit_code == 0, added.output
        assert "submitted to the run queue" in added.output
        assert "step weaviate_collection done" in added.output
        assert "3 documents in Demo" in added.output
        # (the daemon's sensors may start an ingest_pending run of their own)
        (run,) = [
            r
            for r in orchestration.recent_runs(instance, "demo")
            if r.job_name == "sync_repository"
        ]
        assert run.status == "SUCCESS" and run.job_name == "sync_repository"
        events = _events(instance, run.run_id)
        assert {dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING} <= events
        starts = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_START
        ).records
        # Executed by the daemon's launcher in a run worker, not in this process.
        assert starts and starts[0].event_log_entry.dagster_event.pid != os.getpid()

        # A failing sync: the same error message through the queue and in-process.
        shutil.rmtree(tmp_path / "src")
        through_queue = cli.run("sync", "demo", "--json")
        monkeypatch.setenv("ELYSIA_RUN_MODE", "in-process")
        in_process = cli.run("sync", "demo", "--json")
        monkeypatch.delenv("ELYSIA_RUN_MODE")

        # --no-wait returns with the run id of a queued run.
        queued = json.loads(cli.run("retry", "demo", "--no-wait", "--json").stdout)
        assert queued["finished"] is False and queued["executed"] == "run queue"
        submitted = instance.get_run_by_id(queued["run_id"])
        assert submitted is not None and submitted.tags["elysia/trigger"] == "repo-retry"
    assert through_queue.exit_code != 0 and in_process.exit_code != 0
    queued_failure = json.loads(through_queue.stdout)
    local_failure = json.loads(in_process.stdout)
    assert queued_failure["executed"] == "run queue"
    assert local_failure["executed"] == "in-process"
    assert queued_failure["success"] is False
    assert queued_failure["error"] == local_failure["error"]
    assert str(tmp_path / "src") in queued_failure["error"]
    assert queued_failure["failure"] == local_failure["failure"]
