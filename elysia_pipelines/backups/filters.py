"""The `--filter` expression language for backups: parse, type-check, evaluate, convert.

Grammar (keywords are case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr ( "or" and_expr )*
    and_expr   := not_expr ( "and" not_expr )*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | predicate
    predicate  := NAME op literal
                | NAME [ "not" ] "like" STRING        -- glob: * any run, ? one character
                | NAME [ "not" ] "in" "(" literal ( "," literal )* ")"
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal    := STRING | NUMBER | "true" | "false"
    STRING     := '...' or "..." (a doubled quote or a backslash escapes the quote)

Precedence: `not` binds tighter than `and`, which binds tighter than `or`, so
`a = 1 or b = 2 and not c = 3` means `a = 1 or (b = 2 and (not c = 3))`.

Every name must be a property of the collection and every literal must fit the
property's type (`int`, `number`, `boolean`, `date` given as `'2024-01-01'` or an
RFC 3339 time, `text`); ordering operators apply to numbers and dates, `like` to text.
On array properties (`text[]`, `int[]` ...) a predicate holds when any element
matches. A missing value satisfies only `!=` and `not in` (and `not like`).

The exporter evaluates the expression in Python over the cursor stream
(`FilterExpr.matches`) because Weaviate rejects a cursor combined with a `where`
filter; `FilterExpr.to_weaviate()` gives the same condition as a weaviate-client
`Filter` for server-side use (counting, deleting), with negation pushed down to the
leaves because Weaviate 1.32 has no `not` filter, and no text literal holding one of
Weaviate's stopwords (None when it cannot be said exactly). Note Weaviate applies `like` and
`=` on text to tokens for `word`-tokenized properties, so the server-side form can be
broader than the exact, whole-value Python semantics used for backups.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Union

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate.stopwords import EN_STOPWORDS

# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # NAME, STRING, NUMBER, OP, LPAREN, RPAREN, COMMA, KEYWORD, EOF
    value: Any
    pos: int  # 0-based offset in the text


KEYWORDS = {"and", "or", "not", "in", "like", "true", "false"}
_OPERATORS = ("==", "!=", "<>", "<=", ">=", "=", "<", ">")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


class FilterSyntaxError(ElysiaError):
    """A malformed expression; the message points at the column."""


def _syntax_error(text: str, pos: int, message: str) -> FilterSyntaxError:
    caret = " " * pos + "^"
    return FilterSyntaxError(
        f"filter syntax error at column {pos + 1}: {message}\n    {text}\n    {caret}",
        "write e.g. language = 'python' and size_bytes > 1000 "
        "(see `elysiactl col backup --help` for the grammar)",
    )


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "'\"":
            quote = ch
            start = i
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise _syntax_error(text, start, "unterminated string")
                c = text[i]
                if c == "\\" and i + 1 < n:
                    chars.append(text[i + 1])
                    i += 2
                    continue
                if c == quote:
                    if i + 1 < n and text[i + 1] == quote:  # doubled quote
                        chars.append(quote)
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(c)
                i += 1
            tokens.append(Token("STRING", "".join(chars), start))
            continue
        if ch == "(":
            tokens.append(Token("LPAREN", ch, i))
            i += 1
            continue
        if ch == ")":
            tokens.append(Token("RPAREN", ch, i))
            i += 1
            continue
        if ch == ",":
            tokens.append(Token("COMMA", ch, i))
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("OP", {"==": "=", "<>": "!="}.get(op, op), i))
            i += len(op)
            continue
        number = _NUMBER_RE.match(text, i)
        if number and (ch.isdigit() or ch in "+-."):
            raw = number.group(0)
            value: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("NUMBER", value, i))
            i = number.end()
            continue
        name = _NAME_RE.match(text, i)
        if name:
            word = name.group(0)
            if word.lower() in KEYWORDS:
                tokens.append(Token("KEYWORD", word.lower(), i))
            else:
                tokens.append(Token("NAME", word, i))
            i = name.end()
            continue
        raise _syntax_error(text, i, f"unexpected character {ch!r}")
    tokens.append(Token("EOF", None, n))
    return tokens


# ---------------------------------------------------------------- AST


@dataclass(frozen=True)
class Compare:
    prop: str
    op: str  # = != < <= > >=
    value: Any
    pos: int


@dataclass(frozen=True)
class Like:
    prop: str
    pattern: str
    negated: bool
    pos: int


@dataclass(frozen=True)
class In:
    prop: str
    values: tuple[Any, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Union[Compare, Like, In, And, Or, Not]  # noqa: UP007 - a runtime alias


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def _is_kw(self, word: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value == word

    def _describe(self, token: Token) -> str:
        if token.kind == "EOF":
            return "end of expression"
        if token.kind == "STRING":
            return f"string {token.value!r}"
        return repr(str(token.value))

    def _expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            raise _syntax_error(
                self.text, self.tok.pos, f"expected {what}, found {self._describe(self.tok)}"
            )
        return self._advance()

    def parse(self) -> Node:
        if self.tok.kind == "EOF":
            raise _syntax_error(self.text, 0, "empty expression")
        node = self._or()
        if self.tok.kind != "EOF":
            raise _syntax_error(
                self.text,
                self.tok.pos,
                f"expected 'and', 'or' or end of expression, found {self._describe(self.tok)}",
            )
        return node

    def _or(self) -> Node:
        return self._chain("or", self._and, Or)

    def _and(self) -> Node:
        return self._chain("and", self._not, And)

    def _chain(
        self, keyword: str, operand: Callable[[], Node], combine: type[And] | type[Or]
    ) -> Node:
        """`operand (keyword operand)*`: a lone operand as it is, more combined in order."""
        items = [operand()]
        while self._is_kw(keyword):
            self._advance()
            items.append(operand())
        return items[0] if len(items) == 1 else combine(tuple(items))

    def _not(self) -> Node:
        if self._is_kw("not"):
            self._advance()
            return Not(self._not())
        return self._primary()

    def _primary(self) -> Node:
        if self.tok.kind == "LPAREN":
            self._advance()
            node = self._or()
            self._expect("RPAREN", "')'")
            return node
        name = self._expect("NAME", "a property name or '('")
        negated = False
        if self._is_kw("not"):
            self._advance()
            negated = True
            if not (self._is_kw("like") or self._is_kw("in")):
                raise _syntax_error(
                    self.text,
                    self.tok.pos,
                    f"expected 'like' or 'in' after 'not', found {self._describe(self.tok)}",
                )
        if self._is_kw("like"):
            self._advance()
            pattern = self._expect("STRING", "a quoted pattern after 'like'")
            return Like(name.value, pattern.value, negated, name.pos)
        if self._is_kw("in"):
            self._advance()
            self._expect("LPAREN", "'(' after 'in'")
            values = [self._literal()]
            while self.tok.kind == "COMMA":
                self._advance()
                values.append(self._literal())
            self._expect("RPAREN", "',' or ')'")
            return In(name.value, tuple(values), negated, name.pos)
        op = self._expect("OP", "an operator (=, !=, <, <=, >, >=, like, in)")
        return Compare(name.value, op.value, self._literal(), name.pos)

    def _literal(self) -> Any:
        token = self.tok
        if token.kind in ("STRING", "NUMBER"):
            self._advance()
            return token.value
        if token.kind == "KEYWORD" and token.value in ("true", "false"):
            self._advance()
            return token.value == "true"
        raise _syntax_error(
            self.text,
            token.pos,
            f"expected a value ('text', a number, true or false), found {self._describe(token)}",
        )


def parse(text: str) -> Node:
    """Syntax only: an AST, or FilterSyntaxError pointing at the offending column."""
    return _Parser(text).parse()


# ---------------------------------------------------------------- type checking

_ORDERED = {"int", "number", "date"}
_TEXT = {"text", "string", "uuid"}


def _parse_date(value: Any, prop: str) -> datetime:
    if isinstance(value, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                d = date.fromisoformat(value)
                return datetime(d.year, d.month, d.day, tzinfo=UTC)
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    raise ElysiaError(
        f"filter: {prop} is a date; {value!r} is not a date",
        "write dates as '2024-01-01' or '2024-01-01T12:00:00Z'",
    )


def _coerce(prop: str, data_type: str, value: Any) -> Any:
    base = data_type[:-2] if data_type.endswith("[]") else data_type
    if base == "date":
        return _parse_date(value, prop)
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(prop, data_type, value)
        if isinstance(value, float) and not value.is_integer():
            raise ElysiaError(
                f"filter: {prop} is an int; {value!r} is not a whole number",
                f"compare {prop} with a whole number",
            )
        return int(value)
    if base == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(prop, data_type, value)
        return float(value)
    if base == "boolean":
        if not isinstance(value, bool):
            raise _type_error(prop, data_type, value)
        return value
    if base in _TEXT:
        if not isinstance(value, str):
            raise _type_error(prop, data_type, value)
        return value
    raise ElysiaError(
        f"filter: property {prop} has type {data_type}, which filters do not support",
        "filter on text, int, number, boolean or date properties",
    )


def _type_error(prop: str, data_type: str, value: Any) -> ElysiaError:
    shown = "true/false" if isinstance(value, bool) else repr(value)
    example = {
        "int": "42",
        "number": "1.5",
        "boolean": "true",
        "date": "'2024-01-01'",
    }.get(data_type.rstrip("[]"), "'some text'")
    return ElysiaError(
        f"filter: {prop} is {data_type}; {shown} does not fit",
        f"compare {prop} with a value like {example}",
    )


def _check_name(prop: str, types: Mapping[str, str]) -> str:
    if prop not in types:
        import difflib

        close = difflib.get_close_matches(prop, list(types), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ElysiaError(
            f"filter: the collection has no property {prop!r}",
            f"{hint}properties: {', '.join(sorted(types))}",
        )
    return types[prop]


def validate(node: Node, types: Mapping[str, str]) -> Node:
    """Check names and literal types against the collection; return a typed AST."""
    if isinstance(node, And):
        return And(tuple(validate(i, types) for i in node.items))
    if isinstance(node, Or):
        return Or(tuple(validate(i, types) for i in node.items))
    if isinstance(node, Not):
        return Not(validate(node.item, types))
    data_type = _check_name(node.prop, types)
    base = data_type[:-2] if data_type.endswith("[]") else data_type
    if isinstance(node, Like):
        if base not in _TEXT:
            raise ElysiaError(
                f"filter: 'like' needs a text property; {node.prop} is {data_type}",
                "use =, <, > ... for numbers and dates",
            )
        return node
    if isinstance(node, In):
        return In(
            node.prop,
            tuple(_coerce(node.prop, data_type, v) for v in node.values),
            node.negated,
            node.pos,
        )
    if node.op not in ("=", "!=") and base not in _ORDERED:
        raise ElysiaError(
            f"filter: {node.op!r} needs a number or date property; {node.prop} is {data_type}",
            "use = or != (or like, in) on text and boolean properties",
        )
    return Compare(node.prop, node.op, _coerce(node.prop, data_type, node.value), node.pos)


# ---------------------------------------------------------------- evaluation

_OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _normalize(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return _parse_date(value, "")
        except ElysiaError:
            return value
    return value


def _elements(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value if v is not None]
    return [_normalize(value)]


def _compiled_glob(pattern: str) -> re.Pattern[str]:
    # fnmatch treats [...] as a class; Weaviate's like only knows * and ?, so escape [.
    return re.compile(fnmatch.translate(pattern.replace("[", "[[]")), re.DOTALL)


def evaluate(node: Node, properties: Mapping[str, Any]) -> bool:
    """Does an object's property dict satisfy a validated AST?"""
    if isinstance(node, And):
        return all(evaluate(i, properties) for i in node.items)
    if isinstance(node, Or):
        return any(evaluate(i, properties) for i in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, properties)
    values = _elements(properties.get(node.prop))
    if isinstance(node, Like):
        regex = _compiled_glob(node.pattern)
        hit = any(isinstance(v, str) and regex.match(v) for v in values)
        return not hit if node.negated else hit
    if isinstance(node, In):
        hit = any(v in node.values for v in values)
        return not hit if node.negated else hit
    if node.op == "!=":
        return not any(v == node.value for v in values)
    compare = _OPS[node.op]
    try:
        return any(compare(v, node.value) for v in values)
    except TypeError:
        return False


# ---------------------------------------------------------------- weaviate Filter


_NEGATED_OP = {"=": "!=", "!=": "="}

# Weaviate 1.32 drops its default (`en`) stopwords from a text filter's value whatever
# the tokenization (weaviate#9054: even a field-tokenized 'a') and refuses a value of
# stopwords only, so such literals are not sent.
_WORD_RE = re.compile(r"[^\W_]+")


def _loses_stopwords(value: Any) -> bool:
    """Would Weaviate drop (part of) this text literal as stopwords?"""
    if not isinstance(value, str):
        return False
    words = _WORD_RE.findall(value.lower().replace("*", " ").replace("?", " "))
    return value.strip() in EN_STOPWORDS or any(w in EN_STOPWORDS for w in words)


def _sayable(node: Node) -> bool:
    """No text literal of `node` would be changed or refused by Weaviate's stopwords."""
    if isinstance(node, And | Or):
        return all(_sayable(i) for i in node.items)
    if isinstance(node, Not):
        return _sayable(node.item)
    if isinstance(node, Like):
        return not _loses_stopwords(node.pattern)
    if isinstance(node, In):
        return not any(_loses_stopwords(v) for v in node.values)
    return not _loses_stopwords(node.value)


def push_down_negation(node: Node, negate: bool = False) -> Node | None:
    """`node` (negated if asked) without `Not`, or None when Weaviate 1.32 cannot say it exactly.

    Weaviate before 1.33 has no `not` filter and no `contains_none`, so negation is moved
    down to the leaves (De Morgan). A leaf has an exact complement only for `=`/`!=`
    (`!=` matches objects without the value, as `evaluate` does); `not <`, `not like`
    and `not in` differ on missing values and arrays, so the caller filters on its side.
    """
    if isinstance(node, Not):
        return push_down_negation(node.item, not negate)
    if isinstance(node, And | Or):
        items = [push_down_negation(i, negate) for i in node.items]
        if any(i is None for i in items):
            return None
        kind = (Or if isinstance(node, And) else And) if negate else type(node)
        return kind(tuple(i for i in items if i is not None))
    if isinstance(node, Like | In):
        return None if node.negated != negate else replace(node, negated=False)
    if not negate:
        return node
    op = _NEGATED_OP.get(node.op)
    return None if op is None else replace(node, op=op)


def to_weaviate(node: Node) -> Any | None:
    """The same condition as a weaviate-client `Filter`, or None when 1.32 cannot express it.

    Never emits `Filter.not_` or `contains_none` (refused before Weaviate 1.33), nor a
    text literal holding a stopword (Weaviate drops it, or refuses a value of stopwords
    only); on None the caller reads unfiltered and applies `evaluate`.
    """
    from weaviate.classes.query import Filter

    pushed = push_down_negation(node)
    if pushed is None or not _sayable(pushed):
        return None

    def build(item: Node) -> Any:
        if isinstance(item, And):
            return Filter.all_of([build(i) for i in item.items])
        if isinstance(item, Or):
            return Filter.any_of([build(i) for i in item.items])
        if isinstance(item, Not):
            raise TypeError("push_down_negation leaves no Not")
        prop = Filter.by_property(item.prop)
        if isinstance(item, Like):
            return prop.like(item.pattern)
        if isinstance(item, In):
            return prop.contains_any(list(item.values))
        method = {
            "=": prop.equal,
            "!=": prop.not_equal,
            "<": prop.less_than,
            "<=": prop.less_or_equal,
            ">": prop.greater_than,
            ">=": prop.greater_or_equal,
        }[item.op]
        return method(item.value)

    return build(pushed)


# ---------------------------------------------------------------- public entry


@dataclass(frozen=True)
class FilterExpr:
    """A parsed, validated filter: its text (for the manifest) and its typed AST."""

    text: str
    ast: Node

    def matches(self, properties: Mapping[str, Any]) -> bool:
        return evaluate(self.ast, properties)

    def to_weaviate(self) -> Any | None:
        return to_weaviate(self.ast)


def compile_filter(text: str, types: Mapping[str, str]) -> FilterExpr:
    """Parse and type-check `text` against `{property: data type}`; raise ElysiaError."""
    if not text or not text.strip():
        raise FilterSyntaxError("filter is empty", "drop --filter, or write e.g. language = 'go'")
    return FilterExpr(text.strip(), validate(parse(text), types))
