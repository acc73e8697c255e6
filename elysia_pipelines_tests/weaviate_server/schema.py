"""Collection schemas: the defaults Weaviate fills in, type inference and value checks.

The client parses `GET /v1/schema` strictly (it indexes keys such as
`invertedIndexConfig.bm25.b` without `.get`), so every class we hand out carries the
same defaults a real Weaviate 1.32 reports. Values arriving over gRPC lose their
integer-ness (a protobuf `Struct` only has doubles), so the schema's `dataType`, not
the wire, decides whether a value is an `int` or a `number`.
"""

from __future__ import annotations

import copy
import re
import uuid as uuid_lib
from collections.abc import Callable
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


def check_property(
    prop: dict[str, Any], class_name: str, class_exists: Callable[[str], bool]
) -> None:
    """Weaviate's validateProperty data-type checks (usecases/schema/class.go).

    A reference must name existing classes (its own class counts), an object
    property needs at least one nested property, and only objects may have them.
    """
    name = prop["name"]
    data_type = prop["dataType"]
    if data_type[0] in PRIMITIVE_TYPES or data_type[0] in ("string", "string[]"):
        nested = data_type[0] in ("object", "object[]")
        if nested:
            _check_nested(prop.get("nestedProperties") or [], name)
        elif prop.get("nestedProperties"):
            raise SchemaError(
                f"property '{name}': nestedProperties not allowed for data types other than "
                "object/object[]"
            )
        return
    if not data_type[0]:
        raise SchemaError(
            f"property '{name}': invalid dataType: {_go_list(data_type)}: dataType cannot be "
            "an empty string"
        )
    if len(data_type) == 1 and data_type[0][:1].islower():
        raise SchemaError(
            f"property '{name}': invalid dataType: {_go_list(data_type)}: unknown primitive "
            f"data type '{data_type[0]}'"
        )
    for target in data_type:
        if not CLASS_NAME_RE.match(target):
            raise SchemaError(
                f"property '{name}': invalid dataType: {_go_list(data_type)}: '{target}' is "
                "not a valid class name"
            )
        if target != class_name and not class_exists(target):
            raise SchemaError(
                f"property '{name}': invalid dataType: {_go_list(data_type)}: reference "
                "property to nonexistent class"
            )


def _go_list(values: list[str]) -> str:
    return "[" + " ".join(values) + "]"


def _check_nested(nested: list[dict[str, Any]], prefix: str) -> None:
    if not nested:
        raise SchemaError(
            f"property '{prefix}': At least one nested property is required for data type "
            "object/object[]"
        )
    for prop in nested:
        path = f"{prefix}.{prop['name']}"
        data_type = prop["dataType"][0]
        if data_type in ("string", "string[]"):
            raise SchemaError(
                f"property '{path}': data type '{data_type}' is deprecated and not allowed as "
                "nested property"
            )
        if data_type in ("geoCoordinates", "phoneNumber"):
            raise SchemaError(
                f"property '{path}': data type '{data_type}' not allowed as nested property"
            )
        if data_type not in PRIMITIVE_TYPES:
            raise SchemaError(f"property '{path}': reference data type not allowed")
        if data_type in ("object", "object[]"):
            _check_nested(prop.get("nestedProperties") or [], path)


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


def _is_uuid_text(text: str) -> bool:
    """uuid.Parse: the 36-character form, also with `urn:uuid:` or braces, or 32 hex digits."""
    try:
        uuid_lib.UUID(text)
    except ValueError:
        return False
    return True


def _is_uuid(text: str) -> bool:
    return len(text) == 36 and _is_uuid_text(text)


def go_rfc3339(text: str) -> str:
    """A valid RFC 3339 date as Weaviate answers it: Go's time.RFC3339Nano of the parsed
    time, so trailing zeros of the fraction go and a zero offset is `Z`."""
    match = _RFC3339_RE.match(text)
    if match is None:
        return text
    head = text[: match.start(1)] if match.group(1) else text[: match.start(2)]
    fraction = (match.group(1) or "").rstrip("0")
    offset = match.group(2)
    if offset in ("+00:00", "-00:00"):
        offset = "Z"
    return head + (fraction if fraction != "." else "") + offset


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


def infer_property(
    name: str, value: Any, *, int_array: bool = False, top_level: bool = True
) -> dict[str, Any] | None:
    data_type = infer_data_type(value, int_array=int_array)
    if data_type is None:
        return None
    prop: dict[str, Any] = {"name": name, "dataType": [data_type]}
    if data_type in ("object", "object[]"):
        samples = value if isinstance(value, list) else [value]
        nested: dict[str, dict[str, Any]] = {}
        for sample in samples:
            for key, item in sample.items():
                if key not in nested:
                    inferred = infer_property(key, item, top_level=False)
                    if inferred is not None:
                        nested[key] = inferred
        prop["nestedProperties"] = list(nested.values())
    return complete_property(prop) if top_level else complete_nested(prop)


def extend_nested(prop: dict[str, Any], value: Any) -> dict[str, Any] | None:
    """Auto-schema for an existing object property: nested keys it lacks, inferred.

    Returns the extended definition, or None when every key is already known.
    """
    samples = value if isinstance(value, list) else [value]
    samples = [v for v in samples if isinstance(v, dict)]
    if not samples:
        return None
    out = copy.deepcopy(prop)
    changed = False
    nested = out.setdefault("nestedProperties", [])
    for sample in samples:
        by_name = {p["name"]: p for p in nested}
        for key, item in sample.items():
            known = by_name.get(key)
            if known is None:
                inferred = infer_property(key, item, top_level=False)
                if inferred is not None:
                    nested.append(inferred)
                    changed = True
            elif known["dataType"][0] in ("object", "object[]"):
                extended = extend_nested(known, item)
                if extended is not None:
                    nested[nested.index(known)] = extended
                    changed = True
    return out if changed else None


# ---------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    """Go's `%T` of the value as Weaviate decoded it (JSON numbers are json.Number)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "json.Number"
    return {
        str: "string",
        dict: "map[string]interface {}",
        list: "[]interface {}",
    }.get(type(value), type(value).__name__)


def _go_value(value: Any) -> str:
    """Go's `%v` of a decoded JSON value, for messages that quote the value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


# Go's time.Parse(time.RFC3339): a `T`, seconds, an optional fraction and an offset
# (`Z` or +hh:mm). A date alone, a space or a local time without offset is refused.
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Weaviate's blobVal: padded standard base64, at least one quantum.
_BASE64_RE = re.compile(
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
)
_KIND = {
    "text": "text",
    "int": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
    "uuid": "uuid",
    "blob": "blob",
    "geoCoordinates": "geoCoordinates",
    "phoneNumber": "phoneNumber",
    "text[]": "text array",
    "int[]": "integer array",
    "number[]": "number array",
    "boolean[]": "boolean array",
    "date[]": "date array",
    "uuid[]": "uuid array",
}


def _primitive(data_type: str, value: Any) -> Any:
    """One value of a primitive type; ValueError carries Weaviate's detail text."""
    if data_type == "text":
        if not isinstance(value, str):
            raise ValueError(f"not a string, but {_type_name(value)}")
        return value
    if data_type == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"requires an integer, the given value is '{_go_value(value)}'")
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"requires an integer, the given value is '{_go_value(value)}'")
            return int(value)
        return value
    if data_type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"requires a float, the given value is '{_go_value(value)}'")
        return float(value)
    if data_type == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"not a bool, but {_type_name(value)}")
        return value
    if data_type == "date":
        ok = isinstance(value, str) and _RFC3339_RE.match(value) is not None
        if ok:
            try:
                parse_date(value)
            except ValueError:
                ok = False
        if not ok:
            raise ValueError(
                "requires a string with a RFC3339 formatted date, but the given value is "
                f"'{_go_value(value)}'"
            )
        return go_rfc3339(value)
    if data_type == "uuid":
        if not isinstance(value, str) or not _is_uuid_text(value):
            raise ValueError(
                f"requires a string of UUID format, but the given value is '{_go_value(value)}'"
            )
        return str(uuid_lib.UUID(value))
    if data_type == "blob":
        if not isinstance(value, str):
            raise ValueError(f"not a blob base64 string, but {_type_name(value)}")
        if not _BASE64_RE.match(value):
            raise ValueError("not a valid blob base64 string")
        return value
    if data_type == "geoCoordinates":
        if not isinstance(value, dict):
            raise ValueError(f"geoCoordinates must be a map, but got: {_type_name(value)}")
        for key in ("longitude", "latitude"):
            if key not in value:
                raise ValueError(f"geoCoordinates is missing required field '{key}'")
        return value
    if data_type == "phoneNumber":
        if not isinstance(value, dict):
            raise ValueError(f"phoneNumber must be a map, but got: {_type_name(value)}")
        if "input" not in value:
            raise ValueError("phoneNumber is missing required field 'input'")
        if not isinstance(value["input"], str):
            raise ValueError("phoneNumber.input must be a string")
        return value
    raise ValueError(f"unrecognized data type '{data_type}'")


_ARRAY_NAMES = {
    "text": "text",
    "int": "integer",
    "number": "integer",  # sic: Weaviate's numberArrayVal says "integer" too
    "boolean": "boolean",
    "date": "date",
    "uuid": "uuid",
}


def _array(data_type: str, value: Any) -> list[Any]:
    inner = data_type[:-2]
    name = _ARRAY_NAMES.get(inner, inner)
    article = "an" if name[0] in "aeiou" else "a"
    if not isinstance(value, list):
        raise ValueError(f"not {article} {name} array, but {_type_name(value)}")
    out = []
    for item in value:
        try:
            out.append(_primitive(inner, item))
        except ValueError:
            raise ValueError(f"invalid {name} array value: {_go_value(item)}") from None
    return out


def _nested_object(
    class_name: str, path: str, nested: list[dict[str, Any]], value: Any
) -> dict[str, Any]:
    """objectVal: every key must be a nested property; values checked by their type."""
    if not isinstance(value, dict):
        raise ValueError(f"object must be a map, but got: {_type_name(value)}")
    by_name = {p["name"]: p for p in nested}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{path}.{key}"
        prop = by_name.get(key)
        if prop is None:
            raise ValueError(f"unknown property '{name}'")
        if item is None:
            continue
        try:
            out[key] = _checked(class_name, name, prop, item)
        except ValueError as exc:
            raise ValueError(f"property '{name}': {exc}") from None
    return out


def _checked(class_name: str, name: str, prop: dict[str, Any], value: Any) -> Any:
    """extractAndValidate(Nested)Property: the stored form or ValueError with the message."""
    data_type = prop["dataType"][0]
    nested = prop.get("nestedProperties") or []
    if data_type == "object":
        try:
            return _nested_object(class_name, name, nested, value)
        except ValueError as exc:
            raise ValueError(
                f"invalid object property '{name}' on class '{class_name}': {exc}"
            ) from None
    if data_type == "object[]":
        try:
            if not isinstance(value, list):
                raise ValueError(f"not an object array, but {_type_name(value)}")
            out = []
            for index, item in enumerate(value):
                try:
                    out.append(_nested_object(class_name, name, nested, item))
                except ValueError as exc:
                    raise ValueError(f"invalid object '{index}' in array: {exc}") from None
            return out
        except ValueError as exc:
            raise ValueError(
                f"invalid object[] property '{name}' on class '{class_name}': {exc}"
            ) from None
    kind = _KIND.get(data_type)
    if kind is None:
        raise ValueError(f"unrecognized data type '{data_type}'")
    try:
        if data_type.endswith("[]"):
            return _array(data_type, value)
        return _primitive(data_type, value)
    except ValueError as exc:
        raise ValueError(
            f"invalid {kind} property '{name}' on class '{class_name}': {exc}"
        ) from None


def coerce_value(class_name: str, prop: dict[str, Any], value: Any) -> Any:
    """Check a primitive or nested value against its property and return the stored form.

    Raises SchemaError with Weaviate's wording (`usecases/objects/validation`) so
    per-object batch errors read the same. References are checked by `references`.
    """
    if value is None:
        return None
    try:
        return _checked(class_name, prop["name"], prop, value)
    except ValueError as exc:
        raise SchemaError(str(exc)) from None
