"""Restore across clusters and through failures: nothing lost, nothing duplicated; and the
round-trip check the Dagster asset check is built on."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import weaviate

from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.backups.restore import (
    RestoreOptions,
    restore_backup,
    restore_roundtrip_check,
    scratch_collection_name,
)
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.connection import WeaviateTarget, open_client
from elysia_pipelines.weaviate.objects import count
from elysia_pipelines.weaviate.schema import collection_exists
from elysia_pipelines_tests.backups.test_restore import (
    backed_up,
    make_backup,
    source_documents,
    stored,
)
from elysia_pipelines_tests.weaviate_server import FaultRule, WeaviateTestServer

pytestmark = pytest.mark.weaviate_test_server_only


def test_cross_cluster_restore(
    weaviate_client: weaviate.WeaviateClient,
    second_weaviate_server: WeaviateTestServer,
    settings: Settings,
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 20)
    uuids = [u for u, _, _ in docs]
    target = WeaviateTarget.for_url(second_weaviate_server.url, second_weaviate_server.grpc_url)
    by_path = open_backup(reader.root, settings)  # a directory works as well as an id
    with open_client(target) as other:
        assert not collection_exists(other, "Docs")
        report = restore_backup(
            by_path,
            other,
            RestoreOptions(settings=settings, target_label="second", workers=3, batch_size=6),
        )
        assert report.collection_created and report.created == 20
        assert stored(other, "Docs", uuids, vectors=True) == stored(
            weaviate_client, "Docs", uuids, vectors=True
        )
        assert count(other, "Docs") == 20
    assert count(weaviate_client, "Docs") == 20  # the source cluster is untouched


def test_faults_mid_restore_lose_nothing_and_duplicate_nothing(
    weaviate_server: WeaviateTestServer,
    weaviate_client: weaviate.WeaviateClient,
    settings: Settings,
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 40)
    uuids = [u for u, _, _ in docs]
    expected = stored(weaviate_client, "Docs", uuids, vectors=True)
    faults = weaviate_server.faults
    faults.reseed(11)
    faults.fail_next(2, ops=["batch"])  # a burst of UNAVAILABLE
    faults.drop_rate(0.1, ops=["batch", "search"])  # dropped connections
    faults.add(FaultRule("throttle", ("batch", "search"), rate=0.2))  # overloaded

    # Into a new collection (writes only) and over the drifted source (reads + writes).
    new = restore_backup(
        reader,
        weaviate_client,
        RestoreOptions(target_collection="Copy", workers=4, batch_size=4, settings=settings),
    )
    merged = restore_backup(
        reader,
        weaviate_client,
        RestoreOptions(strategy="merge", workers=4, batch_size=4, settings=settings),
    )
    injected = weaviate_server.faults.injected_total()
    weaviate_server.faults.clear()

    assert injected >= 5  # the restore really went through failures
    assert (new.created, new.failed) == (40, 0)
    assert (merged.updated, merged.failed) == (40, 0)
    assert count(weaviate_client, "Copy") == 40
    assert count(weaviate_client, "Docs") == 40
    assert stored(weaviate_client, "Copy", uuids, vectors=True) == expected
    assert stored(weaviate_client, "Docs", uuids, vectors=True) == expected


def test_server_restart_mid_restore(
    weaviate_server: WeaviateTestServer,
    weaviate_client: weaviate.WeaviateClient,
    settings: Settings,
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 30)
    restarted: list[bool] = []

    def crash_once(done: int, total: int) -> None:
        if not restarted:
            restarted.append(True)
            weaviate_server.restart(keep_data=True)  # drops every open connection

    report = restore_backup(
        reader,
        weaviate_client,
        RestoreOptions(target_collection="Copy", workers=4, batch_size=3, settings=settings),
        progress=crash_once,
    )
    assert restarted and report.created == 30 and report.failed == 0
    assert count(weaviate_client, "Copy") == 30
    uuids = [u for u, _, _ in docs]
    assert stored(weaviate_client, "Copy", uuids) == stored(weaviate_client, "Docs", uuids)


def test_target_down_dead_letters_then_resume(
    weaviate_server: WeaviateTestServer,
    weaviate_client: weaviate.WeaviateClient,
    settings: Settings,
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 20)
    options = RestoreOptions(
        target_collection="Copy", workers=1, batch_size=4, write_attempts=2, settings=settings
    )
    # An overloaded cluster: every write answered RESOURCE_EXHAUSTED, through every retry.
    weaviate_server.faults.throttle_next(1000, ops=["batch"])
    with pytest.raises(ElysiaError, match="last 3 batches failed even after retries"):
        restore_backup(reader, weaviate_client, options)
    weaviate_server.faults.clear()

    dead_file = next(settings.dead_letter_dir.glob("restore-*.jsonl"))
    dead = [json.loads(line) for line in dead_file.read_text().splitlines()]
    assert {d["stage"] for d in dead} == {"write"}
    assert len(dead) in (12, 16)  # 3 failed batches, plus the one in flight at the stop
    assert count(weaviate_client, "Copy") == 0

    report = restore_backup(reader, weaviate_client, replace(options, resume=True))
    assert report.batches_already_done * 4 == len(dead)
    assert report.dead_letters_retried == len(dead)
    assert (report.total, report.created, report.failed) == (20, 20, 0)
    assert not dead_file.exists() and not any(settings.checkpoints_dir.iterdir())
    assert count(weaviate_client, "Copy") == 20
    uuids = [u for u, _, _ in docs]
    assert stored(weaviate_client, "Copy", uuids) == stored(weaviate_client, "Docs", uuids)


def test_roundtrip_check_passes_and_cleans_up(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    reader = make_backup(weaviate_client, settings, source_documents(15))
    result = restore_roundtrip_check(settings, weaviate_client, reader.backup_id)
    assert result.ok, result
    assert (result.expected_count, result.restored_count, result.mismatches) == (15, 15, [])
    assert not collection_exists(weaviate_client, scratch_collection_name("Docs"))
    assert not any(settings.checkpoints_dir.iterdir())
    assert not any(settings.dead_letter_dir.iterdir())


def test_roundtrip_check_catches_a_truncated_backup(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    reader = make_backup(weaviate_client, settings, source_documents(10))
    part: Path = reader.data_files[0]
    table = pq.read_table(part)
    pq.write_table(table.slice(0, 9), part)  # one object lost, manifest still says 10
    result = restore_roundtrip_check(settings, weaviate_client, reader.backup_id)
    assert not result.ok
    assert (result.expected_count, result.restored_count) == (10, 9)
    assert not collection_exists(weaviate_client, scratch_collection_name("Docs"))
