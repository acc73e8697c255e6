"""ELYSIA_EXECUTOR=celery for real: a sync's steps run as tasks in a dagster-celery worker.

No Redis or RabbitMQ here, so the broker is kombu's filesystem transport and the result
backend Celery's file backend (both real Celery, messages as files in a temporary
directory); everything else is what a deployment does: `dagster-celery worker start -y
FILE` with a file in the shape of deploy/executor.celery.yaml, the same file as
ELYSIA_EXECUTOR_CONFIG, and `elysiactl repo add` / `repo sync` whose runs hand every step
to that worker.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import yaml

from elysia_pipelines import orchestration
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.gitrepo import make_repo
from elysia_pipelines_tests.support import start_logged, stop_process_group

BIN = Path(sys.executable).parent


def _celery_config(root: Path) -> Path:
    """deploy/executor.celery.yaml with a broker and backend that need no server."""
    messages = root / "broker"
    messages.mkdir(parents=True)
    config = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "deploy" / "executor.celery.yaml").read_text()
    )
    settings = config["execution"]["config"]
    settings["broker"] = "filesystem://"
    settings["backend"] = f"file://{root / 'results'}"
    (root / "results").mkdir()
    settings["config_source"]["broker_transport_options"] = {
        "data_folder_in": str(messages),
        "data_folder_out": str(messages),
        # (default: `control/` in the current directory, of the worker and the run alike)
        "control_folder": str(root / "control"),
        "store_processed": False,
    }
    path = root / "executor.celery.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_worker(config: Path, log: Path, timeout_s: float = 120.0) -> Iterator[None]:
    """`dagster-celery worker start` (it execs `celery`, so the venv's bin goes on PATH)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with log.open("ab") as out:
        proc = start_logged(
            [
                str(BIN / "dagster-celery"),
                *("worker", "start", "-A", "dagster_celery.app"),
                *("-y", str(config), "--name", "elysia-test-worker"),
            ],
            log=out,
            env=env,
            cwd=config.parent,
        )
        try:
            deadline = time.monotonic() + timeout_s
            while " ready." not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the celery worker did not start:\n{tail}")
                time.sleep(0.5)
            yield
        finally:
            stop_process_group(proc)


@pytest.mark.slow
def test_sync_steps_run_in_a_celery_worker(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _celery_config(tmp_path / "celery")
    source = make_repo(tmp_path / "src")
    monkeypatch.setenv("ELYSIA_EXECUTOR", "celery")
    monkeypatch.setenv("ELYSIA_EXECUTOR_CONFIG", str(config))
    monkeypatch.setenv("ELYSIA_RUN_MODE", "in-process")
    cli.dagster_home.mkdir(parents=True)
    log = tmp_path / "worker.log"
    with running_worker(config, log):
        added = cli.run("add", source.url, "--name", "demo")
        assert added.exit_code == 0, added.output
        assert "3 documents in Demo" in added.output
        source.write("app/extra.py", "EXTRA = 1\n")
        source.commit("add extra")
        synced = cli.run("sync", "demo", "--json")
        assert synced.exit_code == 0, synced.output
        assert json.loads(synced.stdout)["documents"] == 4

    instance = orchestration.get_instance(cli.settings())
    runs = [
        r for r in orchestration.recent_runs(instance, "demo") if r.job_name == "sync_repository"
    ]
    assert len(runs) == 2 and {r.status for r in runs} == {"SUCCESS"}
    for run in runs:
        records = instance.get_records_for_run(run.run_id).records
        events = [r.event_log_entry.dagster_event for r in records]
        starts = [e for e in events if e and e.event_type == dg.DagsterEventType.STEP_START]
        handed = {
            e.step_key
            for e in events
            if e
            and e.event_type == dg.DagsterEventType.ENGINE_EVENT
            and "in celery worker" in (e.message or "")
        }
        # Every step was handed to the worker, and ran in its processes, not in this one.
        assert starts and {e.step_key for e in starts} <= handed
        assert all(e.pid != os.getpid() for e in starts)
    assert "succeeded" in log.read_text(errors="replace")
    assert (config.parent / "control" / "dagster.exchange").exists()
