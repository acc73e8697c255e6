"""Fixtures for backup tests: real source documents and their collection description."""

from __future__ import annotations

from typing import Any

import pytest

from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines_tests.backups.sources import backup_objects, document_description

DIM = 8


@pytest.fixture(scope="session")
def real_objects() -> list[BackupObject]:
    """300 real source files with vectors, in uuid order (what a cursor yields)."""
    return sorted(backup_objects(300, dim=DIM), key=lambda o: o.uuid)


@pytest.fixture
def description() -> dict[str, Any]:
    return document_description()
