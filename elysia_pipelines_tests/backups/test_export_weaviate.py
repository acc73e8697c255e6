"""Backups of a real collection on the Weaviate test server.

Every test runs through both readers `backup_collection` accepts: weaviate-client and
the REST session the CLI uses; each must give back exactly what the client reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import weaviate

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.export import BackupOptions, backup_collection
from elysia_pipelines.backups.layout import read_manifest
from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import iter_objects
from elysia_pipelines.weaviate.rest_session import RestSession
from elysia_pipelines.weaviate.retry import WeaviateUnavailableError
from elysia_pipelines.weaviate.schema import describe_collection
from elysia_pipelines.weaviate.target import WeaviateTarget
from elysia_pipelines_tests.backups.sources import populate
from elysia_pipelines_tests.backups.test_formats_roundtrip import COMBINATIONS
from elysia_pipelines_tests.backups.test_restore import client_or_rest
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

COLLECTION = "Docs"
COUNT = 250


@pytest.fixture(scope="module")
def loaded_client(weaviate_server_module: Any) -> Iterator[weaviate.WeaviateClient]:
    """One server per module holding 250 real source files with vectors."""
    weaviate_server_module.start()
    weaviate_server_module.reset()
    client = WeaviateEndpoint.for_server(weaviate_server_module).connect()
    try:
        assert populate(client, COLLECTION, COUNT, dim=8) == COUNT
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module", params=["client", "rest"])
def source(
    request: pytest.FixtureRequest,
    loaded_client: weaviate.WeaviateClient,
    weaviate_server_module: Any,
) -> Iterator[Any]:
    target = WeaviateTarget.for_url(weaviate_server_module.url)
    yield from client_or_rest(request.param, loaded_client, target)


@pytest.fixture(scope="module")
def stored(loaded_client: weaviate.WeaviateClient) -> list[tuple[str, dict[str, Any], Any]]:
    objects = iter_objects(loaded_client, COLLECTION, include_vector=True)
    return sorted(((o.uuid, o.properties, o.vector) for o in objects), key=lambda t: t[0])


def read_back(ref: Any, settings: Settings) -> list[tuple[str, dict[str, Any], Any]]:
    reader = open_backup(ref, settings)
    objects = [o for batch in reader.iter_batches(batch_size=100) for o in batch]
    return sorted(((o.uuid, o.properties, o.vector) for o in objects), key=lambda t: t[0])


@pytest.mark.parametrize(("fmt", "compression"), COMBINATIONS)
def test_collection_round_trip(
    source: Any,
    stored: list[Any],
    settings: Settings,
    fmt: str,
    compression: str,
) -> None:
    seen: list[tuple[int, int | None]] = []
    result = backup_collection(
        source,
        COLLECTION,
        settings,
        BackupOptions(format=fmt, compression=compression, tags=("test",)),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.object_count == COUNT and len(stored) == COUNT
    assert seen[-1] == (COUNT, COUNT)
    back = read_back(result.backup_id, settings)
    assert back == stored  # uuids, properties (dates, ints, text), vectors
    manifest = read_manifest(result.path)
    assert manifest.schema["name"] == COLLECTION
    assert {p["name"]: p["data_type"] for p in manifest.schema["properties"]}["synced_at"] == "date"
    assert manifest.source["url"] is None or "@" not in manifest.source["url"]
    assert manifest.tags == ["test"]
    with open_catalog(settings) as catalog:
        entry = catalog.get(result.backup_id)
    assert (entry.format, entry.compression, entry.object_count) == (fmt, compression, COUNT)
    assert entry.checksum == result.manifest_checksum


def test_partition_by_language(source: Any, stored: list[Any], settings: Settings) -> None:
    result = backup_collection(source, COLLECTION, settings, BackupOptions(partition_by="language"))
    languages = {props["language"] for _, props, _ in stored}
    assert {f.path.split("/")[1] for f in result.files} == {f"language={x}" for x in languages}
    assert read_back(result.path, settings) == stored


@pytest.mark.parametrize(
    ("expression", "predicate"),
    [
        (
            "language = 'python' and size_bytes > 3000",
            lambda p: p["language"] == "python" and p["size_bytes"] > 3000,
        ),
        ("path like '*__init__.py'", lambda p: p["path"].endswith("__init__.py")),
        ("synced_at >= '2024-01-20'", lambda p: p["synced_at"].day >= 20),
        (
            "not (language = 'python' or line_count > 300)",
            lambda p: not (p["language"] == "python" or p["line_count"] > 300),
        ),
        ("language in ('markdown', 'text')", lambda p: p["language"] in ("markdown", "text")),
    ],
)
def test_filter_selects_exactly(
    source: Any,
    stored: list[Any],
    settings: Settings,
    expression: str,
    predicate: Any,
) -> None:
    result = backup_collection(
        source, COLLECTION, settings, BackupOptions(format="jsonl", filter_expr=expression)
    )
    expected = [t for t in stored if predicate(t[1])]
    assert 0 < len(expected) < COUNT, expression
    assert read_back(result.backup_id, settings) == expected
    assert read_manifest(result.path).filter == expression
    assert result.scanned_count == COUNT


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"filter_expr": "langauge = 'python'"}, "no property 'langauge'"),
        ({"filter_expr": "size_bytes > 'big'"}, "size_bytes is int"),
        ({"filter_expr": "language = 'python' and"}, "column 24"),
        ({"format": "xml"}, "unknown backup format"),
        ({"format": "jsonl", "compression": "snappy"}, "not available for jsonl"),
        ({"partition_by": "extension"}, "cannot partition by 'extension'"),
    ],
)
def test_invalid_options_fail_before_writing(
    source: Any,
    settings: Settings,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    with pytest.raises(ElysiaError, match=fragment):
        backup_collection(source, COLLECTION, settings, BackupOptions(**kwargs))
    assert not (settings.backups_dir / COLLECTION).exists()
    with open_catalog(settings) as catalog:
        assert catalog.count() == 0


def test_unknown_collection(source: Any, settings: Settings) -> None:
    with pytest.raises(NotFoundError):
        backup_collection(source, "Nope", settings)


def test_rest_description_matches_the_clients(
    loaded_client: weaviate.WeaviateClient, weaviate_server_module: Any
) -> None:
    """The REST session describes collections key for key as the client-based reader."""
    from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty

    loaded_client.collections.create(
        "Named",
        properties=[
            Property(name="title", data_type=DataType.TEXT),
            Property(name="tags", data_type=DataType.TEXT_ARRAY),
            Property(name="score", data_type=DataType.NUMBER, index_range_filters=True),
            Property(name="flags", data_type=DataType.BOOL_ARRAY),
            Property(name="when", data_type=DataType.DATE),
        ],
        vector_config=[
            Configure.Vectors.self_provided(name="a"),
            Configure.Vectors.self_provided(name="b"),
        ],
    )
    loaded_client.collections.get("Named").data.insert(
        {"title": "x", "tags": ["p"], "score": 1.5}, vector={"a": [0.1, 0.2], "b": [1.0]}
    )
    loaded_client.collections.create(
        "Linked",
        properties=[Property(name="name", data_type=DataType.TEXT)],
        references=[ReferenceProperty(name="doc", target_collection=COLLECTION)],
        vector_config=Configure.Vectors.self_provided(),
    )
    try:
        with RestSession(WeaviateTarget.for_url(weaviate_server_module.url)) as session:
            for name in (COLLECTION, "Named", "Linked"):
                assert session.describe_collection(name) == describe_collection(
                    loaded_client, name
                ), name
    finally:
        loaded_client.collections.delete(["Named", "Linked"])


def test_rest_transient_failures_are_retried(
    weaviate_server_module: Any, stored: list[Any], settings: Settings
) -> None:
    """503s on reads (the vector sample and the first page) cost a retry, not the backup."""
    before = weaviate_server_module.faults.injected_total()
    weaviate_server_module.faults.fail_next(2, "search")
    with RestSession(WeaviateTarget.for_url(weaviate_server_module.url)) as session:
        result = backup_collection(session, COLLECTION, settings)
    assert weaviate_server_module.faults.injected_total() == before + 2
    assert read_back(result.path, settings) == stored


def test_rest_unreachable_server_is_a_clear_error(settings: Settings) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    target = WeaviateTarget.for_url(f"http://127.0.0.1:{port}", retries=2)
    with RestSession(target) as session, pytest.raises(WeaviateUnavailableError) as info:
        backup_collection(session, COLLECTION, settings)
    assert f"127.0.0.1:{port}" in str(info.value) and info.value.hint
