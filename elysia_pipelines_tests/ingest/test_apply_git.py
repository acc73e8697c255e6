"""End to end on real git repositories: extract change sets, apply them, compare with git."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import weaviate

from elysia_pipelines.changes.extract import ChangeSetTarget, ExtractOptions, extract_change_set
from elysia_pipelines.changes.format import blob_dir_for
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.documents import document_uuid
from elysia_pipelines.ingest import (
    IngestReport,
    apply_pending,
    expected_document_count,
    last_applied_seq,
    newest_pending_seq,
    open_dead_letters,
    pending_files,
    sample_documents_match,
    sample_precondition,
)
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import ObjectToWrite, upsert
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.ingest.expected import (
    expected_documents,
    full_objects,
    stored_documents,
)

MAX_FILE_SIZE = 4000
INLINE_MAX = 600  # small, so content_ref blobs are exercised too
LATIN1 = "café = 'crème brûlée'\n".encode("latin-1")


@dataclass
class Sync:
    """Extract + ingest for one repository, remembering the last synced commit."""

    settings: Settings
    client: weaviate.WeaviateClient
    repo: GitRepo
    registry: Registry | None = None
    last_commit: str | None = None
    seq: int = 0
    reports: list[IngestReport] = field(default_factory=list)

    def extract(self) -> Path | None:
        self.seq += 1
        result = extract_change_set(
            self.repo.path,
            ChangeSetTarget(
                repo="demo",
                collection="Demo",
                out_dir=self.settings.pending_dir / "Demo",
                seq=self.seq,
            ),
            ExtractOptions(
                from_commit=self.last_commit,
                rules=FileFilter.of((), ["*.lock"], MAX_FILE_SIZE),
                inline_max_bytes=INLINE_MAX,
            ),
        )
        self.last_commit = result.to_commit
        return result.path

    def run(self) -> IngestReport:
        self.extract()
        report = apply_pending(
            self.settings, self.client, "Demo", repo="demo", registry=self.registry
        )
        self.reports.append(report)
        return report

    def assert_exact(self) -> None:
        assert self.last_commit is not None
        expected = expected_documents(
            self.repo, self.last_commit, max_file_size=MAX_FILE_SIZE, exclude_suffixes=(".lock",)
        )
        assert stored_documents(self.client, "Demo") == expected
        assert expected_document_count(self.settings, "Demo") == len(expected)


def _initial_repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "src")
    repo.write("README.md", "# demo\n")
    repo.write("src/app.py", "def main():\n    return 1\n")
    repo.write("src/util.py", "X = 1\n")
    repo.write("docs/latin1.txt", LATIN1)  # not UTF-8: the base64 tier
    repo.write("docs/big.md", "lorem ipsum\n" * 200)  # > INLINE_MAX: the content_ref tier
    repo.write("assets/logo.png", b"\x89PNG\r\n\x1a\n\0\0binary")
    repo.write("data/huge.csv", "a,b\n" * 2000)  # > MAX_FILE_SIZE: skipped
    repo.write("grows.txt", "small\n")
    repo.write("deps/poetry.lock", "excluded = true\n")  # excluded by pattern
    repo.symlink("link.py", "src/app.py")
    repo.commit("initial")
    return repo


def _synced_once(
    tmp_path: Path, settings: Settings, client: weaviate.WeaviateClient
) -> tuple[GitRepo, Sync]:
    """The initial repository and its first sync, applied."""
    repo = _initial_repo(tmp_path)
    sync = Sync(settings, client, repo)
    sync.run()
    return repo, sync


def test_syncs_follow_the_repository_exactly(
    tmp_path: Path, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    registry = Registry(settings.registry_path)
    registry.add(new_repository("demo", "file:///demo", max_file_size=MAX_FILE_SIZE))
    repo = _initial_repo(tmp_path)
    sync = Sync(settings, client, repo, registry)

    first = sync.run()
    assert [r.status for r in first.results] == ["applied"]
    assert first.results[0].skipped == {"binary": 1, "too_large": 1, "symlink": 1, "excluded": 1}
    sync.assert_exact()

    repo.write("src/app.py", "def main():\n    return 2\n")  # modify
    repo.delete("README.md")  # delete
    repo.move("src/util.py", "src/helpers.py")  # rename
    repo.write("grows.txt", "big\n" * 2000)  # becomes too large: its document must go
    repo.write("assets/logo.png", "now text\n")  # binary becomes text: added
    repo.write("docs/big.md", "changed " * 300)  # modify in the blob tier
    repo.commit("second")
    second = sync.run()
    assert second.results[0].counts.get("rename") == 1
    sync.assert_exact()

    for index in range(25):
        repo.write(f"pkg/mod{index}.py", f"VALUE = {index}\n")
    repo.delete("docs/latin1.txt")
    repo.commit("third")
    sync.run()
    sync.assert_exact()

    # Nothing pending any more; every change set went to processed/ with its blobs.
    assert pending_files(settings, "Demo") == []
    assert newest_pending_seq(settings, "Demo") is None
    assert last_applied_seq(settings, "Demo") == 3
    processed = sorted(p.name for p in (settings.processed_dir / "Demo").glob("*.jsonl"))
    assert len(processed) == 3
    assert any(blob_dir_for(settings.processed_dir / "Demo" / n).is_dir() for n in processed)
    assert open_dead_letters(settings, "Demo") == []

    # One sync-history row per applied change set, newest first.
    history = registry.history("demo", stage="ingest")
    assert [h.seq for h in history] == [3, 2, 1]
    assert all(h.status == "success" for h in history)
    assert history[0].counts == {"add": 25, "delete": 1}
    assert history[2].to_commit == sync.reports[0].results[0].to_commit

    # The sampling check agrees with git, and notices a document that drifted.
    head = sync.last_commit
    assert head is not None
    assert sample_documents_match(client, "Demo", repo.path, head, 50, seed=1) == []
    doc = next(iter(full_objects(client, "Demo").items()))
    tampered = {**doc[1], "content_hash": "sha256:" + "0" * 64}
    upsert(client, "Demo", [ObjectToWrite(doc[0], tampered)])
    mismatches = sample_documents_match(client, "Demo", repo.path, head, 50, seed=1)
    assert [(m.path, m.problem) for m in mismatches] == [(doc[1]["path"], "content differs")]

    # States the check describes instead of raising: a good commit, a commit the
    # mirror never had (another producer's change set), no mirror at all.
    assert sample_precondition(repo.path, head) is None
    assert "not in the mirror" in (sample_precondition(repo.path, "b" * 40) or "")
    assert "is missing" in (sample_precondition(repo.path.parent / "no-such-mirror", head) or "")
    not_git = repo.path.parent / "plain-dir"
    not_git.mkdir()
    assert "is missing" in (sample_precondition(not_git, head) or "")


def _copy_back(changeset: Path, pending: Path) -> None:
    shutil.copy2(changeset, pending / changeset.name)
    if blob_dir_for(changeset).is_dir():
        shutil.copytree(blob_dir_for(changeset), pending / blob_dir_for(changeset).name)


def test_reapplying_a_change_set_changes_nothing(
    tmp_path: Path, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    repo, sync = _synced_once(tmp_path, settings, client)
    repo.write("src/app.py", "changed\n")
    repo.move("src/util.py", "src/u2.py")
    repo.commit("second")
    sync.run()
    before = full_objects(client, "Demo")

    # The newest change set dropped into pending again (with its blob directory).
    processed = settings.processed_dir / "Demo"
    newest = sorted(processed.glob("*.jsonl"))[-1]
    _copy_back(newest, settings.pending_dir / "Demo")
    again = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.status for r in again.results] == ["applied"]
    assert full_objects(client, "Demo") == before

    # An older one would roll content back: rejected as stale, nothing written,
    # and it does not block the collection.
    oldest = sorted(processed.glob("*.jsonl"))[0]
    _copy_back(oldest, settings.pending_dir / "Demo")
    stale = apply_pending(settings, client, "Demo", repo="demo")
    assert [r.status for r in stale.results] == ["stale"]
    assert stale.blocked_by is None
    assert (settings.failed_dir / "Demo" / oldest.name).is_file()
    assert full_objects(client, "Demo") == before

    repo.write("new.py", "new\n")
    repo.commit("third")
    assert [r.status for r in sync.run().results] == ["applied"]
    sync.assert_exact()


def test_full_snapshot_removes_documents_the_snapshot_does_not_name(
    tmp_path: Path, settings: Settings, client: weaviate.WeaviateClient
) -> None:
    repo, sync = _synced_once(tmp_path, settings, client)
    # Another repository's document shares the collection and must survive.
    upsert(
        client,
        "Demo",
        [
            ObjectToWrite(
                document_uuid("other", "keep.py"),
                {"repo": "other", "path": "keep.py", "content": "k", "content_hash": "x"},
            )
        ],
    )
    # History rewritten and the old commit gone: the extractor sends a full snapshot.
    repo.reset_hard(repo.head())
    repo.delete("src/util.py")
    repo.write("src/app.py", b"\0now binary")  # had a document; a skip in the snapshot
    repo.write("fresh.py", "fresh\n")
    repo.git("commit", "-q", "--amend", "-m", "rewritten")
    repo.forget_unreachable()
    sync.last_commit = "f" * 40  # a commit the mirror does not know
    report = sync.run()
    assert report.results[0].status == "applied"
    assert report.results[0].counts == {"add": report.results[0].tracked_files}
    assert report.results[0].skipped["binary"] == 2
    stored = stored_documents(client, "Demo")
    assert stored.pop("keep.py")[1] == "k"
    assert sync.last_commit is not None
    assert stored == expected_documents(
        repo, sync.last_commit, max_file_size=MAX_FILE_SIZE, exclude_suffixes=(".lock",)
    )
