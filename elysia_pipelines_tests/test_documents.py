from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from elysia_pipelines.documents import (
    collection_name_for,
    document_uuid,
    file_name_and_extension,
)


@pytest.mark.parametrize(
    "path",
    [
        "a/b.PY",
        ".bashrc",
        "file.",
        "a.tar.gz",
        "Makefile",
        "dir.d/file",
        "x/.env.local",
        "ä ö/ü.rs",
    ],
)
def test_file_name_and_extension_matches_pathlib(path: str) -> None:
    pure = PurePosixPath(path)
    assert file_name_and_extension(path) == (pure.name, pure.suffix.lstrip(".").lower())


def test_uuid_is_deterministic_and_repo_scoped() -> None:
    assert document_uuid("r", "a.py") == document_uuid("r", "a.py")
    assert document_uuid("r", "a.py") != document_uuid("s", "a.py")


@pytest.mark.parametrize(
    ("repo", "collection"),
    [
        ("my-repo", "My_repo"),
        ("2fast", "R_2fast"),
        ("payments.api", "Payments_api"),
        ("---", "Repo"),
    ],
)
def test_collection_names_are_valid_weaviate_classes(repo: str, collection: str) -> None:
    assert collection_name_for(repo) == collection
