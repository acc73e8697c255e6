"""Change sets that cannot be applied go to failed/ whole, block later ones, and can be unblocked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import weaviate

from elysia_pipelines.changes.format import blob_dir_for
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.ingest import (
    apply_pending,
    blocking_failure,
    failed_changesets,
    last_applied_seq,
    pending_files,
    scan_pending,
    unblock,
)
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.ingest.expected import full_objects, stored_documents
from elysia_pipelines_tests.ingest.helpers import backdate, write_changeset, write_flat


def _paths(client: weaviate.WeaviateClient) -> set[str]:
    return set(stored_documents(client, "Demo"))


def _error(settings: Settings, name: str) -> dict:
    stem = Path(name).stem
    return json.loads((settings.failed_dir / "Demo" / f"{stem}.error.json").read_text())


def test_corrupt_change_set_fails_blocks_later_ones_and_can_be_retried(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    write_changeset(pending, 1, {"a.py": "a\n", "b.py": "b\n"})
    corrupt = write_changeset(pending, 2, {"c.py": "c\n"}, deletes=("a.py",))
    good_text = corrupt.read_text()
    lines = good_text.splitlines(keepends=True)
    lines[1] = lines[1][:20] + "\n"  # a damaged record
    corrupt.write_text("".join(lines))
    write_changeset(pending, 3, {"d.py": "d\n"})

    report = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.status for r in report.results] == ["applied", "failed"]
    assert report.blocked_by == f"failed/Demo/{corrupt.name}"
    assert "line 2" in (report.results[1].error or "")
    error = _error(settings, corrupt.name)
    assert error["blocking"] is True
    assert any(p.startswith("line 2: invalid JSON") for p in error["problems"])
    # Nothing of the corrupt file was applied, and nothing after it.
    assert _paths(client) == {"a.py", "b.py"}
    assert [p.name for p in pending_files(settings, "Demo")] == ["00000003-000000000000.jsonl"]
    assert last_applied_seq(settings, "Demo") == 1

    # Still blocked on the next run: files wait behind the failed one.
    again = apply_pending(settings, client, "Demo", repo="demo")
    assert again.results == [] and again.blocked_by == f"failed/Demo/{corrupt.name}"

    # The operator repairs the file in failed/ and retries it: order is kept.
    (settings.failed_dir / "Demo" / corrupt.name).write_text(good_text)
    back = unblock(settings, "Demo", corrupt.name, action="retry")
    assert back == pending / corrupt.name
    assert failed_changesets(settings, "Demo") == []
    final = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.seq for r in final.applied] == [2, 3]
    assert _paths(client) == {"b.py", "c.py", "d.py"}


def test_discarding_a_failed_change_set_releases_the_collection(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    write_changeset(pending, 1, {"a.py": "a\n"})
    incomplete = pending / "00000002-000000000000.jsonl"
    begin = {
        "op": "begin",
        "repo": "demo",
        "collection": "Demo",
        "from_commit": None,
        "to_commit": "2" * 40,
        "created_at": "2026-01-01T00:00:00Z",
        "format": 1,
    }
    incomplete.write_text(json.dumps(begin) + "\n")
    write_changeset(pending, 3, {"c.py": "c\n"})

    # Recently written without an end record: it may still be being written.
    waiting = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.seq for r in waiting.applied] == [1]
    assert waiting.waiting_on is not None and incomplete.name in waiting.waiting_on
    assert incomplete.exists()

    # Untouched for long: its writer is gone; failed, with the reason.
    backdate(incomplete, 3600)
    failed = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.status for r in failed.results] == ["failed"]
    assert "no end record" in _error(settings, incomplete.name)["reason"]
    assert any("missing end record" in p for p in _error(settings, incomplete.name)["problems"])

    with pytest.raises(NotFoundError):
        unblock(settings, "Demo", "00000042-000000000000.jsonl")
    with pytest.raises(ElysiaError):
        unblock(settings, "Demo", incomplete.name, action="explode")  # type: ignore[arg-type]
    assert unblock(settings, "Demo", incomplete.name, action="discard") is None
    assert blocking_failure(settings, "Demo") is None
    assert not (settings.failed_dir / "Demo" / incomplete.name).exists()
    final = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.seq for r in final.applied] == [3]
    assert _paths(client) == {"a.py", "c.py"}


def test_content_ref_outside_the_blob_directory_is_rejected(
    tmp_path: Path, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    secret = tmp_path / "secret.txt"
    secret.write_text("do not ingest me\n")
    for seq, ref in ((1, "../../secret.txt"), (2, str(secret))):
        path = write_changeset(pending, seq, {"big.txt": "x" * 100}, inline_max_bytes=10)
        records = [json.loads(line) for line in path.read_text().splitlines()]
        records[1]["content_ref"] = ref
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    # A symlink inside the blob directory that leads out is refused too.
    linked = write_changeset(pending, 3, {"big.txt": "y" * 100}, inline_max_bytes=10)
    blob = next(blob_dir_for(linked).iterdir())
    blob.unlink()
    os.symlink(secret, blob)

    for _ in range(3):
        apply_pending(settings, client, "Demo", repo="demo")
        blocker = blocking_failure(settings, "Demo")
        assert blocker is not None
        assert any("content_ref" in p for p in blocker.problems), blocker.problems
        unblock(settings, "Demo", blocker.file, action="discard")
    assert full_objects(client, "Demo") == {}


def test_collection_and_repository_mismatches_are_rejected(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    registry = Registry(settings.registry_path)
    registry.add(new_repository("demo", "file:///demo", max_file_size=1000))
    pending = settings.pending_dir / "Demo"
    write_changeset(pending, 1, {"a.py": "a\n"}, collection="Elsewhere")
    report = apply_pending(settings, client, "Demo", registry=registry)
    assert "collection mismatch" in _error(settings, "00000001-000000000000.jsonl")["reason"]
    assert report.blocked_by is not None
    unblock(settings, "Demo", "00000001-000000000000.jsonl", action="discard")

    write_changeset(pending, 2, {"a.py": "a\n"}, repo="intruder")
    flat = write_flat(
        pending / "zz-mgit.jsonl", [{"op": "add", "repo": "x", "path": "p", "content": "c"}]
    )
    backdate(flat, 60)
    apply_pending(settings, client, "Demo", registry=registry)
    assert "repository mismatch" in _error(settings, "00000002-000000000000.jsonl")["reason"]
    unblock(settings, "Demo", "00000002-000000000000.jsonl", action="discard")
    apply_pending(settings, client, "Demo", registry=registry)
    assert "repository mismatch" in _error(settings, "zz-mgit.jsonl")["reason"]
    assert full_objects(client, "Demo") == {}
    # Failures are in the sync history too, with the reason.
    rows = registry.history("demo", stage="ingest")
    assert [r.status for r in rows] == ["failed", "failed", "failed"]
    assert "repository mismatch" in (rows[0].error or "")


def test_a_failed_file_put_back_is_news_for_the_sensor(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    pending = settings.pending_dir / "Demo"
    bad = write_changeset(pending, 1, {"a.py": "a\n"})
    bad.write_text(bad.read_text().replace('"count":1', '"count":5'))
    write_changeset(pending, 2, {"b.py": "b\n"})
    before = scan_pending(settings, None)
    cursor = before.new_cursor
    apply_pending(settings, client, "Demo", repo="demo")
    assert scan_pending(settings, cursor).collections_with_new_files == {}
    cursor = scan_pending(settings, cursor).new_cursor
    failed = settings.failed_dir / "Demo" / bad.name
    failed.write_text(failed.read_text().replace('"count":5', '"count":1'))
    unblock(settings, "Demo", bad.name)
    after = scan_pending(settings, cursor)
    assert after.collections_with_new_files == {"Demo": 2}
    # Same newest sequence as the first report: the version tells the two apart.
    assert after.versions["Demo"] != before.versions["Demo"]
    assert [r.seq for r in apply_pending(settings, client, "Demo", repo="demo").applied] == [1, 2]
