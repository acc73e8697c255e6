"""SIGKILL an ingestion mid-change-set, start it again: the collection ends exactly right."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import weaviate

from elysia_pipelines.documents import document_uuid
from elysia_pipelines.ingest.checkpoint import checkpoint_path
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import ObjectToWrite, upsert
from elysia_pipelines.weaviate.schema import CollectionSpec, ensure_collection
from elysia_pipelines_tests.ingest.expected import stored_documents
from elysia_pipelines_tests.ingest.helpers import write_changeset
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer

pytestmark = [pytest.mark.slow, pytest.mark.weaviate_test_server_only]

INGEST = """
import json, sys
from elysia_pipelines.ingest import apply_pending
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import ObjectToWrite, upsert
from elysia_pipelines.weaviate.schema import CollectionSpec, ensure_collection
from elysia_pipelines.weaviate.connection import open_client
settings = Settings.from_env()
with open_client(settings) as client:
    report = apply_pending(settings, client, "Demo", repo="demo")
print(json.dumps({"applied": [r.seq for r in report.applied], "resumed": [r.resumed_from for r in report.applied]}))
"""


def _start(settings: Settings, server: WeaviateTestServer) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ELYSIA_HOME": str(settings.home),
        "WEAVIATE_URL": server.url,
        "WEAVIATE_GRPC_URL": server.grpc_url,
        "WEAVIATE_MODE": "url",
        "ELYSIA_BATCH_MAX_OBJECTS": "10",
    }
    return subprocess.Popen(
        [sys.executable, "-c", INGEST],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _progress(settings: Settings) -> tuple[str | None, int]:
    try:
        data = json.loads(checkpoint_path(settings, "Demo").read_text())
    except (FileNotFoundError, ValueError):
        return None, 0
    current = data.get("current") or {}
    return current.get("file"), int(current.get("records_applied") or 0)


def _kill_when(settings: Settings, process: subprocess.Popen[str], file: str, records: int) -> None:
    """SIGKILL once the checkpoint shows `records` applied in `file` (bounded wait)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current, applied = _progress(settings)
        if current == file and applied >= records:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"ingestion ended before it could be killed: {err[-2000:]}")
        time.sleep(0.01)
    process.kill()
    pytest.fail("checkpoint never showed progress")


def test_killed_ingestion_resumes_to_the_exact_collection(
    settings: Settings, server: WeaviateTestServer, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    first_files = {f"src/m{i:03d}.py": f"VALUE = {i}\n" * (1 + i % 7) for i in range(300)}
    # A full snapshot over a collection that holds a document it does not name.
    first = write_changeset(pending, 1, first_files, full_snapshot=True)
    stale = {"repo": "demo", "path": "old/stale.py", "content": "x", "content_hash": "sha256:x"}
    ensure_collection(client, CollectionSpec(name="Demo"))
    upsert(client, "Demo", [ObjectToWrite(document_uuid("demo", "old/stale.py"), stale)])
    modified = {f"src/m{i:03d}.py": f"CHANGED = {i}\n" for i in range(0, 300, 3)}
    deletes = tuple(f"src/m{i:03d}.py" for i in range(1, 300, 6))
    renames = {
        f"lib/r{i:03d}.py": (f"src/m{i:03d}.py", f"MOVED = {i}\n") for i in range(2, 300, 10)
    }
    second = write_changeset(pending, 2, modified, deletes=deletes, renames=renames)
    expected = {**first_files, **modified}
    for path in deletes:
        expected.pop(path)
    for new, (old, content) in renames.items():
        expected.pop(old)
        expected[new] = content

    server.faults.latency(60, ops="batch")  # slow enough to land a kill mid-run
    process = _start(settings, server)
    _kill_when(settings, process, first.name, 30)
    assert first.exists(), "a change set must stay pending until fully applied"
    partial = len(stored_documents(client, "Demo"))
    assert 1 < partial < len(first_files)

    server.faults.clear()
    process = _start(settings, server)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["applied"] == [1, 2]
    assert summary["resumed"] == [summary["resumed"][0], 0]
    assert summary["resumed"][0] >= 30  # continued from the checkpoint, not from scratch

    stored = stored_documents(client, "Demo")  # also asserts one document per path
    assert {path: content for path, (_, content) in stored.items()} == expected
    assert sorted(p.name for p in (settings.processed_dir / "Demo").glob("*.jsonl")) == [
        first.name,
        second.name,
    ]
    assert json.loads(checkpoint_path(settings, "Demo").read_text())["current"] is None
