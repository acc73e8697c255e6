"""What a collection should look like, and how an existing one differs (no weaviate-client).

`CollectionSpec`, its validation and `compare_schema` are plain data and rules; they
live apart from `schema` (which creates and reads collections with weaviate-client) so
that a sync checking an existing collection over REST (`weaviate.session`) does not
import the client. `schema` re-exports every name here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from elysia_pipelines.documents import DOCUMENT_PROPERTIES, PropertySpec
from elysia_pipelines.errors import ConfigError, ElysiaError
from elysia_pipelines.weaviate.description import TEXT_TYPES, VECTORIZER_MODEL_KEYS

_TEXT_TYPES = TEXT_TYPES
DEFAULT_TOKENIZATION = "word"
SUPPORTED_VECTORIZERS: tuple[str, ...] = ("none", *VECTORIZER_MODEL_KEYS)
# Nested objects need their sub-schema, which PropertySpec cannot express.
_NESTED_TYPES = frozenset({"object", "object[]"})
# weaviate-client's DataType and Tokenization values, spelled out so that checking a spec
# does not import the client (test_weaviate_spec compares them with the client's enums).
_DATA_TYPES = (
    frozenset(
        {
            "blob",
            "blobHash",
            "boolean",
            "boolean[]",
            "date",
            "date[]",
            "geoCoordinates",
            "int",
            "int[]",
            "number",
            "number[]",
            "phoneNumber",
            "text",
            "text[]",
            "uuid",
            "uuid[]",
        }
    )
    - _NESTED_TYPES
)
_MODULE_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")
_TOKENIZATIONS = frozenset(
    {
        "field",
        "gse",
        "gse_ch",
        "kagome_ja",
        "kagome_kr",
        "lowercase",
        "trigram",
        "whitespace",
        "word",
    }
)
_CLASS_NAME_RE = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
_PROPERTY_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")


class SchemaMismatchError(ElysiaError):
    """An existing collection's schema is not the one asked for."""

    def __init__(self, name: str, differences: Sequence[str]) -> None:
        listing = "\n".join(f"  - {d}" for d in differences)
        super().__init__(
            f"Collection {name!r} exists with a different schema:\n{listing}",
            f"back it up (`elysiactl col backup {name}`), delete and recreate it with the "
            "new settings, then restore or re-sync; or use another collection name",
        )
        self.collection = name
        self.differences = list(differences)


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection should look like; `properties` may be any list, not just documents."""

    name: str
    vectorizer: str = "none"
    model: str | None = None
    replication_factor: int = 1
    properties: Sequence[PropertySpec] = DOCUMENT_PROPERTIES
    # Per-property tokenization for text properties; unspecified ones use "word".
    tokenization: Mapping[str, str] = field(default_factory=dict)
    # Extra module settings (restore passes the source's full module config here).
    module_config: Mapping[str, Any] = field(default_factory=dict)
    # None = classic unnamed vector; a name creates a single named vector instead.
    vector_name: str | None = None
    vector_index_type: str | None = None  # "hnsw" | "flat"; None: server default
    distance: str | None = None  # "cosine", "dot", "l2-squared", ...; None: default
    description: str | None = None
    # False accepts any module name a server reported (restore of a collection made
    # elsewhere); user input keeps the default and gets the supported list.
    strict_vectorizer: bool = True
    # multiTenancyConfig: objects then live in tenants (restore of such a collection).
    multi_tenancy: bool = False
    auto_tenant_creation: bool = False
    auto_tenant_activation: bool = False

    def __post_init__(self) -> None:
        if not _CLASS_NAME_RE.match(self.name):
            raise ConfigError(
                f"collection name {self.name!r} is not a valid Weaviate class name",
                "use letters, digits and underscores starting with a capital letter "
                "(documents.collection_name_for turns a repository name into one)",
            )
        known = self.vectorizer in SUPPORTED_VECTORIZERS
        if not known and (self.strict_vectorizer or not _MODULE_NAME_RE.match(self.vectorizer)):
            raise ConfigError(
                f"unknown vectorizer {self.vectorizer!r}",
                f"use one of: {', '.join(SUPPORTED_VECTORIZERS)}",
            )
        if self.model is not None:
            key = VECTORIZER_MODEL_KEYS.get(self.vectorizer)
            if self.vectorizer == "none":
                raise ConfigError(
                    f"a model ({self.model!r}) was given but the vectorizer is 'none'",
                    "choose a vectorizer module (e.g. text2vec-openai) or drop the model",
                )
            if key is None:
                raise ConfigError(
                    f"{self.vectorizer} takes its model from its inference container; "
                    f"a per-collection model ({self.model!r}) cannot be set",
                    "leave the model unset, or pick a module with selectable models "
                    "(text2vec-openai, text2vec-ollama, text2vec-cohere, text2vec-huggingface)",
                )
        if self.replication_factor < 1:
            raise ConfigError(
                f"replication factor {self.replication_factor} must be at least 1",
                "use 1 for a single node, or the number of copies your cluster can hold",
            )
        seen: set[str] = set()
        for prop in self.properties:
            if not _PROPERTY_NAME_RE.match(prop.name) or prop.name in ("id", "vector"):
                raise ConfigError(f"property name {prop.name!r} is not allowed in Weaviate")
            if prop.name in seen:
                raise ConfigError(f"property {prop.name!r} is defined twice")
            seen.add(prop.name)
            if prop.data_type in _NESTED_TYPES:
                raise ConfigError(
                    f"property {prop.name!r} is a nested {prop.data_type}, which this layer "
                    "cannot create",
                    "flatten it into scalar properties, or create the collection yourself "
                    "and restore into it",
                )
            if prop.data_type not in _DATA_TYPES:
                raise ConfigError(
                    f"property {prop.name!r} has unknown data type {prop.data_type!r}",
                    f"use one of: {', '.join(sorted(_DATA_TYPES))}",
                )
        for name, tok in self.tokenization.items():
            if tok not in _TOKENIZATIONS:
                raise ConfigError(
                    f"property {name!r} has unknown tokenization {tok!r}",
                    f"use one of: {', '.join(sorted(_TOKENIZATIONS))}",
                )

    def tokenization_of(self, prop: PropertySpec) -> str | None:
        if prop.data_type not in _TEXT_TYPES:
            return None
        return self.tokenization.get(prop.name, DEFAULT_TOKENIZATION)

    def effective_module_config(self) -> dict[str, Any]:
        config = dict(self.module_config)
        key = VECTORIZER_MODEL_KEYS.get(self.vectorizer)
        if self.model is not None and key is not None:
            config[key] = self.model
        return config


@dataclass(frozen=True)
class ProvisionResult:
    created: bool
    differences: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- comparing


def _spec_description(spec: CollectionSpec) -> dict[str, Any]:
    return {
        "properties": [
            {
                "name": p.name,
                "data_type": p.data_type,
                "filterable": p.filterable,
                "searchable": p.searchable if p.data_type in _TEXT_TYPES else False,
                "range_filters": p.range_filters,
                "tokenization": spec.tokenization_of(p),
            }
            for p in spec.properties
        ],
        "vectorizer": spec.vectorizer,
        "model": spec.model,
        "replication_factor": spec.replication_factor,
        "vector_name": spec.vector_name,
    }


def compare_schema(existing: Any, spec: CollectionSpec) -> list[str]:
    """Human-readable differences between an existing collection and a spec ([] = same).

    `existing` is a parsed config or a description dict. Index flags and tokenization
    count: they change what filters and BM25 return, so a silent mismatch would
    make search results quietly wrong.
    """
    if isinstance(existing, Mapping):
        have = dict(existing)
    else:  # a weaviate-client CollectionConfig
        from elysia_pipelines.weaviate.schema import description_from_config

        have = description_from_config(existing)
    want = _spec_description(spec)
    out: list[str] = []
    have_props = {p["name"]: p for p in have.get("properties", [])}
    want_props = {p["name"]: p for p in want["properties"]}
    for name, wp in want_props.items():
        hp = have_props.get(name)
        if hp is None:
            out.append(f"property {name!r} ({wp['data_type']}) is missing from the collection")
            continue
        if hp["data_type"] != wp["data_type"]:
            out.append(
                f"property {name!r} is {hp['data_type']} in Weaviate but {wp['data_type']} "
                "in the spec"
            )
            continue
        for key, label in (
            ("filterable", "filterable"),
            ("searchable", "searchable (BM25)"),
            ("range_filters", "range-filterable"),
        ):
            if bool(hp.get(key)) != bool(wp[key]):
                state = "is" if hp.get(key) else "is not"
                out.append(
                    f"property {name!r} {state} {label} in Weaviate; the spec says "
                    f"{'yes' if wp[key] else 'no'}"
                )
        if (
            wp["tokenization"]
            and hp.get("tokenization")
            and hp["tokenization"] != wp["tokenization"]
        ):
            out.append(
                f"property {name!r} uses tokenization {hp['tokenization']!r} in Weaviate "
                f"but {wp['tokenization']!r} in the spec"
            )
    for name, hp in have_props.items():
        if name not in want_props:
            out.append(
                f"the collection has property {name!r} ({hp['data_type']}) that the spec "
                "does not define"
            )
    if have.get("vectorizer", "none") != want["vectorizer"]:
        out.append(
            f"vectorizer is {have.get('vectorizer', 'none')} in Weaviate but "
            f"{want['vectorizer']} in the spec"
        )
    elif want["model"] is not None and have.get("model") != want["model"]:
        out.append(
            f"vectorizer model is {have.get('model')!r} in Weaviate but {want['model']!r} "
            "in the spec"
        )
    if have.get("vector_name") != want["vector_name"]:
        out.append(
            f"main vector is {_vector_label(have.get('vector_name'))} in Weaviate but "
            f"{_vector_label(want['vector_name'])} in the spec"
        )
    if int(have.get("replication_factor", 1)) != want["replication_factor"]:
        out.append(
            f"replication factor is {have.get('replication_factor')} in Weaviate but "
            f"{want['replication_factor']} in the spec"
        )
    return out


def _vector_label(name: str | None) -> str:
    return "the unnamed (classic) vector" if name is None else f"named vector {name!r}"
