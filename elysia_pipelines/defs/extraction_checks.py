"""Success criteria of extraction, as blocking checks: a bad change set never reaches Weaviate."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import git

from elysia_pipelines.changes.audit import audit_change_set
from elysia_pipelines.changes.reader import read_header, validate_change_set
from elysia_pipelines.defs.checks_support import latest_metadata, partition_of
from elysia_pipelines.defs.extraction import change_set
from elysia_pipelines.defs.metadata import md_table
from elysia_pipelines.defs.per_repository import repository_check
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.ingest.moves import fail_changeset
from elysia_pipelines.layout import find_change_set, is_pending
from elysia_pipelines.registry import Repository
from elysia_pipelines.settings import Settings


def _this_change_set(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> tuple[Settings, Path | None, Repository]:
    """The file the latest `change_set` materialization wrote, wherever ingestion moved it."""
    settings, repo = elysia.settings_and_repo(partition_of(context))
    meta = latest_metadata(context, change_set.key, partition_of(context)) or {}
    written = meta.get("change_set")
    if not written or not str(written).endswith(".jsonl"):
        return settings, None, repo
    return settings, find_change_set(settings, repo.collection, Path(str(written))), repo


def _gate(
    result: dg.AssetCheckResult,
    settings: Settings,
    repo: Repository,
    path: Path | None,
    check: str,
    problems: list[str],
) -> dg.AssetCheckResult:
    """Quarantine a change set that failed a blocking check while it still waits in pending/.

    The blocking flag only stops the rest of *this* run; the pending sensor would still
    ingest the file on its own. Moving it to failed/ (with the check's findings in its
    `.error.json`) makes the gate hold on every path; the pending sensor does not look at
    a repository while its extraction run is in progress, so it never sees the file
    before this check has decided.
    """
    if result.passed or path is None or not path.exists():
        return result
    if not is_pending(settings, repo.collection, path):
        return result
    dest = fail_changeset(
        settings,
        repo.collection,
        path,
        reason=f"blocking check {check} failed",
        problems=problems or [f"{check} failed"],
    )
    metadata = dict(result.metadata or {})
    metadata["quarantined"] = dg.MetadataValue.path(str(dest))
    return dg.AssetCheckResult(
        passed=False,
        metadata=metadata,
        description=(
            f"{path.name} moved to failed/: `elysiactl repo unblock {repo.name}` "
            "--retry or --discard once the cause is fixed"
        ),
    )


Verdict = tuple[dg.AssetCheckResult, list[str]]
"""A check's result and, should it fail, the problems written next to the quarantined file."""


def _change_set_check(
    name: str, description: str, *, nothing_passes: bool = True
) -> Callable[[Callable[[Settings, Repository, Path | None], Verdict]], dg.AssetChecksDefinition]:
    """A blocking check of the latest change set: `judge` decides, `_gate` quarantines.

    With `nothing_passes`, a run that wrote no change set passes without asking `judge`.
    """

    def declare(
        judge: Callable[[Settings, Repository, Path | None], Verdict],
    ) -> dg.AssetChecksDefinition:
        def check(
            context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
        ) -> dg.AssetCheckResult:
            settings, path, repo = _this_change_set(context, elysia)
            if path is None and nothing_passes:
                return dg.AssetCheckResult(
                    passed=True, metadata={"change_set": "none: nothing changed"}
                )
            result, problems = judge(settings, repo, path)
            return _gate(result, settings, repo, path, f"change_set/{name}", problems)

        check.__name__ = check.__qualname__ = judge.__name__
        check.__doc__ = judge.__doc__
        return repository_check(change_set, name, description, blocking=True)(check)

    return declare


@_change_set_check(
    "is_valid", "The change set parses and validates against the format (every line)."
)
def change_set_is_valid(settings: Settings, repo: Repository, path: Path | None) -> Verdict:
    assert path is not None
    if not path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"missing": str(path)}), []
    report = validate_change_set(path)
    rows = [[p.line, p.reason] for p in report.problems[:20]]
    result = dg.AssetCheckResult(
        passed=report.ok,
        metadata={
            "change_set": dg.MetadataValue.path(str(path)),
            "problems": dg.MetadataValue.int(len(report.problems)),
            "details": dg.MetadataValue.md(md_table(["line", "problem"], rows)),
        },
    )
    return result, [f"line {p.line}: {p.reason}" for p in report.problems[:100]]


@_change_set_check(
    "accounts_for_diff",
    "Records and skips account for every path git reports between the commits.",
)
def change_set_accounts_for_diff(
    settings: Settings, repo: Repository, path: Path | None
) -> Verdict:
    assert path is not None
    # The is_valid check validates the same file (its report is cached by file
    # identity): its record paths spare the audit a second parse of the file. An
    # invalid file is audited from the records as before.
    validation = validate_change_set(path) if path.exists() else None
    named = validation.named_paths if validation is not None and validation.ok else None
    report = audit_change_set(path, settings.mirror_path(repo.name), named_paths=named)
    problems = [f"not in the change set: {m}" for m in report.missing[:50]]
    problems += [f"not in git's diff: {u}" for u in report.unexpected[:50]]
    result = dg.AssetCheckResult(
        passed=report.ok,
        metadata={
            "diff_paths": dg.MetadataValue.int(report.diff_paths),
            "covered": dg.MetadataValue.int(report.covered),
            "missing": dg.MetadataValue.json(report.missing[:50]),
            "unexpected": dg.MetadataValue.json(report.unexpected[:50]),
        },
    )
    return result, problems


@_change_set_check(
    "reaches_head",
    "The change set's to_commit is the mirror's head (nothing fetched was left out).",
    nothing_passes=False,
)
def change_set_reaches_head(settings: Settings, repo: Repository, path: Path | None) -> Verdict:
    mirror = git.Repo(settings.mirror_path(repo.name))
    try:
        ref = repo.branch or mirror.head.reference.name
        head = mirror.commit(ref).hexsha
    finally:
        mirror.close()
    to_commit = read_header(path).to_commit if path is not None else repo.last_synced_commit
    result = dg.AssetCheckResult(
        passed=to_commit == head, metadata={"to_commit": str(to_commit), "mirror_head": head}
    )
    return result, [f"change set ends at {to_commit}, the mirror's head is {head}"]
