"""Collection specs and schema comparison on plain data (no server needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from elysia_pipelines.documents import DOCUMENT_PROPERTIES, PropertySpec
from elysia_pipelines.errors import ConfigError, ElysiaError
from elysia_pipelines.weaviate import (
    SUPPORTED_VECTORIZERS,
    CollectionSpec,
    SchemaMismatchError,
    compare_schema,
    spec_from_description,
)
from elysia_pipelines_tests.weaviate_layer.specs import EVERY_KIND


def _described(spec: CollectionSpec, **changes: Any) -> dict[str, Any]:
    """A description dict as describe_collection would produce for `spec`."""
    desc: dict[str, Any] = {
        "format": 1,
        "name": spec.name,
        "description": None,
        "properties": [
            {
                "name": p.name,
                "data_type": p.data_type,
                "filterable": p.filterable,
                "searchable": p.searchable,
                "range_filters": p.range_filters,
                "tokenization": spec.tokenization_of(p),
                "description": p.description or None,
            }
            for p in spec.properties
        ],
        "vectorizer": spec.vectorizer,
        "model": spec.model,
        "module_config": spec.effective_module_config(),
        "vector_name": None,
        "vectors": [],
        "vector_index_type": "hnsw",
        "distance": "cosine",
        "vector_dimension": None,
        "replication_factor": spec.replication_factor,
        "multi_tenancy": False,
        "references": [],
    }
    desc.update(changes)
    return desc


def test_unknown_vectorizer_is_rejected_with_the_supported_list() -> None:
    with pytest.raises(ConfigError) as caught:
        CollectionSpec("Docs", vectorizer="text2vec-magic")
    assert "text2vec-magic" in caught.value.message
    assert caught.value.hint is not None
    for name in ("none", "text2vec-transformers", "text2vec-openai", "text2vec-ollama"):
        assert name in caught.value.hint
    assert set(SUPPORTED_VECTORIZERS) >= {"text2vec-cohere", "text2vec-huggingface"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "lower_case"}, "not a valid Weaviate class name"),
        ({"name": "Docs", "replication_factor": 0}, "at least 1"),
        ({"name": "Docs", "model": "x"}, "vectorizer is 'none'"),
        (
            {"name": "Docs", "vectorizer": "text2vec-transformers", "model": "x"},
            "inference container",
        ),
        (
            {"name": "Docs", "properties": (PropertySpec("a", "text"), PropertySpec("a", "int"))},
            "defined twice",
        ),
        ({"name": "Docs", "properties": (PropertySpec("a", "varchar"),)}, "unknown data type"),
        ({"name": "Docs", "tokenization": {"content": "letters"}}, "unknown tokenization"),
    ],
)
def test_invalid_specs_are_rejected(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        CollectionSpec(**kwargs)


def test_model_goes_into_the_modules_model_setting() -> None:
    spec = CollectionSpec("Docs", vectorizer="text2vec-openai", model="text-embedding-3-small")
    assert spec.effective_module_config() == {"model": "text-embedding-3-small"}
    google = CollectionSpec("Docs", vectorizer="text2vec-google", model="text-embedding-005")
    assert google.effective_module_config() == {"modelId": "text-embedding-005"}


def test_matching_description_has_no_differences() -> None:
    spec = CollectionSpec("Docs")
    assert compare_schema(_described(spec), spec) == []


def test_differences_name_what_differs() -> None:
    spec = CollectionSpec("Docs", vectorizer="text2vec-openai", model="m1", replication_factor=3)
    desc = _described(spec, vectorizer="none", model=None, replication_factor=1)
    props = [p for p in desc["properties"] if p["name"] != "language"]
    for p in props:
        if p["name"] == "size_bytes":
            p["data_type"] = "text"
        if p["name"] == "path":
            p["searchable"] = False
    props.append(
        {
            "name": "owner",
            "data_type": "text",
            "filterable": True,
            "searchable": False,
            "range_filters": False,
            "tokenization": "word",
        }
    )
    desc["properties"] = props
    differences = compare_schema(desc, spec)
    assert "property 'language' (text) is missing from the collection" in differences
    assert "property 'size_bytes' is text in Weaviate but int in the spec" in differences
    assert "property 'path' is not searchable (BM25) in Weaviate; the spec says yes" in differences
    assert "the collection has property 'owner' (text) that the spec does not define" in differences
    assert "vectorizer is none in Weaviate but text2vec-openai in the spec" in differences
    assert "replication factor is 1 in Weaviate but 3 in the spec" in differences
    assert len(differences) == 6


def test_model_difference_is_reported() -> None:
    spec = CollectionSpec("Docs", vectorizer="text2vec-ollama", model="nomic-embed-text")
    desc = _described(spec, model="mxbai-embed-large")
    assert compare_schema(desc, spec) == [
        "vectorizer model is 'mxbai-embed-large' in Weaviate but 'nomic-embed-text' in the spec"
    ]


def test_mismatch_error_lists_differences_and_what_to_do() -> None:
    error = SchemaMismatchError("Docs", ["replication factor is 1 in Weaviate but 3 in the spec"])
    text = str(error)
    assert "Collection 'Docs' exists with a different schema" in text
    assert "  - replication factor is 1 in Weaviate but 3 in the spec" in text
    assert error.hint is not None
    assert "elysiactl col backup Docs" in error.hint
    assert "another collection name" in error.hint


def test_spec_round_trips_through_a_json_description() -> None:
    props = EVERY_KIND
    spec = CollectionSpec(
        "Notes",
        vectorizer="text2vec-cohere",
        model="embed-multilingual-v3.0",
        replication_factor=2,
        properties=props,
        tokenization={"title": "lowercase"},
    )
    desc = json.loads(json.dumps(_described(spec)))
    again = spec_from_description(desc)
    assert (again.name, again.vectorizer, again.model, again.replication_factor) == (
        "Notes",
        "text2vec-cohere",
        "embed-multilingual-v3.0",
        2,
    )
    assert again.properties == props
    assert [again.tokenization_of(p) for p in props] == ["lowercase", "word", None, None, None, None]
    assert (again.vector_index_type, again.distance) == ("hnsw", "cosine")
    assert compare_schema(desc, again) == []


def test_description_overrides_for_another_cluster() -> None:
    spec = CollectionSpec("Docs", vectorizer="text2vec-openai", model="m1", replication_factor=3)
    moved = spec_from_description(
        _described(spec), name="Docs_copy", vectorizer="none", replication_factor=1
    )
    assert (moved.name, moved.vectorizer, moved.model, moved.replication_factor) == (
        "Docs_copy",
        "none",
        None,
        1,
    )
    assert tuple(p.name for p in moved.properties) == tuple(p.name for p in DOCUMENT_PROPERTIES)


def test_description_of_another_format_is_refused() -> None:
    with pytest.raises(ElysiaError, match="format 2"):
        spec_from_description({"format": 2, "name": "X", "properties": []})


def test_a_module_reported_by_a_server_is_trusted_on_restore() -> None:
    spec = CollectionSpec("Docs")
    desc = _described(
        spec, vectorizer="multi2vec-clip", model=None, module_config={"imageFields": ["img"]}
    )
    restored = spec_from_description(desc)
    assert restored.vectorizer == "multi2vec-clip"
    assert restored.effective_module_config() == {"imageFields": ["img"]}
    with pytest.raises(ConfigError, match="unknown vectorizer"):
        spec_from_description(desc, vectorizer="multi2vec-typo")  # user input stays strict


def test_nested_object_properties_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="nested object"):
        CollectionSpec("Docs", properties=(PropertySpec("meta", "object"),))
