"""What the sensors ask the Dagster instance about runs in progress."""

import dagster as dg

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def busy_partitions(instance: dg.DagsterInstance) -> set[str]:
    """Repositories (partition keys) with a run queued or in progress.

    Runs whose owning process died (a SIGKILLed `repo sync`) are marked failed first,
    or their repositories would stay busy forever.
    """
    from elysia_pipelines.orchestration import fail_dead_runs

    fail_dead_runs(instance)
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE), limit=5000)
    return {
        r.dagster_run.tags["dagster/partition"]
        for r in records
        if "dagster/partition" in r.dagster_run.tags
    }
