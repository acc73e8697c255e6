"""The code location loads the way every Dagster entry point loads it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from elysia_pipelines.definitions import defs
from elysia_pipelines.orchestration import open_instance
from elysia_pipelines_tests.webserver import INSTANCE_TEMPLATE, create_instance_storage

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_are_loadable_and_complete() -> None:
    d = defs()
    dg.Definitions.validate_loadable(d)
    for job in (
        "extract_repository",
        "ingest_pending",
        "sync_repository",
        "backup_collection",
        "catalog_maintenance",
    ):
        assert d.resolve_job_def(job).name == job
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "repo_mirror",
        "change_set",
        "weaviate_collection",
        "collection_backup",
        "backup_catalog",
    }
    assert len(graph.asset_check_keys) == 13
    # The check key is asset + name and the UI's step name joins them: a name that repeats
    # the asset reads `change_set_change_set_is_valid` there.
    doubled = [
        k.to_user_string()
        for k in graph.asset_check_keys
        if k.name.startswith((k.asset_key.path[-1], k.asset_key.path[-1].split("_")[-1]))
    ]
    assert not doubled


@pytest.mark.slow
def test_dagster_and_dg_clis_load_the_project(tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ELYSIA_HOME": str(tmp_path / "home")}
    (tmp_path / "dagster.yaml").write_text(INSTANCE_TEMPLATE.read_text())
    create_instance_storage(tmp_path)  # the two CLIs below would race to create it
    commands = [
        [str(bindir / "dagster"), "definitions", "validate"],
        [str(bindir / "dg"), "check", "defs"],
    ]
    procs = [
        subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for c in commands
    ]
    for command, proc in zip(commands, procs, strict=True):
        output = proc.communicate(timeout=300)[0].decode(errors="replace")
        assert proc.returncode == 0, f"{' '.join(command)} failed:\n{output[-3000:]}"


def test_shipped_dagster_yaml_turns_on_run_monitoring(tmp_path: Path) -> None:
    """Issue 14.12: the daemon runs the MonitoringDaemon; the default launcher never resumes."""
    (tmp_path / "dagster.yaml").write_text(INSTANCE_TEMPLATE.read_text())
    with open_instance(tmp_path) as instance:
        assert instance.run_monitoring_enabled
        assert "MONITORING" in instance.get_required_daemon_types()
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_cancel_timeout_seconds == 180
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_max_runtime_seconds == 0
        assert not instance.run_launcher.supports_resume_run
