"""A full snapshot is written from git's listing as it streams (flat memory); it must be
byte for byte the change set the listing held in memory and sorted gives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from elysia_pipelines.changes import extract
from elysia_pipelines.changes.extract import ChangeSetTarget, ExtractOptions, extract_change_set
from elysia_pipelines.changes.git_objects import iter_tree, list_tree, open_repository, tree_totals
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.changes.reader import iter_change_set
from elysia_pipelines.changes.sync_cache import KINDS_NAME, BlobKinds
from elysia_pipelines_tests.changes.replay import replay
from elysia_pipelines_tests.gitrepo import GitRepo

NOW = datetime(2026, 1, 1, tzinfo=UTC)
EXCLUDE = ("node_modules/**",)
MAX = 200
# Names where an order by bytes, by code point and by git's tree rule could disagree.
TRICKY = [
    "a-b.txt",
    "a.c",
    "a/b.py",
    "a0.md",
    "ab/c.txt",
    "a b/c.txt",
    "Z.txt",
    "z.txt",
    "é/x.txt",
    "e\u0301.txt",
    "日本/語.md",
    "x/y/z/deep.py",
    "~tilde",
    "node_modules/m.js",
]
BULK = extract._SNAPSHOT_CHUNK + 500  # more than one chunk


def _tricky_repo(path: Path) -> GitRepo:
    repo = GitRepo.init(path)
    for name in TRICKY:
        repo.write(name, f"{name}\n")
    repo.write("logo.png", b"\x89PNG\0\0binary")
    repo.write("large.txt", "x" * (MAX + 1))
    repo.write("long.txt", "y" * 150)  # over inline_max_bytes: a blob file
    repo.symlink("link", "a.c")
    repo.add_submodule_entry("vendor/sub", "1" * 40)
    # Many paths, one blob: cheap to stage, and the same blob id at every path.
    shared = repo.git("hash-object", "-w", "--stdin", input_text="same\n").strip()
    lines = "".join(f"100644 {shared}\tbulk/d{i % 7}/f{i:05d}.txt\n" for i in range(BULK))
    repo.git("update-index", "--add", "--index-info", input_text=lines)
    repo.commit()
    return repo


def _in_memory_snapshot(repo: GitRepo, out_dir: Path, to_commit: str) -> Path:
    """The change set as extraction wrote it before streaming: whole listing, sorted."""
    rules = FileFilter.of([], EXCLUDE, MAX)
    repository = open_repository(repo.path)
    try:
        writer = extract._LazyWriter(
            out_dir=out_dir,
            seq=1,
            repo="demo",
            collection="Demo",
            from_commit=None,
            to_commit=to_commit,
            full_snapshot=True,
            created_at=NOW,
            inline_max_bytes=100,
            begin_extra=extract._begin_extra(rules, rules),
        )
        tree = list_tree(repository, to_commit)
        kinds = BlobKinds(Path(repository.git_dir))
        tracked = extract._write_snapshot(repository, writer, tree, rules, kinds)
        assert writer.writer is not None
        return writer.writer.commit(tracked_files=tracked)
    finally:
        repository.close()


def _extract(repo: GitRepo, out_dir: Path) -> extract.ExtractResult:
    return extract_change_set(
        repo.path,
        ChangeSetTarget(repo="demo", collection="Demo", out_dir=out_dir, seq=1),
        ExtractOptions(rules=FileFilter.of([], EXCLUDE, MAX), inline_max_bytes=100, now=NOW),
    )


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def test_streamed_snapshot_is_byte_identical_to_the_sorted_listing(tmp_path: Path) -> None:
    repo = _tricky_repo(tmp_path / "repo")
    result = _extract(repo, tmp_path / "streamed")
    assert result.path is not None
    old = _in_memory_snapshot(repo, tmp_path / "in_memory", result.to_commit)
    assert result.path.read_bytes() == old.read_bytes()
    assert _files(tmp_path / "streamed") == _files(tmp_path / "in_memory")  # blobs too
    paths = [r["path"] for r in iter_change_set(result.path) if "path" in r]
    assert paths == sorted(paths) and len(paths) == len(TRICKY) + 5 + BULK
    assert result.tracked_files == len(TRICKY) - 1 + 1 + BULK  # minus excluded, plus long
    assert result.skipped == {
        "binary": 1,
        "too_large": 1,
        "excluded": 1,
        "symlink": 1,
        "submodule": 1,
    }
    documents = replay([result.path])
    assert documents["long.txt"] == b"y" * 150 and documents["bulk/d0/f00000.txt"] == b"same\n"


def test_blob_kinds_cache_is_rewritten_for_the_streamed_tree(tmp_path: Path) -> None:
    repo = _tricky_repo(tmp_path / "repo")
    kinds_file = repo.path / ".git" / KINDS_NAME
    kinds_file.write_text("# elysia blob kinds v1: <sha> <b|t>\n" + "f" * 40 + " t\n")
    result = _extract(repo, tmp_path / "out")
    repository = open_repository(repo.path)
    try:
        entries = {e.path: e for e in iter_tree(repository, result.to_commit)}
    finally:
        repository.close()
    kinds = BlobKinds(repo.path / ".git")
    assert kinds.get(entries["logo.png"].sha) is True
    assert kinds.get(entries["a.c"].sha) is False
    assert kinds.get(entries["bulk/d3/f00003.txt"].sha) is False
    assert kinds.get("f" * 40) is None  # not in the tree: pruned, as before
    assert not list(kinds_file.parent.glob(f".{KINDS_NAME}.*"))  # no temporary left


def test_path_that_is_not_utf8_falls_back_to_the_sorted_listing(tmp_path: Path) -> None:
    repo = GitRepo.init(tmp_path / "repo")
    repo.write("b.txt", "b\n")
    repo.write("cé.txt", "c acute\n")
    repo.write("d.txt", "d\n")
    blob = repo.git("hash-object", "-w", "--stdin", input_text="latin-1 name\n").strip()
    # b"c\x80.txt" and b"c\x81.txt": valid in git, not UTF-8 (argv carries the raw
    # bytes via surrogateescape). git lists them before "cé.txt" (bytes 0x80 < 0xc3);
    # decoded they are both "c\ufffd.txt", which sorts after it and is one path.
    for raw in ("c\udc80.txt", "c\udc81.txt"):
        repo.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{raw}")
    repo.commit()
    result = _extract(repo, tmp_path / "streamed")
    assert result.path is not None
    old = _in_memory_snapshot(repo, tmp_path / "in_memory", result.to_commit)
    assert result.path.read_bytes() == old.read_bytes()
    assert result.skipped == {"invalid_path_encoding": 1}
    assert replay([result.path]) == {"b.txt": b"b\n", "cé.txt": b"c acute\n", "d.txt": b"d\n"}
    _assert_totals_match_listing(repo)


def _assert_totals_match_listing(repo: GitRepo) -> None:
    """The mirror's file count and size, streamed, are the listing's (a path met twice counts once)."""
    repository = open_repository(repo.path)
    try:
        tree = list_tree(repository, "HEAD")
        expected = (len(tree), sum(e.size or 0 for e in tree.values()))
        assert tree_totals(repository, "HEAD") == expected
    finally:
        repository.close()


def test_tree_totals_of_an_ordinary_tree(tmp_path: Path) -> None:
    repo = _tricky_repo(tmp_path / "repo")
    _assert_totals_match_listing(repo)


def test_iter_tree_stops_git_when_closed_early_and_reports_git_errors(tmp_path: Path) -> None:
    repo = _tricky_repo(tmp_path / "repo")
    repository = open_repository(repo.path)
    try:
        entries = iter_tree(repository, "HEAD")
        first = next(entries)
        entries.close()  # git is killed and reaped, nothing hangs
        assert first.path == sorted(list_tree(repository, "HEAD"))[0]
        import git

        try:
            list(iter_tree(repository, "0" * 40))
        except git.GitCommandError as exc:
            assert "0" * 40 in str(exc) or exc.status != 0
        else:
            raise AssertionError("a missing tree must be an error")
    finally:
        repository.close()
