"""The hand-off from extraction to ingestion: new files in pending/ start ingestion runs.

Whoever wrote the change set (our extractor, the real mgit, a script), one run per
collection is requested; the run key carries the newest sequence, so the same files
never start two runs and a burst of files becomes one run.

A repository with a run in progress is held back: its own run will apply what it wrote
(a sync) or is still deciding whether the file may be applied at all (an extraction's
blocking checks quarantine a bad change set into failed/). Held collections are
forgotten by the cursor, so their files are looked at again once the run is over.
"""

import dagster as dg

from elysia_pipelines.defs.jobs import ingest_pending
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.defs.runs import busy_partitions
from elysia_pipelines.ingest.pending import forget_collections, scan_pending


@dg.sensor(
    job=ingest_pending,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts ingestion for every collection with new complete change sets.",
)
def pending_change_sets_sensor(
    context: dg.SensorEvaluationContext, elysia: ElysiaSettings
) -> dg.SensorResult:
    settings = elysia.get()
    registry = elysia.registry()
    scan = scan_pending(settings, context.cursor)
    if not scan.collections_with_new_files:
        return dg.SensorResult(
            skip_reason=dg.SkipReason("no new complete change sets in pending/"),
            cursor=scan.new_cursor,
        )
    # Asked after the scan: a file seen above was written by a run that started before
    # now, so that run is either still listed here or has finished its checks.
    busy = busy_partitions(context.instance)
    run_requests, held, notes = [], [], []
    for collection, newest_seq in sorted(scan.collections_with_new_files.items()):
        repo = registry.by_collection(collection)
        if repo is None:
            notes.append(f"pending/{collection}/ has no registered repository")
            context.log.warning(
                f"pending/{collection}/ has change sets but no registered repository syncs "
                "into it; register one with `elysiactl repo add` or move the files away"
            )
            continue
        if repo.name in busy:
            held.append(collection)
            notes.append(f"{repo.name} has a run in progress")
            continue
        run_requests.append(
            dg.RunRequest(
                partition_key=repo.name,
                # The directory version changes when an unblocked file is put back, so
                # a retry of the same sequence is not deduplicated away.
                run_key=f"ingest:{collection}:{newest_seq}:{scan.versions.get(collection, 0)}",
                tags={"elysia/collection": collection},
            )
        )
    cursor = forget_collections(scan.new_cursor, held) if held else scan.new_cursor
    if not run_requests:
        return dg.SensorResult(skip_reason=dg.SkipReason("; ".join(notes)), cursor=cursor)
    return dg.SensorResult(run_requests=run_requests, cursor=cursor)
