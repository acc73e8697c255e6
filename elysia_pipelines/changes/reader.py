"""Read and validate change sets, streaming, whoever wrote them.

Ingestion trusts nothing in `pending/`: a file may come from our extractor, the
real `mgit`, or a script, and may be truncated by a full disk. `validate_change_set`
reads a file once, line by line, and reports *every* bad line with its number and
the reason, so a rejected file can be fixed in one go; `iter_change_set` and
`iter_file_changes` stream the records for applying once the file validated.

Which format a file uses is decided by its first record: `begin` means the framed
format 1 (begin, changes, end; `end.count` must match); anything else means the
flat mgit→elysiactl sync format (one change per line, no begin/end), which is valid
when every line is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from elysia_pipelines.changes.format import (
    ALL_OPS,
    CONTENT_FIELDS,
    CONTENT_OPS,
    FILE_OPS,
    FORMAT_VERSION,
    HASH_PREFIX,
    OP_BEGIN,
    OP_DELETE,
    OP_END,
    OP_RENAME,
    OP_SKIP,
    blob_dir_for,
    decode_text,
    is_valid_hash,
    path_problem,
)
from elysia_pipelines.documents import file_name_and_extension
from elysia_pipelines.errors import ElysiaError

KIND_FRAMED = "changeset"
KIND_FLAT = "flat"
KIND_EMPTY = "empty"

EMPTY_REASON = "no records: the change set is empty"

# A report lists every problem, but an error message shows only the first few.
_MESSAGE_PROBLEMS = 10


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line number; the line after the last for "missing end"
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ValidationReport:
    path: Path
    kind: str = KIND_EMPTY
    problems: list[Problem] = field(default_factory=list)
    lines: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # records by op (incl. skip)
    skipped: dict[str, int] = field(default_factory=dict)  # skip records by reason
    begin: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    # Every path a file or skip record names (a rename's both sides): what the
    # completeness audit compares with git, so it need not parse the file again.
    named_paths: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def empty(self) -> bool:
        """Nothing but blank lines: nothing to apply, nothing to wait for."""
        return self.kind == KIND_EMPTY and [p.reason for p in self.problems] == [EMPTY_REASON]

    @property
    def tracked_files(self) -> int | None:
        value = (self.end or {}).get("tracked_files")
        return value if isinstance(value, int) else None

    def summary(self) -> str:
        if self.ok:
            changes = ", ".join(f"{op} {n}" for op, n in sorted(self.counts.items())) or "none"
            return f"{self.path.name}: valid {self.kind} change set ({changes})"
        shown = "; ".join(str(p) for p in self.problems[:_MESSAGE_PROBLEMS])
        more = len(self.problems) - _MESSAGE_PROBLEMS
        tail = f"; and {more} more" if more > 0 else ""
        return f"{self.path.name}: {len(self.problems)} problem(s): {shown}{tail}"

    def raise_if_invalid(self) -> None:
        if not self.ok:
            raise ElysiaError(
                f"invalid change set {self.summary()}",
                "fix or regenerate the file; a change set is applied only when every line is valid",
            )


# --- validation --------------------------------------------------------------------
def _raw_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without newline, had newline), reading in binary.

    Binary mode splits on b"\\n" only; text mode would also split on U+2028 and
    friends, which JSON strings may contain unescaped.
    """
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            has_newline = raw.endswith(b"\n")
            yield number, raw[:-1] if has_newline else raw, has_newline


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    if raw.startswith(b"\xef\xbb\xbf"):
        return None, "starts with a UTF-8 byte-order mark (BOM); write UTF-8 without one"
    # orjson parses a 50 MB change set several times faster; anything it refuses goes
    # through the standard library, which accepts the same documents as before and
    # words the error (byte of bad UTF-8, column of bad JSON) for the report.
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(value, dict):
        return None, "not a JSON object"
    return value, None


class _Validator:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.blob_dir = blob_dir_for(path)
        self.report = ValidationReport(path=path)
        self.counts: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.records_since_begin = 0
        self.after_end = False
        # The first record decides the format; when it is unreadable the framing
        # (begin/end/count) cannot be judged, and reporting it would only repeat
        # the one real problem in other words.
        self.framing_unknown = False
        self.skipped_paths: set[str] = set()
        self.named_paths: set[str] = set()

    def problem(self, line: int, reason: str) -> None:
        self.report.problems.append(Problem(line, reason))

    def run(self) -> ValidationReport:
        report = self.report
        if not self.path.is_file():
            raise ElysiaError(f"change set {self.path} does not exist", "check the path")
        last_line = 0
        for number, raw, has_newline in _raw_lines(self.path):
            last_line = number
            if not has_newline:
                record, error = _parse(raw)
                detail = f" and is incomplete: {error}" if error else ""
                self.problem(number, f"truncated: last line has no newline{detail}")
                self.count_unparsed()
                continue
            if not raw.strip():
                continue  # blank lines carry nothing; tolerated like most JSONL readers
            record, error = _parse(raw)
            if error:
                self.problem(number, error)
                if report.kind == KIND_EMPTY:
                    self.framing_unknown = True
                self.count_unparsed()
                continue
            assert record is not None
            if report.kind == KIND_EMPTY:
                report.kind = KIND_FRAMED if record.get("op") == OP_BEGIN else KIND_FLAT
                if report.kind == KIND_FRAMED:
                    self.check_begin(number, record)
                    continue
            self.check_record(number, record)
        report.lines = last_line
        if report.kind == KIND_EMPTY:
            if not self.framing_unknown:
                self.problem(max(last_line, 1), EMPTY_REASON)
        elif report.kind == KIND_FRAMED and report.end is None and not self.framing_unknown:
            self.problem(last_line + 1, "missing end record: the file is incomplete")
        report.counts = dict(self.counts)
        report.skipped = dict(self.skipped)
        report.named_paths = frozenset(self.named_paths)
        return report

    def count_unparsed(self) -> None:
        """A line we cannot read still was a record its writer counted in `end`."""
        if self.report.kind == KIND_FRAMED and not self.after_end:
            self.records_since_begin += 1

    def check_begin(self, line: int, record: dict[str, Any]) -> None:
        self.report.begin = record
        for name in ("repo", "collection", "to_commit", "created_at"):
            if not isinstance(record.get(name), str) or not record[name]:
                self.problem(line, f"begin: missing or empty {name!r}")
        if "from_commit" not in record or not (
            record["from_commit"] is None or isinstance(record["from_commit"], str)
        ):
            self.problem(line, "begin: 'from_commit' must be a commit id or null")
        if record.get("format") != FORMAT_VERSION:
            self.problem(line, f"begin: unsupported format {record.get('format')!r} (expected 1)")
        if "full_snapshot" in record and not isinstance(record["full_snapshot"], bool):
            self.problem(line, "begin: 'full_snapshot' must be true or false")

    def check_record(self, line: int, record: dict[str, Any]) -> None:
        op = record.get("op")
        framed = self.report.kind == KIND_FRAMED
        if self.after_end:
            self.problem(line, "record after the end record")
            return
        if op == OP_END:
            if self.framing_unknown:
                self.report.end = record
                self.after_end = True
                return
            if not framed:
                self.problem(line, "end record in a file that has no begin record")
                return
            self.check_end(line, record)
            return
        self.records_since_begin += 1
        if not isinstance(op, str) or op not in ALL_OPS:
            self.problem(line, f"unknown op {op!r} (expected one of {', '.join(ALL_OPS)})")
            return
        if op == OP_BEGIN:
            self.problem(line, "begin record that is not the first record")
            return
        self.counts[op] += 1
        self.named_paths.add(str(record.get("path")))
        if record.get("previous_path"):
            self.named_paths.add(str(record["previous_path"]))
        self.check_path_field(line, record, "path", required=True)
        if op == OP_SKIP:
            reason = record.get("reason")
            if not isinstance(reason, str) or not reason:
                self.problem(line, "skip: missing 'reason'")
            else:
                self.skipped[reason] += 1
            if framed and isinstance(record.get("path"), str):
                self.skipped_paths.add(record["path"])
            return
        repo = record.get("repo")
        if not isinstance(repo, str) or not repo:
            self.problem(line, f"{op}: missing 'repo'")
        elif framed and self.report.begin and repo != self.report.begin.get("repo"):
            self.problem(
                line, f"{op}: repo {repo!r} differs from begin's {self.report.begin.get('repo')!r}"
            )
        if op == OP_RENAME:
            self.check_path_field(line, record, "previous_path", required=True)
        elif "previous_path" in record:
            self.problem(line, f"{op}: 'previous_path' is only allowed on rename")
        if op in CONTENT_OPS:
            self.check_content(line, op, record, framed)
        elif op == OP_DELETE and any(name in record for name in CONTENT_FIELDS):
            self.problem(line, "delete: carries content")
        if op == OP_DELETE and record.get("path") in self.skipped_paths:
            self.problem(
                line,
                f"delete: {record.get('path')!r} follows its skip record; the format puts "
                "delete first, then skip",
            )

    def check_end(self, line: int, record: dict[str, Any]) -> None:
        self.report.end = record
        self.after_end = True
        count = record.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            self.problem(line, "end: missing or non-integer 'count'")
        elif count != self.records_since_begin:
            self.problem(
                line,
                f"end: count is {count} but {self.records_since_begin} records precede it "
                "(records lost or added)",
            )
        tracked = record.get("tracked_files")
        if tracked is not None and (
            not isinstance(tracked, int) or isinstance(tracked, bool) or tracked < 0
        ):
            self.problem(line, "end: 'tracked_files' must be a non-negative integer")

    def check_path_field(
        self, line: int, record: dict[str, Any], name: str, *, required: bool
    ) -> None:
        if name not in record:
            if required:
                self.problem(line, f"{record.get('op')}: missing {name!r}")
            return
        problem = path_problem(record[name])
        if problem:
            self.problem(line, f"{record.get('op')}: {name} {record[name]!r} {problem}")

    def check_content(self, line: int, op: str, record: dict[str, Any], framed: bool) -> None:
        present = [name for name in CONTENT_FIELDS if name in record]
        if len(present) != 1:
            what = "no content field" if not present else f"several content fields {present}"
            self.problem(line, f"{op}: {what} (exactly one of {', '.join(CONTENT_FIELDS)})")
            return
        # size_bytes is derived from the content when absent; the hash is the
        # framed format's integrity check and stays required there.
        if framed and "content_hash" not in record:
            self.problem(line, f"{op}: missing 'content_hash'")
        expected_hash = record.get("content_hash")
        if expected_hash is not None and not is_valid_hash(expected_hash):
            self.problem(line, f"{op}: content_hash {expected_hash!r} is not sha256:<64 hex>")
            expected_hash = None
        size = record.get("size_bytes")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            self.problem(line, f"{op}: size_bytes must be a non-negative integer")
            size = None
        digest_size = self.content_digest(line, op, present[0], record[present[0]])
        if digest_size is None:
            return
        digest, actual_size = digest_size
        if expected_hash is not None and expected_hash != digest:
            self.problem(
                line,
                f"{op}: content_hash mismatch for {record.get('path')!r} (content is {digest})",
            )
        if size is not None and size != actual_size:
            self.problem(
                line, f"{op}: size_bytes is {size} but the content has {actual_size} bytes"
            )

    def content_digest(self, line: int, op: str, name: str, value: Any) -> tuple[str, int] | None:
        """sha256 and size of the raw bytes a content field stands for, or None if unusable."""
        if not isinstance(value, str):
            self.problem(line, f"{op}: {name} must be a string")
            return None
        if name == "content":
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:
                self.problem(line, f"{op}: content contains unpaired surrogate escapes")
                return None
            return HASH_PREFIX + hashlib.sha256(data).hexdigest(), len(data)
        if name == "content_base64":
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                self.problem(line, f"{op}: content_base64 is not valid base64")
                return None
            return HASH_PREFIX + hashlib.sha256(data).hexdigest(), len(data)
        blob = resolve_content_ref(self.path, value)
        if isinstance(blob, str):
            self.problem(line, f"{op}: {blob}")
            return None
        hasher = hashlib.sha256()
        size = 0
        with open(blob, "rb") as fh:
            while chunk := fh.read(1 << 20):
                hasher.update(chunk)
                size += len(chunk)
        return HASH_PREFIX + hasher.hexdigest(), size


def validate_change_set(path: Path | str) -> ValidationReport:
    """Check every line of a change set; the report lists each bad line and why.

    A sync validates the same file twice in one process (the blocking check, then
    ingestion before it writes); the second call reuses the first report when the file
    and its blobs are provably the ones checked (same inode, size and mtime, which a
    move from pending/ to processed/ keeps). Any change to them validates again.
    """
    path = Path(path)
    key = _file_identity(path)
    if key is not None and (cached := _VALIDATED.get(key)) is not None:
        return replace(cached, path=path, problems=list(cached.problems))
    report = _Validator(path).run()
    if key is not None:
        while len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.pop(next(iter(_VALIDATED)))
        _VALIDATED[key] = replace(report, problems=list(report.problems))
    return report


_VALIDATED: dict[tuple[Any, ...], ValidationReport] = {}
_VALIDATED_MAX = 8


def _file_identity(path: Path) -> tuple[Any, ...] | None:
    """What has to stay the same for a validation to still hold; None: cannot tell."""
    try:
        st = path.stat()
        blobs: list[tuple[str, int, int, int]] = []
        blob_dir = blob_dir_for(path)
        if blob_dir.is_dir():
            for entry in os.scandir(blob_dir):
                bst = entry.stat(follow_symlinks=False)
                blobs.append((entry.name, bst.st_ino, bst.st_size, bst.st_mtime_ns))
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, path.name, tuple(sorted(blobs)))


def resolve_content_ref(changeset_path: Path, ref: Any) -> Path | str:
    """The blob file a `content_ref` names, or a reason why it is unusable.

    Only files inside the change set's own `<stem>.blobs/` directory qualify; a
    symlink or `..` that leads elsewhere is refused, as is a missing file.
    """
    problem = path_problem(ref)
    if problem:
        return f"content_ref {ref!r} {problem}"
    blob_dir = blob_dir_for(changeset_path)
    candidate = blob_dir / ref
    try:
        resolved = candidate.resolve(strict=True)
    except (FileNotFoundError, OSError):
        return f"content_ref {ref!r}: blob file missing from {blob_dir.name}/"
    if not resolved.is_relative_to(blob_dir.resolve()):
        return f"content_ref {ref!r} points outside {blob_dir.name}/"
    if not resolved.is_file():
        return f"content_ref {ref!r} is not a file"
    return resolved


# --- streaming records --------------------------------------------------------------
def iter_change_set(path: Path | str) -> Iterator[dict[str, Any]]:
    """Every record in file order (begin, changes, skips, end), one line at a time.

    Raises ElysiaError at the first unreadable line; call `validate_change_set`
    first to learn about all of them.
    """
    for _, record in _numbered_records(Path(path)):
        yield record


def _numbered_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw, has_newline in _raw_lines(path):
        if not raw.strip():
            continue
        record, error = _parse(raw)
        if error or not has_newline:
            raise ElysiaError(
                f"{path.name} line {number}: {error or 'truncated (no newline at end of file)'}",
                "run validate_change_set on the file to see every problem",
            )
        assert record is not None
        yield number, record


@dataclass(frozen=True)
class FileChange:
    """One add/modify/delete/rename, with its content loadable on demand.

    Content of `content_ref` records is read from the blob file only when asked
    for, so iterating a change set with large files stays small in memory.
    """

    line: int
    op: str
    repo: str
    path: str
    previous_path: str | None
    content_hash: str | None
    size_bytes: int | None
    language: str | None
    line_count: int | None
    commit: str | None
    record: dict[str, Any]
    changeset_path: Path

    @classmethod
    def from_record(cls, record: dict[str, Any], line: int, changeset_path: Path) -> FileChange:
        return cls(
            line=line,
            op=record["op"],
            repo=record.get("repo", ""),
            path=record["path"],
            previous_path=record.get("previous_path"),
            content_hash=record.get("content_hash"),
            size_bytes=record.get("size_bytes"),
            language=record.get("language"),
            line_count=record.get("line_count"),
            commit=record.get("commit"),
            record=record,
            changeset_path=changeset_path,
        )

    def content_bytes(self) -> bytes | None:
        return load_content(self.record, self.changeset_path)

    def content_text(self) -> str | None:
        data = self.content_bytes()
        return None if data is None else decode_text(data)

    def document_properties(self, synced_at: datetime | None = None) -> dict[str, Any]:
        """The Weaviate properties (DOCUMENT_PROPERTIES) of the file this change leaves."""
        data = self.content_bytes()
        if data is None:
            raise ElysiaError(f"{self.op} of {self.path!r} carries no content", None)
        name, extension = file_name_and_extension(self.path)
        moment = (synced_at or datetime.now(UTC)).astimezone(UTC)
        return {
            "repo": self.repo,
            "path": self.path,
            "file_name": name,
            "extension": extension,
            "language": self.language or "",
            "content": decode_text(data),
            "content_hash": self.content_hash or (HASH_PREFIX + hashlib.sha256(data).hexdigest()),
            "size_bytes": self.size_bytes if self.size_bytes is not None else len(data),
            "line_count": self.line_count
            if self.line_count is not None
            else data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1),
            "commit": self.commit or "",
            "synced_at": moment.isoformat().replace("+00:00", "Z"),
        }


def load_content(record: dict[str, Any], changeset_path: Path | str) -> bytes | None:
    """The raw bytes of a record's content, whichever tier holds them; None if none."""
    if "content" in record:
        return str(record["content"]).encode("utf-8")
    if "content_base64" in record:
        try:
            return base64.b64decode(record["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ElysiaError(
                f"content_base64 of {record.get('path')!r} is not valid base64", None
            ) from None
    if "content_ref" in record:
        blob = resolve_content_ref(Path(changeset_path), record["content_ref"])
        if isinstance(blob, str):
            raise ElysiaError(f"{record.get('path')!r}: {blob}", "validate the change set")
        return blob.read_bytes()
    return None


def iter_file_changes(path: Path | str) -> Iterator[FileChange]:
    """Only the add/modify/delete/rename records, as FileChange objects."""
    path = Path(path)
    for number, record in _numbered_records(path):
        op = record.get("op")
        if op not in FILE_OPS:
            continue
        yield FileChange.from_record(record, number, path)


@dataclass(frozen=True)
class ChangeSetHeader:
    """What a sensor or asset needs to know about a file without reading all of it."""

    path: Path
    kind: str
    repo: str | None
    collection: str | None
    from_commit: str | None
    to_commit: str | None
    created_at: str | None
    full_snapshot: bool
    count: int | None
    tracked_files: int | None
    complete: bool  # framed: ends with an end record; flat: ends with a newline


def _last_line(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        block = 1 << 16
        position = size
        data = b""
        while position > 0:
            step = min(block, position)
            position -= step
            fh.seek(position)
            data = fh.read(step) + data
            stripped = data.rstrip(b"\n")
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[1]
        return data.rstrip(b"\n")


def read_header(path: Path | str) -> ChangeSetHeader:
    """Begin and end of a change set, read from its first and last lines only."""
    path = Path(path)
    with open(path, "rb") as fh:
        first = fh.readline()
    first_record, _ = _parse(first.rstrip(b"\n")) if first.strip() else (None, None)
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        ends_with_newline = False
        if fh.tell() > 0:
            fh.seek(-1, 2)
            ends_with_newline = fh.read(1) == b"\n"
    if first_record is None or first_record.get("op") != OP_BEGIN:
        return ChangeSetHeader(
            path=path,
            kind=KIND_FLAT if first_record is not None else KIND_EMPTY,
            repo=(first_record or {}).get("repo"),
            collection=None,
            from_commit=None,
            to_commit=None,
            created_at=None,
            full_snapshot=False,
            count=None,
            tracked_files=None,
            complete=bool(first_record) and bool(ends_with_newline),
        )
    last_record, _ = _parse(_last_line(path)) if ends_with_newline else (None, None)
    end = last_record if last_record and last_record.get("op") == OP_END else None
    return ChangeSetHeader(
        path=path,
        kind=KIND_FRAMED,
        repo=first_record.get("repo"),
        collection=first_record.get("collection"),
        from_commit=first_record.get("from_commit"),
        to_commit=first_record.get("to_commit"),
        created_at=first_record.get("created_at"),
        full_snapshot=bool(first_record.get("full_snapshot", False)),
        count=(end or {}).get("count"),
        tracked_files=(end or {}).get("tracked_files"),
        complete=end is not None,
    )
