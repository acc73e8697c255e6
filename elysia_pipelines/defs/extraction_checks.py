"""Success criteria of extraction, as blocking checks: a bad change set never reaches Weaviate."""

from pathlib import Path

import dagster as dg
import git

from elysia_pipelines.changes.audit import audit_change_set
from elysia_pipelines.changes.reader import read_header, validate_change_set
from elysia_pipelines.defs.checks_support import latest_metadata, partition_of
from elysia_pipelines.defs.extraction import change_set
from elysia_pipelines.defs.metadata import md_table
from elysia_pipelines.defs.partitions import repositories_partitions
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.ingest.moves import fail_changeset
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
    # Recorded as its place in processed/; until ingestion it still waits in pending/.
    path = Path(str(written))
    for candidate in (
        settings.pending_dir / repo.collection / path.name,
        path,
        settings.processed_dir / repo.collection / path.name,
        settings.failed_dir / repo.collection / path.name,
    ):
        if candidate.exists():
            return settings, candidate, repo
    return settings, path, repo


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
    if path.parent != settings.pending_dir / repo.collection:
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


def _nothing_written() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"change_set": "none: nothing changed"})


@dg.asset_check(
    asset=change_set,
    name="is_valid",
    partitions_def=repositories_partitions,
    blocking=True,
    description="The change set parses and validates against the format (every line).",
)
def change_set_is_valid(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    settings, path, repo = _this_change_set(context, elysia)
    if path is None:
        return _nothing_written()
    if not path.exists():
        return dg.AssetCheckResult(passed=False, metadata={"missing": str(path)})
    report = validate_change_set(path)
    rows = [[p.line, p.reason] for p in report.problems[:20]]
    problems = [f"line {p.line}: {p.reason}" for p in report.problems[:100]]
    return _gate(
        dg.AssetCheckResult(
            passed=report.ok,
            metadata={
                "change_set": dg.MetadataValue.path(str(path)),
                "problems": dg.MetadataValue.int(len(report.problems)),
                "details": dg.MetadataValue.md(md_table(["line", "problem"], rows)),
            },
        ),
        settings,
        repo,
        path,
        "change_set/is_valid",
        problems,
    )


@dg.asset_check(
    asset=change_set,
    name="accounts_for_diff",
    partitions_def=repositories_partitions,
    blocking=True,
    description="Records and skips account for every path git reports between the commits.",
)
def change_set_accounts_for_diff(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    settings, path, repo = _this_change_set(context, elysia)
    if path is None:
        return _nothing_written()
    report = audit_change_set(path, settings.mirror_path(repo.name))
    problems = [f"not in the change set: {m}" for m in report.missing[:50]]
    problems += [f"not in git's diff: {u}" for u in report.unexpected[:50]]
    return _gate(
        dg.AssetCheckResult(
            passed=report.ok,
            metadata={
                "diff_paths": dg.MetadataValue.int(report.diff_paths),
                "covered": dg.MetadataValue.int(report.covered),
                "missing": dg.MetadataValue.json(report.missing[:50]),
                "unexpected": dg.MetadataValue.json(report.unexpected[:50]),
            },
        ),
        settings,
        repo,
        path,
        "change_set/accounts_for_diff",
        problems,
    )


@dg.asset_check(
    asset=change_set,
    name="reaches_head",
    partitions_def=repositories_partitions,
    blocking=True,
    description="The change set's to_commit is the mirror's head (nothing fetched was left out).",
)
def change_set_reaches_head(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    settings, path, repo = _this_change_set(context, elysia)
    mirror = git.Repo(settings.mirror_path(repo.name))
    try:
        ref = repo.branch or mirror.head.reference.name
        head = mirror.commit(ref).hexsha
    finally:
        mirror.close()
    to_commit = read_header(path).to_commit if path is not None else repo.last_synced_commit
    return _gate(
        dg.AssetCheckResult(
            passed=to_commit == head,
            metadata={"to_commit": str(to_commit), "mirror_head": head},
        ),
        settings,
        repo,
        path,
        "change_set/reaches_head",
        [f"change set ends at {to_commit}, the mirror's head is {head}"],
    )
