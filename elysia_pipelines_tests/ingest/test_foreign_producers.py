"""Change sets from other producers: derived sizes, Weaviate's class names, their own file names."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import weaviate

from elysia_pipelines.changes.format import content_hash, parse_sequence
from elysia_pipelines.ingest import apply_pending
from elysia_pipelines.ingest.moves import blocking_failure
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.ingest.expected import stored_documents
from elysia_pipelines_tests.ingest.helpers import backdate, write_changeset


def _framed(path: Path, collection: str, records: list[dict]) -> Path:
    begin = {
        "op": "begin",
        "repo": "demo",
        "collection": collection,
        "from_commit": None,
        "to_commit": "b" * 40,
        "created_at": "2026-01-01T00:00:00Z",
        "format": 1,
    }
    end = {"op": "end", "count": len(records)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in [begin, *records, end]))
    return path


def test_foreign_file_with_lowercase_collection_and_no_size_is_applied(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    write_changeset(pending, 5, {"ours.py": "x = 1\n"})
    data = "gr\u00fc\u00dfe\n".encode("latin-1")
    record = {
        "op": "add",
        "repo": "demo",
        "path": "legacy.c",
        "content_base64": base64.b64encode(data).decode(),
        "content_hash": content_hash(data),
    }
    # `00-valid` is the producer's own name, not our sequence 0: never stale.
    assert parse_sequence("00-valid.jsonl") is None
    foreign = _framed(pending / "00-valid.jsonl", "demo", [record])
    backdate(foreign, 60)
    report = apply_pending(settings, client, "Demo", repo="demo")
    assert [(r.file, r.status) for r in report.results] == [
        ("00000005-" + f"{5:040x}"[:12] + ".jsonl", "applied"),
        ("00-valid.jsonl", "applied"),
    ], [r.error for r in report.results]
    stored = stored_documents(client, "Demo")
    assert set(stored) == {"ours.py", "legacy.c"}
    objects = client.collections.get("Demo").query.fetch_objects(limit=10).objects
    sizes = {o.properties["path"]: o.properties["size_bytes"] for o in objects}
    assert sizes["legacy.c"] == len(data)


def test_empty_file_is_rejected_at_once_and_blocks_nothing(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    empty = pending / "00000001-aaaaaaaaaaaa.jsonl"
    pending.mkdir(parents=True)
    empty.write_bytes(b"")
    backdate(empty, 10)  # settled, far from the 10-minute abandon time
    write_changeset(pending, 2, {"a.py": "a\n"})
    report = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.status for r in report.results] == ["empty", "applied"]
    assert "empty" in (report.results[0].error or "")
    assert report.blocked_by is None and blocking_failure(settings, "Demo") is None
    assert (settings.failed_dir / "Demo" / empty.name).is_file()
    assert set(stored_documents(client, "Demo")) == {"a.py"}
