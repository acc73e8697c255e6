"""Include/exclude semantics (gitignore-like) and language detection."""

from __future__ import annotations

import pytest

from elysia_pipelines.changes.languages import detect_language
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.errors import ConfigError


@pytest.mark.parametrize(
    ("include", "exclude", "path", "selected"),
    [
        ([], [], "any/file.bin", True),
        (["*.py"], [], "deep/down/mod.py", True),
        (["*.py"], [], "deep/down/mod.pyc", False),
        (["src/**"], [], "src/a/b/c.go", True),
        (["src/**"], [], "lib/src/c.go", False),
        ([], ["node_modules/"], "web/node_modules/x/index.js", False),
        ([], ["/build"], "build/out.txt", False),
        ([], ["/build"], "pkg/build/out.txt", True),
        ([], ["**/test_*.py"], "a/b/test_x.py", False),
        ([], ["*.md", "!README.md"], "docs/README.md", True),
        ([], ["*.md", "!README.md"], "docs/guide.md", False),
        (["docs/**"], ["docs/private/**"], "docs/private/x.md", False),
        ([], ["dir with space/**"], "dir with space/f.txt", False),
    ],
)
def test_gitignore_semantics(
    include: list[str], exclude: list[str], path: str, selected: bool
) -> None:
    assert FileFilter.of(include, exclude, 100).includes(path) is selected


def test_filter_identity_and_validation() -> None:
    a = FileFilter.of(["*.py", " "], ["x/**"], 10)
    assert a == FileFilter.of(["*.py"], ["x/**"], 10)
    assert a.fingerprint() == FileFilter.of(["*.py"], ["x/**"], 10).fingerprint()
    assert a != FileFilter.of(["*.py"], [], 10)
    assert a.fingerprint() != FileFilter.of(["*.py"], ["x/**"], 11).fingerprint()
    with pytest.raises(ConfigError, match="max file size"):
        FileFilter.of([], [], 0)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a/b.py", "Python"),
        ("x.tsx", "TypeScript"),
        ("main.go", "Go"),
        ("lib.rs", "Rust"),
        ("App.java", "Java"),
        ("x.c", "C"),
        ("x.hpp", "C++"),
        ("P.cs", "C#"),
        ("a.rb", "Ruby"),
        ("i.php", "PHP"),
        ("k.kt", "Kotlin"),
        ("s.swift", "Swift"),
        ("s.scala", "Scala"),
        ("run.sh", "Shell"),
        ("README.md", "Markdown"),
        (".github/ci.yml", "YAML"),
        ("package.json", "JSON"),
        ("pyproject.toml", "TOML"),
        ("index.html", "HTML"),
        ("s.css", "CSS"),
        ("q.sql", "SQL"),
        ("docker/Dockerfile", "Dockerfile"),
        ("Dockerfile.dev", "Dockerfile"),
        ("Makefile", "Makefile"),
        ("Gemfile", "Ruby"),
        ("LICENSE", None),
        (".env", None),
        ("weird.unknownext", None),
    ],
)
def test_language_by_name(path: str, language: str | None) -> None:
    assert detect_language(path) == language
