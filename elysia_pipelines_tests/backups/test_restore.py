"""Restore against the real weaviate-client and the test server: strategies, partial and
incremental restores, dry runs, workers, dead letters and resume.

Every test builds its backup the way production does: documents made of real source
files are written to a collection with the Weaviate layer and exported with
`backup_collection`, then restored with `restore_backup`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import weaviate

from elysia_pipelines.backups.export import (
    BackupOptions,
    BackupSource,
    backup_collection,
    write_backup,
)
from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.backups.reader import BackupReader, open_backup
from elysia_pipelines.backups.restore import RestoreOptions, restore_backup
from elysia_pipelines.errors import ElysiaError, Interrupted, NotFoundError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import ObjectToWrite, count, fetch_by_ids, upsert
from elysia_pipelines.weaviate.rest_session import RestSession
from elysia_pipelines.weaviate.schema import (
    CollectionSpec,
    collection_exists,
    create_collection_from_description,
    delete_collection,
    describe_collection,
)
from elysia_pipelines.weaviate.target import WeaviateTarget
from elysia_pipelines_tests.backups.sources import documents
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

N_DOCS = 30
MAX_DOCS = 40
DIM = 8
Doc = tuple[str, dict[str, Any], list[float] | None]


@functools.cache
def _real_documents(dim: int | None) -> tuple[Doc, ...]:
    # Sampling site-packages takes a second, so it is done once; tests copy what they change.
    return tuple(documents(MAX_DOCS, dim=dim, max_bytes=20_000))


def source_documents(n: int = N_DOCS, dim: int | None = DIM) -> list[Doc]:
    """Real files; every tenth one without a `commit` (an existing target may have one)."""
    docs = []
    for i, (uuid, props, vector) in enumerate(_real_documents(dim)[:n]):
        props = dict(props)
        if i % 10 == 0:
            props = {k: v for k, v in props.items() if k != "commit"}
        docs.append((uuid, props, vector))
    return docs


def write_docs(client: weaviate.WeaviateClient, name: str, docs: list[Doc]) -> None:
    result = upsert(client, name, [ObjectToWrite(u, p, v) for u, p, v in docs])
    assert result.failures == []


def make_backup(
    client: weaviate.WeaviateClient,
    settings: Settings,
    docs: list[Doc],
    *,
    name: str = "Docs",
    fmt: str = "parquet",
) -> BackupReader:
    """A collection holding `docs`, backed up; returns the opened backup."""
    from elysia_pipelines.weaviate.schema import ensure_collection

    ensure_collection(client, CollectionSpec(name=name))
    write_docs(client, name, docs)
    result = backup_collection(client, name, settings, BackupOptions(format=fmt))
    assert result.object_count == len(docs)
    return open_backup(result.backup_id, settings)


def backed_up(
    client: weaviate.WeaviateClient, settings: Settings, n: int = N_DOCS, **backup: Any
) -> tuple[list[Doc], BackupReader]:
    """`n` source documents in a collection, backed up (`make_backup`): where most
    restore tests start."""
    docs = source_documents(n)
    return docs, make_backup(client, settings, docs, **backup)


def stored(
    client: weaviate.WeaviateClient, name: str, uuids: list[str], *, vectors: bool = False
) -> dict[str, Any]:
    """{uuid: properties without None} (or (properties, vector) with `vectors`)."""
    found = fetch_by_ids(client, name, uuids, include_vector=vectors)
    result: dict[str, Any] = {}
    for uuid, obj in found.items():
        props = {k: v for k, v in obj.properties.items() if v is not None}
        result[uuid] = (props, obj.vector) if vectors else props
    return result


def clean(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None}


@dataclass
class Scenario:
    client: weaviate.WeaviateClient
    settings: Settings
    reader: BackupReader
    docs: list[Doc]
    original: dict[str, dict[str, Any]]
    before: dict[str, dict[str, Any] | None]  # target state before the restore
    modified: list[str]
    deleted: list[str]
    given_commit: list[str]

    @property
    def uuids(self) -> list[str]:
        return [u for u, _, _ in self.docs]


@pytest.fixture
def scenario(weaviate_client: weaviate.WeaviateClient, settings: Settings) -> Scenario:
    """A backup of 30 documents, then a target that drifted: 5 edited, 3 deleted, 3 with a
    `commit` the backup does not have."""
    docs, reader = backed_up(weaviate_client, settings)
    original = {u: clean(p) for u, p, _ in docs}
    before: dict[str, dict[str, Any] | None] = dict(original)
    modified = [u for u, _, _ in docs[1:6]]
    deleted = [u for u, _, _ in docs[6:9]]
    given_commit = [u for u, _, _ in docs[0::10]]
    changes = []
    for uuid, props, vector in docs:
        if uuid in modified:
            new = {**props, "language": "changed", "content": "edited", "content_hash": "x"}
        elif uuid in given_commit:
            new = {**props, "commit": "added-later"}
        else:
            continue
        before[uuid] = clean(new)
        changes.append(ObjectToWrite(uuid, new, vector))
    upsert(weaviate_client, "Docs", changes)
    from elysia_pipelines.weaviate.objects import delete_ids

    delete_ids(weaviate_client, "Docs", deleted)
    for uuid in deleted:
        before[uuid] = None
    return Scenario(
        weaviate_client, settings, reader, docs, original, before, modified, deleted, given_commit
    )


MODES = ("full", "objects", "properties")
PARTIAL_PROPERTIES = ("content", "language")


def expected_state(
    s: Scenario, strategy: str, mode: str, chosen: set[str]
) -> dict[str, dict[str, Any]]:
    """The documented semantics (restore.py docstring), computed independently."""
    result = {}
    for uuid in s.uuids:
        current = s.before[uuid]
        if mode == "objects" and uuid not in chosen:
            if current is not None:
                result[uuid] = current
            continue
        backup = s.original[uuid]
        if mode == "properties":
            backup = {k: v for k, v in backup.items() if k in PARTIAL_PROPERTIES}
        if current is None:
            result[uuid] = backup
        elif strategy == "skip":
            result[uuid] = current
        elif strategy == "overwrite" and mode != "properties":
            result[uuid] = backup
        else:
            result[uuid] = {**current, **backup}
    return result


def rest_session(endpoint: WeaviateEndpoint) -> RestSession:
    """What `elysiactl col restore` writes through (REST, a client only when needed)."""
    return RestSession(
        WeaviateTarget.for_url(endpoint.url, f"{endpoint.grpc_host}:{endpoint.grpc_port}")
    )


def client_or_rest(
    kind: str, client: weaviate.WeaviateClient, target: WeaviateTarget
) -> Iterator[Any]:
    """For a fixture with params ["client", "rest"]: what backup and restore talk through,
    weaviate-client or the CLI's REST session on the same server (closed after the test)."""
    if kind == "client":
        yield client
        return
    with RestSession(target) as session:
        yield session


@pytest.mark.parametrize("via", ["client", "rest"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strategy", ["overwrite", "skip", "merge"])
def test_strategy_by_restore_mode(
    scenario: Scenario, strategy: str, mode: str, via: str, weaviate_endpoint: WeaviateEndpoint
) -> None:
    s = scenario
    chosen = {s.modified[0], s.deleted[0], s.given_commit[1], s.uuids[-1]}
    options = RestoreOptions(
        strategy=strategy,  # type: ignore[arg-type]
        object_ids=tuple(sorted(chosen)) if mode == "objects" else None,
        properties=PARTIAL_PROPERTIES if mode == "properties" else None,
        settings=s.settings,
        workers=2,
        batch_size=7,
    )
    if via == "rest":
        with rest_session(weaviate_endpoint) as session:
            report = restore_backup(s.reader, session, options)
    else:
        report = restore_backup(s.reader, s.client, options)

    expected = expected_state(s, strategy, mode, chosen)
    assert stored(s.client, "Docs", s.uuids) == expected
    assert count(s.client, "Docs") == len(expected)  # nothing duplicated

    selected = chosen if mode == "objects" else set(s.uuids)
    missing = {u for u in selected if s.before[u] is None}
    present = selected - missing
    assert report.created == len(missing)
    assert report.skipped == (len(present) if strategy == "skip" else 0)
    assert report.updated == (0 if strategy == "skip" else len(present))
    assert report.failed == 0 and report.total == len(selected)
    # A created object gets the backup's vector.
    vectors = {u: v for u, _, v in s.docs}
    for uuid, (_, vector) in stored(s.client, "Docs", sorted(missing), vectors=True).items():
        assert vector == pytest.approx(vectors[uuid])


def test_existing_vector_kept_when_backup_has_none(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    docs = source_documents(6)
    make_backup(weaviate_client, settings, docs)
    result = backup_collection(
        weaviate_client, "Docs", settings, BackupOptions(include_vectors=False)
    )
    reader = open_backup(result.backup_id, settings)
    restore_backup(reader, weaviate_client, RestoreOptions(settings=settings))
    after = stored(weaviate_client, "Docs", [u for u, _, _ in docs], vectors=True)
    for uuid, _, vector in docs:
        assert after[uuid][1] == pytest.approx(vector)


def test_incremental_counts_and_writes_only_differences(scenario: Scenario) -> None:
    """The collection has `content_hash`: equal hashes mean unchanged, so the objects whose
    only difference is an extra `commit` are left alone (documented in restore.py)."""
    s = scenario
    options = RestoreOptions(incremental=True, settings=s.settings, collect_ids=True)
    report = restore_backup(s.reader, s.client, options)
    assert (report.created, report.updated, report.unchanged) == (3, 5, N_DOCS - 8)
    assert sorted(report.ids["created"]) == sorted(s.deleted)
    assert sorted(report.ids["updated"]) == sorted(s.modified)
    expected = {**s.original, **{u: s.before[u] for u in s.given_commit}}
    assert stored(s.client, "Docs", s.uuids) == expected

    again = restore_backup(s.reader, s.client, options)
    assert (again.created, again.updated, again.unchanged) == (0, 0, N_DOCS)


def test_incremental_without_content_hash_compares_whole_objects(scenario: Scenario) -> None:
    """Restoring only `language`: content_hash is not written, so every written property
    (and the vector) is compared; the edited objects differ in `language`."""
    s = scenario
    report = restore_backup(
        s.reader,
        s.client,
        RestoreOptions(
            incremental=True, properties=("language",), strategy="merge", settings=s.settings
        ),
    )
    assert (report.created, report.updated, report.unchanged) == (3, 5, N_DOCS - 8)
    after = stored(s.client, "Docs", s.modified)
    assert {p["language"] for p in after.values()} != {"changed"}
    assert {p["content"] for p in after.values()} == {"edited"}  # not restored


def test_parallel_workers_give_identical_results(
    weaviate_client: weaviate.WeaviateClient,
    weaviate_endpoint: WeaviateEndpoint,
    settings: Settings,
) -> None:
    docs = source_documents(40)
    uuids = [u for u, _, _ in docs]
    reader = make_backup(weaviate_client, settings, docs)
    results = {}
    opened: list[weaviate.WeaviateClient] = []

    def connect() -> weaviate.WeaviateClient:
        opened.append(weaviate_endpoint.connect())
        return opened[-1]

    for workers, own_clients in ((1, False), (4, False), (4, True)):
        name = f"Copy{workers}{'own' if own_clients else ''}"
        report = restore_backup(
            reader,
            weaviate_client,
            RestoreOptions(
                target_collection=name,
                workers=workers,
                batch_size=3,
                settings=settings,
                connect=connect if own_clients else None,
            ),
        )
        assert report.created == 40 and report.batches == 14
        results[name] = stored(weaviate_client, name, uuids, vectors=True)
        assert count(weaviate_client, name) == 40
    assert results["Copy1"] == results["Copy4"] == results["Copy4own"]
    assert results["Copy1"] == stored(weaviate_client, "Docs", uuids, vectors=True)
    # One client per worker thread that ran, all closed at the end.
    assert 1 <= len(opened) <= 4 and not any(c.is_connected() for c in opened)


def test_dry_run_writes_nothing(scenario: Scenario) -> None:
    s = scenario
    snapshot = stored(s.client, "Docs", s.uuids, vectors=True)
    report = restore_backup(
        s.reader, s.client, RestoreOptions(dry_run=True, strategy="merge", settings=s.settings)
    )
    assert report.dry_run
    assert sorted(report.ids["created"]) == sorted(s.deleted)
    assert len(report.ids["updated"]) == N_DOCS - 3
    assert stored(s.client, "Docs", s.uuids, vectors=True) == snapshot

    into_new = restore_backup(
        s.reader,
        s.client,
        RestoreOptions(target_collection="Fresh", dry_run=True, settings=s.settings),
    )
    assert into_new.collection_created and into_new.created == N_DOCS
    assert not collection_exists(s.client, "Fresh")
    assert not any(s.settings.checkpoints_dir.iterdir())
    assert not any(s.settings.dead_letter_dir.iterdir())


def test_unknown_object_ids_are_refused_before_writing(scenario: Scenario) -> None:
    s = scenario
    snapshot = stored(s.client, "Docs", s.uuids)
    absent = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(NotFoundError, match=absent):
        restore_backup(
            s.reader,
            s.client,
            RestoreOptions(object_ids=(s.deleted[0], absent), settings=s.settings),
        )
    with pytest.raises(ElysiaError, match="not a UUID"):
        restore_backup(
            s.reader, s.client, RestoreOptions(object_ids=("nope",), settings=s.settings)
        )
    assert stored(s.client, "Docs", s.uuids) == snapshot


# ------------------------------------------------------------ dead letters and resume


def _code_backup(settings: Settings, values: list[str]) -> tuple[BackupReader, list[str]]:
    """A small backup whose `code` is text; some values are not numbers."""
    description = {
        "format": 1,
        "name": "Codes",
        "properties": [
            {"name": "code", "data_type": "text", "tokenization": "word"},
            {"name": "note", "data_type": "text", "tokenization": "word"},
        ],
        "vectorizer": "none",
        "vectors": [{"name": None, "vectorizer": "none"}],
        "replication_factor": 1,
    }
    import uuid as uuid_module

    uuids = [
        str(uuid_module.uuid5(uuid_module.NAMESPACE_URL, v + str(i))) for i, v in enumerate(values)
    ]
    objects = [
        BackupObject(u, {"code": v, "note": f"n{i}"}, None)
        for i, (u, v) in enumerate(zip(uuids, values, strict=True))
    ]
    result = write_backup(objects, BackupSource("Codes", description), settings)
    return open_backup(result.backup_id, settings), uuids


def _codes_collection(client: weaviate.WeaviateClient, code_type: str) -> None:
    create_collection_from_description(
        client,
        "Codes",
        {
            "format": 1,
            "name": "Codes",
            "properties": [{"name": "code", "data_type": code_type}],
            "vectorizer": "none",
            "replication_factor": 1,
        },
    )


def test_unconvertible_values_are_dead_lettered_then_resumed(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    values = ["1", "2", "three", "4", "5x", "6", "7", "8"]
    reader, uuids = _code_backup(settings, values)
    _codes_collection(weaviate_client, "int")
    options = RestoreOptions(settings=settings, batch_size=3)
    report = restore_backup(reader, weaviate_client, options)

    assert (report.created, report.failed) == (6, 2)
    assert report.conversions == [
        {
            "source": "code",
            "target": "code",
            "source_type": "text",
            "target_type": "int",
            "action": "convert",
        }
    ]
    assert report.added_properties == ["note"]
    import json
    from pathlib import Path

    lines = [json.loads(x) for x in Path(report.dead_letter_path).read_text().splitlines()]
    assert sorted(e["uuid"] for e in lines) == sorted([uuids[2], uuids[4]])
    assert {e["stage"] for e in lines} == {"convert"}
    assert "three" in json.dumps(lines)
    assert stored(weaviate_client, "Codes", [uuids[0]])[uuids[0]]["code"] == 1

    # Resuming without fixing the cause keeps the dead letters (nothing is lost)...
    again = restore_backup(reader, weaviate_client, replace(options, resume=True))
    assert again.batches_already_done == 3 and again.dead_letters_retried == 2
    assert again.total == 8
    assert again.failed == 2 and Path(again.dead_letter_path).exists()

    # ...fixing it (code becomes text) and resuming restores exactly the dead letters.
    delete_collection(weaviate_client, "Codes")
    _codes_collection(weaviate_client, "text")
    fixed = restore_backup(reader, weaviate_client, replace(options, resume=True, object_ids=None))
    assert fixed.created == 2 and fixed.failed == 0
    assert fixed.dead_letter_path is None
    assert not Path(report.dead_letter_path).exists()
    assert not Path(report.checkpoint_path).exists()
    assert sorted(stored(weaviate_client, "Codes", uuids)) == sorted([uuids[2], uuids[4]])

    with pytest.raises(NotFoundError, match="nothing to resume"):
        restore_backup(reader, weaviate_client, replace(options, resume=True))


class Interrupt(KeyboardInterrupt):
    """What Ctrl-C raises on the main thread, here delivered through the progress callback."""


def interrupted_restore(
    reader: BackupReader, target: Any, options: RestoreOptions, *, after: int
) -> None:
    """Run the restore and stop it, as Ctrl-C would, at its `after`-th progress call."""
    calls: list[int] = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == after:
            raise Interrupt

    # Ctrl-C becomes an error that says how to continue (the CLI exits 130 with it).
    with pytest.raises(Interrupted, match="interrupted after") as raised:
        restore_backup(reader, target, options, progress=interrupt)
    assert "--resume" in (raised.value.hint or "")


def test_interrupted_restore_resumes_without_duplicates(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 25)
    # One worker: at most two batches are in flight when the interruption comes.
    options = RestoreOptions(target_collection="Again", batch_size=3, workers=1, settings=settings)
    interrupted_restore(reader, weaviate_client, options, after=3)
    partial = count(weaviate_client, "Again")
    assert 0 < partial < 25

    report = restore_backup(reader, weaviate_client, replace(options, resume=True))
    assert report.total == 25
    assert report.batches_already_done >= 3
    assert report.created + report.updated == 25 - 3 * report.batches_already_done
    assert count(weaviate_client, "Again") == 25
    uuids = [u for u, _, _ in docs]
    assert stored(weaviate_client, "Again", uuids, vectors=True) == stored(
        weaviate_client, "Docs", uuids, vectors=True
    )


def test_resume_after_the_target_was_deleted_restores_everything(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    _, reader = backed_up(weaviate_client, settings, 12)
    options = RestoreOptions(target_collection="Gone", batch_size=3, workers=1, settings=settings)
    interrupted_restore(reader, weaviate_client, options, after=2)
    delete_collection(weaviate_client, "Gone")
    report = restore_backup(reader, weaviate_client, replace(options, resume=True))
    assert report.batches_already_done == 0 and report.created == 12
    assert any("no longer exists" in note for note in report.notes)
    assert count(weaviate_client, "Gone") == 12


def test_resume_with_other_options_is_refused(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    _, reader = backed_up(weaviate_client, settings, 10)
    options = RestoreOptions(target_collection="Other", batch_size=2, settings=settings)
    interrupted_restore(reader, weaviate_client, options, after=1)
    with pytest.raises(ElysiaError, match="different options"):
        restore_backup(
            reader,
            weaviate_client,
            replace(options, resume=True, strategy="merge"),
        )


def _iter_names(description: dict[str, Any]) -> Iterator[str]:
    for prop in description["properties"]:
        yield prop["name"]


def test_restore_into_new_collection_rebuilds_schema(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    _, reader = backed_up(weaviate_client, settings, 5)
    report = restore_backup(
        reader, weaviate_client, RestoreOptions(target_collection="copy", settings=settings)
    )
    assert report.target_collection == "Copy" and report.collection_created
    source = describe_collection(weaviate_client, "Docs")
    copy = describe_collection(weaviate_client, "Copy")
    assert list(_iter_names(copy)) == list(_iter_names(source))
    assert copy["vector_dimension"] == DIM


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_restore_from_json_backups(
    weaviate_client: weaviate.WeaviateClient, settings: Settings, fmt: str
) -> None:
    """JSON backups carry dates as text and vectors as float lists; the restore is exact."""
    docs, reader = backed_up(weaviate_client, settings, 9, fmt=fmt)
    assert reader.manifest.format == fmt
    report = restore_backup(
        reader, weaviate_client, RestoreOptions(target_collection="FromJson", settings=settings)
    )
    assert report.created == 9
    uuids = [u for u, _, _ in docs]
    assert stored(weaviate_client, "FromJson", uuids, vectors=True) == stored(
        weaviate_client, "Docs", uuids, vectors=True
    )


@pytest.mark.parametrize("target", ["new", "empty"])
def test_rest_restore_into_new_or_empty_collection(
    weaviate_client: weaviate.WeaviateClient,
    weaviate_endpoint: WeaviateEndpoint,
    settings: Settings,
    target: str,
) -> None:
    """The CLI's path: no existing objects to read, properties added or the collection
    created, writes over REST; the objects come back exactly, vectors included."""
    docs, reader = backed_up(weaviate_client, settings)
    if target == "empty":
        weaviate_client.collections.create("Copy")
    with rest_session(weaviate_endpoint) as session:
        report = restore_backup(
            reader,
            session,
            RestoreOptions(target_collection="Copy", settings=settings, workers=3, batch_size=7),
        )
    assert (report.created, report.failed, report.total) == (N_DOCS, 0, N_DOCS)
    assert report.collection_created == (target == "new")
    uuids = [u for u, _, _ in docs]

    def flat(found: dict[str, Any]) -> dict[str, Any]:
        # A collection created without a vector config holds one named vector `default`.
        return {u: (p, v["default"] if isinstance(v, dict) else v) for u, (p, v) in found.items()}

    assert flat(stored(weaviate_client, "Copy", uuids, vectors=True)) == flat(
        stored(weaviate_client, "Docs", uuids, vectors=True)
    )
    described = describe_collection(weaviate_client, "Copy")
    assert {p["name"]: p["data_type"] for p in described["properties"]} == {
        p["name"]: p["data_type"] for p in reader.description["properties"]
    }
