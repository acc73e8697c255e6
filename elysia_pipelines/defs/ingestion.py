"""Ingestion: the repository's Weaviate collection, fed from its pending change sets."""

import time

import dagster as dg

from elysia_pipelines.defs.extraction import change_set
from elysia_pipelines.defs.metadata import md_table
from elysia_pipelines.defs.per_repository import exponential_retry, project_asset
from elysia_pipelines.defs.resources import ElysiaSettings, WeaviateResource
from elysia_pipelines.errors import BlockedError
from elysia_pipelines.ingest.apply import IngestProgress, Outcome, apply_pending
from elysia_pipelines.weaviate.session import count_or_zero

PROGRESS_LOG_EVERY_S = 2.0
WEAVIATE_RETRY = exponential_retry(max_retries=3, delay=10)


@project_asset(
    deps=[change_set],
    group_name="ingestion",
    kinds={"weaviate"},
    pool="weaviate",
    retry_policy=WEAVIATE_RETRY,
    tags={"elysia/stage": "ingest"},
    description=(
        "The repository's Weaviate collection: pending change sets applied in order, "
        "with checkpoints, retries and dead letters."
    ),
)
def weaviate_collection(
    context: dg.AssetExecutionContext, elysia: ElysiaSettings, weaviate: WeaviateResource
) -> dg.MaterializeResult:
    settings = elysia.get()
    registry = elysia.registry()
    repo = registry.get(context.partition_key)

    last_logged = [0.0]

    def progress(p: IngestProgress) -> None:
        # Every log line is an event written to the instance's storage (~5 ms each); one
        # per batch was 70 events for a 7,000-file first sync. One per interval says the
        # same in the run's log.
        now = time.monotonic()
        if now - last_logged[0] < PROGRESS_LOG_EVERY_S and p.records_done != p.records_total:
            return
        last_logged[0] = now
        context.log.debug(f"{p.file}: {p.records_done}/{p.records_total or '?'} records")

    with weaviate.session() as client:
        report = apply_pending(
            settings,
            client,
            repo.collection,
            registry=registry,
            repo=repo.name,
            progress=progress,
            run_id=context.run.run_id,
        )
        documents = count_or_zero(client, repo.collection)
    context.log.info(report.summary())
    # Stale and empty files are set aside without blocking anything: not a failure.
    blocking = [r for r in report.rejected if r.status is Outcome.FAILED]
    if blocking or report.blocked_by:
        what = (
            f"change set {blocking[0].file} could not be applied: {blocking[0].error}"
            if blocking
            else f"ingestion is blocked by {report.blocked_by}"
        )
        raise BlockedError(
            what,
            f"read the .error.json beside it in failed/{repo.collection}/ (`elysiactl repo "
            f"diagnose {repo.name}`), fix the file and run `elysiactl repo unblock {repo.name} "
            f"--retry`, or drop it with `elysiactl repo unblock {repo.name} --discard`",
        )
    rows = [
        [
            r.file,
            r.seq,
            r.from_commit[:12] if r.from_commit else "(first sync)",
            (r.to_commit or "")[:12],
            ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())),
            r.failed,
            f"{r.duration_s:.2f}",
        ]
        for r in report.results
    ]
    return dg.MaterializeResult(
        metadata={
            "collection": repo.collection,
            "documents": dg.MetadataValue.int(documents),
            "dagster/row_count": dg.MetadataValue.int(documents),
            "change_sets_applied": dg.MetadataValue.int(len(report.applied)),
            "remaining": dg.MetadataValue.int(report.remaining),
            "open_dead_letters": dg.MetadataValue.int(report.open_dead_letters),
            "blocked_by": report.blocked_by or "",
            "duration_s": round(report.duration_s, 3),
            "applied": dg.MetadataValue.md(
                md_table(["file", "seq", "from", "to", "changes", "failed", "seconds"], rows)
            ),
        }
    )
