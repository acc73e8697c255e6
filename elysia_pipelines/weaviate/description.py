"""The portable collection description, read from Weaviate's REST schema JSON.

`schema.describe_collection` builds the description a backup stores from
weaviate-client's parsed `CollectionConfig`; this module builds the same dictionary
from the raw `GET /v1/schema/{class}` answer, so a backup or restore can run without
importing weaviate-client (about a second of start-up and 80 MB). The two must agree
key for key: elysia_pipelines_tests/weaviate/test_rest_session.py compares them on
collections with every vector layout the project uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

DESCRIPTION_FORMAT = 1
# Module name -> the module-config key that selects its model (None: the model is
# fixed by the module's inference container and cannot be chosen per collection).
VECTORIZER_MODEL_KEYS: Mapping[str, str | None] = {
    "text2vec-transformers": None,
    "text2vec-openai": "model",
    "text2vec-ollama": "model",
    "text2vec-cohere": "model",
    "text2vec-huggingface": "model",
    "text2vec-jinaai": "model",
    "text2vec-voyageai": "model",
    "text2vec-mistral": "model",
    "text2vec-weaviate": "model",
    "text2vec-nvidia": "model",
    "text2vec-aws": "model",
    "text2vec-google": "modelId",
    "text2vec-model2vec": None,
    "text2vec-contextionary": None,
    "text2vec-gpt4all": None,
}
TEXT_TYPES = frozenset({"text", "text[]"})
# Index types weaviate-client parses a config for; others come back without one.
_INDEX_TYPES = frozenset({"hnsw", "flat", "dynamic", "hfresh"})


def model_from(module: str, module_config: Mapping[str, Any]) -> str | None:
    key = VECTORIZER_MODEL_KEYS.get(module) or "model"
    model = module_config.get(key)
    return str(model) if model is not None else None


def json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def is_primitive(data_type: list[str]) -> bool:
    """Primitive types are lower case; a cross-reference names classes (capitalised)."""
    return bool(data_type) and data_type[0][:1].lower() == data_type[0][:1]


def _index(holder: Mapping[str, Any]) -> tuple[str | None, str | None, bool]:
    """(index type, distance, parsed?) the way the client reads a vector index config."""
    index_type = holder.get("vectorIndexType")
    config = holder.get("vectorIndexConfig")
    if config is None or index_type not in _INDEX_TYPES:
        return index_type, None, False
    return index_type, config.get("distance"), True


def _named_vectors(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    vectors = []
    for name, named in (raw.get("vectorConfig") or {}).items():
        module, config = next(iter((named.get("vectorizer") or {"none": {}}).items()))
        config = dict(config or {})
        props = config.pop("properties", None)
        index_type, distance, _ = _index(named)
        vectors.append(
            {
                "name": name,
                "vectorizer": str(module),
                "model": model_from(str(module), config),
                "module_config": json_safe(config),
                "source_properties": list(props) if props else None,
                "index_type": index_type,
                "distance": distance,
                "dimension": None,
            }
        )
    return vectors


def _property(prop: Mapping[str, Any]) -> dict[str, Any]:
    data_type = str(prop["dataType"][0])
    text = data_type in TEXT_TYPES
    return {
        "name": prop["name"],
        "data_type": data_type,
        "filterable": bool(prop.get("indexFilterable")),
        "searchable": bool(prop.get("indexSearchable")) if text else False,
        "range_filters": bool(prop.get("indexRangeFilters", False)),
        "tokenization": prop.get("tokenization") if text else None,
        "description": prop.get("description"),
    }


def description_from_schema(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The description (see `schema.describe_collection`) of one REST class definition.

    Vector dimensions are not in the schema; the caller fills them in from an object.
    """
    vectors = _named_vectors(raw)
    index_type, distance, parsed = _index(raw)
    if not vectors or parsed:
        # The classic unnamed vector: present unless the class has only named vectors.
        module = "none"
        module_config: dict[str, Any] = {}
        if "vectorConfig" not in raw:
            module = str(raw.get("vectorizer") or "none")
            if module != "none":
                module_config = dict((raw.get("moduleConfig") or {}).get(module) or {})
                module_config.pop("vectorizeClassName", None)
                module_config = json_safe(module_config)
        vectors.insert(
            0,
            {
                "name": None,
                "vectorizer": module,
                "model": model_from(module, module_config) if module != "none" else None,
                "module_config": module_config,
                "source_properties": None,
                "index_type": index_type,
                "distance": distance,
                "dimension": None,
            },
        )
    properties = raw.get("properties") or []
    tenancy = raw.get("multiTenancyConfig") or {}
    return assemble_description(
        name=raw["class"],
        description=raw.get("description"),
        properties=[_property(p) for p in properties if is_primitive(p["dataType"])],
        vectors=vectors,
        replication_factor=int((raw.get("replicationConfig") or {}).get("factor", 1)),
        multi_tenancy=bool(tenancy.get("enabled", False)),
        auto_tenant_creation=bool(tenancy.get("autoTenantCreation", False)),
        auto_tenant_activation=bool(tenancy.get("autoTenantActivation", False)),
        references=[
            {"name": p["name"], "target_collections": list(p["dataType"])}
            for p in properties
            if not is_primitive(p["dataType"])
        ],
    )


def assemble_description(
    *,
    name: str,
    description: str | None,
    properties: list[dict[str, Any]],
    vectors: list[dict[str, Any]],
    replication_factor: int,
    multi_tenancy: bool,
    auto_tenant_creation: bool,
    auto_tenant_activation: bool,
    references: list[dict[str, Any]],
) -> dict[str, Any]:
    """The description's one layout, whichever way the parts were read.

    The first vector's settings are repeated at the top level: descriptions written
    before named vectors existed have only those, and readers still look there.
    """
    main = vectors[0] if vectors else {}
    return {
        "format": DESCRIPTION_FORMAT,
        "name": name,
        "description": description,
        "properties": properties,
        "vectorizer": main.get("vectorizer", "none"),
        "model": main.get("model"),
        "module_config": main.get("module_config", {}),
        "vector_name": main.get("name"),
        "vectors": vectors,
        "vector_index_type": main.get("index_type"),
        "distance": main.get("distance"),
        "vector_dimension": None,
        "replication_factor": replication_factor,
        "multi_tenancy": multi_tenancy,
        "auto_tenant_creation": auto_tenant_creation,
        "auto_tenant_activation": auto_tenant_activation,
        "references": references,
    }


def with_dimensions(description: dict[str, Any], dims: Mapping[str, int]) -> dict[str, Any]:
    """Fill in the vector dimensions read from a stored object (`default` = unnamed)."""
    for vector in description["vectors"]:
        vector["dimension"] = dims.get(vector["name"] or "default")
    if description["vectors"]:
        description["vector_dimension"] = description["vectors"][0]["dimension"]
    return description
