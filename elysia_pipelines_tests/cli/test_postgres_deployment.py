"""Dagster on a real PostgreSQL server: deploy/dagster.postgres.yaml, a daemon, the whole chain.

The slow test starts a private PostgreSQL server (elysia_pipelines_tests/postgres.py), makes
deploy/dagster.postgres.yaml the instance's dagster.yaml and starts a real
`dagster-daemon`; then it does what a user does (`elysiactl repo add`, `repo sync`, a
scheduled-style extract-only run that the daemon's pending sensor turns into ingestion,
`elysiactl col backup`) and reads the outcome back from Postgres itself, not through
Dagster, so nothing is silently kept in SQLite under DAGSTER_HOME.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from elysia_pipelines import orchestration
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.daemon import running_daemon
from elysia_pipelines_tests.gitrepo import make_repo
from elysia_pipelines_tests.postgres import PostgresUnavailable, find_bin_dir, running_postgres
from elysia_pipelines_tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "dagster.postgres.yaml"
PG_STORAGE = {
    "postgres": {
        "postgres_db": {
            "hostname": {"env": "DAGSTER_PG_HOST"},
            "port": {"env": "DAGSTER_PG_PORT"},
            "username": {"env": "DAGSTER_PG_USERNAME"},
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "db_name": {"env": "DAGSTER_PG_DB"},
            "scheme": "postgresql+psycopg2",
        }
    }
}


def test_deploy_config_is_the_repository_config_plus_postgres_storage(tmp_path: Path) -> None:
    """The deployment file must not drift from dagster.yaml: only the storage differs."""
    from dagster._core.instance.config import dagster_instance_config

    base = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    deploy = yaml.safe_load(DEPLOY.read_text())
    assert base["storage"]["custom"]["class"] == "PooledSqliteStorage"  # SQLite, one host
    assert deploy["storage"] == PG_STORAGE
    assert deploy["run_launcher"] == base["run_launcher"] == {
        "module": "elysia_pipelines.run_launcher",
        "class": "WarmRunLauncher",
    }
    shared = {k: v for k, v in base.items() if k != "storage"}
    assert {k: v for k, v in deploy.items() if k != "storage"} == shared
    # Dagster's own schema accepts it (without connecting anywhere).
    (tmp_path / "dagster.yaml").write_text(DEPLOY.read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert "postgres" in config["storage"]


def _wait_for(what: str, check: Any, timeout_s: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(1.0)


@pytest.mark.slow
def test_whole_chain_on_postgres_storage_through_a_daemon(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        find_bin_dir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    source = make_repo(tmp_path / "src")
    with running_postgres() as pg:
        for key, value in pg.env().items():
            monkeypatch.setenv(key, value)
        cli.dagster_home.mkdir(parents=True)
        (cli.dagster_home / "dagster.yaml").write_text(DEPLOY.read_text())
        settings = cli.settings()
        instance = orchestration.get_instance(settings)
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)

        with running_daemon(cli.dagster_home):
            added = cli.run("add", source.url, "--name", "demo")
            assert added.exit_code == 0, added.output
            assert "submitted to the run queue" in added.output
            assert "3 documents in Demo" in added.output

            source.write("app/extra.py", "EXTRA = 1\n")
            source.commit("add extra")
            synced = cli.run("sync", "demo", "--json")
            assert synced.exit_code == 0, synced.output
            sync = json.loads(synced.stdout)
            assert sync["executed"] == "run queue" and sync["success"] is True
            assert sync["documents"] == 4

            # What due_syncs_sensor launches on a schedule: extraction only. Its change set
            # waits in pending/ until the daemon's pending sensor starts the ingestion.
            source.write("docs/guide.md", "# Guide\n\nHow to use the demo.\n")
            source.commit("add guide")
            extracted = orchestration.run_job(
                settings,
                orchestration.EXTRACT_JOB,
                "demo",
                instance=instance,
                tags={"elysia/trigger": "schedule"},
            )
            assert extracted.queued and extracted.success, extracted.error
            (extract_end,) = pg.query(
                "SELECT end_time FROM runs WHERE run_id = %s", extracted.run_id
            )[0]

            def ingested() -> list[tuple[Any, ...]]:
                return pg.query(
                    "SELECT run_id FROM runs WHERE pipeline_name = 'ingest_pending' "
                    "AND partition = 'demo' AND status = 'SUCCESS' AND start_time >= %s",
                    extract_end,
                )

            (ingest_run,) = _wait_for("the pending sensor's ingestion run", ingested)[:1]

            backup = run_cli("col", "backup", "Demo", "--json")
            assert backup.exit_code == 0, backup.output
            assert json.loads(backup.stdout)["object_count"] == 5

            # Nothing still queued or running (a sensor's extra run included) before stopping.
            _wait_for(
                "every run to finish",
                lambda: (
                    not pg.query(
                        "SELECT run_id FROM runs WHERE status IN "
                        "('QUEUED', 'NOT_STARTED', 'STARTING', 'STARTED', 'CANCELING')"
                    )
                ),
                timeout_s=120,
            )

        # Everything the daemon and the CLI recorded is in Postgres.
        runs = pg.query("SELECT run_id, pipeline_name, status, partition FROM runs")
        by_job: dict[str, list[str]] = {}
        for run_id, job, status, partition in runs:
            assert status == "SUCCESS", (job, status)
            if partition == "demo":
                by_job.setdefault(str(job), []).append(str(run_id))
        assert len(by_job["sync_repository"]) == 2  # repo add, repo sync
        assert by_job["extract_repository"] == [extracted.run_id]
        assert ingest_run[0] in by_job["ingest_pending"]
        for run_id, *_ in runs:
            finished = pg.query(
                "SELECT count(*) FROM event_logs WHERE run_id = %s "
                "AND dagster_event_type IN (%s, %s)",
                run_id,
                # (stored under their old names, PIPELINE_START and PIPELINE_SUCCESS)
                dg.DagsterEventType.RUN_START.value,
                dg.DagsterEventType.RUN_SUCCESS.value,
            )[0][0]
            assert finished == 2, run_id
        launched = pg.query(
            "SELECT status FROM job_ticks WHERE tick_body LIKE %s AND tick_body LIKE %s",
            "%pending_change_sets_sensor%",
            f"%{ingest_run[0]}%",
        )
        assert launched == [("SUCCESS",)]
        assert (
            pg.query(
                "SELECT count(*) FROM event_logs WHERE dagster_event_type = %s",
                dg.DagsterEventType.ASSET_MATERIALIZATION.value,
            )[0][0]
            >= 4
        )
    assert not list(cli.dagster_home.rglob("*.db")), "Dagster kept SQLite storage"
