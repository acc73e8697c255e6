"""Backups of a real collection on the Weaviate test server, through weaviate-client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import weaviate

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.export import backup_collection
from elysia_pipelines.backups.layout import read_manifest
from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import iter_objects
from elysia_pipelines_tests.backups.sources import populate
from elysia_pipelines_tests.backups.test_formats_roundtrip import COMBINATIONS
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
    loaded_client: weaviate.WeaviateClient,
    stored: list[Any],
    settings: Settings,
    fmt: str,
    compression: str,
) -> None:
    seen: list[tuple[int, int | None]] = []
    result = backup_collection(
        loaded_client,
        COLLECTION,
        settings,
        format=fmt,
        compression=compression,
        tags=("test",),
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


def test_partition_by_language(
    loaded_client: weaviate.WeaviateClient, stored: list[Any], settings: Settings
) -> None:
    result = backup_collection(loaded_client, COLLECTION, settings, partition_by="language")
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
    loaded_client: weaviate.WeaviateClient,
    stored: list[Any],
    settings: Settings,
    expression: str,
    predicate: Any,
) -> None:
    result = backup_collection(
        loaded_client, COLLECTION, settings, format="jsonl", filter_expr=expression
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
    loaded_client: weaviate.WeaviateClient,
    settings: Settings,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    with pytest.raises(ElysiaError, match=fragment):
        backup_collection(loaded_client, COLLECTION, settings, **kwargs)
    assert not (settings.backups_dir / COLLECTION).exists()
    with open_catalog(settings) as catalog:
        assert catalog.count() == 0


def test_unknown_collection(loaded_client: weaviate.WeaviateClient, settings: Settings) -> None:
    with pytest.raises(NotFoundError):
        backup_collection(loaded_client, "Nope", settings)
