"""Extraction assets (the mgit step): mirror a repository, write the change set since last sync."""

from pathlib import Path

import dagster as dg

from elysia_pipelines.changes import git_source, reader
from elysia_pipelines.changes.format import RECORD_FIELDS
from elysia_pipelines.defs.metadata import counts_table, md_table
from elysia_pipelines.defs.per_repository import exponential_retry, project_asset
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.layout import processed_place
from elysia_pipelines.operations.extraction import extract_repository
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.settings import format_size

# The columns of a change set's records, from the format's own list (changes/format.py).
CHANGE_SET_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(name, type_, description=meaning)
        for name, type_, meaning in RECORD_FIELDS
    ]
)

GIT_RETRY = exponential_retry(max_retries=2, delay=5)


@project_asset(
    group_name="extraction",
    kinds={"git"},
    pool="git",
    retry_policy=GIT_RETRY,
    tags={"elysia/stage": "extract"},
    description="Bare mirror of the repository under ELYSIA_HOME/mirrors (clone, then fetch).",
)
def repo_mirror(context: dg.AssetExecutionContext, elysia: ElysiaSettings) -> dg.MaterializeResult:
    settings, repo = elysia.settings_and_repo(context.partition_key)
    info = git_source.mirror_repository(
        repo.url,
        settings.mirror_path(repo.name),
        token_env=repo.token_env,
        branch=repo.branch,
        timeout_s=settings.git_timeout_s,
    )
    context.log.info(
        f"{'fetched' if info.fetched else 'cloned'} {redact_credentials(repo.url)} "
        f"at {info.head_commit[:12]} ({info.file_count} files)"
    )
    return dg.MaterializeResult(
        metadata={
            "url": redact_credentials(repo.url),
            "head_commit": info.head_commit,
            "branch": info.branch,
            "file_count": dg.MetadataValue.int(info.file_count),
            "size": format_size(info.size_bytes),
            "size_bytes": dg.MetadataValue.int(info.size_bytes),
            "mirror_path": dg.MetadataValue.path(str(settings.mirror_path(repo.name))),
        },
        data_version=dg.DataVersion(info.head_commit),
    )


@project_asset(
    deps=[repo_mirror],
    group_name="extraction",
    kinds={"git", "jsonl"},
    pool="git",
    tags={"elysia/stage": "extract"},
    description=(
        "JSONL change set from the last synced commit to the mirror's head, written "
        "atomically into `ELYSIA_HOME/pending/{Collection}/` (nothing when nothing changed). "
        "Its `change_set` metadata is where the file stays once applied (`processed/`); "
        "`written_to` is where it waited."
    ),
    metadata={"dagster/column_schema": CHANGE_SET_SCHEMA},
)
def change_set(context: dg.AssetExecutionContext, elysia: ElysiaSettings) -> dg.MaterializeResult:
    settings = elysia.get()
    registry = elysia.registry()
    repo = registry.get(context.partition_key)
    extraction = extract_repository(settings, registry, repo, run_id=context.run.run_id)
    result, seq, duration = extraction.result, extraction.seq, extraction.duration_s
    metadata: dict[str, object] = {
        "from_commit": result.from_commit or "(full snapshot)",
        "to_commit": result.to_commit,
        "full_snapshot": result.full_snapshot,
        "tracked_files": dg.MetadataValue.int(result.tracked_files),
        "records": dg.MetadataValue.int(sum(result.counts.values())),
        "skipped": dg.MetadataValue.int(sum(result.skipped.values())),
        "duration_s": round(duration, 3),
        "changes": counts_table(result.counts, result.skipped),
    }
    if result.path is None:
        context.log.info(f"{repo.name}: nothing changed since {result.from_commit}")
        metadata["change_set"] = "none: nothing changed"
    else:
        # A link to pending/ would be dead within seconds of a sync; failed/ instead, if a
        # check quarantines it, is named by that check's result.
        final = processed_place(settings, repo.collection, result.path)
        metadata.update(
            {
                "change_set": dg.MetadataValue.path(str(final)),
                "written_to": str(result.path),
                "sequence": dg.MetadataValue.int(seq),
                "bytes_written": dg.MetadataValue.int(result.bytes_written),
                "preview": dg.MetadataValue.md(_preview(result.path)),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


def _preview(path: Path, limit: int = 15) -> str:
    rows = []
    for record in reader.iter_change_set(path):
        if record.get("op") in ("begin", "end"):
            continue
        rows.append(
            [
                record.get("op", ""),
                record.get("path", ""),
                record.get("language") or record.get("reason") or "",
                str(record.get("size_bytes", "")),
            ]
        )
        if len(rows) >= limit:
            break
    return md_table(["op", "path", "language / reason", "bytes"], rows)
