"""The pending scanner: what the sensor sees, and that it does not rescan unchanged dirs."""

from __future__ import annotations

import json
import os

from elysia_pipelines.ingest import FileState, file_status, newest_pending_seq, pending_files
from elysia_pipelines.ingest.pending import scan_pending
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.ingest.helpers import backdate, write_changeset, write_flat


def _dir(settings: Settings, collection: str = "Demo"):
    return settings.pending_dir / collection


def test_scan_reports_new_complete_change_sets_once(settings: Settings) -> None:
    write_changeset(_dir(settings), 1, {"a.py": "a\n"})
    first = scan_pending(settings, None)
    assert first.collections_with_new_files == {"Demo": 1}

    again = scan_pending(settings, first.new_cursor)
    assert again.collections_with_new_files == {}

    write_changeset(_dir(settings), 2, {"b.py": "b\n"})
    write_changeset(_dir(settings, "Other"), 7, {"c.py": "c\n"}, collection="Other")
    third = scan_pending(settings, again.new_cursor)
    assert third.collections_with_new_files == {"Demo": 2, "Other": 7}


def test_temporary_and_incomplete_files_are_never_reported(settings: Settings) -> None:
    directory = _dir(settings)
    directory.mkdir(parents=True)
    (directory / ".00000001-abc.jsonl.tmp").write_text('{"op": "begin"}\n')
    (directory / "00000002-abc.jsonl.part").write_text("{}\n")
    begin = {
        "op": "begin",
        "repo": "demo",
        "collection": "Demo",
        "from_commit": None,
        "to_commit": "abc",
        "created_at": "2026-01-01T00:00:00Z",
        "format": 1,
    }
    in_place = directory / "00000003-abc.jsonl"
    in_place.write_text(json.dumps(begin) + "\n")  # a producer still writing in place

    result = scan_pending(settings, None)
    assert result.collections_with_new_files == {}
    assert [p.name for p in pending_files(settings, "Demo")] == ["00000003-abc.jsonl"]
    assert file_status(in_place).state is FileState.WRITING

    # The producer finishes by appending: the directory's mtime does not change, but a
    # directory with a waiting file is listed again. Without its newline the end
    # record may still be half written.
    with in_place.open("a") as handle:
        handle.write(json.dumps({"op": "end", "count": 0, "tracked_files": 0}))
    assert file_status(in_place).state is FileState.WRITING
    with in_place.open("a") as handle:
        handle.write("\n")
    later = scan_pending(settings, result.new_cursor)
    assert later.collections_with_new_files == {"Demo": 3}


def test_flat_files_wait_until_settled_and_abandoned_files_become_actionable(
    settings: Settings,
) -> None:
    flat = write_flat(
        _dir(settings) / "mgit-sync.jsonl",
        [{"op": "add", "repo": "demo", "path": "x.py", "content": "x\n"}],
    )
    assert file_status(flat).state is FileState.WRITING
    cursor = scan_pending(settings, None)
    assert cursor.collections_with_new_files == {}
    backdate(flat, 60)
    assert file_status(flat).state is FileState.READY
    # No sequence number in a foreign name: reported as -1.
    assert scan_pending(settings, cursor.new_cursor).collections_with_new_files == {"Demo": -1}

    stuck = _dir(settings, "Stuck") / "00000004-abc.jsonl"
    stuck.parent.mkdir(parents=True)
    stuck.write_text('{"op": "begin", "repo": "demo"}\n')
    backdate(stuck, 3600)
    assert file_status(stuck).state is FileState.ABANDONED
    assert scan_pending(settings, None).collections_with_new_files["Stuck"] == 4


def test_unchanged_directories_are_not_listed_again(settings: Settings) -> None:
    for index in range(50):
        collection = f"C{index:03d}"
        for seq in (1, 2):
            write_changeset(_dir(settings, collection), seq, {"a.py": "a\n"}, collection=collection)
        backdate(_dir(settings, collection), 120)
    first = scan_pending(settings, None)
    assert len(first.collections_with_new_files) == 50

    # Slip a complete file into a directory and restore its mtime: a scanner that
    # listed every directory would see it, ours trusts the unchanged mtime.
    sneaky_dir = _dir(settings, "C007")
    before = sneaky_dir.stat()
    write_changeset(sneaky_dir, 3, {"b.py": "b\n"}, collection="C007")
    os.utime(sneaky_dir, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert scan_pending(settings, first.new_cursor).collections_with_new_files == {}

    # A real change (the mtime moves) is seen, with the newest sequence.
    write_changeset(sneaky_dir, 4, {"c.py": "c\n"}, collection="C007")
    assert scan_pending(settings, first.new_cursor).collections_with_new_files == {"C007": 4}


def test_bad_cursor_starts_over_and_consumed_files_are_not_news(settings: Settings) -> None:
    one = write_changeset(_dir(settings), 1, {"a.py": "a\n"})
    write_changeset(_dir(settings), 2, {"b.py": "b\n"})
    assert scan_pending(settings, "not json").collections_with_new_files == {"Demo": 2}
    cursor = scan_pending(settings, '{"v": 99}').new_cursor
    one.unlink()  # ingestion consumed it
    assert scan_pending(settings, cursor).collections_with_new_files == {}


def test_pending_files_apply_order_and_newest_seq(settings: Settings) -> None:
    directory = _dir(settings)
    write_changeset(directory, 10, {"a.py": "a\n"})
    write_changeset(directory, 9, {"a.py": "a\n"})
    write_flat(directory / "zz-foreign.jsonl", [{"op": "delete", "repo": "demo", "path": "a"}])
    write_flat(directory / "aa-foreign.jsonl", [{"op": "delete", "repo": "demo", "path": "a"}])
    (directory / ".hidden.jsonl").write_text("")
    names = [p.name for p in pending_files(settings, "Demo")]
    assert names == [
        "00000009-000000000000.jsonl",
        "00000010-000000000000.jsonl",
        "aa-foreign.jsonl",
        "zz-foreign.jsonl",
    ]
    assert newest_pending_seq(settings, "Demo") == 10
    assert newest_pending_seq(settings, "Nothing") is None
