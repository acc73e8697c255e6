"""Collection schemas: the defaults Weaviate fills in, type inference and value checks.

The client parses `GET /v1/schema` strictly (it indexes keys such as
`invertedIndexConfig.bm25.b` without `.get`), so every class we hand out carries the
same defaults a real Weaviate 1.32 reports. Values arriving over gRPC lose their
integer-ness (a protobuf `Struct` only has doubles), so the schema's `dataType`, not
the wire, decides whether a value is an `int` or a `number`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import uuid as uuid_lib
from datetime import datetime
from typing import Any

CLASS_NAME_RE = re.compile(r"^[A-Z][_0-9A-Za-z]*$")
PROPERTY_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

PRIMITIVE_TYPES = frozenset(
    {
        "text",
        "int",
        "number",
        "boolean",
        "date",
        "uuid",
        "blob",
        "geoCoordinates",
        "phoneNumber",
        "object",
        "text[]",
        "int[]",
        "number[]",
        "boolean[]",
        "date[]",
        "uuid[]",
        "object[]",
    }
)

HNSW_DEFAULTS: dict[str, Any] = {
    "skip": False,
    "cleanupIntervalSeconds": 300,
    "maxConnections": 32,
    "efConstruction": 128,
    "ef": -1,
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "vectorCacheMaxObjects": 1000000000000,
    "flatSearchCutoff": 40000,
    "distance": "cosine",
    "filterStrategy": "sweeping",
    "pq": {
        "enabled": False,
        "bitCompression": False,
        "segments": 0,
        "centroids": 256,
        "trainingLimit": 100000,
        "encoder": {"type": "kmeans", "distribution": "log-normal"},
    },
    "bq": {"enabled": False},
    "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
    "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
    "multivector": {
        "enabled": False,
        "aggregation": "maxSim",
        "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10},
    },
}

FLAT_DEFAULTS: dict[str, Any] = {
    "distance": "cosine",
    "vectorCacheMaxObjects": 1000000000000,
    "pq": {"enabled": False, "rescoreLimit": -1, "cache": False},
    "bq": {"enabled": False, "rescoreLimit": -1, "cache": False},
    "sq": {"enabled": False, "rescoreLimit": -1, "cache": False},
    "rq": {"enabled": False, "rescoreLimit": -1, "cache": False, "bits": 8},
    "multivector": copy.deepcopy(HNSW_DEFAULTS["multivector"]),
}

CLASS_DEFAULTS: dict[str, Any] = {
    "invertedIndexConfig": {
        "bm25": {"b": 0.75, "k1": 1.2},
        "cleanupIntervalSeconds": 60,
        "stopwords": {"preset": "en", "additions": None, "removals": None},
        "usingBlockMaxWAND": True,
    },
    "multiTenancyConfig": {
        "enabled": False,
        "autoTenantCreation": False,
        "autoTenantActivation": False,
    },
    "replicationConfig": {
        "factor": 1,
        "asyncEnabled": False,
        "deletionStrategy": "NoAutomatedResolution",
    },
    "shardingConfig": {
        "virtualPerPhysical": 128,
        "desiredCount": 1,
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    },
}


class SchemaError(ValueError):
    """A schema or value that Weaviate itself would reject (422 / batch error)."""


def deep_merge(defaults: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overlaid with what the client sent; the client's values win."""
    out = copy.deepcopy(defaults)
    for key, value in (given or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _index_defaults(index_type: str) -> dict[str, Any]:
    if index_type == "flat":
        return FLAT_DEFAULTS
    if index_type == "dynamic":
        return {
            "distance": "cosine",
            "threshold": 10000,
            "hnsw": HNSW_DEFAULTS,
            "flat": FLAT_DEFAULTS,
        }
    return HNSW_DEFAULTS


def complete_property(prop: dict[str, Any], *, top_level: bool = True) -> dict[str, Any]:
    """Fill the index flags and tokenization Weaviate adds to every property.

    A top-level property name loses its capital first letter, as Weaviate's
    `schema.LowercaseFirstLetter` does (`Name` is stored, filtered and read as `name`).
    """
    name = prop.get("name")
    if not isinstance(name, str) or not PROPERTY_NAME_RE.match(name):
        raise SchemaError(f"'{name}' is not a valid property name")
    data_type = prop.get("dataType")
    if not isinstance(data_type, list) or not data_type:
        raise SchemaError(f"property '{name}': dataType must be a non-empty list")
    out = dict(prop)
    if top_level:
        out["name"] = name[:1].lower() + name[1:]
    primitive = data_type[0] in PRIMITIVE_TYPES
    out.setdefault("indexFilterable", True)
    searchable = primitive and data_type[0] in ("text", "text[]")
    out.setdefault("indexSearchable", searchable)
    out.setdefault("indexRangeFilters", False)
    if searchable:
        out.setdefault("tokenization", "word")
    if data_type[0] in ("object", "object[]"):
        out["nestedProperties"] = [complete_nested(p) for p in (out.get("nestedProperties") or [])]
    return out


def complete_nested(prop: dict[str, Any]) -> dict[str, Any]:
    out = complete_property(prop, top_level=False)
    out.pop("indexRangeFilters", None)
    return out


def complete_class(body: dict[str, Any]) -> dict[str, Any]:
    """A class definition as Weaviate stores and returns it, defaults included."""
    name = body.get("class")
    if not isinstance(name, str) or not name:
        raise SchemaError("class name is missing")
    name = name[0].upper() + name[1:]
    if not CLASS_NAME_RE.match(name):
        raise SchemaError(
            f"'{name}' is not a valid class name: use letters, digits and underscores, "
            "starting with a capital letter"
        )
    out = deep_merge(CLASS_DEFAULTS, body)
    out["class"] = name
    out["properties"] = [complete_property(p) for p in (body.get("properties") or [])]
    names = [p["name"].lower() for p in out["properties"]]
    if len(names) != len(set(names)):
        raise SchemaError(f"class '{name}' has duplicate property names")
    out.setdefault("moduleConfig", {})
    if body.get("vectorConfig"):
        vector_config = {}
        for vname, vcfg in body["vectorConfig"].items():
            index_type = vcfg.get("vectorIndexType", "hnsw")
            vector_config[vname] = {
                **vcfg,
                "vectorizer": vcfg.get("vectorizer") or {"none": {}},
                "vectorIndexType": index_type,
                "vectorIndexConfig": deep_merge(
                    _index_defaults(index_type), vcfg.get("vectorIndexConfig")
                ),
            }
        out["vectorConfig"] = vector_config
        for key in ("vectorizer", "vectorIndexType", "vectorIndexConfig"):
            if key in out and not body.get(key):
                out.pop(key)
    else:
        out["vectorizer"] = body.get("vectorizer") or "none"
        index_type = body.get("vectorIndexType") or "hnsw"
        out["vectorIndexType"] = index_type
        out["vectorIndexConfig"] = deep_merge(
            _index_defaults(index_type), body.get("vectorIndexConfig")
        )
        vectorizer = out["vectorizer"]
        if vectorizer != "none":
            out["moduleConfig"].setdefault(vectorizer, {"vectorizeClassName": True})
    return out


def property_types(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Property definitions by name, for quick lookups while validating objects."""
    return {p["name"]: p for p in schema.get("properties") or []}


# ---------------------------------------------------------------- inference


def _is_date(text: str) -> bool:
    if len(text) < 20 or text[4] != "-" or "T" not in text:
        return False
    try:
        parse_date(text)
    except ValueError:
        return False
    return True


def _is_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        uuid_lib.UUID(text)
    except ValueError:
        return False
    return True


# Weaviate stores dates given as RFC 3339 date-times with an offset (`Z` or +hh:mm);
# a date alone or a local time without an offset is refused.
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_date(text: str) -> datetime:
    """RFC 3339 with optional fraction and `Z`; naive values count as UTC like Weaviate."""
    value = text.strip()
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def infer_data_type(value: Any, *, int_array: bool = False) -> str | None:
    """The dataType Weaviate's auto-schema picks for a first-seen value (None: no opinion).

    JSON and Struct numbers become `number` (Weaviate's AUTOSCHEMA_DEFAULT_NUMBER);
    only typed gRPC int arrays become `int[]`.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if _is_date(value):
            return "date"
        if _is_uuid(value):
            return "uuid"
        return "text"
    if isinstance(value, dict):
        if set(value) == {"latitude", "longitude"}:
            return "geoCoordinates"
        return "object"
    if isinstance(value, list):
        if not value:
            return None
        if int_array:
            return "int[]"
        inner = infer_data_type(value[0])
        if inner is None or inner.endswith("[]") or inner in ("geoCoordinates",):
            return None
        return inner + "[]"
    return None


def infer_property(name: str, value: Any, *, int_array: bool = False) -> dict[str, Any] | None:
    data_type = infer_data_type(value, int_array=int_array)
    if data_type is None:
        return None
    prop: dict[str, Any] = {"name": name, "dataType": [data_type]}
    if data_type in ("object", "object[]"):
        sample = value if isinstance(value, dict) else value[0]
        prop["nestedProperties"] = [
            nested
            for key, item in sample.items()
            if (nested := infer_property(key, item)) is not None
        ]
    return complete_property(prop)


# ---------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    return {
        bool: "bool",
        int: "int64",
        float: "float64",
        str: "string",
        dict: "map[string]interface {}",
        list: "[]interface {}",
    }.get(type(value), type(value).__name__)


def coerce_value(class_name: str, prop: dict[str, Any], value: Any) -> Any:
    """Check a value against its property's dataType and return the stored form.

    Raises SchemaError with Weaviate's wording so per-object batch errors read the same.
    """
    name = prop["name"]
    data_type = prop["dataType"][0]
    if value is None:
        return None

    def fail(kind: str, detail: str) -> SchemaError:
        return SchemaError(f"invalid {kind} property '{name}' on class '{class_name}': {detail}")

    if data_type.endswith("[]") and data_type != "object[]":
        if not isinstance(value, list):
            raise fail(data_type[:-2] + " array", f"not an array, but {_type_name(value)}")
        inner = {**prop, "dataType": [data_type[:-2]]}
        return [coerce_value(class_name, inner, item) for item in value]
    if data_type == "text":
        if not isinstance(value, str):
            raise fail("text", f"not a string, but {_type_name(value)}")
        return value
    if data_type == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("integer", f"requires integer, the given value is {value!r}")
        if isinstance(value, float):
            if not value.is_integer():
                raise fail("integer", f"requires integer, the given value is {value!r}")
            return int(value)
        return value
    if data_type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("number", f"requires a float, the given value is {value!r}")
        return float(value)
    if data_type == "boolean":
        if not isinstance(value, bool):
            raise fail("boolean", f"not a boolean, but {_type_name(value)}")
        return value
    if data_type == "date":
        if not isinstance(value, str):
            raise fail(
                "date", f"requires a string with a RFC3339 formatted date, but {_type_name(value)}"
            )
        try:
            if not _RFC3339_RE.match(value.strip()):
                raise ValueError(f"{value!r} has no time or no UTC offset")
            parse_date(value)
        except ValueError as exc:
            raise fail("date", f"requires a string with a RFC3339 formatted date: {exc}") from None
        return value
    if data_type == "uuid":
        if not isinstance(value, str) or not _is_uuid(value):
            raise fail("uuid", f"requires a string of UUID format, the given value is {value!r}")
        return str(uuid_lib.UUID(value))
    if data_type in ("object", "geoCoordinates", "phoneNumber"):
        if not isinstance(value, dict):
            raise fail(data_type, f"not an object, but {_type_name(value)}")
        return value
    if data_type == "object[]":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise fail("object array", f"not an array of objects, but {_type_name(value)}")
        return value
    if data_type == "blob":
        if not isinstance(value, str):
            raise fail("blob", f"not a base64 string, but {_type_name(value)}")
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise fail("blob", "value is not a valid base64 string") from None
        return value
    # A cross-reference: stored as given (beacon list), never validated here.
    return value
