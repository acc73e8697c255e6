"""Ingestion over REST (weaviate.session, what Dagster runs use) stores what the client stores."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import weaviate

from elysia_pipelines.ingest import apply_pending, sample_documents_match
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate import session as conn
from elysia_pipelines.weaviate.schema import delete_collection
from elysia_pipelines.weaviate.session import WeaviateSession
from elysia_pipelines.weaviate.spec import CollectionSpec
from elysia_pipelines.weaviate.target import WeaviateTarget
from elysia_pipelines_tests.ingest.expected import (
    expected_documents,
    full_objects,
    stored_documents,
)
from elysia_pipelines_tests.ingest.test_apply_git import MAX_FILE_SIZE, Sync, _initial_repo


def _change_sets(tmp_path: Path, settings: Settings) -> tuple[Any, list[list[Path]]]:
    """Three extracted change sets (adds; modify/delete/rename/tier changes; many adds)."""
    repo = _initial_repo(tmp_path)
    sync = Sync(settings, None, repo)  # type: ignore[arg-type]  # extraction only
    batches = [[p for p in [sync.extract()] if p is not None]]
    repo.write("src/app.py", "def main():\n    return 2\n")
    repo.delete("README.md")
    repo.move("src/util.py", "src/helpers.py")
    repo.write("grows.txt", "big\n" * 2000)
    repo.write("docs/big.md", "changed " * 300)
    repo.commit("second")
    batches.append([p for p in [sync.extract()] if p is not None])
    for index in range(25):
        repo.write(f"pkg/mod{index}.py", f"VALUE = {index}\n")
    repo.delete("docs/latin1.txt")
    repo.commit("third")
    batches.append([p for p in [sync.extract()] if p is not None])
    return (repo, sync.last_commit), batches


def _apply_copy(batch: list[Path], settings: Settings, target: Any) -> None:
    pending = settings.pending_dir / "Demo"
    pending.mkdir(parents=True, exist_ok=True)
    for path in batch:
        shutil.copy2(path, pending / path.name)
        blobs = path.with_name(path.stem + ".blobs")
        if blobs.is_dir():
            shutil.copytree(blobs, pending / blobs.name)
    report = apply_pending(settings, target, "Demo", repo="demo")
    assert [r.status for r in report.results] == ["applied"] * len(batch)


def test_rest_session_and_client_store_identical_objects(
    tmp_path: Path, weaviate_env: object, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    """The same change set files applied through each: the same objects after each one."""
    source_settings = settings.with_home(tmp_path / "extract").ensure_dirs()
    (repo, last_commit), batches = _change_sets(tmp_path, source_settings)
    stored: dict[str, list[dict[str, Any]]] = {}
    for name in ("client", "rest"):
        home = settings.with_home(tmp_path / f"by_{name}").ensure_dirs()
        delete_collection(client, "Demo")
        stored[name] = []
        with WeaviateSession(WeaviateTarget.from_settings(Settings.from_env())) as session:
            for batch in batches:
                _apply_copy(batch, home, client if name == "client" else session)
                stored[name].append(full_objects(client, "Demo"))
        expected = expected_documents(
            repo, last_commit, max_file_size=MAX_FILE_SIZE, exclude_suffixes=(".lock",)
        )
        assert stored_documents(client, "Demo") == expected
    assert len(stored["rest"][-1]) > 25
    assert stored["rest"] == stored["client"]


def test_session_reads_a_sample_and_counts_like_the_client(
    tmp_path: Path, weaviate_env: object, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    source_settings = settings.with_home(tmp_path / "extract").ensure_dirs()
    (repo, last_commit), batches = _change_sets(tmp_path, source_settings)
    for batch in batches:
        _apply_copy(batch, settings, client)
    with WeaviateSession(WeaviateTarget.from_settings(Settings.from_env())) as session:
        assert conn.count_or_zero(session, "Demo") == conn.count_or_zero(client, "Demo") > 0
        assert conn.count_or_zero(session, "Missing") == 0
        assert conn.collection_exists(session, "Demo") and not conn.collection_exists(
            session, "Missing"
        )
        for seed in range(3):
            assert sample_documents_match(
                session, "Demo", repo.path, last_commit, 10, seed=seed
            ) == sample_documents_match(client, "Demo", repo.path, last_commit, 10, seed=seed)
        # A mismatching stored hash is reported the same way through both.
        ids = list(full_objects(client, "Demo"))
        assert conn.delete_ids(session, "Demo", ids[:3]) == 3
        assert conn.count(session, "Demo") == len(ids) - 3


@pytest.mark.parametrize(
    "spec",
    [
        CollectionSpec(name="Demo"),
        CollectionSpec(name="Demo", replication_factor=3, description="a repository"),
        CollectionSpec(name="Demo", tokenization={"path": "field", "content": "whitespace"}),
    ],
    ids=["default", "replicas+description", "tokenization"],
)
def test_rest_class_is_the_request_weaviate_client_sends(spec: CollectionSpec) -> None:
    """Creating over REST sends the body `collections.create` would have sent."""
    from weaviate.classes.config import Configure
    from weaviate.collections.classes.config import _CollectionConfigCreate

    from elysia_pipelines.weaviate import schema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        request = _CollectionConfigCreate(
            name=spec.name,
            description=spec.description,
            properties=[schema._property(p, spec.tokenization_of(p)) for p in spec.properties],
            replication_config=Configure.replication(factor=spec.replication_factor),
            vectorizer_config=Configure.Vectorizer.none(),
        )._to_dict()
    assert conn.rest_class(spec) == request
    assert conn.rest_class(CollectionSpec(name="Demo", vector_name="main")) is None


def test_collection_created_over_rest_matches_its_spec(
    weaviate_env: object, client: weaviate.WeaviateClient
) -> None:
    from elysia_pipelines.weaviate.schema import compare_schema, describe_collection

    spec = CollectionSpec(name="Made", tokenization={"path": "field"})
    with WeaviateSession(WeaviateTarget.from_settings(Settings.from_env())) as session:
        assert conn.ensure_collection(session, spec).created
        assert not conn.ensure_collection(session, spec).created
        assert conn.node_count(session) == 1
    assert compare_schema(describe_collection(client, "Made"), spec) == []
    delete_collection(client, "Made")
    from elysia_pipelines.weaviate.schema import ensure_collection as by_client

    assert by_client(client, spec).created
    made_by_client = describe_collection(client, "Made")
    delete_collection(client, "Made")
    with WeaviateSession(WeaviateTarget.from_settings(Settings.from_env())) as session:
        conn.ensure_collection(session, spec)
    assert describe_collection(client, "Made") == made_by_client
