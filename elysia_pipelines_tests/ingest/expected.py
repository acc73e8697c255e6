"""What a collection must hold for a commit, computed from git alone (ls-tree + blobs).

Independent of the extractor: a regular file (mode 100644/100755) that is not
binary (a NUL byte in its first 8 KiB) and not larger than the size limit has
exactly one document, with the sha256 of its bytes and their text.
"""

from __future__ import annotations

import hashlib
from typing import Any

import weaviate

from elysia_pipelines.changes.format import decode_text
from elysia_pipelines.documents import document_uuid
from elysia_pipelines.weaviate.objects import iter_objects
from elysia_pipelines_tests.gitrepo import GitRepo


def expected_documents(
    repo: GitRepo, commit: str, *, max_file_size: int, exclude_suffixes: tuple[str, ...] = ()
) -> dict[str, tuple[str, str]]:
    """{path: (content_hash, content)} the collection must hold at `commit`."""
    expected = {}
    for path, (mode, sha) in repo.files(commit).items():
        if mode not in ("100644", "100755") or path.endswith(exclude_suffixes):
            continue
        data = repo.read_blob(sha)
        if len(data) > max_file_size or b"\0" in data[: 8 * 1024]:
            continue
        expected[path] = ("sha256:" + hashlib.sha256(data).hexdigest(), decode_text(data))
    return expected


def stored_documents(
    client: weaviate.WeaviateClient, collection: str
) -> dict[str, tuple[str, str]]:
    """{path: (content_hash, content)} as stored, asserting UUIDs are the deterministic ones."""
    stored = {}
    for obj in iter_objects(client, collection):
        path = obj.properties["path"]
        assert obj.uuid == document_uuid(obj.properties["repo"], path), path
        assert path not in stored, f"duplicate document for {path}"
        stored[path] = (obj.properties["content_hash"], obj.properties["content"])
    return stored


def full_objects(client: weaviate.WeaviateClient, collection: str) -> dict[str, dict[str, Any]]:
    return {obj.uuid: obj.properties for obj in iter_objects(client, collection)}
