"""The CLI's bridge runs syncs through a persistent Dagster instance that the UI reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines import orchestration
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.gitrepo import GitRepo


@pytest.fixture
def settings(tmp_path: Path, elysia_home: Path, weaviate_env: object, monkeypatch) -> Settings:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return Settings.from_env().ensure_dirs()


def test_sync_job_run_is_recorded_on_the_instance(settings: Settings, tmp_path: Path) -> None:
    source = GitRepo.init(tmp_path / "src")
    source.write("a.py", "A = 1\n")
    source.write("b.md", "# b\n")
    source.commit("initial")
    Registry(settings.registry_path).add(new_repository("demo", source.url, max_file_size=10_000))

    instance = orchestration.get_instance(settings)
    outcome = orchestration.run_job(settings, orchestration.SYNC_JOB, "demo", instance=instance)
    assert outcome.success, outcome.error
    assert outcome.documents == 2
    assert (settings.dagster_home / "dagster.yaml").exists()
    assert instance.has_dynamic_partition(orchestration.PARTITIONS_NAME, "demo")

    runs = orchestration.recent_runs(instance, "demo")
    assert [r.run_id for r in runs] == [outcome.run_id]
    assert runs[0].job_name == "sync_repository" and runs[0].status == "SUCCESS"
    lines = orchestration.run_log_lines(instance, outcome.run_id)
    assert any("weaviate_collection" in (line.step or "") for line in lines)
    assert orchestration.active_runs(instance) == []

    orchestration.remove_partition(instance, "demo")
    assert not instance.has_dynamic_partition(orchestration.PARTITIONS_NAME, "demo")


def test_failed_sync_reports_the_user_message(settings: Settings, tmp_path: Path) -> None:
    Registry(settings.registry_path).add(
        new_repository("ghost", str(tmp_path / "does-not-exist"), max_file_size=10_000)
    )
    outcome = orchestration.run_job(settings, orchestration.SYNC_JOB, "ghost")
    assert not outcome.success
    assert outcome.error and "Traceback" not in outcome.error
    assert "does-not-exist" in outcome.error


_OWNER_SCRIPT = """
import sys, time
import dagster as dg
from elysia_pipelines import orchestration
from elysia_pipelines.settings import Settings

settings = Settings.from_env().ensure_dirs()
instance = orchestration.get_instance(settings)
run = instance.create_run_for_job(
    job_def=orchestration.sync_job(),
    status=dg.DagsterRunStatus.STARTED,
    tags={"dagster/partition": sys.argv[1], **orchestration.owner_tags()},
)
print(run.run_id, flush=True)
time.sleep(120)
"""


def test_a_killed_owner_leaves_no_run_started(settings: Settings) -> None:
    import signal
    import subprocess
    import sys

    from elysia_pipelines.defs.runs import busy_partitions

    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, "demo"], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    run_id = owner.stdout.readline().strip()
    instance = orchestration.get_instance(settings)
    # Alive: the run stays in progress, the repository busy.
    assert [r.run_id for r in orchestration.active_runs(instance)] == [run_id]
    assert busy_partitions(instance) == {"demo"}
    owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=30)
    assert busy_partitions(instance) == set()
    assert orchestration.active_runs(instance) == []
    run = orchestration.recent_runs(instance, "demo")[0]
    assert (run.run_id, run.status) == (run_id, "FAILURE")
    lines = " ".join(line.message for line in orchestration.run_log_lines(instance, run_id))
    assert "is gone (killed?)" in lines
    # Runs without an owner on this host (the daemon's) are left to Dagster's monitoring.
    assert orchestration.fail_dead_runs(instance) == []
