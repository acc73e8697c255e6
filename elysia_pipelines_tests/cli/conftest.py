"""Fixtures for `elysiactl repo` tests: isolated homes, a Weaviate test server, real git repos."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from elysia_pipelines.cli.main import app
from elysia_pipelines.registry import Registry
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.gitrepo import GitRepo

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Cli:
    home: Path
    dagster_home: Path

    def run(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, ["repo", *args], input=input, catch_exceptions=False)

    def settings(self) -> Settings:
        return Settings.from_env()

    def registry(self) -> Registry:
        return Registry(self.settings().registry_path)


@pytest.fixture
def cli(
    elysia_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weaviate_env: object
) -> Cli:
    dagster_home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    monkeypatch.setenv("WEAVIATE_RETRIES", "1")
    monkeypatch.delenv("ELYSIA_FORCE_TERMINAL", raising=False)
    monkeypatch.delenv("ELYSIA_ALERT_WEBHOOK_URL", raising=False)
    return Cli(home=elysia_home, dagster_home=dagster_home)


def make_repo(path: Path, files: dict[str, str] | None = None) -> GitRepo:
    repo = GitRepo.init(path)
    for name, content in (
        files
        or {
            "README.md": "# Demo\n\nA small demo project.\n",
            "app/main.py": "def main() -> None:\n    print('hello')\n",
            "app/util.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
        }
    ).items():
        repo.write(name, content)
    repo.commit("initial")
    return repo


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "sources" / "demo")


def output_lines(text: str) -> Sequence[str]:
    return ANSI_RE.sub("", text).splitlines()
