"""Records of one change set take effect in file order, however they fall into batches."""

from __future__ import annotations

from dataclasses import replace

import pytest
import weaviate

from elysia_pipelines.ingest import apply_pending
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.ingest.expected import stored_documents
from elysia_pipelines_tests.ingest.helpers import backdate, write_flat


@pytest.mark.parametrize("batch_max_objects", [1, 2, 100])
def test_last_record_for_a_path_wins(
    batch_max_objects: int, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    settings = replace(settings, batch_max_objects=batch_max_objects)

    def add(path: str, content: str) -> dict:
        return {"op": "add", "repo": "demo", "path": path, "content": content}

    records = [
        add("a.py", "a1"),
        add("b.py", "b1"),
        {"op": "delete", "repo": "demo", "path": "b.py"},  # added, then deleted
        {"op": "rename", "repo": "demo", "path": "c.py", "previous_path": "a.py", "content": "c"},
        add("a.py", "a2"),  # a new file where the renamed one was
        {"op": "delete", "repo": "demo", "path": "d.py"},  # deleting nothing is fine
        add("d.py", "d1"),
        {"op": "modify", "repo": "demo", "path": "d.py", "content": "d2"},
        {"op": "skip", "repo": "demo", "path": "e.png", "reason": "binary"},
    ]
    path = write_flat(settings.pending_dir / "Demo" / "mgit.jsonl", records)
    backdate(path, 60)  # a settled flat file
    report = apply_pending(settings, client, "Demo", repo="demo")
    assert report.applied[0].counts == {"add": 4, "delete": 2, "rename": 1, "modify": 1}
    assert report.applied[0].skipped == {"binary": 1}
    stored = {p: content for p, (_, content) in stored_documents(client, "Demo").items()}
    assert stored == {"a.py": "a2", "c.py": "c", "d.py": "d2"}
