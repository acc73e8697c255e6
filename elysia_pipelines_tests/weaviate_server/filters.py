"""Where-filters: one internal form for gRPC `base_pb2.Filters` and REST `where` JSON.

Text matching follows the property's tokenization the way Weaviate's inverted index
does (`word`: lowercase alphanumeric tokens, `field`: the whole trimmed value), so a
filter that would match loosely against a real server matches loosely here too.
As in Weaviate's searcher (`adapters/repos/db/inverted/searcher.go`), the filter
value's terms lose their stopwords (the class's `invertedIndexConfig.stopwords`:
preset `en` plus additions minus removals) whatever the tokenization, and a value of
stopwords only is an error; `like` knows only `*` and `?` (everything else, `[` and
`]` included, is literal), and a property without a filterable (or searchable, for
text) index cannot be filtered on.
"""

from __future__ import annotations

import operator
import re
import uuid as uuid_lib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from elysia_pipelines.weaviate.stopwords import EN_STOPWORDS
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

# Operators the claimed version (1.32) does not know yet: Weaviate 1.33 added them.
_NEWER_THAN_CLAIMED = {"Not", "ContainsNone"}

_WORD_RE = re.compile(r"[^\W_]+|_", re.UNICODE)
_WORD_WILDCARD_RE = re.compile(r"(?:[^\W_]|[*?])+", re.UNICODE)

# Weaviate's stopword presets (adapters/repos/db/inverted/stopwords/presets.go); `en` is
# the product's copy of it, data only (its parsing of filters is not shared).
STOPWORD_PRESETS: dict[str, frozenset[str]] = {"en": EN_STOPWORDS, "none": frozenset()}
ONLY_STOPWORDS = (
    "invalid search term, only stopwords provided. "
    "Stopwords can be configured in class.invertedIndexConfig.stopwords"
)


def stopwords_of(schema: dict[str, Any]) -> frozenset[str]:
    """The class's stopword set: its preset, plus additions, minus removals."""
    config = (schema.get("invertedIndexConfig") or {}).get("stopwords") or {}
    words = set(STOPWORD_PRESETS.get(config.get("preset") or "en", frozenset()))
    words |= set(config.get("additions") or [])
    words -= set(config.get("removals") or [])
    return frozenset(words)


def like_regex(pattern: str) -> re.Pattern[str]:
    """Weaviate's like: `*` any run, `?` one character, everything else literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts))


def missing_filterable_index(name: str) -> str:
    return (
        f"Filtering by property '{name}' requires inverted index. "
        f"Is `indexFilterable` option of property '{name}' enabled? Set it to `true` or leave empty"
    )


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
    if operator is None or operator in _NEWER_THAN_CLAIMED:
        raise SchemaError(f"extract filters: unknown filter operator {message.operator}")
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
    if operator in _NEWER_THAN_CLAIMED:
        raise SchemaError(f"unrecognized operator: {operator}")
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


def id_candidates(flt: Filter) -> set[str] | None:
    """The only ids a filter can match, when it pins `_id` (fetch_object_by_id and friends)."""
    if isinstance(flt, Condition):
        if flt.path == "_id" and flt.operator in ("Equal", "ContainsAny"):
            values = flt.value if isinstance(flt.value, list) else [flt.value]
            out = set()
            for value in values:
                try:
                    out.add(str(uuid_lib.UUID(str(value))))
                except ValueError:
                    continue
            return out
        return None
    if flt.operator == "And":
        for operand in flt.operands:
            ids = id_candidates(operand)
            if ids is not None:
                return ids
    return None


def tokenize(text: str, tokenization: str, *, wildcards: bool = False) -> list[str]:
    """Weaviate's `helpers.Tokenize` (`TokenizeWithWildcards` for a like pattern)."""
    if tokenization == "field":
        return [text.strip()]
    if tokenization == "whitespace":
        return text.split()
    if tokenization == "lowercase":
        return text.lower().split()
    # "word" and anything we do not model: alphanumeric runs, lowercased.
    if wildcards:
        return _WORD_WILDCARD_RE.findall(text.lower())
    return [t for t in _WORD_RE.findall(text.lower()) if t != "_"]


Matcher = Callable[["StoredObject"], bool]

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "GreaterThan": operator.gt,
    "GreaterThanEqual": operator.ge,
    "LessThan": operator.lt,
    "LessThanEqual": operator.le,
}


class Evaluator:
    """Compiles filters into matchers for the objects of one collection.

    Compiling once per request (filter values parsed and tokenized up front) keeps a
    filtered fetch over ten thousand objects in the low milliseconds.
    """

    def __init__(
        self,
        props: dict[str, dict[str, Any]],
        class_name: str = "",
        schema: dict[str, Any] | None = None,
    ) -> None:
        self._props = props
        self._class_name = class_name
        self._inverted = (schema or {}).get("invertedIndexConfig") or {}
        self._stopwords = stopwords_of(schema or {})
        self._check_indexes = schema is not None

    def compile(self, flt: Filter) -> Matcher:
        if isinstance(flt, Combination):
            parts = [self.compile(f) for f in flt.operands]
            if flt.operator == "And":
                return lambda o: all(p(o) for p in parts)
            if flt.operator == "Or":
                return lambda o: any(p(o) for p in parts)
            return lambda o: not any(p(o) for p in parts)
        return self._compile_condition(flt)

    def _compile_condition(self, cond: Condition) -> Matcher:
        op, path = cond.operator, cond.path
        wanted = cond.value if isinstance(cond.value, list) else [cond.value]
        getter: Callable[[StoredObject], list[Any] | None]
        tokenization = "field"
        if path == "_id":
            data_type = "uuid"

            def getter(o: StoredObject) -> list[Any] | None:
                return [o.uuid]

        elif path in ("_creationTimeUnix", "_lastUpdateTimeUnix"):
            data_type = "timestamp"
            created = path == "_creationTimeUnix"
            if self._check_indexes and not self._inverted.get("indexTimestamps"):
                raise SchemaError(
                    "Timestamps must be indexed to be filterable! Add `IndexTimestamps: true` "
                    f"to the InvertedIndexConfig in {self._class_name}"
                )

            def getter(o: StoredObject) -> list[Any] | None:
                return [o.created_ms if created else o.updated_ms]

        elif path.startswith("len(") and path.endswith(")"):
            data_type = "int"
            inner = path[4:-1]
            if self._check_indexes and not self._inverted.get("indexPropertyLength"):
                raise SchemaError(
                    "Property length must be indexed to be filterable! add "
                    "`IndexPropertyLength: true` to the invertedIndexConfig in "
                    f"{self._class_name}.  Geo-coordinates, phone numbers and data blobs "
                    "are not supported by property length."
                )

            def getter(o: StoredObject) -> list[Any] | None:
                value = o.properties.get(inner)
                return [0 if value is None else len(value)]

        else:
            prop = self._props.get(path)
            if prop is None:
                raise SchemaError(
                    f"invalid 'where' filter: no such prop with name '{path}' found in class "
                    f"'{self._class_name}' in the schema. Check your schema files for which "
                    "properties in this class are available"
                )
            data_type = prop["dataType"][0].removesuffix("[]")
            tokenization = prop.get("tokenization") or "word"
            if op == "IsNull":
                if self._check_indexes and not self._inverted.get("indexNullState"):
                    raise SchemaError(
                        "Nullstate must be indexed to be filterable! Add `indexNullState: true` "
                        "to the invertedIndexConfig"
                    )
                want_null = bool(cond.value)

                def is_null(o: StoredObject) -> bool:
                    value = o.properties.get(path)
                    return (value is None or value == []) == want_null

                return is_null
            indexed = prop.get("indexFilterable", True) or prop.get("indexRangeFilters", False)
            if data_type == "text":
                indexed = indexed or prop.get("indexSearchable", True)
            if not indexed:
                raise SchemaError(missing_filterable_index(path))

            def getter(o: StoredObject) -> list[Any] | None:
                value = o.properties.get(path)
                if value is None:
                    return None
                return value if isinstance(value, list) else [value]

        if op == "IsNull":
            want_null = bool(cond.value)
            return lambda o: (not getter(o)) == want_null
        try:
            test = (
                _text_test(op, wanted, tokenization, self._stopwords)
                if data_type == "text"
                else _typed_test(op, wanted, data_type)
            )
        except SchemaError:
            raise
        except (ValueError, TypeError) as exc:
            raise SchemaError(
                f"invalid 'where' filter: value {cond.value!r} does not fit {data_type} "
                f"property '{path}': {exc}"
            ) from None
        absent = op in ("NotEqual", "ContainsNone")

        def matcher(o: StoredObject) -> bool:
            values = getter(o)
            if values is None:
                return absent
            return test(values)

        return matcher


def _terms(value: Any, tokenization: str, stopwords: frozenset[str], like: bool) -> list[str]:
    """A filter value's terms without stopwords; stopwords only is Weaviate's error."""
    terms = [t for t in tokenize(str(value), tokenization, wildcards=like) if t not in stopwords]
    if not terms:
        raise SchemaError(ONLY_STOPWORDS)
    return terms


def _text_test(
    op: str, wanted: list[Any], tokenization: str, stopwords: frozenset[str] = frozenset()
) -> Callable[[list[Any]], bool]:
    """One term per token, combined with And, as Weaviate's searcher builds it."""

    def token_set(values: list[Any]) -> set[str]:
        return {t for v in values for t in tokenize(str(v), tokenization)}

    if op == "Like":
        regexes = [like_regex(t) for t in _terms(wanted[0], tokenization, stopwords, True)]

        def like(values: list[Any]) -> bool:
            tokens = token_set(values)
            return all(any(rx.fullmatch(t) for t in tokens) for rx in regexes)

        return like
    if op in ("Equal", "NotEqual"):
        want = {t for w in wanted for t in _terms(w, tokenization, stopwords, False)}
        if op == "Equal":
            return lambda values: want <= token_set(values)
        # And of NotEqual terms: objects holding none of them.
        return lambda values: not (want & token_set(values))
    if op in ("ContainsAny", "ContainsAll", "ContainsNone"):
        # Each element is an Equal clause of its own (and so an And of its terms).
        groups = [set(_terms(w, tokenization, stopwords, False)) for w in wanted]

        def contains(values: list[Any]) -> bool:
            have = token_set(values)
            return _contains(op, [g <= have for g in groups])

        return contains
    if op in _ORDER:
        compare, want_text = _ORDER[op], str(wanted[0])
        return lambda values: any(compare(str(v), want_text) for v in values)
    raise SchemaError(f"operator {op} is not supported on text properties")


def _typed_test(op: str, wanted: list[Any], data_type: str) -> Callable[[list[Any]], bool]:
    if data_type == "int":
        for w in wanted:
            if isinstance(w, float) and not w.is_integer():
                raise SchemaError(
                    f"filtering for integer, but received a floating point number {w:g}"
                )
    want_keys = [_key(w, data_type) for w in wanted]
    first = want_keys[0]
    have_key = _HAVE_KEYS.get(data_type, lambda v: v)
    if op == "Equal":
        return lambda values: any(have_key(v) == first for v in values)
    if op == "NotEqual":
        return lambda values: all(have_key(v) != first for v in values)
    if op in ("ContainsAny", "ContainsAll", "ContainsNone"):
        return lambda values: _contains(op, [w in {have_key(v) for v in values} for w in want_keys])
    if op == "Like":
        regex = like_regex(str(wanted[0]))
        return lambda values: any(regex.fullmatch(str(v)) for v in values)
    if op in _ORDER:
        compare = _ORDER[op]

        def ordered(values: list[Any]) -> bool:
            try:
                return any(compare(have_key(v), first) for v in values)
            except TypeError:
                return False

        return ordered
    raise SchemaError(f"operator {op} is not supported on {data_type} properties")


def _contains(op: str, hits: list[bool]) -> bool:
    if op == "ContainsAny":
        return any(hits)
    if op == "ContainsAll":
        return all(hits)
    return not any(hits)


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
            return str(uuid_lib.UUID(str(value)))
        except ValueError:
            return str(value).lower()
    if data_type in ("int", "number"):
        if isinstance(value, bool):
            return value
        return float(value) if isinstance(value, int | float) else value
    return value


def _number(value: Any) -> Any:
    return value if isinstance(value, bool) else float(value)


# Stored values are already canonical (coerced on write); only cheap conversions here.
_HAVE_KEYS: dict[str, Callable[[Any], Any]] = {
    "int": _number,
    "number": _number,
    "date": lambda v: parse_date(v) if isinstance(v, str) else v,
    "uuid": lambda v: str(v).lower(),
}
