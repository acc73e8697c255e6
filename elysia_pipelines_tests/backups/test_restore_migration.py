"""Restoring into a collection whose schema drifted: conversions, --map, added properties,
and refusals that happen before anything is written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import weaviate

from elysia_pipelines.backups.restore import RestoreOptions, restore_backup
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import ObjectToWrite, count, upsert
from elysia_pipelines.weaviate.schema import (
    collection_exists,
    create_collection_from_description,
    describe_collection,
)
from elysia_pipelines_tests.backups.test_restore import (
    backed_up,
    make_backup,
    source_documents,
    stored,
)


def _create(client: weaviate.WeaviateClient, name: str, **types: str) -> None:
    create_collection_from_description(
        client,
        name,
        {
            "format": 1,
            "name": name,
            "properties": [{"name": n, "data_type": t} for n, t in types.items()],
            "vectorizer": "none",
            "replication_factor": 1,
        },
    )


def _types(client: weaviate.WeaviateClient, name: str) -> dict[str, str]:
    return {p["name"]: p["data_type"] for p in describe_collection(client, name)["properties"]}


def test_types_are_converted_and_missing_properties_added(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 12)
    _create(
        weaviate_client,
        "Drifted",
        path="text",
        content="text",
        content_hash="text",
        size_bytes="number",  # int -> number
        line_count="text",  # int -> text
        language="text[]",  # text -> text[]
        synced_at="text",  # date -> text
        repo="text",
        extension="text",
        commit="text",
    )
    report = restore_backup(
        reader, weaviate_client, RestoreOptions(target_collection="Drifted", settings=settings)
    )
    assert report.created == 12 and report.failed == 0
    assert {c["source"]: c["target_type"] for c in report.conversions} == {
        "size_bytes": "number",
        "line_count": "text",
        "language": "text[]",
        "synced_at": "text",
    }
    assert report.added_properties == ["file_name"]
    assert _types(weaviate_client, "Drifted")["file_name"] == "text"

    after = stored(weaviate_client, "Drifted", [u for u, _, _ in docs])
    for uuid, props, _ in docs:
        got = after[uuid]
        assert got["size_bytes"] == float(props["size_bytes"])
        assert isinstance(got["size_bytes"], float)
        assert got["line_count"] == str(props["line_count"])
        assert got["language"] == [props["language"]]
        parsed = datetime.fromisoformat(got["synced_at"].replace("Z", "+00:00"))
        assert parsed == props["synced_at"].astimezone(UTC)
        assert got["file_name"] == props["file_name"]
        assert got["content"] == props["content"]


def test_map_renames_properties_in_a_new_collection(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 6)
    report = restore_backup(
        reader,
        weaviate_client,
        RestoreOptions(
            target_collection="Renamed",
            property_map={"content": "body", "path": "file_path"},
            settings=settings,
        ),
    )
    assert report.renamed_properties == {"content": "body", "path": "file_path"}
    types = _types(weaviate_client, "Renamed")
    assert "body" in types and "file_path" in types
    assert "content" not in types and "path" not in types
    after = stored(weaviate_client, "Renamed", [u for u, _, _ in docs])
    for uuid, props, _ in docs:
        assert after[uuid]["body"] == props["content"]
        assert after[uuid]["file_path"] == props["path"]


def test_map_onto_an_existing_property_of_another_type(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    docs, reader = backed_up(weaviate_client, settings, 4)
    _create(weaviate_client, "Sizes", size="text", path="text")
    report = restore_backup(
        reader,
        weaviate_client,
        RestoreOptions(
            target_collection="Sizes",
            property_map={"size_bytes": "size"},
            properties=("size", "path"),
            settings=settings,
        ),
    )
    assert report.conversions[0]["source"] == "size_bytes"
    assert report.added_properties == []
    after = stored(weaviate_client, "Sizes", [u for u, _, _ in docs])
    assert {a["size"] for a in after.values()} == {str(p["size_bytes"]) for _, p, _ in docs}
    assert all(set(a) == {"size", "path"} for a in after.values())


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"no_such": "x"}, "does not have: 'no_such'"),
        ({"path": "content"}, "both write property 'content'"),
    ],
)
def test_bad_map_is_refused_before_anything_is_written(
    weaviate_client: weaviate.WeaviateClient,
    settings: Settings,
    mapping: dict[str, str],
    message: str,
) -> None:
    reader = make_backup(weaviate_client, settings, source_documents(3))
    with pytest.raises(ElysiaError, match=message):
        restore_backup(
            reader,
            weaviate_client,
            RestoreOptions(target_collection="Never", property_map=mapping, settings=settings),
        )
    assert not collection_exists(weaviate_client, "Never")


def test_impossible_type_change_is_refused_before_writing(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    reader = make_backup(weaviate_client, settings, source_documents(3))
    _create(weaviate_client, "Dates", synced_at="int", path="text")
    with pytest.raises(ElysiaError, match=r"synced_at \(date\) -> synced_at \(int\)"):
        restore_backup(
            reader, weaviate_client, RestoreOptions(target_collection="Dates", settings=settings)
        )
    assert count(weaviate_client, "Dates") == 0
    assert set(_types(weaviate_client, "Dates")) == {"synced_at", "path"}  # nothing added


def test_vector_dimension_mismatch_is_refused_with_nothing_written(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    _, reader = backed_up(weaviate_client, settings, 5)  # 8-dimensional vectors
    _create(weaviate_client, "Small", path="text")  # lacks most backup properties
    existing: list[tuple[str, dict[str, Any], list[float]]] = [
        ("11111111-1111-1111-1111-111111111111", {"path": "keep/me.py"}, [0.5, 0.25, 0.0, 1.0])
    ]
    upsert(weaviate_client, "Small", [ObjectToWrite(u, p, v) for u, p, v in existing])
    before_types = _types(weaviate_client, "Small")

    with pytest.raises(ElysiaError, match=r"8 dimensions .* have 4; nothing was written"):
        restore_backup(
            reader, weaviate_client, RestoreOptions(target_collection="Small", settings=settings)
        )
    assert count(weaviate_client, "Small") == 1
    assert _types(weaviate_client, "Small") == before_types  # no property added either
    kept = stored(weaviate_client, "Small", [existing[0][0]], vectors=True)
    assert kept[existing[0][0]] == ({"path": "keep/me.py"}, [0.5, 0.25, 0.0, 1.0])


def test_incremental_after_a_rename_does_not_trust_content_hash(
    weaviate_client: weaviate.WeaviateClient, settings: Settings
) -> None:
    """Same content_hash, but the restore adds `body`: every object must be updated."""
    docs, reader = backed_up(weaviate_client, settings, 6)
    options = RestoreOptions(
        strategy="merge", incremental=True, property_map={"content": "body"}, settings=settings
    )
    report = restore_backup(reader, weaviate_client, options)
    assert (report.updated, report.unchanged) == (6, 0)
    after = stored(weaviate_client, "Docs", [u for u, _, _ in docs])
    for uuid, props, _ in docs:
        assert after[uuid]["body"] == after[uuid]["content"] == props["content"]

    again = restore_backup(reader, weaviate_client, options)
    assert (again.updated, again.unchanged) == (0, 6)  # compared by full hash now
