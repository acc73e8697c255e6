"""Fixtures for `elysiactl repo` tests: isolated homes, a Weaviate test server, real git repos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result

from elysia_pipelines.registry import Registry
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.gitrepo import GitRepo, make_repo
from elysia_pipelines_tests.support import run_cli


@dataclass
class Cli:
    home: Path
    dagster_home: Path

    def run(self, *args: str, input: str | None = None) -> Result:
        return run_cli("repo", *args, input=input)

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


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "sources" / "demo")
