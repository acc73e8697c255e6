"""Check a change set against git itself: is every changed path accounted for?

The validator proves a change set is well-formed; this proves it is complete.
Git is asked, independently of the extractor's logic, which paths differ
between the change set's `from_commit` and `to_commit` (every path of
`to_commit` for a full snapshot), and each must be named by a record: a change,
a rename's either side, or a skip saying why it was left out. Paths named but
not reported by git are flagged too, except after a filter change
(`filter_changed` in begin), when unchanged files of either commit may appear (and a file deleted that the
new rules would have taken needs no record). The one deliberate gap is a
mode-only change (exec bit) of a regular file, which changes no document and so
has no record; it counts as accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import git

from elysia_pipelines.changes.format import FILE_OPS, OP_SKIP, path_problem
from elysia_pipelines.changes.git_objects import (
    REGULAR_MODES,
    TreeEntry,
    changed_entries,
    list_tree,
    open_repository,
    resolve_commit,
)
from elysia_pipelines.changes.reader import KIND_FLAT, iter_change_set, read_header
from elysia_pipelines.errors import ElysiaError


@dataclass
class AuditReport:
    ok: bool
    diff_paths: int = 0  # paths git reports as changed (or present, for a snapshot)
    covered: int = 0  # of those, accounted for by a record or a mode-only change
    missing: list[str] = field(default_factory=list)  # changed per git, no record
    unexpected: list[str] = field(default_factory=list)  # record, but git saw no change
    note: str = ""


def _mode_only(before: TreeEntry | None, after: TreeEntry | None) -> bool:
    return (
        before is not None
        and after is not None
        and before.sha == after.sha
        and before.mode in REGULAR_MODES
        and after.mode in REGULAR_MODES
    )


def audit_change_set(
    changeset: Path | str,
    mirror_path: Path | str,
    *,
    named_paths: frozenset[str] | None = None,
) -> AuditReport:
    """Compare the paths a change set names with the paths git says changed.

    `named_paths`: the paths the file's records name, from a validation of this very
    file (`ValidationReport.named_paths` of a report without problems); given, the
    file is not parsed again (a first sync's change set is tens of MB).
    """
    changeset = Path(changeset)
    header = read_header(changeset)
    if header.kind == KIND_FLAT:
        return AuditReport(ok=True, note="flat sync file: no commits to audit against")
    if not header.complete or header.to_commit is None:
        return AuditReport(ok=False, note="incomplete change set: no end record")
    named: set[str] = set()
    if named_paths is not None:
        named.update(named_paths)
    else:
        for record in iter_change_set(changeset):
            op = record.get("op")
            if op in FILE_OPS or op == OP_SKIP:
                named.add(str(record.get("path")))
                if record.get("previous_path"):
                    named.add(str(record["previous_path"]))
    repository = open_repository(mirror_path)
    try:
        to_commit = resolve_commit(repository, header.to_commit)
        if to_commit is None:
            return AuditReport(
                ok=False, note=f"to_commit {header.to_commit[:12]} is not in the mirror"
            )
        begin = next(iter_change_set(changeset))
        exempt: set[str] = set()
        allowed: set[str] = set()
        if header.full_snapshot:
            expected = set(list_tree(repository, to_commit, sizes=False))
        else:
            base = resolve_commit(repository, header.from_commit or "")
            if base is None:
                return AuditReport(
                    ok=False,
                    note=f"from_commit {str(header.from_commit)[:12]} is not in the mirror",
                )
            pairs = changed_entries(repository, base, to_commit)
            expected = set(pairs)
            exempt = {p for p, (b, a) in pairs.items() if _mode_only(b, a)}
            if begin.get("filter_changed"):
                # A file deleted while the rules changed, that the new rules would
                # take, was never left out under them: it needs no record.
                exempt |= {p for p, (_, after) in pairs.items() if after is None}
                # Unchanged files may change verdict too: any path of either tree may appear.
                allowed = set(list_tree(repository, base, sizes=False)) | set(
                    list_tree(repository, to_commit, sizes=False)
                )
    except git.GitCommandError as exc:
        raise ElysiaError(
            f"git failed while auditing {changeset.name}: {(exc.stderr or str(exc)).strip()[:300]}",
            "check that the mirror is intact (git fsck)",
        ) from None
    finally:
        repository.close()
    # Paths no record may carry (`../x`, see extract.SKIP_UNSAFE_PATH) are counted instead.
    exempt |= {p for p in expected if path_problem(p)}
    missing = sorted(expected - named - exempt)
    unexpected = sorted(named - expected - allowed)
    return AuditReport(
        ok=not missing and not unexpected,
        diff_paths=len(expected),
        covered=len(expected) - len(missing),
        missing=missing,
        unexpected=unexpected,
        note="full snapshot" if header.full_snapshot else "",
    )
