"""Remember which blobs are binary, so an incremental sync need not read every file.

The end record's `tracked_files` counts every ingestible file at the new commit,
and "ingestible" includes "not binary", which only the content tells. Re-reading
all blobs on every sync would make a 10-file incremental as slow as a full one, so
the verdict per blob id (content-addressed, hence never stale) is kept in a small
file inside the mirror's git directory. The cache is only an accelerator: a
missing, unreadable or foreign file is treated as empty and rebuilt by reading.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_NAME = "elysia-blob-kinds"
_HEADER = "# elysia blob kinds v1: <sha> <b|t>\n"


class BlobKinds:
    def __init__(self, git_dir: Path) -> None:
        self.path = Path(git_dir) / CACHE_NAME
        self.known: dict[str, bool] = {}  # sha -> is binary
        self._dirty = False
        self._load()

    def _load(self) -> None:
        try:
            with open(self.path, encoding="ascii") as fh:
                if fh.readline() != _HEADER:
                    return
                for line in fh:
                    sha, _, kind = line.rstrip("\n").partition(" ")
                    if len(sha) >= 40 and kind in ("b", "t"):
                        self.known[sha] = kind == "b"
        except (OSError, UnicodeDecodeError):
            self.known = {}

    def get(self, sha: str) -> bool | None:
        return self.known.get(sha)

    def set(self, sha: str, binary: bool) -> None:
        if self.known.get(sha) is not binary:
            self.known[sha] = binary
            self._dirty = True

    def save(self, keep: set[str]) -> None:
        """Write the verdicts for `keep` (the current tree's blobs), atomically.

        Keeping only the current tree bounds the file by the repository's size
        rather than by the length of its history.
        """
        if not self._dirty and set(self.known) <= keep:
            return
        tmp = self.path.with_name(f".{CACHE_NAME}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="ascii") as fh:
                fh.write(_HEADER)
                for sha, binary in self.known.items():
                    if sha in keep:
                        fh.write(f"{sha} {'b' if binary else 't'}\n")
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)  # read-only mirror: run without the cache
