"""Objects Weaviate rejects go to dead-letter files with the reason; retries resolve them."""

from __future__ import annotations

import json
import shutil

import weaviate

from elysia_pipelines.documents import document_uuid
from elysia_pipelines.ingest import apply_pending, open_dead_letters, retry_dead_letters
from elysia_pipelines.ingest.dead_letter import dead_letter_file
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import fetch_by_ids
from elysia_pipelines_tests.ingest.expected import stored_documents
from elysia_pipelines_tests.ingest.helpers import backdate, write_changeset, write_flat

BAD = {"op": "add", "repo": "demo", "path": "bad.py", "content": "bad\n", "line_count": "many"}


def _flat(settings: Settings, name: str, records: list[dict]) -> None:
    path = write_flat(settings.pending_dir / "Demo" / name, records)
    backdate(path, 60)  # settled: a flat file has no end record to wait for


def test_rejected_object_is_dead_lettered_reported_and_retried(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    registry = Registry(settings.registry_path)
    registry.add(new_repository("demo", "file:///demo", max_file_size=1000))
    good = {"op": "add", "repo": "demo", "path": "good.py", "content": "ok\n"}
    _flat(settings, "mgit-0001.jsonl", [good, BAD])

    report = apply_pending(settings, client, "Demo", registry=registry)
    assert [r.status for r in report.applied] == ["applied"]  # one bad file holds nothing back
    assert report.applied[0].failed == 1
    assert report.open_dead_letters == 1
    assert set(stored_documents(client, "Demo")) == {"good.py"}
    [letter] = open_dead_letters(settings, "Demo")
    assert (letter.path, letter.op, letter.changeset) == ("bad.py", "add", "mgit-0001.jsonl")
    assert "line_count" in letter.error
    assert letter.uuid == document_uuid("demo", "bad.py")
    [row] = registry.history("demo", stage="ingest")
    assert (row.status, row.failed) == ("partial", 1)

    # Applying the same file again does not duplicate the letter.
    shutil.copy2(settings.processed_dir / "Demo" / "mgit-0001.jsonl", settings.pending_dir / "Demo")
    backdate(settings.pending_dir / "Demo" / "mgit-0001.jsonl", 60)
    apply_pending(settings, client, "Demo", registry=registry)
    [letter] = open_dead_letters(settings, "Demo")
    assert letter.attempts == 2

    # A retry of an unchanged letter fails again and keeps it open.
    assert retry_dead_letters(settings, client, "Demo").still_failing == 1
    assert len(open_dead_letters(settings, "Demo")) == 1

    # The operator corrects the property in the dead-letter file and retries.
    path = dead_letter_file(settings, "Demo", "mgit-0001.jsonl")
    data = json.loads(path.read_text())
    data["properties"]["line_count"] = 1
    path.write_text(json.dumps(data) + "\n")
    outcome = retry_dead_letters(settings, client, "Demo")
    assert (outcome.retried, outcome.resolved, outcome.still_failing) == (1, 1, 0)
    assert open_dead_letters(settings, "Demo") == []
    assert not path.exists()
    stored = fetch_by_ids(client, "Demo", [document_uuid("demo", "bad.py")])
    assert [o.properties["line_count"] for o in stored.values()] == [1]


def test_a_later_successful_write_resolves_the_dead_letter(
    settings: Settings, client: weaviate.WeaviateClient
) -> None:
    _flat(settings, "mgit-0001.jsonl", [BAD])
    apply_pending(settings, client, "Demo", repo="demo")
    assert len(open_dead_letters(settings, "Demo")) == 1

    # The next change set writes the same document properly: retrying the old letter
    # would now overwrite newer content, so it is resolved instead.
    write_changeset(settings.pending_dir / "Demo", 2, {"bad.py": "fixed\n"})
    report = apply_pending(settings, client, "Demo", repo="demo")
    assert report.open_dead_letters == 0
    assert open_dead_letters(settings, "Demo") == []
    assert stored_documents(client, "Demo")["bad.py"][1] == "fixed\n"
    assert retry_dead_letters(settings, client, "Demo").retried == 0
