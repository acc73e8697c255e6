"""One ingestion per collection at a time, progress reporting, and processed/ retention."""

from __future__ import annotations

from dataclasses import replace

import pytest
import weaviate

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.ingest import (
    IngestProgress,
    apply_pending,
    expected_document_count,
    last_applied_seq,
    prune_processed,
)
from elysia_pipelines.ingest.apply import collection_lock
from elysia_pipelines.ingest.checkpoint import load_checkpoint, save_checkpoint
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.schema import describe_collection
from elysia_pipelines_tests.ingest.helpers import backdate, write_changeset, write_flat
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer


def test_a_second_ingestion_of_the_same_collection_is_refused(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    write_changeset(settings.pending_dir / "Demo", 1, {"a.py": "a\n"})
    with collection_lock(settings, "Demo"), pytest.raises(ElysiaError) as raised:
        apply_pending(settings, client, "Demo", repo="demo")
    assert "another ingestion" in raised.value.message
    # Other collections are not held up, and the lock is free afterwards.
    with collection_lock(settings, "Other"):
        report = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.seq for r in report.applied] == [1]


def test_progress_is_reported_per_batch_and_max_files_limits_a_run(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    settings = replace(settings, batch_max_objects=4)
    pending = settings.pending_dir / "Demo"
    write_changeset(pending, 1, {f"f{i}.py": f"{i}\n" for i in range(10)})
    write_changeset(pending, 2, {"g.py": "g\n"})
    events: list[IngestProgress] = []
    report = apply_pending(
        settings, client, "Demo", repo="demo", max_files=1, progress=events.append
    )
    assert [r.seq for r in report.applied] == [1]
    assert report.remaining == 1
    assert [e.records_done for e in events] == [4, 8, 10]
    assert {e.records_total for e in events} == {10}
    last = load_checkpoint(settings, "Demo").last_applied
    assert last is not None and (last.seq, last.tracked_files) == (1, 10)


def test_processed_change_sets_are_pruned_after_the_retention_period(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    write_changeset(pending, 1, {"big.txt": "x" * 100}, inline_max_bytes=10)
    write_changeset(pending, 2, {"b.py": "b\n"})
    apply_pending(settings, client, "Demo", repo="demo")
    processed = settings.processed_dir / "Demo"
    old = processed / "00000001-000000000000.jsonl"
    backdate(old, (settings.processed_retention_days + 1) * 86400)
    removed = prune_processed(settings)
    assert removed == [old]
    assert sorted(p.name for p in processed.iterdir()) == ["00000002-000000000000.jsonl"]


def test_a_foreign_flat_file_keeps_the_sequence_but_voids_the_expected_count(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    write_changeset(settings.pending_dir / "Demo", 1, {"a.py": "a\n"}, tracked_files=1)
    apply_pending(settings, client, "Demo", repo="demo")
    assert (last_applied_seq(settings, "Demo"), expected_document_count(settings, "Demo")) == (1, 1)
    flat = write_flat(
        settings.pending_dir / "Demo" / "mgit.jsonl",
        [{"op": "add", "repo": "demo", "path": "b.py", "content": "b\n"}],
    )
    backdate(flat, 60)
    report = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.file for r in report.applied] == ["mgit.jsonl"]
    # The flat file does not say how many documents the repository has now.
    assert (last_applied_seq(settings, "Demo"), expected_document_count(settings, "Demo")) == (
        1,
        None,
    )


def test_recovery_from_a_kill_between_the_last_write_and_the_move(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    """The two crash windows a SIGKILL test cannot aim at, set up with the real checkpoint.

    Killed after the "applied" checkpoint but before the move: the next run only moves
    the file (it writes nothing again). Killed after the move but before the checkpoint
    was cleared: the next run forgets the file.
    """
    pending = settings.pending_dir / "Demo"
    one = write_changeset(pending, 1, {"a.py": "a\n"})
    apply_pending(settings, client, "Demo", repo="demo")
    two = write_changeset(pending, 2, {"b.py": "b\n", "c.py": "c\n"})
    checkpoint = load_checkpoint(settings, "Demo").applied(two.name, 2, 2, "2" * 40, 3)
    save_checkpoint(settings, checkpoint)

    report = apply_pending(settings, client, "Demo", repo="demo")
    [result] = report.applied
    assert (result.file, result.resumed_from, result.written) == (two.name, 2, 0)
    assert result.counts == {"add": 2}
    assert (settings.processed_dir / "Demo" / two.name).is_file()
    assert load_checkpoint(settings, "Demo").current is None
    assert last_applied_seq(settings, "Demo") == 2

    save_checkpoint(settings, load_checkpoint(settings, "Demo").applied(one.name, 1, 1, None, 1))
    assert apply_pending(settings, client, "Demo", repo="demo").results == []
    assert load_checkpoint(settings, "Demo").current is None
    assert last_applied_seq(settings, "Demo") == 2  # an older file never moves it back


def test_collection_is_provisioned_with_the_registered_vectorizer(
    settings: Settings, client: weaviate.WeaviateClient, server: WeaviateTestServer
) -> None:
    server.set_cluster(modules=["text2vec-transformers"])  # Weaviate refuses a missing module
    registry = Registry(settings.registry_path)
    registry.add(
        new_repository(
            "demo", "file:///demo", max_file_size=1000, vectorizer="text2vec-transformers"
        )
    )
    write_changeset(settings.pending_dir / "Demo", 1, {"a.py": "a\n"})
    report = apply_pending(settings, client, "Demo", registry=registry)
    assert report.collection_created
    assert describe_collection(client, "Demo")["vectorizer"] == "text2vec-transformers"

    # A collection whose schema no longer matches is refused before anything is written.
    registry.update("demo", vectorizer="none")
    write_changeset(settings.pending_dir / "Demo", 2, {"b.py": "b\n"})
    with pytest.raises(ElysiaError):
        apply_pending(settings, client, "Demo", registry=registry)
    assert [p.name for p in (settings.pending_dir / "Demo").glob("*.jsonl")] == [
        "00000002-000000000000.jsonl"
    ]


def test_batches_are_capped_by_bytes_as_well_as_by_count(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    settings = replace(settings, batch_max_objects=100, batch_max_bytes=5000)
    files = {f"f{i}.txt": "x" * 2000 for i in range(6)}
    write_changeset(settings.pending_dir / "Demo", 1, files, inline_max_bytes=100_000)
    events: list[IngestProgress] = []
    apply_pending(settings, client, "Demo", repo="demo", progress=events.append)
    # About 2.4 kB per object on the wire: two objects per 5 kB batch.
    assert [e.records_done for e in events] == [2, 4, 6]
