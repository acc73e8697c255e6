"""Extraction against real repositories: after every sync, replaying all change sets
from empty must reproduce the ingestible files at HEAD byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from elysia_pipelines.changes.audit import audit_change_set
from elysia_pipelines.changes.extract import (
    ChangeSetTarget,
    ExtractOptions,
    ExtractResult,
    extract_change_set,
)
from elysia_pipelines.changes.format import content_hash, is_binary
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.changes.reader import iter_change_set, read_header, validate_change_set
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines_tests.changes.replay import replay
from elysia_pipelines_tests.gitrepo import GitRepo, forget_unreachable

MAX = 1000
EXCLUDE = ["node_modules/**", "*.lock"]


def expected_documents(repo: GitRepo, rules: FileFilter) -> dict[str, bytes]:
    """The oracle: regular, selected, small, non-binary files at HEAD, read by git."""
    out: dict[str, bytes] = {}
    for path, (mode, sha) in repo.files().items():
        if mode not in ("100644", "100755") or not rules.includes(path):
            continue
        data = repo.read_blob(sha)
        if len(data) <= rules.max_file_size and b"\0" not in data[:8192]:
            out[path] = data
    return out


class Syncer:
    """Runs extraction like the pipeline would and checks the replayed result each time."""

    def __init__(self, repo: GitRepo, out_dir: Path, *, mirror: Path | None = None) -> None:
        self.repo = repo
        self.mirror = mirror or repo.path
        self.out_dir = out_dir
        self.seq = 0
        self.last_commit: str | None = None
        self.rules = FileFilter.of([], EXCLUDE, MAX)
        self.written: list[Path] = []

    def sync(self, previous_filter: FileFilter | None = None) -> ExtractResult:
        self.seq += 1
        result = extract_change_set(
            self.mirror,
            ChangeSetTarget(repo="demo", collection="Demo", out_dir=self.out_dir, seq=self.seq),
            ExtractOptions(
                from_commit=self.last_commit,
                rules=FileFilter.of(
                    list(self.rules.include), list(self.rules.exclude), self.rules.max_file_size
                ),
                previous_filter=previous_filter,
                inline_max_bytes=100,
                now=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        )
        if result.path is not None:
            self.written.append(result.path)
            audit = audit_change_set(result.path, self.mirror)
            assert audit.ok, audit
            assert audit.covered == audit.diff_paths
            # The blocking check audits with the validation's record paths instead of
            # parsing the file again: the same report, on every kind of sync here.
            validation = validate_change_set(result.path)
            assert validation.ok and validation.named_paths
            reused = audit_change_set(result.path, self.mirror, named_paths=validation.named_paths)
            assert reused == audit
        self.last_commit = result.to_commit
        state = replay(self.written)
        expected = expected_documents(self.repo, self.rules)
        assert sorted(state) == sorted(expected)
        for path, data in expected.items():
            assert state[path] == data, path
            assert content_hash(state[path]) == content_hash(data)
        assert result.tracked_files == len(expected)
        return result

    def records(self, result: ExtractResult) -> list[dict]:
        assert result.path is not None
        return list(iter_change_set(result.path))


def ops(records: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["op"], r.get("path", "")): r for r in records if r["op"] not in ("begin", "end")}


@pytest.fixture
def source(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "source")
    repo.write("src/app.py", "def main():\n    return 1\n")
    repo.write("README.md", "# Demo\n\nA demo repository.\n")
    repo.write("docs/with space.md", "spaces in the name\n")
    repo.write("na\u00efve/\u00fcn\u00efc\u00f8de.py", "print('\u00fcn\u00efc\u00f8de')\n")
    repo.write('odd/quote"and\ttab\nnewline.txt', "odd name\n")
    repo.write("logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    repo.symlink("link-to-secret", "../../etc/passwd")
    repo.write("big.txt", "x" * 2000 + "\n")
    repo.write("medium.txt", "m" * 500 + "\n")  # above inline_max_bytes: a content_ref blob
    repo.write("legacy.c", "/* gr\u00fc\u00dfe */\nint x;\n".encode("latin-1"))
    repo.write("node_modules/pkg/index.js", "module.exports = 1;\n")
    repo.write("run.sh", "#!/bin/sh\necho hi\n", executable=True)
    repo.write("empty.txt", "")
    repo.write("crlf.txt", "one\r\ntwo\r\n")
    repo.add_submodule_entry("vendor/lib", "1" * 40)
    repo.commit("initial")
    return repo


def test_full_history_of_changes_replays_exactly(source: GitRepo, tmp_path: Path) -> None:
    syncer = Syncer(source, tmp_path / "pending" / "Demo")

    first = syncer.sync()
    assert first.full_snapshot and first.from_commit is None
    assert first.path is not None and first.path.name == f"00000001-{first.to_commit[:12]}.jsonl"
    assert read_header(first.path).full_snapshot
    assert first.skipped == {
        "binary": 1,
        "symlink": 1,
        "too_large": 1,
        "excluded": 1,
        "submodule": 1,
    }
    records = ops(syncer.records(first))
    assert records[("skip", "big.txt")]["size_bytes"] == 2001
    assert "content_base64" in records[("add", "legacy.c")]
    assert "content_ref" in records[("add", "medium.txt")]
    assert records[("add", "src/app.py")]["language"] == "Python"
    assert records[("add", "empty.txt")]["line_count"] == 0
    assert records[("add", "crlf.txt")]["content"] == "one\r\ntwo\r\n"

    # adds, edits, deletes, renames (plain and with an edit), exec bit only
    source.write("src/app.py", "def main():\n    return 2\n")
    source.move("README.md", "docs/README.md")
    source.move("na\u00efve/\u00fcn\u00efc\u00f8de.py", "na\u00efve/renamed \u00fc.py")
    source.write("na\u00efve/renamed \u00fc.py", "print('\u00fcn\u00efc\u00f8de')\nprint(2)\n")
    source.delete("legacy.c")
    source.set_executable("run.sh", False)
    source.write("new/file.ts", "export const x = 1;\n")
    source.commit()
    second = syncer.sync()
    assert not second.full_snapshot and second.from_commit == first.to_commit
    records = ops(syncer.records(second))
    assert set(records) == {
        ("modify", "src/app.py"),
        ("rename", "docs/README.md"),
        ("rename", "na\u00efve/renamed \u00fc.py"),
        ("delete", "legacy.c"),
        ("add", "new/file.ts"),
    }
    assert records[("rename", "docs/README.md")]["previous_path"] == "README.md"
    assert records[("rename", "na\u00efve/renamed \u00fc.py")]["previous_path"] == (
        "na\u00efve/\u00fcn\u00efc\u00f8de.py"
    )
    assert second.counts == {"modify": 1, "rename": 2, "delete": 1, "add": 1}

    # files turn binary, too large, excluded; others come back in
    source.write("src/app.py", b"\0binary now")
    source.write("big.txt", "small now\n")
    source.write("new/file.ts", "y" * 5000)
    source.move("docs/with space.md", "node_modules/with space.md")
    source.move("node_modules/pkg/index.js", "lib/index.js")
    source.symlink("medium.txt", "big.txt")  # a file becomes a symlink
    source.commit()
    third = syncer.sync()
    records = ops(syncer.records(third))
    assert set(records) == {
        ("delete", "src/app.py"),
        ("skip", "src/app.py"),
        ("add", "big.txt"),
        ("delete", "new/file.ts"),
        ("skip", "new/file.ts"),
        ("delete", "docs/with space.md"),
        ("skip", "node_modules/with space.md"),
        ("add", "lib/index.js"),
        ("skip", "node_modules/pkg/index.js"),  # gone, but it never was a document
        ("delete", "medium.txt"),
        ("skip", "medium.txt"),
    }
    assert records[("skip", "src/app.py")]["reason"] == "binary"
    assert records[("skip", "new/file.ts")]["reason"] == "too_large"
    assert records[("skip", "medium.txt")]["reason"] == "symlink"
    # Applied in record order, a file that leaves the collection ends up skipped:
    # its delete comes before its skip.
    order = [(r["op"], r.get("path")) for r in syncer.records(third)]
    for path in ("src/app.py", "new/file.ts", "medium.txt"):
        assert order.index(("delete", path)) < order.index(("skip", path)), path

    # only an excluded file changes: a change set that names it, and nothing else
    source.write("node_modules/with space.md", "still excluded\n")
    source.commit()
    fourth = syncer.sync()
    assert fourth.path is not None and fourth.counts == {} and fourth.changed_files == 0
    assert fourth.skipped == {"excluded": 1}
    assert ops(syncer.records(fourth)).keys() == {("skip", "node_modules/with space.md")}
    # exec-bit only, and no change at all: nothing is written
    source.set_executable("run.sh", True)
    source.commit()
    assert syncer.sync().path is None
    fifth = syncer.sync()
    assert fifth.path is None and fifth.from_commit == fifth.to_commit
    assert sorted(p.name for p in syncer.out_dir.iterdir() if p.suffix == ".jsonl") == [
        p.name for p in syncer.written
    ]
    assert not [p for p in syncer.out_dir.iterdir() if p.name.startswith(".")]


def test_force_push_diffs_against_old_commit_or_falls_back_to_snapshot(
    source: GitRepo, tmp_path: Path
) -> None:
    syncer = Syncer(source, tmp_path / "pending")
    base = syncer.sync().to_commit
    source.write("feature.py", "x = 1\n")
    source.write("src/app.py", "changed\n")
    source.commit()
    syncer.sync()

    # rewrite history: the synced commit still exists, but is no longer an ancestor
    source.reset_hard(base)
    source.write("other.py", "y = 2\n")
    source.commit("rewritten")
    rewritten = syncer.sync()
    assert rewritten.history_rewritten and not rewritten.full_snapshot
    assert set(ops(syncer.records(rewritten))) == {
        ("delete", "feature.py"),
        ("modify", "src/app.py"),
        ("add", "other.py"),
    }

    # rewrite again and garbage-collect: the synced commit is gone for good
    source.reset_hard(base)
    source.write("third.py", "z = 3\n")
    source.commit("rewritten again")
    forget_unreachable(source.path)
    gone = syncer.last_commit
    assert gone is not None
    snapshot = syncer.sync()
    assert snapshot.full_snapshot and snapshot.history_rewritten
    assert "no longer exists" in snapshot.reason
    header = read_header(snapshot.path) if snapshot.path else None
    assert header is not None and header.full_snapshot and header.from_commit == gone


@pytest.mark.parametrize("told", [True, False], ids=["previous_filter", "remembered"])
def test_filter_change_deletes_and_adds_unchanged_files(
    source: GitRepo, tmp_path: Path, told: bool
) -> None:
    syncer = Syncer(source, tmp_path / "pending")
    syncer.sync()
    before = syncer.rules
    syncer.rules = FileFilter.of(["*.py", "*.md"], ["docs/**"], MAX)
    narrowed = syncer.sync(previous_filter=before if told else None)
    assert narrowed.path is not None and not read_header(narrowed.path).full_snapshot
    begin = next(iter_change_set(narrowed.path))
    assert begin["filter_changed"] is True and begin["previous_filter"] == before.to_dict()
    records = ops(syncer.records(narrowed))
    assert ("delete", "docs/with space.md") in records
    assert ("delete", "crlf.txt") in records
    assert ("skip", "crlf.txt") in records and records[("skip", "crlf.txt")]["reason"] == "excluded"
    assert ("add", "src/app.py") not in records  # still included, unchanged: no record
    narrow = syncer.rules
    syncer.rules = before
    widened = syncer.sync(previous_filter=narrow if told else None)
    assert widened.counts.get("add", 0) == narrowed.counts["delete"]


@pytest.mark.parametrize("damage", ["kinds", "tracked", "both"])
def test_cache_loss_only_costs_time(source: GitRepo, tmp_path: Path, damage: str) -> None:
    syncer = Syncer(source, tmp_path / "pending")
    syncer.sync()
    kinds = source.path / ".git" / "elysia-blob-kinds"
    tracked = source.path / ".git" / "elysia-tracked.json"
    assert kinds.is_file() and tracked.is_file()
    if damage in ("kinds", "both"):
        kinds.write_text("garbage\n")
    if damage in ("tracked", "both"):
        tracked.write_text("[1, 2")
    source.write("another.py", "pass\n")
    source.write("logo.png", b"\0still binary, changed")
    source.commit()
    result = syncer.sync()  # tracked_files is checked against the oracle
    assert result.counts == {"add": 1}
    source.delete("another.py")
    source.commit()
    assert syncer.sync().counts == {"delete": 1}


def test_mirror_clone_is_extracted_like_its_source(source: GitRepo, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror.git"
    source.git("clone", "-q", "--mirror", str(source.path), str(mirror))
    syncer = Syncer(source, tmp_path / "pending", mirror=mirror)
    result = syncer.sync()
    assert result.branch == "main"
    assert not (source.path / ".git" / "elysia-blob-kinds").exists()
    assert (mirror / "elysia-blob-kinds").is_file()
    assert (mirror / "elysia-tracked.json").is_file()


def test_branch_and_repository_errors(source: GitRepo, tmp_path: Path) -> None:
    source.branch("feature")
    source.write("feature-only.py", "f = 1\n")
    source.commit("feature work")
    source.checkout("main")
    target = ChangeSetTarget(repo="demo", collection="Demo", out_dir=tmp_path / "out", seq=1)
    rules = FileFilter(max_file_size=MAX)
    result = extract_change_set(source.path, target, ExtractOptions(branch="feature", rules=rules))
    assert result.path is not None
    paths = {r.get("path") for r in iter_change_set(result.path)}
    assert "feature-only.py" in paths
    with pytest.raises(NotFoundError, match="branch 'nope' not found") as info:
        extract_change_set(source.path, target, ExtractOptions(branch="nope", rules=rules))
    assert "feature" in (info.value.hint or "")
    with pytest.raises(ElysiaError, match="not a git repository"):
        extract_change_set(tmp_path, target, ExtractOptions(rules=rules))
    empty = GitRepo.init(tmp_path / "empty")
    with pytest.raises(ElysiaError, match="no commits"):
        extract_change_set(empty.path, target, ExtractOptions(rules=rules))


def test_snapshot_of_repository_without_ingestible_files_is_still_written(
    tmp_path: Path,
) -> None:
    repo = GitRepo.init(tmp_path / "bin")
    repo.write("a.bin", b"\0\1\2")
    repo.commit("binary only")
    result = extract_change_set(
        repo.path,
        ChangeSetTarget(repo="bin", collection="Bin", out_dir=tmp_path / "o", seq=1),
        ExtractOptions(from_commit=None),
    )
    assert result.path is not None and result.tracked_files == 0
    lines = [json.loads(x) for x in result.path.read_text().splitlines()]
    assert lines[-1] == {"op": "end", "count": 1, "tracked_files": 0}
    assert is_binary(b"\0\1\2")


def test_unwritable_output_is_a_clear_error_and_leaves_nothing(
    source: GitRepo, tmp_path: Path
) -> None:
    blocker = tmp_path / "pending"
    blocker.write_text("a file where the directory should be")
    with pytest.raises(ElysiaError, match="could not write the change set"):
        extract_change_set(
            source.path,
            ChangeSetTarget(repo="d", collection="D", out_dir=blocker / "D", seq=1),
            ExtractOptions(from_commit=None),
        )
    assert blocker.read_text() == "a file where the directory should be"


def test_result_metadata_and_filter_round_trip(source: GitRepo, tmp_path: Path) -> None:
    rules = FileFilter.of(["*.py"], ["tests/**"], 5000)
    assert FileFilter.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    result = extract_change_set(
        source.path,
        ChangeSetTarget(repo="d", collection="D", out_dir=tmp_path / "o", seq=1),
        ExtractOptions(from_commit=None),
    )
    metadata = json.loads(json.dumps(result.as_metadata()))
    assert metadata["path"] == str(result.path) and metadata["full_snapshot"] is True
    assert metadata["tracked_files"] == result.tracked_files


def test_audit_finds_missing_and_unexpected_paths(source: GitRepo, tmp_path: Path) -> None:
    syncer = Syncer(source, tmp_path / "pending")
    syncer.sync()
    source.write("src/app.py", "edited\n")
    source.write("added.py", "a = 1\n")
    source.set_executable("run.sh", False)
    source.commit()
    result = syncer.sync()
    assert result.path is not None
    report = audit_change_set(result.path, source.path)
    assert report.ok and report.diff_paths == 3 and report.covered == 3  # run.sh: mode only

    lines = result.path.read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    kept = [r for r in records if r.get("path") != "added.py"]
    kept.append(dict(kept[1], path="README.md"))  # a record for a file git did not change
    kept = [r for r in kept if r["op"] != "end"] + [{"op": "end", "count": len(kept) - 1}]
    result.path.write_text("".join(json.dumps(r) + "\n" for r in kept), "utf-8")
    report = audit_change_set(result.path, source.path)
    assert not report.ok
    assert report.missing == ["added.py"] and report.unexpected == ["README.md"]

    flat = tmp_path / "flat.jsonl"
    flat.write_text(json.dumps({"op": "delete", "repo": "demo", "path": "x"}) + "\n")
    assert audit_change_set(flat, source.path).ok

    records[0]["from_commit"] = "0" * 40
    result.path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    report = audit_change_set(result.path, source.path)
    assert not report.ok and "not in the mirror" in report.note


def test_hostile_tree_entry_is_counted_not_written(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "hostile")
    repo.commit_hostile_tree()
    result = extract_change_set(
        repo.path,
        ChangeSetTarget(repo="h", collection="H", out_dir=tmp_path / "o", seq=1),
        ExtractOptions(from_commit=None),
    )
    assert result.path is not None and result.skipped == {"unsafe_path": 1}
    assert replay([result.path]) == {"ok.txt": b"fine\n"}
    assert audit_change_set(result.path, repo.path).ok
