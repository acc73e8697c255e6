"""The filter language: grammar, precedence, type checks, evaluation, Weaviate Filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from elysia_pipelines.backups.filters import (
    And,
    Compare,
    FilterSyntaxError,
    In,
    Like,
    Not,
    Or,
    compile_filter,
    parse,
    tokenize,
)
from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.errors import ElysiaError

TYPES = {
    "repo": "text",
    "path": "text",
    "language": "text",
    "size_bytes": "int",
    "line_count": "int",
    "score": "number",
    "archived": "boolean",
    "synced_at": "date",
    "tags": "text[]",
}


def test_tokenizer_positions_and_escapes() -> None:
    tokens = tokenize("path like 'it''s*' and n>=-2.5")
    assert [(t.kind, t.value, t.pos) for t in tokens] == [
        ("NAME", "path", 0),
        ("KEYWORD", "like", 5),
        ("STRING", "it's*", 10),
        ("KEYWORD", "and", 19),
        ("NAME", "n", 23),
        ("OP", ">=", 24),
        ("NUMBER", -2.5, 26),
        ("EOF", None, 30),
    ]


def test_precedence_not_and_or() -> None:
    ast = parse("a = 1 or b = 2 and not c = 3")
    assert ast == Or(
        (
            Compare("a", "=", 1, 0),
            And((Compare("b", "=", 2, 9), Not(Compare("c", "=", 3, 23)))),
        )
    )
    grouped = parse("(a = 1 or b = 2) and c = 3")
    assert isinstance(grouped, And) and isinstance(grouped.items[0], Or)
    assert parse("NOT (a = 1 OR b != 2)") == Not(
        Or((Compare("a", "=", 1, 5), Compare("b", "!=", 2, 14)))
    )
    assert parse("language in ('python','go')") == In("language", ("python", "go"), False, 0)
    assert parse("path not like '*.py'") == Like("path", "*.py", True, 0)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("language = ", 12, "expected a value"),
        ("language = 'py", 12, "unterminated string"),
        ("(language = 'py'", 17, "expected ')'"),
        ("language 'py'", 10, "expected an operator"),
        ("a = 1 b = 2", 7, "expected 'and', 'or'"),
        ("a = 1 and", 10, "end of expression"),
        ("a ~ 1", 3, "unexpected character '~'"),
        ("a in ()", 7, "expected a value"),
        ("a not = 1", 7, "expected 'like' or 'in'"),
    ],
)
def test_syntax_errors_point_at_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    message = info.value.message
    assert f"column {column}:" in message and fragment in message
    caret_line = message.splitlines()[-1]
    assert caret_line.index("^") - 4 == column - 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("lang = 'python'", "no property 'lang'"),
        ("size_bytes = 'big'", "size_bytes is int; 'big' does not fit"),
        ("size_bytes > 1.5", "not a whole number"),
        ("language > 'a'", "'>' needs a number or date property"),
        ("size_bytes like '1*'", "'like' needs a text property"),
        ("synced_at > 'yesterday'", "not a date"),
        ("archived = 1", "archived is boolean"),
        ("path in ('a', 2)", "path is text; 2 does not fit"),
        ("   ", "filter is empty"),
    ],
)
def test_validation_errors(text: str, fragment: str) -> None:
    with pytest.raises(ElysiaError, match=fragment.replace("(", r"\(").replace("*", r"\*")):
        compile_filter(text, TYPES)


def test_unknown_property_suggests_the_closest() -> None:
    with pytest.raises(ElysiaError) as info:
        compile_filter("languge = 'go'", TYPES)
    assert "did you mean 'language'" in (info.value.hint or "")


def _props(**kw: Any) -> dict[str, Any]:
    return kw


@pytest.mark.parametrize(
    ("text", "props", "expected"),
    [
        (
            "language = 'python' and size_bytes > 1000",
            _props(language="python", size_bytes=1001),
            True,
        ),
        (
            "language = 'python' and size_bytes > 1000",
            _props(language="python", size_bytes=1000),
            False,
        ),
        ("synced_at > '2024-01-01'", _props(synced_at=datetime(2024, 1, 2, tzinfo=UTC)), True),
        ("synced_at >= '2024-01-02T00:00:00Z'", _props(synced_at="2024-01-01T23:59:59Z"), False),
        ("path like '*.py'", _props(path="a/b.py"), True),
        ("path like '*.py'", _props(path="a/b.pyc"), False),
        ("path like 'src/?.go'", _props(path="src/a.go"), True),
        ("path like '[a]*'", _props(path="[a]x"), True),
        ("not (size_bytes = 1 or line_count != 2)", _props(size_bytes=2, line_count=2), True),
        ("language in ('python','go')", _props(language="go"), True),
        ("language not in ('python','go')", _props(language="rust"), True),
        ("language != 'go'", _props(), True),
        ("language = 'go'", _props(), False),
        ("tags = 'x'", _props(tags=["y", "x"]), True),
        ("archived = false", _props(archived=False), True),
        ("score <= 2", _props(score=2.0), True),
    ],
)
def test_evaluation(text: str, props: dict[str, Any], expected: bool) -> None:
    assert compile_filter(text, TYPES).matches(props) is expected


def test_matches_python_side_selection(real_objects: list[BackupObject]) -> None:
    types = {
        "language": "text",
        "size_bytes": "int",
        "path": "text",
        "line_count": "int",
        "synced_at": "date",
    }
    cases = {
        "language = 'python' and size_bytes > 5000": lambda p: (
            p["language"] == "python" and p["size_bytes"] > 5000
        ),
        "path like '*/__init__.py' or line_count < 20": lambda p: (
            p["path"].endswith("/__init__.py") or p["line_count"] < 20
        ),
        "not (language = 'python') or synced_at >= '2024-01-15'": lambda p: (
            p["language"] != "python" or p["synced_at"] >= datetime(2024, 1, 15, tzinfo=UTC)
        ),
    }
    for text, predicate in cases.items():
        expr = compile_filter(text, types)
        got = [o.uuid for o in real_objects if expr.matches(o.properties)]
        want = [o.uuid for o in real_objects if predicate(o.properties)]
        assert got == want and 0 < len(got) < len(real_objects), text


def test_to_weaviate_filter_structure() -> None:
    expr = compile_filter(
        "language in ('python','go') and not not size_bytes <= 10 or path like '*.md'", TYPES
    )
    flt = expr.to_weaviate()
    assert type(flt).__name__ == "_FilterOr"
    and_part = flt.filters[0]
    assert type(and_part).__name__ == "_FilterAnd"
    assert and_part.filters[0].operator.name == "CONTAINS_ANY"
    assert and_part.filters[0].value == ["python", "go"]
    assert flt.filters[1].operator.name == "LIKE" and flt.filters[1].value == "*.md"
    dated = compile_filter("synced_at > '2024-01-01'", TYPES).to_weaviate()
    assert dated.value == datetime(2024, 1, 1, tzinfo=UTC)


def _operators(flt: Any) -> set[str]:
    found = {flt.operator.name} if hasattr(flt, "operator") else set()
    for child in getattr(flt, "filters", []) or []:
        found |= _operators(child)
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not (language = 'go' or repo != 'b')", {"AND", "NOT_EQUAL", "EQUAL"}),
        ("not (language = 'go' and not archived = true)", {"OR", "NOT_EQUAL", "EQUAL"}),
        ("not language != 'go'", {"EQUAL"}),
        ("not (path != 'b.md' or tags not in ('x'))", {"AND", "EQUAL", "CONTAINS_ANY"}),
    ],
)
def test_to_weaviate_pushes_negation_down_without_not(text: str, expected: set[str]) -> None:
    """Weaviate 1.32 refuses `Filter.not_` and `contains_none`: negation goes to the leaves."""
    flt = compile_filter(text, TYPES).to_weaviate()
    assert _operators(flt) == expected


@pytest.mark.parametrize(
    "text", ["not size_bytes <= 10", "path not like '*.md'", "language not in ('go')"]
)
def test_to_weaviate_refuses_negations_without_an_exact_1_32_form(text: str) -> None:
    """`not <`, `not like`, `not in` differ on missing values and arrays: evaluated locally."""
    assert compile_filter(text, TYPES).to_weaviate() is None
