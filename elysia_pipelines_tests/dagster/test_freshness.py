"""Freshness per repository from its own schedule: the check's verdicts and the sensor."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from elysia_pipelines.clock import utc_now
from elysia_pipelines.defs.freshness import FRESH, freshness_sensor
from elysia_pipelines.defs.ingestion import weaviate_collection
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings


def test_sensor_turns_a_repository_red_past_two_of_its_intervals(settings: Settings) -> None:
    registry = Registry(settings.registry_path)
    now = utc_now()
    for name, schedule in (("late", "30m"), ("hourly", "1h"), ("by-hand", "manual")):
        registry.add(
            new_repository(
                name, f"https://example.com/{name}.git", max_file_size=1 << 20, schedule=schedule
            )
        )
        # 100 minutes ago: 30m is 2.3 intervals past due (red), 1h only 0.7 (fresh).
        registry.mark_synced(name, "a" * 40, at=now - timedelta(minutes=100))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("repositories", registry.names())
    ctx = dg.build_sensor_context(instance=instance, resources={"elysia": ElysiaSettings()})

    result = freshness_sensor(ctx)
    verdicts = {e.partition: e for e in result.asset_events}
    assert set(verdicts) == {"late", "hourly", "by-hand"}
    assert not verdicts["late"].passed
    assert verdicts["hourly"].passed and verdicts["by-hand"].passed
    assert verdicts["late"].metadata["intervals_behind"].value > 2
    assert "stale: late" in result.skip_reason.skip_message
    for event in result.asset_events:  # what the daemon does with them
        instance.report_runless_asset_event(event)
    key = dg.AssetCheckKey(weaviate_collection.key, FRESH)
    info = {
        i.partition_key: i
        for i in instance.event_log_storage.get_asset_check_partition_info([key])
    }
    status = {name: i.latest_execution_status.value for name, i in info.items()}
    assert status == {"late": "FAILED", "hourly": "SUCCEEDED", "by-hand": "SUCCEEDED"}, status

    # Same verdicts on the next tick: nothing new is recorded, the tick still says why.
    again = freshness_sensor(
        dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"elysia": ElysiaSettings()}
        )
    )
    assert again.asset_events == []
    assert "no verdict changed" in again.skip_reason.skip_message

    # The late one syncs: only its verdict is reported, now green.
    registry.mark_synced("late", "b" * 40)
    third = freshness_sensor(
        dg.build_sensor_context(
            instance=instance, cursor=again.cursor, resources={"elysia": ElysiaSettings()}
        )
    )
    assert [(e.partition, e.passed) for e in third.asset_events] == [("late", True)]
