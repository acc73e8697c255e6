"""Writer, reader and validator of the change-set format, on real files."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from elysia_pipelines.changes.format import (
    changeset_filename,
    count_lines,
    decode_text,
    is_binary,
    parse_sequence,
    path_problem,
)
from elysia_pipelines.changes.reader import (
    iter_change_set,
    iter_file_changes,
    read_header,
    validate_change_set,
)
from elysia_pipelines.changes.writer import ChangeSetWriter
from elysia_pipelines.errors import ElysiaError

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_sample(out_dir: Path, *, inline_max_bytes: int = 64) -> Path:
    with ChangeSetWriter(
        out_dir,
        seq=7,
        repo="my-repo",
        collection="My_repo",
        from_commit=COMMIT_A,
        to_commit=COMMIT_B,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        inline_max_bytes=inline_max_bytes,
    ) as writer:
        writer.write_file("add", "src/app.py", b"print('hi')\n", language="Python")
        writer.write_file(
            "modify", "docs/caf\u00e9 menu.md", "# Caf\u00e9\n".encode(), language=None
        )
        writer.write_file("add", "legacy.c", "/* gr\u00fc\u00df */\n".encode("latin-1"))
        writer.write_file("add", "big.txt", b"x" * 200 + b"\n")
        writer.write_file("rename", "new/name.py", b"pass\n", previous_path="old/name.py")
        writer.write_delete("gone.py")
        writer.write_skip("logo.png", "binary", size_bytes=10)
        return writer.commit(tracked_files=5)


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def rewrite(path: Path, records: list[Any], *, raw_tail: str = "") -> None:
    text = "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records
    )
    path.write_text(text + raw_tail, "utf-8")


def test_writer_produces_documented_format_and_reader_round_trips(tmp_path: Path) -> None:
    path = write_sample(tmp_path)
    assert path.name == "00000007-bbbbbbbbbbbb.jsonl"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00000007-bbbbbbbbbbbb.blobs",
        "00000007-bbbbbbbbbbbb.jsonl",
    ]
    records = lines_of(path)
    assert records[0] == {
        "op": "begin",
        "repo": "my-repo",
        "collection": "My_repo",
        "from_commit": COMMIT_A,
        "to_commit": COMMIT_B,
        "created_at": "2026-01-02T03:04:05Z",
        "format": 1,
    }
    assert records[-1] == {"op": "end", "count": 7, "tracked_files": 5}
    add = records[1]
    assert add["content"] == "print('hi')\n"
    assert add["content_hash"] == sha(b"print('hi')\n")
    assert (add["size_bytes"], add["line_count"], add["language"]) == (12, 1, "Python")
    assert add["commit"] == COMMIT_B
    latin = records[3]
    assert "content" not in latin
    assert base64.b64decode(latin["content_base64"]) == "/* gr\u00fc\u00df */\n".encode("latin-1")
    big = records[4]
    assert (tmp_path / "00000007-bbbbbbbbbbbb.blobs" / big["content_ref"]).read_bytes() == (
        b"x" * 200 + b"\n"
    )
    assert records[5]["previous_path"] == "old/name.py"
    assert records[7] == {
        "op": "skip",
        "repo": "my-repo",
        "path": "logo.png",
        "reason": "binary",
        "size_bytes": 10,
    }

    report = validate_change_set(path)
    assert report.ok, report.summary()
    assert report.kind == "changeset"
    assert report.counts == {"add": 3, "modify": 1, "rename": 1, "delete": 1, "skip": 1}
    assert report.skipped == {"binary": 1}
    assert report.tracked_files == 5

    changes = {c.path: c for c in iter_file_changes(path)}
    assert changes["big.txt"].content_bytes() == b"x" * 200 + b"\n"
    assert changes["legacy.c"].content_text() == "/* gr\u00fc\u00df */\n"
    assert changes["gone.py"].content_bytes() is None
    props = changes["docs/caf\u00e9 menu.md"].document_properties(datetime(2026, 1, 1, tzinfo=UTC))
    assert props["file_name"] == "caf\u00e9 menu.md"
    assert props["extension"] == "md"
    assert props["content"] == "# Caf\u00e9\n"
    assert props["synced_at"] == "2026-01-01T00:00:00Z"

    header = read_header(path)
    assert (header.kind, header.repo, header.to_commit, header.count) == (
        "changeset",
        "my-repo",
        COMMIT_B,
        7,
    )
    assert header.complete and header.tracked_files == 5 and not header.full_snapshot


def test_failed_writer_leaves_nothing_behind(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        ChangeSetWriter(
            tmp_path, seq=1, repo="r", collection="R", from_commit=None, to_commit=COMMIT_A
        ) as writer,
    ):
        writer.write_file("add", "a.txt", b"y" * 100_000)
        raise RuntimeError("disk on fire")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_to_overwrite_and_unsafe_paths(tmp_path: Path) -> None:
    first = write_sample(tmp_path)
    before = first.read_bytes()
    with pytest.raises(ElysiaError, match="already exists"):
        write_sample(tmp_path)
    assert first.read_bytes() == before
    with (
        ChangeSetWriter(
            tmp_path / "x", seq=1, repo="r", collection="R", from_commit=None, to_commit=COMMIT_A
        ) as writer,
        pytest.raises(ElysiaError, match="path traversal"),
    ):
        writer.write_delete("../etc/passwd")


def test_temporary_name_is_invisible_to_sequence_ordering(tmp_path: Path) -> None:
    assert changeset_filename(12, COMMIT_A) == "00000012-aaaaaaaaaaaa.jsonl"
    assert parse_sequence("00000012-aaaaaaaaaaaa.jsonl") == 12
    assert parse_sequence(tmp_path / "00000003-abc.jsonl") == 3
    assert parse_sequence(".00000012-aaaaaaaaaaaa.jsonl.tmp") is None
    assert parse_sequence("00000012-aaaaaaaaaaaa.blobs") is None
    assert parse_sequence("notes.jsonl") is None


def test_small_helpers() -> None:
    assert count_lines(b"") == 0
    assert count_lines(b"a") == 1
    assert count_lines(b"a\nb\n") == 2
    assert count_lines(b"a\nb") == 2
    assert is_binary(b"abc\0def") and not is_binary(b"abc" * 10_000 + b"\0")
    assert decode_text("\u00e9".encode("latin-1")) == "\u00e9"
    assert path_problem("src/a b/\u00fc.py") is None
    for bad in ("", "/etc/passwd", "a/../../b", "..", "a//b", "./a", "a/..", "x\0y"):
        assert path_problem(bad), bad
    # Legal POSIX names: a backslash is an ordinary character there, not a separator.
    for good in ("x\\..\\y.txt", "C:\\x", "\\lead", "a\\..\\..\\b"):
        assert path_problem(good) is None, good


def test_validator_reports_every_bad_line_with_its_reason(tmp_path: Path) -> None:
    good = write_sample(tmp_path)
    records = lines_of(good)
    bad: list[Any] = [records[0]]
    bad.append(dict(records[1], content="tampered\n"))  # 2 hash mismatch
    bad.append("{not json")  # 3
    bad.append({"op": "explode", "path": "x"})  # 4 unknown op
    bad.append({"op": "add", "repo": "my-repo", "path": "a.py"})  # 5 no content
    bad.append(dict(records[1], path="../../etc/passwd"))  # 6 traversal
    bad.append(dict(records[1], path="/abs/path.py"))  # 7 absolute
    bad.append(dict(records[5], previous_path="../x"))  # 8 traversal in previous_path
    bad.append(dict(records[4], content_ref="../../outside"))  # 9 ref outside
    bad.append(dict(records[4], content_ref="0" * 64))  # 10 ref missing
    bad.append({"op": "delete", "repo": "my-repo"})  # 11 missing path
    bad.append(
        {
            "op": "rename",
            "repo": "my-repo",
            "path": "b",
            "content": "",
            "content_hash": sha(b""),
            "size_bytes": 0,
        }
    )  # 12 no previous_path
    bad.append(dict(records[1], size_bytes=999))  # 13 size mismatch
    bad.append({"op": "skip", "path": "x.bin"})  # 14 skip without reason
    bad.append([1, 2])  # 15 not an object
    bad.append({"op": "end", "count": 3, "tracked_files": 1})  # 16 count mismatch
    bad.append(records[1])  # 17 after end
    rewrite(good, bad)
    report = validate_change_set(good)
    by_line: dict[int, str] = {}
    for problem in report.problems:
        by_line[problem.line] = by_line.get(problem.line, "") + problem.reason + "; "
    assert "content_hash mismatch" in by_line[2]
    assert "invalid JSON" in by_line[3]
    assert "unknown op 'explode'" in by_line[4]
    assert "no content field" in by_line[5]
    assert "path traversal" in by_line[6]
    assert "absolute path" in by_line[7]
    assert "previous_path" in by_line[8] and "traversal" in by_line[8]
    assert "content_ref" in by_line[9] and "traversal" in by_line[9]
    assert "missing" in by_line[10]
    assert "missing 'path'" in by_line[11]
    assert "missing 'previous_path'" in by_line[12]
    assert "size_bytes is 999" in by_line[13]
    assert "missing 'reason'" in by_line[14]
    assert "not a JSON object" in by_line[15]
    assert "count is 3 but 14 records" in by_line[16]
    assert "after the end" in by_line[17]
    assert sorted(by_line) == list(range(2, 18))
    with pytest.raises(ElysiaError, match="problem"):
        report.raise_if_invalid()


def test_symlink_in_blob_dir_cannot_escape(tmp_path: Path) -> None:
    path = write_sample(tmp_path / "out")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    blobs = tmp_path / "out" / "00000007-bbbbbbbbbbbb.blobs"
    (blobs / "evil").symlink_to(secret)
    records = lines_of(path)
    records[4] = dict(records[4], content_ref="evil", content_hash=sha(b"secret"), size_bytes=6)
    rewrite(path, records)
    reasons = [p.reason for p in validate_change_set(path).problems]
    assert reasons == ["add: content_ref 'evil' points outside 00000007-bbbbbbbbbbbb.blobs/"]


def test_truncated_and_missing_end_are_incomplete(tmp_path: Path) -> None:
    path = write_sample(tmp_path)
    data = path.read_bytes()
    cut = data[: data.rindex(b'{"op":"end"') + 10]
    path.write_bytes(cut)
    report = validate_change_set(path)
    reasons = [str(p) for p in report.problems]
    assert reasons[0].startswith("line 9: truncated: last line has no newline and is incomplete")
    assert reasons[1] == "line 10: missing end record: the file is incomplete"
    assert not read_header(path).complete
    with pytest.raises(ElysiaError, match="line 9"):
        list(iter_change_set(path))

    path.write_bytes(data[: data.rindex(b'{"op":"end"')])
    assert [str(p) for p in validate_change_set(path).problems] == [
        "line 9: missing end record: the file is incomplete"
    ]


def test_begin_problems_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "00000001-x.jsonl"
    rewrite(path, [{"op": "begin", "repo": "r", "format": 2}, {"op": "end", "count": 0}])
    reasons = [p.reason for p in validate_change_set(path).problems]
    assert "begin: missing or empty 'collection'" in reasons
    assert "begin: missing or empty 'to_commit'" in reasons
    assert "begin: 'from_commit' must be a commit id or null" in reasons
    assert "begin: unsupported format 2 (expected 1)" in reasons
    path.write_bytes(b"")
    assert [p.reason for p in validate_change_set(path).problems] == [
        "no records: the change set is empty"
    ]


def test_flat_mgit_format_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "sync.jsonl"
    rewrite(
        path,
        [
            {"op": "add", "repo": "r", "path": "a.py", "content": "x = 1\n"},
            {
                "op": "modify",
                "repo": "r",
                "path": "b.py",
                "content": "y\n",
                "content_hash": sha(b"y\n"),
            },
            {"op": "delete", "repo": "r", "path": "c.py"},
        ],
    )
    report = validate_change_set(path)
    assert report.ok, report.summary()
    assert report.kind == "flat"
    assert [c.op for c in iter_file_changes(path)] == ["add", "modify", "delete"]
    header = read_header(path)
    assert (header.kind, header.repo, header.complete) == ("flat", "r", True)

    rewrite(
        path,
        [
            {"op": "add", "repo": "r", "path": "a.py", "content": "x\n", "content_hash": sha(b"z")},
            {"op": "end", "count": 1},
        ],
        raw_tail='{"op": "delete", "repo": "r", "path": "c.py"}',
    )
    reasons = [str(p) for p in validate_change_set(path).problems]
    assert reasons[0].startswith("line 1: add: content_hash mismatch")
    assert reasons[1] == "line 2: end record in a file that has no begin record"
    assert reasons[2] == "line 3: truncated: last line has no newline"


def test_a_validation_is_reused_only_while_the_file_and_its_blobs_are_unchanged(
    tmp_path: Path,
) -> None:
    """The check and the ingester validate the same file in one process: the second call
    may reuse the first report across the move to processed/, never after an edit."""
    path = write_sample(tmp_path / "pending")
    assert validate_change_set(path).ok
    processed = tmp_path / "processed"
    processed.mkdir()
    blobs = path.with_name(path.stem + ".blobs")
    moved = processed / path.name
    path.rename(moved)
    blobs.rename(processed / blobs.name)
    again = validate_change_set(moved)
    assert again.ok and again.path == moved

    # Same name, size and inode, other content: the blob's mtime (set 1 ms later, so a
    # coarse clock cannot hide the write) is what tells the reports apart.
    blob = next((processed / blobs.name).iterdir())
    stat = blob.stat()
    blob.write_bytes(b"y" * stat.st_size)
    os.utime(blob, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert any("content_hash" in p.reason for p in validate_change_set(moved).problems)

    records = lines_of(moved)
    rewrite(moved, records[:-1])  # the end record dropped
    assert not validate_change_set(moved).ok
