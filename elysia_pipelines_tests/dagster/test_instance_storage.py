"""The CLI's pooled SQLite storage writes what stock Dagster processes (UI, daemon) read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import ConfigurableClassData

from elysia_pipelines import orchestration
from elysia_pipelines.instance_storage import (
    STOCK_STORAGE,
    PooledEventLogStorage,
    PooledSqliteStorage,
)
from elysia_pipelines.settings import Settings


@dg.asset
def number() -> int:
    return 1


@dg.asset_check(asset=number)
def number_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@pytest.fixture
def settings(tmp_path: Path, elysia_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return Settings.from_env().ensure_dirs()


def _materialize(instance: dg.DagsterInstance) -> str:
    result = dg.materialize([number, number_is_positive], instance=instance)
    assert result.success
    return result.run_id


def test_stock_and_pooled_instances_see_the_same_runs_events_and_checks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pooled = orchestration.get_instance(settings)
    assert isinstance(pooled.get_ref().storage, PooledSqliteStorage)
    first = _materialize(pooled)  # a new shard, created from the template

    # Dagster's own SQLite storage on the same files (what stock processes open).
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    stock = dg.DagsterInstance.from_ref(
        InstanceRef.from_dir(str(settings.dagster_home))._replace(
            storage_data=ConfigurableClassData(
                *STOCK_STORAGE, f"base_dir: {json.dumps(str(settings.dagster_home))}\n"
            )
        )
    )
    assert type(stock.get_ref().storage).__name__ == "DagsterSqliteStorage"
    assert stock.get_run_by_id(first).status == dg.DagsterRunStatus.SUCCESS
    events = {e.dagster_event_type for e in stock.all_logs(first) if e.is_dagster_event}
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in events
    assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in events
    check_key = dg.AssetCheckKey(dg.AssetKey("number"), "number_is_positive")
    assert stock.event_log_storage.get_latest_asset_check_execution_by_key([check_key])
    # The shard made from the template is at the revision stock Dagster expects.
    assert stock.event_log_storage.alembic_version() == pooled.event_log_storage.alembic_version()

    second = _materialize(stock)  # written the stock way, read through the pooled engines
    assert pooled.get_run_by_id(second).status == dg.DagsterRunStatus.SUCCESS
    latest = pooled.get_latest_materialization_event(dg.AssetKey("number"))
    assert latest is not None and latest.run_id == second
    assert {r.dagster_run.run_id for r in pooled.get_run_records()} == {first, second}
    # Opened again: the databases are set up, so their alembic check is skipped.
    reopened = orchestration.get_instance(settings)
    third = _materialize(reopened)
    assert {r.dagster_run.run_id for r in stock.get_run_records()} == {first, second, third}
    assert reopened.event_log_storage.alembic_version() == stock.event_log_storage.alembic_version()


def test_wipe_leaves_no_connection_to_deleted_shards(settings: Settings) -> None:
    pooled = orchestration.get_instance(settings)
    storage = pooled.event_log_storage
    assert isinstance(storage, PooledEventLogStorage)
    run_id = _materialize(pooled)
    pooled.event_log_storage.wipe()
    assert list(pooled.all_logs(run_id)) == []
    again = _materialize(pooled)
    assert list(pooled.all_logs(again))


def test_a_finished_command_leaves_no_unmerged_wal(settings: Settings) -> None:
    """Pooled connections are closed at exit, so the WAL is merged into each database as
    it is when the stock storage closes its per-call connections."""
    code = (
        "from elysia_pipelines.settings import Settings\n"
        "from elysia_pipelines import orchestration\n"
        "instance = orchestration.get_instance(Settings.from_env())\n"
        "orchestration.register_partition(instance, 'demo')\n"
        "assert instance.get_run_records(limit=1) == []\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    leftovers = [p for p in settings.dagster_home.rglob("*-wal") if p.stat().st_size]
    assert leftovers == []
    assert orchestration.get_instance(settings).has_dynamic_partition(
        orchestration.PARTITIONS_NAME, "demo"
    )
