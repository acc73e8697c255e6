"""Change-set records at the edges: order, skip-only syncs, odd names, one error per problem."""

from __future__ import annotations

import json
from pathlib import Path

from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.changes.reader import iter_change_set, validate_change_set
from elysia_pipelines_tests.changes.test_extract import EXCLUDE, MAX, Syncer, ops
from elysia_pipelines_tests.gitrepo import GitRepo


def _source(tmp_path: Path) -> GitRepo:
    repo = GitRepo.init(tmp_path / "source")
    repo.write("a.py", "a = 1\n")
    repo.write("notes.md", "# notes\n")
    repo.commit("initial")
    return repo


def test_skip_only_syncs_write_a_change_set_naming_the_skipped_files(tmp_path: Path) -> None:
    source = _source(tmp_path)
    syncer = Syncer(source, tmp_path / "pending" / "Demo")
    syncer.sync()
    source.write("logo.png", b"\x89PNG\0\0")
    source.commit()
    binary = syncer.sync()
    assert binary.path is not None and binary.counts == {}
    assert ops(syncer.records(binary)).keys() == {("skip", "logo.png")}
    source.add_submodule_entry("vendor/lib", "1" * 40)
    source.commit()
    submodule = syncer.sync()
    assert submodule.path is not None
    assert ops(syncer.records(submodule))[("skip", "vendor/lib")]["reason"] == "submodule"
    source.write("notes.md", "n" * (MAX + 1))  # a document grows past the limit
    source.commit()
    grown = syncer.sync()
    order = [(r["op"], r.get("path"), r.get("reason")) for r in syncer.records(grown)][1:-1]
    assert order == [("delete", "notes.md", None), ("skip", "notes.md", "too_large")]


def test_backslash_names_are_documents_not_traversal(tmp_path: Path) -> None:
    source = _source(tmp_path)
    source.write("x\\..\\y.txt", "a legal POSIX name\n")
    source.commit()
    syncer = Syncer(source, tmp_path / "pending" / "Demo")
    first = syncer.sync()  # Syncer replays and compares with git's files at HEAD
    assert ("add", "x\\..\\y.txt") in ops(syncer.records(first))
    assert validate_change_set(first.path).ok  # type: ignore[arg-type]


def test_deleted_skipped_file_is_named_by_the_current_rules(tmp_path: Path) -> None:
    source = _source(tmp_path)
    source.write("docs/guide.md", "# guide\n")
    source.commit()
    syncer = Syncer(source, tmp_path / "pending" / "Demo")
    syncer.rules = FileFilter.of([], [*EXCLUDE, "docs/**"], MAX)
    syncer.sync()
    old_rules = syncer.rules
    # The filter changes to take docs/ in, in the same sync that deletes the only
    # file there: it was never left out under the rules in force, so no skip.
    source.delete("docs/guide.md")
    source.write("big.md", "b" * (MAX + 1))
    source.commit()
    syncer.rules = FileFilter.of([], EXCLUDE, MAX)
    result = syncer.sync(previous_filter=old_rules)
    assert result.path is not None
    assert ("skip", "docs/guide.md") not in ops(syncer.records(result))
    assert ops(syncer.records(result))[("skip", "big.md")]["reason"] == "too_large"


def _write(path: Path, lines: list[object]) -> Path:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
            for line in lines
        )
    )
    return path


BEGIN = {
    "op": "begin",
    "repo": "demo",
    "collection": "Demo",
    "from_commit": None,
    "to_commit": "a" * 40,
    "created_at": "2026-01-01T00:00:00Z",
    "format": 1,
}


def test_validator_agrees_with_the_order_delete_then_skip(tmp_path: Path) -> None:
    delete = {"op": "delete", "repo": "demo", "path": "a.png"}
    skip = {"op": "skip", "repo": "demo", "path": "a.png", "reason": "binary"}
    end = {"op": "end", "count": 2, "tracked_files": 0}
    good = _write(tmp_path / "good.jsonl", [BEGIN, delete, skip, end])
    assert validate_change_set(good).ok
    bad = _write(tmp_path / "bad.jsonl", [BEGIN, skip, delete, end])
    assert [str(p) for p in validate_change_set(bad).problems] == [
        "line 3: delete: 'a.png' follows its skip record; the format puts delete first, then skip"
    ]
    assert [r["op"] for r in iter_change_set(good)] == ["begin", "delete", "skip", "end"]


def test_a_bad_first_line_is_the_only_problem_reported(tmp_path: Path) -> None:
    record = {"op": "add", "repo": "demo", "path": "a.py", "content": "x"}
    bom = b"\xef\xbb\xbf" + json.dumps(BEGIN).encode()
    path = _write(tmp_path / "bom.jsonl", [bom, record, {"op": "end", "count": 1}])
    assert [str(p) for p in validate_change_set(path).problems] == [
        "line 1: starts with a UTF-8 byte-order mark (BOM); write UTF-8 without one"
    ]
    garbled = _write(tmp_path / "garbled.jsonl", [b"{not json", record, {"op": "end"}])
    problems = validate_change_set(garbled).problems
    assert len(problems) == 1 and problems[0].line == 1, problems


def test_foreign_records_need_no_size_bytes(tmp_path: Path) -> None:
    record = {
        "op": "add",
        "repo": "demo",
        "path": "legacy.c",
        "content_base64": "Z3L8/GU=",
        "content_hash": "sha256:" + __import__("hashlib").sha256(b"gr\xfc\xfce").hexdigest(),
    }
    path = _write(tmp_path / "x.jsonl", [BEGIN, record, {"op": "end", "count": 1}])
    report = validate_change_set(path)
    assert report.ok, report.summary()
