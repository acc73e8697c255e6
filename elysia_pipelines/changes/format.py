"""The change-set format (version 1): names, rules and small pure helpers.

Writer, reader and validator all import from here so that the three can never
disagree on what a valid file looks like. The format is the hand-off between any
extractor (ours, the real `mgit`, a script) and ingestion, so it is deliberately
plain JSON Lines:

* line 1: ``{"op": "begin", "repo", "collection", "from_commit", "to_commit",
  "created_at", "format": 1}`` plus optional fields: ``"filter"`` (the include/
  exclude/max_file_size rules used), ``"filter_changed": true`` with
  ``"previous_filter"`` (every path was re-evaluated, so records may name files git
  did not change) and ``"full_snapshot": true``. A full snapshot lists every
  ingestible file at ``to_commit``; the ingester must delete every document of the
  repository that the snapshot does not name (this is how a first sync, or a sync
  after a force-push that destroyed the last synced commit, removes stale documents).
* one record per file change, ``op`` in add/modify/delete/rename, content in one
  of three tiers (``content`` UTF-8 text inline, ``content_base64`` for text that
  is not valid UTF-8, ``content_ref`` a blob file inside ``<stem>.blobs/``).
* ``skip`` records for files left out on purpose (counted, never silently dropped).
  Records take effect in file order. A file that leaves the collection on purpose
  (turned binary, too large, excluded, a symlink...) is written as ``delete P``
  followed by ``skip P``: a consumer applying records in order ends with P deleted
  *and* known as skipped. A ``delete`` of a path after a ``skip`` of the same path
  in one file is invalid. A sync whose only news is a skip still writes a change
  set, so every file left out on purpose is named.
* last line: ``{"op": "end", "count": <records between begin and end>,
  "tracked_files": <documents the collection holds after applying>}``.

A file whose first record is not ``begin`` is read as the flat mgit→elysiactl sync
format: one change per line, no begin/end, no blob directory; it is valid when
every line is.

Other producers need not know our bookkeeping: ``size_bytes`` is derived from the
content when absent, ``collection`` is compared the way Weaviate names classes
(first letter upper-cased), and only file names of our own
``<seq:08d>-<commit prefix>.jsonl`` form carry a sequence number; any other name is
applied after ours, by name, and never judged stale.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FORMAT_VERSION = 1

OP_BEGIN = "begin"
OP_END = "end"
OP_ADD = "add"
OP_MODIFY = "modify"
OP_DELETE = "delete"
OP_RENAME = "rename"
OP_SKIP = "skip"

FILE_OPS: tuple[str, ...] = (OP_ADD, OP_MODIFY, OP_DELETE, OP_RENAME)
CONTENT_OPS: tuple[str, ...] = (OP_ADD, OP_MODIFY, OP_RENAME)
ALL_OPS: tuple[str, ...] = (OP_BEGIN, *FILE_OPS, OP_SKIP, OP_END)

CONTENT_FIELDS: tuple[str, ...] = ("content", "content_base64", "content_ref")

# Why a file was left out. Extra reasons from other writers are accepted as long as
# they are non-empty strings; these are the ones our extractor emits.
SKIP_BINARY = "binary"
SKIP_TOO_LARGE = "too_large"
SKIP_EXCLUDED = "excluded"
SKIP_SYMLINK = "symlink"
SKIP_SUBMODULE = "submodule"
SKIP_REASONS: tuple[str, ...] = (
    SKIP_BINARY,
    SKIP_TOO_LARGE,
    SKIP_EXCLUDED,
    SKIP_SYMLINK,
    SKIP_SUBMODULE,
)

# Every field a record (between `begin` and `end`) may carry: (name, JSON type, meaning).
# The Dagster UI shows it as the change set's column schema; a test holds the writer to it.
RECORD_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("op", "string", "add, modify, delete, rename or skip"),
    ("repo", "string", "registered repository name"),
    ("path", "string", "file path in the repository (POSIX, relative)"),
    ("previous_path", "string", "rename only: the path before the rename"),
    ("content", "string", "UTF-8 text of the file (one of the three content tiers)"),
    ("content_base64", "string", "base64 of a text file that is not valid UTF-8"),
    ("content_ref", "string", "blob file inside <stem>.blobs/ for content above 256 KiB"),
    ("content_hash", "string", "sha256:<hex> of the raw bytes"),
    ("size_bytes", "integer", "size of the raw bytes"),
    ("language", "string", "language detected from the path, or null"),
    ("line_count", "integer", "lines as an editor counts them"),
    ("commit", "string", "commit the content is taken from"),
    ("reason", "string", "skip only: binary, too_large, excluded, symlink, submodule ..."),
)

CHANGESET_SUFFIX = ".jsonl"
BLOBS_SUFFIX = ".blobs"
HASH_PREFIX = "sha256:"

# Like git: a NUL byte in the first 8 KiB makes a file binary.
BINARY_SNIFF_BYTES = 8 * 1024

# Above this size content goes to a blob file instead of inline JSON, so one JSONL
# line stays small enough to read and validate line by line.
DEFAULT_INLINE_MAX_BYTES = 256 * 1024

# Ours: eight or more digits, a dash, a lowercase hex commit prefix (12 when we write).
_SEQ_NAME_RE = re.compile(r"^(\d{8,})-[0-9a-f]{1,40}\.jsonl$")
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def content_hash(data: bytes) -> str:
    """`sha256:<hex>` of the raw bytes; the value stored as the document's content_hash."""
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


def weaviate_class_name(name: str) -> str:
    """The class name Weaviate stores for `name`: it upper-cases the first letter."""
    return name[:1].upper() + name[1:]


def is_valid_hash(value: object) -> bool:
    return isinstance(value, str) and bool(_HASH_RE.match(value))


def is_binary(data: bytes) -> bool:
    """Git's heuristic, so we skip exactly what `git diff` would call binary."""
    return b"\0" in data[:BINARY_SNIFF_BYTES]


def count_lines(data: bytes) -> int:
    """Lines as an editor shows them: a final line without newline still counts."""
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def decode_text(data: bytes) -> str:
    """Text for Weaviate's `content` property from raw bytes.

    UTF-8 first; non-UTF-8 text is almost always a legacy 8-bit encoding, and
    cp1252/latin-1 decode every byte, so search still finds the ASCII parts.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def changeset_filename(seq: int, to_commit: str) -> str:
    """`<seq:08d>-<to_commit[:12]>.jsonl`: sorting by name is applying in order."""
    if seq < 0:
        raise ValueError("seq must be >= 0")
    return f"{seq:08d}-{to_commit[:12]}{CHANGESET_SUFFIX}"


def parse_sequence(filename: str | Path) -> int | None:
    """Sequence number of a change-set file name, None for names we did not write.

    Temporary names (`.<name>.tmp`) and blob directories return None, so a sensor
    that orders by this never picks up a half-written file.
    """
    match = _SEQ_NAME_RE.match(Path(filename).name)
    return int(match.group(1)) if match else None


def temporary_name(final_name: str) -> str:
    """Hidden, non-.jsonl name a writer uses until the file is complete."""
    return f".{final_name}.tmp"


def blob_dir_for(changeset_path: Path) -> Path:
    """`<dir>/<stem>.blobs/`: where `content_ref` blobs of a change set live."""
    return changeset_path.with_name(changeset_path.stem + BLOBS_SUFFIX)


def path_problem(value: object) -> str | None:
    """Why `value` is not a safe repository-relative POSIX path, or None if it is.

    Paths become document keys and, for `content_ref`, file names we open; an
    absolute path or a `..` component could escape the directory it is joined to.
    """
    if not isinstance(value, str):
        return "is not a string"
    if value == "":
        return "is empty"
    if "\0" in value:
        return "contains a NUL byte"
    if value.startswith("/"):
        return "is an absolute path"
    # POSIX paths: only "/" separates. `x\..\y.txt` is one legal file name that git
    # stores and checks out as such; refusing it would silently drop a real file.
    parts = value.split("/")
    if any(part == ".." for part in parts):
        return "contains a '..' component (path traversal)"
    if any(part in ("", ".") for part in parts):
        return "is not a normalised path (empty or '.' component)"
    return None
