"""The hand-off from extraction to ingestion: new files in pending/ start ingestion runs.

Whoever wrote the change set (our extractor, the real mgit, a script), one run per
collection is requested; the run key carries the newest sequence, so the same files
never start two runs and a burst of files becomes one run.
"""

import dagster as dg

from elysia_pipelines.defs.jobs import ingest_pending
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.ingest.pending import scan_pending


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
    run_requests = []
    for collection, newest_seq in sorted(scan.collections_with_new_files.items()):
        repo = registry.by_collection(collection)
        if repo is None:
            context.log.warning(
                f"pending/{collection}/ has change sets but no registered repository syncs "
                "into it; register one with `elysiactl repo add` or move the files away"
            )
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
    return dg.SensorResult(run_requests=run_requests, cursor=scan.new_cursor)
