"""The configured-only deployment files in deploy/ against the schemas of what reads them.

No Kubernetes cluster or network Celery broker runs here (cli/test_celery_executor.py runs
Celery with a filesystem broker), so these files are checked as far as that allows:
Dagster's instance schema and dagster-k8s's K8sRunLauncher schema for deploy/dagster.k8s.yaml, the executors' own schemas for deploy/executor.*.yaml (through
`build_executor`, the code path ELYSIA_EXECUTOR takes), the whole code location loaded
with each executor, and dagster-celery's worker reading the same file the executor does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from elysia_pipelines.defs.executor import NAMES, build_executor
from elysia_pipelines.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def test_k8s_instance_is_the_postgres_instance_with_the_k8s_run_launcher(tmp_path: Path) -> None:
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._serdes.config_class import class_from_code_pointer
    from dagster_k8s import K8sRunLauncher

    k8s, postgres = _load("dagster.k8s.yaml"), _load("dagster.postgres.yaml")
    assert {k: v for k, v in k8s.items() if k != "run_launcher"} == {
        k: v for k, v in postgres.items() if k != "run_launcher"
    }
    launcher = k8s["run_launcher"]
    assert class_from_code_pointer(launcher["module"], launcher["class"]) is K8sRunLauncher
    checked = validate_config(K8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, [e.message for e in checked.errors]
    (tmp_path / "dagster.yaml").write_text((DEPLOY / "dagster.k8s.yaml").read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    # The pod settings ELYSIA_HOME needs: its volume, and the one node that holds it.
    mounts = {m["name"]: m["mountPath"] for m in launcher["config"]["volume_mounts"]}
    assert mounts["elysia-home"] == "/var/lib/elysia"
    assert launcher["config"]["run_k8s_config"]["pod_spec_config"]["node_selector"]


@pytest.mark.parametrize("name", ["k8s", "celery"])
def test_executor_files_validate_and_configure_the_executor(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://broker:6379/1")
    executor = build_executor(name, str(DEPLOY / f"executor.{name}.yaml"))
    assert executor.name == name
    # A run without `execution:` run config (the sensors' and the CLI's) gets the file's.
    resolved = executor.config_schema.resolve_config({})
    assert resolved.success, resolved.errors
    config = resolved.value["config"]
    if name == "k8s":
        assert config["max_concurrent"] == 4
        assert config["step_k8s_config"]["container_config"]["resources"]["limits"]
    else:
        assert config["broker"] == "redis://broker:6379/0"


def test_every_job_gets_the_chosen_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    from elysia_pipelines.definitions import defs

    monkeypatch.setenv("ELYSIA_EXECUTOR", "k8s")
    monkeypatch.setenv("ELYSIA_EXECUTOR_CONFIG", str(DEPLOY / "executor.k8s.yaml"))
    loaded = defs()
    for job in ("sync_repository", "extract_repository", "ingest_pending", "backup_collection"):
        assert loaded.resolve_job_def(job).executor_def.name == "k8s", job
    # per_step_k8s_config is keyed by op name: the file's keys must be ops of the jobs.
    per_step = _load("executor.k8s.yaml")["execution"]["config"]["per_step_k8s_config"]
    ops = {node.name for node in loaded.resolve_job_def("sync_repository").nodes}
    assert set(per_step) <= ops, ops
    monkeypatch.delenv("ELYSIA_EXECUTOR")
    monkeypatch.delenv("ELYSIA_EXECUTOR_CONFIG")
    assert defs().resolve_job_def("sync_repository").executor_def.name == "in_process"


def test_the_celery_worker_reads_the_same_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://broker:6379/1")
    config = get_validated_config(str(DEPLOY / "executor.celery.yaml"))
    assert config["broker"] == "redis://broker:6379/0"
    assert config["backend"] == "redis://broker:6379/1"
    assert config["config_source"]["worker_max_memory_per_child"] == 2_000_000


def test_bad_executor_settings_are_config_errors_with_hints(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not an executor") as unknown:
        build_executor("kubernetes")
    assert unknown.value.hint == f"use one of {', '.join(NAMES)}"

    typo = tmp_path / "executor.yaml"
    typo.write_text("execution:\n  config:\n    max_concurent: 4\n")
    with pytest.raises(ConfigError, match="max_concurent") as invalid:
        build_executor("k8s", str(typo))
    assert invalid.value.hint == "compare it with deploy/executor.k8s.yaml"

    typo.write_text("max_concurrent: 4\n")
    with pytest.raises(ConfigError, match="no `execution: config:` mapping"):
        build_executor("k8s", str(typo))
    with pytest.raises(ConfigError, match="cannot read it"):
        build_executor("celery", str(tmp_path / "missing.yaml"))
