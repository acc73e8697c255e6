"""Shared fixtures: an isolated ELYSIA_HOME per test, and (via plugins) the Weaviate test server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from elysia_pipelines.settings import Settings

# Every `elysiactl` a test starts runs its Dagster work in its own process, as before the
# warm worker existed: a test's commands then depend on nothing a previous test left
# running, and no background server outlives its test's temporary ELYSIA_HOME.
# cli/test_warm_worker.py turns it on where it is the subject.
os.environ.setdefault("ELYSIA_WARM", "off")

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
