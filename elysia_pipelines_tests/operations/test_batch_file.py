from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.operations.batch_file import parse_line, parse_lines, read_batch_file
from elysia_pipelines.operations.repo_options import RepoOptions


def test_line_with_options_and_comments() -> None:
    options = parse_line(
        "https://example.com/org/api.git --schedule 1h --branch dev "
        "--exclude-pattern '*.min.js' --exclude-pattern=dist/ --watch  # the API"
    )
    assert options is not None
    assert options.url == "https://example.com/org/api.git"
    assert options.schedule == "1h"
    assert options.branch == "dev"
    assert options.exclude_patterns == ("*.min.js", "dist/")
    assert options.watch is True
    assert options.sync is True


def test_blank_and_comment_lines_are_skipped() -> None:
    assert parse_line("") is None
    assert parse_line("   # only a comment") is None


def test_fragment_in_url_is_not_a_comment() -> None:
    options = parse_line("https://example.com/r.git#main --no-sync")
    assert options is not None and options.url == "https://example.com/r.git#main"
    assert options.sync is False


def test_defaults_are_overridden_per_line() -> None:
    defaults = RepoOptions(schedule="6h", vectorizer="none", watch=True)
    options = parse_line("/srv/git/a --schedule 15m", defaults)
    assert options is not None
    assert (options.schedule, options.vectorizer, options.watch) == ("15m", "none", True)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("/srv/a --schedule 1m", "shorter than 5 minutes"),
        ("/srv/a --schedule sometimes", "neither an interval"),
        ("/srv/a --frobnicate", "unknown option"),
        ("/srv/a --branch", "needs a value"),
        ("/srv/a --max-file-size lots", "not a size"),
        ("/srv/a --replicas zero", "not a whole number"),
        ("/srv/a --vectorizer magic", "not a vectorizer"),
        ("/srv/a --token-env 'ghp_abc def'", "not an environment variable name"),
        ("--schedule 1h /srv/a", "instead of a URL"),
        ("/srv/a --branch 'unterminated", "close the quote"),
    ],
)
def test_bad_lines_raise_clear_errors(line: str, fragment: str) -> None:
    with pytest.raises(ElysiaError) as info:
        parse_line(line)
    assert fragment in str(info.value)


def test_bad_line_reported_with_number_and_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "repos.txt"
    path.write_text(
        "# header\n\n/srv/a --schedule 1h\n/srv/b --schedule never-ever\n/srv/c\n",
        encoding="utf-8",
    )
    batch = read_batch_file(path)
    assert [e.line_no for e in batch.entries] == [3, 5]
    assert [e.options.url for e in batch.entries] == ["/srv/a", "/srv/c"]
    assert len(batch.errors) == 1
    error = batch.errors[0]
    assert error.line_no == 4
    assert "never-ever" in error.message
    assert error.hint


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ElysiaError, match="does not exist"):
        read_batch_file(tmp_path / "nope.txt")


def test_parse_lines_accepts_any_iterable() -> None:
    batch = parse_lines(iter(["/a", "/b --no-sync"]))
    assert [e.options.sync for e in batch.entries] == [True, False]
