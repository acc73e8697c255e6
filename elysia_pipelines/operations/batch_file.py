"""Parse a `repos.txt` for `repo add-batch`: one URL a line, per-line options, comments.

People build these files by hand or from an inventory export, so one bad line must
not cost them the other ninety-nine: every line parses on its own, and a problem is
reported with its line number while the good lines still go through.

    # team repositories
    https://github.com/org/api.git --schedule 1h --branch dev
    https://github.com/org/web.git --exclude-pattern '*.min.js'   # trailing comments too
    /srv/git/tools --name tools --watch
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from elysia_pipelines.errors import ConfigError, ElysiaError
from elysia_pipelines.operations.repo_options import (
    RepoOptions,
    validate_replicas,
    validate_token_env,
    validate_vectorizer,
)
from elysia_pipelines.schedules import parse_schedule
from elysia_pipelines.settings import parse_size


@dataclass(frozen=True)
class BatchEntry:
    line_no: int
    text: str
    options: RepoOptions


@dataclass(frozen=True)
class BatchLineError:
    line_no: int
    text: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class BatchFile:
    entries: list[BatchEntry] = field(default_factory=list)
    errors: list[BatchLineError] = field(default_factory=list)


def _text(value: str) -> str:
    return value


def _schedule(value: str) -> str:
    return parse_schedule(value).text


def _size(value: str) -> str:
    parse_size(value, what="--max-file-size")
    return value


def _replicas(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(
            f"--replicas {value!r} is not a whole number", "e.g. --replicas 3"
        ) from None
    return validate_replicas(number)


# option -> (RepoOptions field, converter, repeatable)
_VALUE_OPTIONS: dict[str, tuple[str, Callable[[str], Any], bool]] = {
    "--name": ("name", _text, False),
    "--collection": ("collection", _text, False),
    "--schedule": ("schedule", _schedule, False),
    "--branch": ("branch", _text, False),
    "--vectorizer": ("vectorizer", validate_vectorizer, False),
    "--model": ("model", _text, False),
    "--replicas": ("replicas", _replicas, False),
    "--include-pattern": ("include_patterns", _text, True),
    "--exclude-pattern": ("exclude_patterns", _text, True),
    "--max-file-size": ("max_file_size", _size, False),
    "--token-env": ("token_env", validate_token_env, False),
}
_FLAG_OPTIONS: dict[str, tuple[str, bool]] = {
    "--watch": ("watch", True),
    "--no-watch": ("watch", False),
    "--no-sync": ("sync", False),
    "--sync": ("sync", True),
}


def _strip_comment(text: str) -> str:
    """Cut a `#` comment that starts a word, outside quotes (so URL#fragment survives)."""
    quote: str | None = None
    previous = " "
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and previous.isspace():
            return text[:index]
        previous = char
    return text


def parse_line(text: str, defaults: RepoOptions | None = None) -> RepoOptions | None:
    """Options of one line, or None for a blank/comment line; raises ElysiaError if bad.

    `defaults` carries options given on the `add-batch` command line; a line's own
    options override them.
    """
    try:
        tokens = shlex.split(_strip_comment(text))
    except ValueError as exc:
        raise ConfigError(f"cannot split the line: {exc}", "close the quote") from None
    if not tokens:
        return None
    url, rest = tokens[0], tokens[1:]
    if url.startswith("-"):
        raise ConfigError(
            f"the line starts with the option {url!r} instead of a URL",
            "put the repository URL or path first, then its options",
        )
    values: dict[str, Any] = {"url": url}
    lists: dict[str, list[str]] = {}
    index = 0
    while index < len(rest):
        token = rest[index]
        option, _, inline = token.partition("=")
        if option in _FLAG_OPTIONS and not inline:
            name, flag = _FLAG_OPTIONS[option]
            values[name] = flag
            index += 1
            continue
        if option not in _VALUE_OPTIONS:
            known = ", ".join([*_VALUE_OPTIONS, *_FLAG_OPTIONS])
            raise ConfigError(f"unknown option {token!r}", f"options allowed per line: {known}")
        if inline:
            raw = inline
            index += 1
        elif index + 1 < len(rest):
            raw = rest[index + 1]
            index += 2
        else:
            raise ConfigError(f"{option} needs a value", f"e.g. {option} VALUE")
        name, convert, repeatable = _VALUE_OPTIONS[option]
        value = convert(raw)
        if repeatable:
            lists.setdefault(name, []).append(value)
        else:
            values[name] = value
    for name, items in lists.items():
        values[name] = tuple(items)
    base = defaults or RepoOptions()
    return replace(base, **values)


def parse_lines(lines: Iterable[str], defaults: RepoOptions | None = None) -> BatchFile:
    """Every good line as an entry, every bad one as an error with its 1-based line number."""
    result = BatchFile()
    for line_no, raw in enumerate(lines, start=1):
        text = raw.rstrip("\n")
        try:
            options = parse_line(text, defaults)
        except ElysiaError as exc:
            result.errors.append(BatchLineError(line_no, text.strip(), exc.message, exc.hint))
            continue
        if options is not None:
            result.entries.append(BatchEntry(line_no, text.strip(), options))
    return result


def read_batch_file(path: Path | str, defaults: RepoOptions | None = None) -> BatchFile:
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ElysiaError(
            f"batch file {path} does not exist", "give the path of a file with one URL a line"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ElysiaError(
            f"cannot read batch file {path}: {exc}", "use a UTF-8 text file"
        ) from None
    return parse_lines(content.splitlines(), defaults)
