"""Continuous sync sensors: launch due syncs, record failures and successes, alert.

Dagster cannot attach a schedule to each dynamic partition, so one sensor reads the
registry at every tick and asks the domain planner (`operations.planner`) which
repositories are due or due for a retry; it only turns the planned syncs into run
requests. The retry decision needs the failure's class, which `sync_failure_sensor`
records in the registry when the run fails.
"""

from datetime import UTC, datetime

import dagster as dg

from elysia_pipelines.defs.jobs import check_repository, extract_repository, sync_repository
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.defs.runs import busy_partitions
from elysia_pipelines.errors import ErrorKind
from elysia_pipelines.operations import bookkeeping
from elysia_pipelines.operations.alerts import send_failure_alert
from elysia_pipelines.operations.failures import FailureClass
from elysia_pipelines.operations.planner import Trigger, plan_due_syncs
from elysia_pipelines.orchestration import step_failure
from elysia_pipelines.registry import Registry


def due_run_requests(
    registry: Registry, now: datetime, busy: set[str]
) -> tuple[list[dg.RunRequest], list[str]]:
    """The planner's due syncs as run requests (a retry re-runs the whole sync)."""
    plan = plan_due_syncs(registry, now, busy)
    requests = [
        dg.RunRequest(
            job_name=(
                sync_repository.name if sync.trigger is Trigger.RETRY else extract_repository.name
            ),
            partition_key=sync.repo,
            run_key=sync.run_key,
            tags=sync.tags,
        )
        for sync in plan.syncs
    ]
    return requests, plan.notes


@dg.sensor(
    jobs=[extract_repository, sync_repository],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Launches the sync of every repository whose own schedule is due and that is not "
        "paused; retries failed syncs with backoff and after rate-limit resets."
    ),
)
def due_syncs_sensor(
    context: dg.SensorEvaluationContext, elysia: ElysiaSettings
) -> dg.SensorResult | dg.SkipReason:
    registry = elysia.registry()
    busy = busy_partitions(context.instance)
    requests, notes = due_run_requests(registry, datetime.now(UTC), busy)
    for note in notes:
        context.log.info(note)
    if not requests:
        return dg.SkipReason(f"nothing due ({len(busy)} repositories busy)")
    return dg.SensorResult(run_requests=requests)


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records failed syncs for automatic retry and posts an alert to the webhook.",
)
def sync_failure_sensor(context: dg.RunFailureSensorContext, elysia: ElysiaSettings) -> None:
    run = context.dagster_run
    repo_name = run.tags.get("dagster/partition")
    if not repo_name:
        return
    step = step_failure(context.instance, run.run_id)
    message = step.message if step else (context.failure_event.message or "the run failed")
    failure = bookkeeping.record_failure(
        elysia.registry(),
        repo_name,
        message,
        kind=step.kind if step else None,
        reason=step.reason if step else None,
        run_id=run.run_id,
    )
    context.log.info(f"{repo_name}: {failure.kind.value} failure ({failure.reason})")
    _alert(context, elysia, repo_name, message, failure)


def _alert(
    context: dg.RunStatusSensorContext,
    elysia: ElysiaSettings,
    repo_name: str,
    message: str,
    failure: FailureClass,
) -> None:
    run = context.dagster_run
    result = send_failure_alert(
        elysia.get(), repo_name, message, run_id=run.run_id, job=run.job_name, failure=failure
    )
    if result is not None and not result.delivered:
        context.log.warning(f"alert for {repo_name} not delivered: {result.error}")


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """'asset/check' of every check this run evaluated as failed."""
    failed = []
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        if data is not None and not data.passed:
            failed.append(f"{data.asset_key.to_user_string()}/{data.check_name}")
    return failed


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records successful runs so retry backoff restarts from zero; a run whose "
        "non-blocking checks failed is recorded and alerted as a failure instead."
    ),
)
def sync_success_sensor(context: dg.RunStatusSensorContext, elysia: ElysiaSettings) -> None:
    run = context.dagster_run
    repo_name = run.tags.get("dagster/partition")
    registry = elysia.registry()
    if not repo_name or registry.find(repo_name) is None:
        return
    failed = _failed_checks(context.instance, run.run_id)
    if not failed:
        if run.job_name == check_repository.name:
            bookkeeping.record_checks_passed(registry, repo_name)
        else:
            bookkeeping.record_success(registry, repo_name, run_id=run.run_id)
        return
    # A non-blocking check does not fail the run, but it is still a problem with this
    # repository: it shows in `repo status` and alerts like a failed sync. Re-running
    # the same sync gives the same verdict, so it is not retried automatically.
    message = (
        f"asset check(s) failed: {', '.join(failed)}; see run {run.run_id} in the "
        "Dagster UI, or `elysiactl repo diagnose " + repo_name + "`"
    )
    failure = bookkeeping.record_failure(
        registry,
        repo_name,
        message,
        kind=ErrorKind.USER_FIXABLE,
        reason=bookkeeping.CHECK_FAILED,
        stage=bookkeeping.Stage.CHECK,
        run_id=run.run_id,
    )
    _alert(context, elysia, repo_name, message, failure)
