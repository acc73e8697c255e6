"""Transient server trouble (5xx bursts, 429, dropped connections) ends in the exact collection."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import weaviate

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.ingest import apply_pending, last_applied_seq, pending_files
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.ingest.expected import stored_documents
from elysia_pipelines_tests.ingest.helpers import write_changeset
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

pytestmark = pytest.mark.weaviate_test_server_only


def _changesets(settings: Settings) -> dict[str, str]:
    """Two change sets (adds, then modifies + deletes); returns the final expected content."""
    pending = settings.pending_dir / "Demo"
    files = {f"f{i:02d}.py": f"v1 {i}\n" for i in range(60)}
    write_changeset(pending, 1, files)
    changed = {f"f{i:02d}.py": f"v2 {i}\n" for i in range(0, 60, 2)}
    deleted = tuple(f"f{i:02d}.py" for i in range(1, 60, 4))
    write_changeset(pending, 2, changed, deletes=deleted)
    expected = {**files, **changed}
    for path in deleted:
        expected.pop(path)
    return expected


def _contents(client: weaviate.WeaviateClient) -> dict[str, str]:
    return {path: content for path, (_, content) in stored_documents(client, "Demo").items()}


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda f: f.fail_next(2, ["batch", "delete"]), id="503-burst"),
        pytest.param(lambda f: f.drop_next(2, ["batch", "delete"]), id="dropped-connections"),
        pytest.param(lambda f: f.throttle_next(2, "batch", retry_after_s=1), id="429-retry-after"),
        pytest.param(lambda f: f.fail_rate(0.2, ["batch", "delete", "search"]), id="20pct-503"),
    ],
)
def test_transient_faults_are_retried_to_the_exact_collection(
    inject, settings: Settings, server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    settings = replace(settings, batch_max_objects=10)
    expected = _changesets(settings)
    server.faults.reseed(7)
    inject(server.faults)
    report = apply_pending(settings, client, "Demo", repo="demo")
    server.faults.clear()
    assert [r.seq for r in report.applied] == [1, 2]
    assert report.open_dead_letters == 0
    assert server.faults.injected_total() > 0, "the fault was never exercised"
    assert _contents(client) == expected


def test_an_outage_fails_the_run_and_the_next_run_finishes(
    settings: Settings, server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    settings = replace(settings, batch_max_objects=10, weaviate_retries=1)
    registry = Registry(settings.registry_path)
    registry.add(new_repository("demo", "file:///demo", max_file_size=1000))
    expected = _changesets(settings)
    # Deletes keep failing: the first change set (adds only) gets through, the second
    # stops at its first delete. (The client retries batch writes itself for ~15 s,
    # deletes it does not, which keeps this test short.)
    server.faults.fail_rate(1.0, "delete")
    with pytest.raises(ElysiaError) as raised:
        apply_pending(settings, client, "Demo", registry=registry)
    assert "Weaviate" in raised.value.message and raised.value.hint
    # The interrupted change set stays pending (not failed/), the first counts as applied.
    assert [p.name for p in pending_files(settings, "Demo")] == ["00000002-000000000000.jsonl"]
    assert not (settings.failed_dir / "Demo").exists() or not any(
        (settings.failed_dir / "Demo").iterdir()
    )
    assert last_applied_seq(settings, "Demo") == 1
    interrupted, applied = registry.history("demo", stage="ingest")
    assert (interrupted.seq, interrupted.status, applied.seq) == (2, "failed", 1)
    assert "Weaviate" in (interrupted.error or "")

    server.faults.clear()
    report = apply_pending(settings, client, "Demo", registry=registry)
    assert [r.seq for r in report.applied] == [2]
    assert _contents(client) == expected


def test_server_restart_between_runs_keeps_documents(
    tmp_path: Path, settings: Settings, server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    expected = _changesets(settings)
    apply_pending(settings, client, "Demo", repo="demo", max_files=1)
    server.restart(keep_data=True)
    report = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.seq for r in report.applied] == [2]
    assert _contents(client) == expected
