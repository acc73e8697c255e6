"""Fixtures for backup tests: real source documents and their collection description."""

from __future__ import annotations

from typing import Any

import pytest

from elysia_pipelines.backups.formats import BackupObject
from elysia_pipelines.documents import DOCUMENT_PROPERTIES
from elysia_pipelines_tests.backups.sources import backup_objects

DIM = 8


def document_description(name: str = "Docs") -> dict[str, Any]:
    """The shape `weaviate.schema.describe_collection` returns, for offline writer tests."""
    return {
        "format": 1,
        "name": name,
        "properties": [
            {"name": p.name, "data_type": p.data_type, "filterable": p.filterable}
            for p in DOCUMENT_PROPERTIES
        ],
        "vectorizer": "none",
        "vectors": [{"name": None, "vectorizer": "none", "dimension": DIM}],
        "vector_dimension": DIM,
        "replication_factor": 1,
    }


@pytest.fixture(scope="session")
def real_objects() -> list[BackupObject]:
    """300 real source files with vectors, in uuid order (what a cursor yields)."""
    return sorted(backup_objects(300, dim=DIM), key=lambda o: o.uuid)


@pytest.fixture
def description() -> dict[str, Any]:
    return document_description()
