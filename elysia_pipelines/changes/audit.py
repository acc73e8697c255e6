"""Independent audit of a written change set against git: did it account for every file?

The extractor and this audit both read git, but differently: the audit lists the
changed paths with plain `git diff-tree --no-renames` (or `ls-tree` for a snapshot)
and only checks that the change set *mentions* each of them, so a bug in the
extractor's rename, skip or pattern handling shows up as a missing path here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import git

from elysia_pipelines.changes.reader import iter_change_set


@dataclass(frozen=True)
class AuditReport:
    from_commit: str | None
    to_commit: str
    diff_paths: int
    covered: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected


def _z_paths(output: str) -> set[str]:
    return {p for p in output.split("\0") if p}


def changed_paths(mirror: Path, from_commit: str | None, to_commit: str) -> set[str]:
    """Every path that differs between two commits (all paths for a first snapshot)."""
    repo = git.Repo(mirror)
    try:
        if from_commit is None:
            return _z_paths(repo.git.ls_tree("-r", "-z", "--name-only", to_commit))
        out = repo.git.diff_tree("-r", "-z", "--no-renames", "--name-only", from_commit, to_commit)
        return _z_paths(out)
    finally:
        repo.close()


def audit_change_set(changeset: Path, mirror: Path) -> AuditReport:
    """Compare the paths a change set mentions with the paths git says changed."""
    begin: dict = {}
    mentioned: set[str] = set()
    deletes: set[str] = set()
    for record in iter_change_set(changeset):
        op = record.get("op")
        if op == "begin":
            begin = record
            continue
        if op == "end":
            continue
        for key in ("path", "previous_path"):
            if record.get(key):
                mentioned.add(record[key])
        if op == "delete":
            deletes.add(record["path"])
    to_commit = begin.get("to_commit", "")
    snapshot = begin.get("from_commit") is None or bool(begin.get("full_snapshot"))
    expected = changed_paths(mirror, None if snapshot else begin.get("from_commit"), to_commit)
    missing = sorted(expected - mentioned)
    # A snapshot may also delete documents of files that are gone; those are not in ls-tree.
    unexpected = sorted(mentioned - expected - (deletes if snapshot else set()))
    return AuditReport(
        from_commit=begin.get("from_commit"),
        to_commit=to_commit,
        diff_paths=len(expected),
        covered=len(expected & mentioned),
        missing=missing,
        unexpected=unexpected,
    )
