"""Shared fixtures: an isolated ELYSIA_HOME per test, and (via plugins) the Weaviate test server."""

from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines.settings import Settings

pytest_plugins: list[str] = [
    "elysia_pipelines_tests.weaviate_fixtures",
    "elysia_pipelines_tests.s3_server",
]


@pytest.fixture
def elysia_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ELYSIA_HOME, exported so code reading the environment uses it too."""
    home = tmp_path / "elysia_home"
    home.mkdir()
    monkeypatch.setenv("ELYSIA_HOME", str(home))
    return home


@pytest.fixture
def settings(elysia_home: Path) -> Settings:
    return Settings.from_env().ensure_dirs()
