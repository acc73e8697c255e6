"""Cross-references, nested objects and strict values, as Weaviate 1.32 handles them.

Marked `real_weaviate`: every assertion is about Weaviate's own behaviour (messages
quoted from its `usecases/objects/validation`), so the same tests run against a real
node when WEAVIATE_URL is set; collection names are unique and removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, DataReference
from weaviate.classes.query import QueryNested, QueryReference
from weaviate.exceptions import UnexpectedStatusCodeError

from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

pytestmark = pytest.mark.real_weaviate


@pytest.fixture
def names(
    weaviate_client: weaviate.WeaviateClient, unique_collection_name: str
) -> Iterator[tuple[str, str]]:
    """A (target, source) pair of unique collection names, deleted at teardown."""
    pair = (f"{unique_collection_name}Tgt", f"{unique_collection_name}Src")
    yield pair
    for name in pair:
        weaviate_client.collections.delete(name)


def _pair(client: weaviate.WeaviateClient, names: tuple[str, str]) -> tuple[object, object]:
    target = client.collections.create(
        names[0],
        properties=[Property(name="title", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
    )
    source = client.collections.create(
        names[1],
        properties=[Property(name="name", data_type=DataType.TEXT)],
        references=[ReferenceProperty(name="cites", target_collection=names[0])],
        vector_config=Configure.Vectors.self_provided(),
    )
    return target, source


def test_references_add_replace_delete_and_return(
    weaviate_client: weaviate.WeaviateClient,
    weaviate_endpoint: WeaviateEndpoint,
    names: tuple[str, str],
) -> None:
    target, source = _pair(weaviate_client, names)
    t1 = target.data.insert({"title": "one"})  # type: ignore[attr-defined]
    t2 = target.data.insert({"title": "two"})  # type: ignore[attr-defined]
    s = source.data.insert({"name": "src"}, references={"cites": t1})  # type: ignore[attr-defined]
    source.data.reference_add(s, "cites", t2)  # type: ignore[attr-defined]

    obj = source.query.fetch_object_by_id(  # type: ignore[attr-defined]
        s, return_references=QueryReference(link_on="cites", return_properties=["title"])
    )
    assert sorted(o.properties["title"] for o in obj.references["cites"].objects) == [
        "one",
        "two",
    ]
    assert "cites" not in obj.properties  # references never come back as properties

    # REST answers each beacon with the class the property targets, and an href.
    raw = httpx.get(f"{weaviate_endpoint.url}/v1/objects/{names[1]}/{s}").json()
    assert raw["properties"]["cites"][0] == {
        "beacon": f"weaviate://localhost/{names[0]}/{t1}",
        "href": f"/v1/objects/{names[0]}/{t1}",
    }

    source.data.reference_replace(s, "cites", [t2])  # type: ignore[attr-defined]
    source.data.reference_delete(s, "cites", t2)  # type: ignore[attr-defined]
    obj = source.query.fetch_object_by_id(  # type: ignore[attr-defined]
        s, return_references=QueryReference(link_on="cites")
    )
    assert obj.references == {}  # asked for, none left


def test_a_reference_to_a_missing_object_is_refused(
    weaviate_client: weaviate.WeaviateClient, names: tuple[str, str]
) -> None:
    _, source = _pair(weaviate_client, names)
    missing = uuid.uuid4()
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        source.data.insert({"name": "x"}, references={"cites": missing})  # type: ignore[attr-defined]
    assert f"no object with id {missing} found" in caught.value.message
    s = source.data.insert({"name": "y"})  # type: ignore[attr-defined]
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        source.data.reference_add(s, "cites", missing)  # type: ignore[attr-defined]
    assert caught.value.status_code == 422
    assert f"no object with id {missing} found" in caught.value.message


def test_batch_references_report_a_missing_source_per_reference(
    weaviate_client: weaviate.WeaviateClient, names: tuple[str, str]
) -> None:
    target, source = _pair(weaviate_client, names)
    t1 = target.data.insert({"title": "one"})  # type: ignore[attr-defined]
    s = source.data.insert({"name": "src"})  # type: ignore[attr-defined]
    result = source.data.reference_add_many(  # type: ignore[attr-defined]
        [
            DataReference(from_uuid=s, from_property="cites", to_uuid=t1),
            DataReference(from_uuid=uuid.uuid4(), from_property="cites", to_uuid=t1),
            DataReference(from_uuid=s, from_property="nope", to_uuid=t1),
        ]
    )
    assert sorted(result.errors) == [1, 2]
    assert "property nope does not exist" in result.errors[2].message
    obj = source.query.fetch_object_by_id(  # type: ignore[attr-defined]
        s, return_references=QueryReference(link_on="cites")
    )
    assert [o.uuid for o in obj.references["cites"].objects] == [t1]


def test_impossible_property_definitions_are_refused(
    weaviate_client: weaviate.WeaviateClient, names: tuple[str, str]
) -> None:
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        weaviate_client.collections.create(
            names[1], references=[ReferenceProperty(name="cites", target_collection=names[0])]
        )
    assert "reference property to nonexistent class" in caught.value.message
    with pytest.raises(UnexpectedStatusCodeError) as caught:
        weaviate_client.collections.create(
            names[1], properties=[Property(name="meta", data_type=DataType.OBJECT)]
        )
    assert "At least one nested property is required" in caught.value.message


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("2024-05-01", "requires a string with a RFC3339 formatted date"),
        ("2024-05-01T10:00:00", "requires a string with a RFC3339 formatted date"),
        ("2024-05-01 10:00:00Z", "requires a string with a RFC3339 formatted date"),
    ],
)
def test_dates_need_rfc3339_with_an_offset(
    weaviate_client: weaviate.WeaviateClient, names: tuple[str, str], value: str, detail: str
) -> None:
    docs = weaviate_client.collections.create(
        names[0], properties=[Property(name="when", data_type=DataType.DATE)]
    )
    result = docs.data.insert_many(
        [{"when": value}, {"when": "2024-05-01T10:00:00.5+02:00"}]  # second one is fine
    )
    assert sorted(result.errors) == [0]
    assert detail in result.errors[0].message
    assert len(docs.query.fetch_objects().objects) == 1


def test_blobs_must_be_base64_and_nested_values_typed(
    weaviate_client: weaviate.WeaviateClient, names: tuple[str, str]
) -> None:
    docs = weaviate_client.collections.create(
        names[0],
        properties=[
            Property(name="data", data_type=DataType.BLOB),
            Property(
                name="meta",
                data_type=DataType.OBJECT,
                nested_properties=[
                    Property(name="size", data_type=DataType.INT),
                    Property(name="seen", data_type=DataType.DATE),
                ],
            ),
        ],
    )
    result = docs.data.insert_many(
        [
            DataObject(properties={"data": "not base64!"}),
            DataObject(properties={"meta": {"size": "big"}}),
            DataObject(properties={"data": "aGVsbG8=", "meta": {"size": 3}}),
        ]
    )
    assert sorted(result.errors) == [0, 1]
    assert "not a valid blob base64 string" in result.errors[0].message
    assert (
        "invalid object property 'meta' on class '" in result.errors[1].message
        and "property 'meta.size': invalid integer property 'meta.size'" in result.errors[1].message
    )


def test_nested_objects_come_back_typed_and_cut_to_the_request(
    weaviate_client: weaviate.WeaviateClient, names: tuple[str, str]
) -> None:
    docs = weaviate_client.collections.create(
        names[0],
        properties=[
            Property(
                name="meta",
                data_type=DataType.OBJECT,
                nested_properties=[
                    Property(name="size", data_type=DataType.INT),
                    Property(name="seen", data_type=DataType.DATE),
                    Property(
                        name="owner",
                        data_type=DataType.OBJECT,
                        nested_properties=[Property(name="login", data_type=DataType.TEXT)],
                    ),
                ],
            )
        ],
    )
    seen = datetime(2024, 5, 1, 10, tzinfo=UTC)
    docs.data.insert({"meta": {"size": 3, "seen": seen, "owner": {"login": "ann"}}})
    (obj,) = docs.query.fetch_objects().objects
    assert obj.properties["meta"] == {"size": 3, "seen": seen, "owner": {"login": "ann"}}
    (obj,) = docs.query.fetch_objects(
        return_properties=[QueryNested(name="meta", properties=["seen"])]
    ).objects
    assert obj.properties == {"meta": {"seen": seen}}
