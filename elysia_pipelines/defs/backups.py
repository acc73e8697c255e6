"""Backups: per-repository Parquet exports, the catalog, retention, and their checks.

Export, verify and restore (and with them pyarrow and pandas) are imported inside the
functions that use them: every run loads this module with the code location, and a
sync run, which never touches a backup, should not pay ~0.6 s CPU importing them.
"""

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.retention import cleanup
from elysia_pipelines.backups.storage import is_remote, open_location
from elysia_pipelines.defs.checks_support import latest_metadata, partition_of
from elysia_pipelines.defs.ingestion import WEAVIATE_RETRY, weaviate_collection
from elysia_pipelines.defs.metadata import md_table
from elysia_pipelines.defs.per_repository import project_asset, repository_check, repository_job
from elysia_pipelines.defs.resources import ElysiaSettings, WeaviateResource
from elysia_pipelines.settings import Settings, format_size

if TYPE_CHECKING:
    import pyarrow.parquet as pq

PREVIEW_COLUMNS = ("path", "language", "size_bytes", "line_count", "commit")


def _first_parquet(path: str, settings: Settings) -> "pq.ParquetFile | None":
    """The backup's first Parquet file (local or remote), or None for a JSON backup."""
    import pyarrow.parquet as pq

    if is_remote(path):
        import pyarrow.fs as pafs

        location = open_location(path, settings)
        selector = pafs.FileSelector(location.child("data").path, recursive=True)
        infos = location.filesystem.get_file_info(selector)
        files = sorted(i.path for i in infos if i.path.endswith(".parquet"))
        return pq.ParquetFile(location.filesystem.open_input_file(files[0])) if files else None
    local = sorted(Path(path).rglob("*.parquet"), key=str)
    return pq.ParquetFile(local[0]) if local else None


def _preview(parquet: "pq.ParquetFile | None", limit: int = 10) -> str:
    """First rows, without content (it would drown the table)."""
    if parquet is None:
        return "_(no Parquet files: JSON backup)_"
    columns = [c for c in PREVIEW_COLUMNS if c in parquet.schema_arrow.names]
    if not columns or parquet.metadata.num_rows == 0:
        return "_(empty)_"
    batch = next(parquet.iter_batches(batch_size=limit, columns=columns))
    rows = list(zip(*(batch.column(c).to_pylist() for c in columns), strict=True))
    return md_table(columns, rows)


def _column_schema(parquet: "pq.ParquetFile") -> dg.TableSchema:
    """The columns as written (one per collection property, vectors, uuid): each collection
    has its own, so it is read from the file rather than declared on the asset."""
    schema = parquet.schema_arrow
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                field.name,
                str(field.type),
                constraints=dg.TableColumnConstraints(nullable=field.nullable),
            )
            for field in schema
        ]
    )


@project_asset(
    deps=[weaviate_collection],
    group_name="backups",
    kinds={"parquet", "duckdb", "sqlite"},
    pool="weaviate",
    retry_policy=WEAVIATE_RETRY,
    tags={"elysia/stage": "backup"},
    description=(
        "Parquet (zstd) export of the repository's collection with a manifest and a row "
        "in the SQLite catalog; query it with `elysiactl col query`."
    ),
)
def collection_backup(
    context: dg.AssetExecutionContext, elysia: ElysiaSettings, weaviate: WeaviateResource
) -> dg.MaterializeResult:
    from elysia_pipelines.backups.export import BackupOptions, backup_collection

    settings, repo = elysia.settings_and_repo(context.partition_key)
    with weaviate.client() as client:
        from elysia_pipelines.weaviate.objects import count

        live_count = count(client, repo.collection)
        result = backup_collection(
            client, repo.collection, settings, BackupOptions(tags=("scheduled",))
        )
    context.log.info(
        f"backed up {result.object_count} objects of {repo.collection} to {result.path} "
        f"({format_size(result.size_bytes)} in {result.duration_s:.1f}s)"
    )
    parquet = _first_parquet(str(result.path), settings)
    return dg.MaterializeResult(
        metadata={
            "backup_id": result.backup_id,
            "path": dg.MetadataValue.path(str(result.path)),
            "dagster/uri": str(result.path),
            "format": f"{result.format} ({result.compression})",
            "dagster/row_count": dg.MetadataValue.int(result.object_count),
            "collection_count_at_start": dg.MetadataValue.int(live_count),
            "size_bytes": dg.MetadataValue.int(result.size_bytes),
            "size": format_size(result.size_bytes),
            "files": dg.MetadataValue.int(len(result.files)),
            "duration_s": round(result.duration_s, 3),
            "vector_dimension": (
                "(no vectors)" if result.vector_dimension is None else str(result.vector_dimension)
            ),
            "preview": dg.MetadataValue.md(_preview(parquet)),
            **({"dagster/column_schema": _column_schema(parquet)} if parquet else {}),
        }
    )


def _backup_id(context: dg.AssetCheckExecutionContext) -> tuple[str | None, dict]:
    meta = latest_metadata(context, collection_backup.key, partition_of(context)) or {}
    return meta.get("backup_id"), meta


@repository_check(
    collection_backup,
    "verifies",
    "The backup re-hashes to its manifest, row counts and schema check out.",
    blocking=True,
)
def backup_verifies(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    from elysia_pipelines.backups.verify import verify_backup

    backup_id, _ = _backup_id(context)
    if backup_id is None:
        return dg.AssetCheckResult(passed=False, metadata={"error": "no backup materialized"})
    report = verify_backup(backup_id, elysia.get())
    rows = [[str(p)] for p in report.problems[:20]]
    return dg.AssetCheckResult(
        passed=report.ok,
        metadata={
            "backup_id": backup_id,
            "checked_files": dg.MetadataValue.int(report.checked_files),
            "checked_bytes": dg.MetadataValue.int(report.checked_bytes),
            "problems": dg.MetadataValue.md(md_table(["problem"], rows)),
        },
    )


@repository_check(
    collection_backup,
    "count_matches",
    "Objects in the backup equal the collection's count when the backup started.",
)
def backup_count_matches(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    backup_id, meta = _backup_id(context)
    rows, live = meta.get("dagster/row_count"), meta.get("collection_count_at_start")
    return dg.AssetCheckResult(
        passed=backup_id is not None and rows == live,
        metadata={
            "backup_rows": dg.MetadataValue.int(rows) if rows is not None else "not recorded",
            "collection_count": dg.MetadataValue.int(live) if live is not None else "not recorded",
        },
    )


@repository_check(
    collection_backup,
    "restores",
    "Restoring the backup into a scratch collection gives back every object.",
)
def restore_roundtrip(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings, weaviate: WeaviateResource
) -> dg.AssetCheckResult:
    from elysia_pipelines.backups.restore import restore_roundtrip_check

    backup_id, _ = _backup_id(context)
    if backup_id is None:
        return dg.AssetCheckResult(passed=False, metadata={"error": "no backup materialized"})
    with weaviate.client() as client:
        result = restore_roundtrip_check(elysia.get(), client, backup_id)
    return dg.AssetCheckResult(
        passed=result.ok,
        metadata={
            "expected": dg.MetadataValue.int(result.expected_count),
            "restored": dg.MetadataValue.int(result.restored_count),
            "mismatches": dg.MetadataValue.int(result.mismatch_count),
            "first_mismatches": dg.MetadataValue.json(result.mismatches[:20]),
        },
    )


@project_asset(
    partitioned=False,
    deps=[collection_backup],
    group_name="backups",
    kinds={"sqlite"},
    description=(
        "The backup catalog after retention: backups older than the retention period "
        "are deleted, except the newest few of each collection."
    ),
)
def backup_catalog(
    context: dg.AssetExecutionContext, elysia: ElysiaSettings
) -> dg.MaterializeResult:
    settings = elysia.get()
    report = cleanup(
        settings,
        timedelta(days=settings.backup_retention_days),
        settings.backup_keep_last,
    )
    with open_catalog(settings) as catalog:
        collections = catalog.collections()
        latest = [catalog.latest(c) for c in collections]
        total = catalog.count()
    rows = [
        [e.collection, e.id, e.format, e.object_count, format_size(e.size_bytes), e.status]
        for e in latest
        if e is not None
    ]
    context.log.info(
        f"retention deleted {len(report.deleted)} backups, freed {format_size(report.freed_bytes)}"
    )
    return dg.MaterializeResult(
        metadata={
            "backups": dg.MetadataValue.int(total),
            "collections": dg.MetadataValue.int(len(collections)),
            "deleted_by_retention": dg.MetadataValue.int(len(report.deleted)),
            "freed": format_size(report.freed_bytes),
            "catalog": dg.MetadataValue.path(str(settings.catalog_path)),
            "latest": dg.MetadataValue.md(
                md_table(["collection", "backup", "format", "objects", "size", "status"], rows)
            ),
        }
    )


@dg.asset_check(
    asset=backup_catalog,
    name="latest_verify",
    description="The latest backup of every collection verifies against its manifest.",
)
def latest_backups_verify(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    from elysia_pipelines.backups.verify import verify_backup

    settings = elysia.get()
    with open_catalog(settings) as catalog:
        latest = [e for c in catalog.collections() if (e := catalog.latest(c)) is not None]
    failures = []
    for entry in latest:
        report = verify_backup(entry.id, settings)
        if not report.ok:
            failures.append([entry.collection, entry.id, "; ".join(map(str, report.problems[:3]))])
    return dg.AssetCheckResult(
        passed=not failures,
        metadata={
            "verified": dg.MetadataValue.int(len(latest)),
            "failed": dg.MetadataValue.md(md_table(["collection", "backup", "problems"], failures)),
        },
    )


@dg.asset_check(
    asset=backup_catalog,
    name="latest_counts_match",
    description="Each collection's latest backup holds as many objects as the collection had.",
)
def latest_backup_counts_match(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    registry = elysia.registry()
    settings = elysia.get()
    mismatches = []
    checked = 0
    with open_catalog(settings) as catalog:
        latest = {repo.name: catalog.latest(repo.collection) for repo in registry.list()}
    for name, entry in latest.items():
        meta = latest_metadata(context, collection_backup.key, name)
        if not meta:
            continue
        checked += 1
        if entry is None or entry.object_count != meta.get("collection_count_at_start"):
            mismatches.append(
                [
                    name,
                    entry.id if entry else "-",
                    entry.object_count if entry else "-",
                    meta.get("collection_count_at_start"),
                ]
            )
    return dg.AssetCheckResult(
        passed=not mismatches,
        metadata={
            "checked": dg.MetadataValue.int(checked),
            "mismatches": dg.MetadataValue.md(
                md_table(
                    ["repository", "backup", "backup objects", "collection objects"], mismatches
                )
            ),
        },
    )


backup_job = repository_job(
    "backup_collection",
    [collection_backup],
    "Back up one repository's collection to Parquet and catalog it.",
    stage="backup",
)

catalog_job = dg.define_asset_job(
    "catalog_maintenance",
    selection=dg.AssetSelection.assets(backup_catalog),
    description="Apply backup retention and verify the latest backup of every collection.",
)


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=backup_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly backup of every collection (one run per repository).",
)
def nightly_backups(
    context: dg.ScheduleEvaluationContext, elysia: ElysiaSettings
) -> list[dg.RunRequest] | dg.SkipReason:
    stamp = context.scheduled_execution_time.strftime("%Y%m%d")
    return [
        dg.RunRequest(partition_key=repo.name, run_key=f"backup:{repo.name}:{stamp}")
        for repo in elysia.registry().list()
    ] or dg.SkipReason("no repositories registered")


daily_catalog_retention = dg.ScheduleDefinition(
    name="daily_catalog_retention",
    cron_schedule="30 3 * * *",
    job=catalog_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily retention and verification of the backup catalog.",
)
