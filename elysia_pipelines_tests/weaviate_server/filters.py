"""Where-filters: one internal form for gRPC `base_pb2.Filters` and REST `where` JSON.

Text matching follows the property's tokenization the way Weaviate's inverted index
does (`word`: lowercase alphanumeric tokens, `field`: the whole trimmed value), so a
filter that would match loosely against a real server matches loosely here too.
"""

from __future__ import annotations

import fnmatch
import re
import uuid as uuid_lib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from elysia_pipelines_tests.weaviate_server.schema import SchemaError, parse_date

if TYPE_CHECKING:
    from elysia_pipelines_tests.weaviate_server.store import StoredObject

COMPARISONS = frozenset(
    {
        "Equal",
        "NotEqual",
        "GreaterThan",
        "GreaterThanEqual",
        "LessThan",
        "LessThanEqual",
        "Like",
        "IsNull",
        "ContainsAny",
        "ContainsAll",
        "ContainsNone",
    }
)
COMBINATORS = frozenset({"And", "Or", "Not"})

_GRPC_OPERATORS = {
    1: "Equal",
    2: "NotEqual",
    3: "GreaterThan",
    4: "GreaterThanEqual",
    5: "LessThan",
    6: "LessThanEqual",
    7: "And",
    8: "Or",
    9: "WithinGeoRange",
    10: "Like",
    11: "IsNull",
    12: "ContainsAny",
    13: "ContainsAll",
    14: "ContainsNone",
    15: "Not",
}

_WORD_RE = re.compile(r"[^\W_]+|_", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str
    path: str
    value: Any


@dataclass(frozen=True, slots=True)
class Combination:
    operator: str
    operands: tuple[Filter, ...]


Filter = Condition | Combination


def from_grpc(message: Any) -> Filter:
    """Translate a `base_pb2.Filters` message."""
    operator = _GRPC_OPERATORS.get(message.operator)
    if operator is None:
        raise SchemaError(f"unsupported filter operator {message.operator}")
    if operator in COMBINATORS:
        return Combination(operator, tuple(from_grpc(f) for f in message.filters))
    target = message.target
    if target.HasField("property"):
        path = target.property
    elif len(message.on) > 0:
        path = message.on[-1]
    else:
        raise SchemaError("filters on references or counts are not supported by the test server")
    kind = message.WhichOneof("test_value")
    if kind is None:
        raise SchemaError(f"filter on '{path}' has no value")
    raw = getattr(message, kind)
    if kind.endswith("_array"):
        value: Any = list(raw.values)
    elif kind == "value_geo":
        raise SchemaError("geo filters are not supported by the test server")
    else:
        value = raw
    return Condition(operator, path, value)


_REST_VALUE_KEYS = (
    "valueText",
    "valueString",
    "valueInt",
    "valueNumber",
    "valueBoolean",
    "valueDate",
    "valueTextArray",
    "valueStringArray",
    "valueIntArray",
    "valueNumberArray",
    "valueBooleanArray",
    "valueDateArray",
)


def from_rest(where: dict[str, Any]) -> Filter:
    """Translate a REST / GraphQL `where` object."""
    if not isinstance(where, dict):
        raise SchemaError("where filter must be an object")
    operator = where.get("operator")
    if operator in COMBINATORS:
        operands = where.get("operands") or []
        return Combination(operator, tuple(from_rest(o) for o in operands))
    if operator not in COMPARISONS:
        raise SchemaError(f"unsupported filter operator {operator!r}")
    path = where.get("path")
    if not isinstance(path, list) or not path:
        raise SchemaError("where filter needs a non-empty 'path'")
    for key in _REST_VALUE_KEYS:
        if key in where:
            value = where[key]
            break
    else:
        raise SchemaError(f"filter on {path} has no value")
    name = path[-1]
    if name == "id":
        name = "_id"
    return Condition(operator, name, value)


# ---------------------------------------------------------------- evaluation


def tokenize(text: str, tokenization: str) -> list[str]:
    if tokenization == "field":
        return [text.strip()]
    if tokenization == "whitespace":
        return text.split()
    if tokenization == "lowercase":
        return text.lower().split()
    # "word" and anything we do not model: alphanumeric runs, lowercased.
    return [t for t in _WORD_RE.findall(text.lower()) if t != "_"]


class Evaluator:
    """Evaluates a filter against stored objects of one collection."""

    def __init__(self, props: dict[str, dict[str, Any]]) -> None:
        self._props = props

    def matches(self, flt: Filter, obj: StoredObject) -> bool:
        if isinstance(flt, Combination):
            if flt.operator == "And":
                return all(self.matches(f, obj) for f in flt.operands)
            if flt.operator == "Or":
                return any(self.matches(f, obj) for f in flt.operands)
            return not any(self.matches(f, obj) for f in flt.operands)
        return self._condition(flt, obj)

    # -- helpers

    def _condition(self, cond: Condition, obj: StoredObject) -> bool:
        path = cond.path
        if path == "_id":
            return self._compare_values(cond, [obj.uuid], "uuid", "field")
        if path in ("_creationTimeUnix", "_lastUpdateTimeUnix"):
            stamp = obj.created_ms if path == "_creationTimeUnix" else obj.updated_ms
            return self._compare_values(cond, [stamp], "timestamp", "field")
        if path.startswith("len(") and path.endswith(")"):
            inner = path[4:-1]
            value = obj.properties.get(inner)
            length = 0 if value is None else len(value)
            return self._compare_values(cond, [length], "int", "field")
        prop = self._props.get(path)
        value = obj.properties.get(path)
        if cond.operator == "IsNull":
            is_null = value is None or (isinstance(value, list) and not value)
            return is_null == bool(cond.value)
        if value is None:
            return cond.operator in ("NotEqual", "ContainsNone")
        data_type = prop["dataType"][0] if prop else _guess_type(value)
        tokenization = (prop or {}).get("tokenization") or "word"
        values = value if isinstance(value, list) else [value]
        return self._compare_values(cond, values, data_type.removesuffix("[]"), tokenization)

    def _compare_values(
        self, cond: Condition, values: list[Any], data_type: str, tokenization: str
    ) -> bool:
        op = cond.operator
        wanted = cond.value if isinstance(cond.value, list) else [cond.value]
        if data_type == "text":
            have = {t for v in values for t in tokenize(str(v), tokenization)}
            if op == "Like":
                return _like(wanted[0], values, have, tokenization)
            if op in ("Equal", "NotEqual"):
                tokens = [t for w in wanted for t in tokenize(str(w), tokenization)]
                hit = bool(tokens) and all(t in have for t in tokens)
                return hit if op == "Equal" else not hit
            if op in ("ContainsAny", "ContainsAll", "ContainsNone"):
                hits = [
                    bool(toks := tokenize(str(w), tokenization)) and all(t in have for t in toks)
                    for w in wanted
                ]
                return _contains(op, hits)
            return any(_ordered(op, str(v), str(wanted[0])) for v in values)
        have_keys = [_key(v, data_type) for v in values]
        want_keys = [_key(w, data_type) for w in wanted]
        if op == "Equal":
            return any(h == want_keys[0] for h in have_keys)
        if op == "NotEqual":
            return all(h != want_keys[0] for h in have_keys)
        if op in ("ContainsAny", "ContainsAll", "ContainsNone"):
            return _contains(op, [w in have_keys for w in want_keys])
        if op == "Like":
            return any(fnmatch.fnmatchcase(str(v), str(wanted[0])) for v in values)
        return any(_ordered(op, h, want_keys[0]) for h in have_keys)


def _contains(op: str, hits: list[bool]) -> bool:
    if op == "ContainsAny":
        return any(hits)
    if op == "ContainsAll":
        return all(hits)
    return not any(hits)


def _like(pattern: str, values: list[Any], tokens: set[str], tokenization: str) -> bool:
    if tokenization == "field":
        return any(fnmatch.fnmatchcase(str(v).strip(), pattern) for v in values)
    if tokenization == "word":
        pat_tokens = re.findall(r"[\w*?]+", pattern.lower())
    elif tokenization == "lowercase":
        pat_tokens = pattern.lower().split()
    else:
        pat_tokens = pattern.split()
    if not pat_tokens:
        return False
    return all(any(fnmatch.fnmatchcase(tok, p) for tok in tokens) for p in pat_tokens)


def _ordered(op: str, have: Any, want: Any) -> bool:
    try:
        if op == "GreaterThan":
            return have > want
        if op == "GreaterThanEqual":
            return have >= want
        if op == "LessThan":
            return have < want
        if op == "LessThanEqual":
            return have <= want
    except TypeError:
        return False
    raise SchemaError(f"operator {op} is not supported here")


def _key(value: Any, data_type: str) -> Any:
    """A comparable form of a stored or filter value for the property's type."""
    if data_type == "date":
        return parse_date(value) if isinstance(value, str) else value
    if data_type == "timestamp":
        if isinstance(value, str):
            try:
                return int(parse_date(value).timestamp() * 1000)
            except ValueError:
                return int(value)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1000)
        return int(value)
    if data_type == "uuid":
        try:
            return uuid_lib.UUID(str(value))
        except ValueError:
            return str(value)
    if data_type in ("int", "number"):
        if isinstance(value, bool):
            return value
        return float(value) if isinstance(value, int | float) else value
    return value


def _guess_type(value: Any) -> str:
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int | float):
        return "number"
    return "text"
