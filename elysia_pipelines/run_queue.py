"""Runs through the instance's run queue when a Dagster daemon serves it.

On a deployment the daemon's run coordinator, run launcher and executor decide where a
run executes (this machine, a Kubernetes pod, a Celery worker) and how many run at once
(`max_concurrent_runs`, tag limits, pools). `elysiactl` therefore *submits* its runs to
the queue whenever a daemon is alive for the instance, and follows them to the end by
reading the event log; only without a daemon does `orchestration` execute them in the
CLI's own process. Part of the CLI's bridge to Dagster (with `orchestration`).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dagster as dg

from elysia_pipelines.errors import ElysiaError

LOCATION_NAME = "elysia_pipelines"
DEFINITIONS_MODULE = "elysia_pipelines.definitions"
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
# The daemon writes a heartbeat every 30 s; two missed ones mean nobody dequeues runs.
HEARTBEAT_TOLERANCE_S = 75.0
POLL_S = 0.5

_FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


def uses_run_queue(instance: dg.DagsterInstance) -> bool:
    """Whether the instance queues runs (QueuedRunCoordinator in its dagster.yaml)."""
    from dagster._core.run_coordinator import QueuedRunCoordinator

    return isinstance(instance.run_coordinator, QueuedRunCoordinator)


def daemon_heartbeat_age(instance: dg.DagsterInstance) -> float | None:
    """Seconds since the queue daemon's last heartbeat, None when it never ran here."""
    beat = instance.get_daemon_heartbeats().get(QUEUE_DAEMON)
    return None if beat is None else max(0.0, time.time() - beat.timestamp)


def daemon_serves_queue(instance: dg.DagsterInstance) -> bool:
    """A daemon dequeues this instance's runs: queued coordinator and a fresh heartbeat."""
    if not uses_run_queue(instance):
        return False
    age = daemon_heartbeat_age(instance)
    return age is not None and age <= HEARTBEAT_TOLERANCE_S


@contextmanager
def _workspace(instance: dg.DagsterInstance) -> Iterator[Any]:
    """The code location loaded in this process, named as the deployment's workspace names it.

    The run records this location name and a Python origin (this interpreter, the
    definitions module); the daemon looks the location up in its own workspace and its
    launcher starts the run from there, so nothing of this process is needed afterwards.
    """
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=DEFINITIONS_MODULE),
        location_name=LOCATION_NAME,
    )
    with warnings.catch_warnings():
        # Snapshotting the definitions touches deprecated schedule properties.
        warnings.simplefilter("ignore", DeprecationWarning)
        with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as process:
            yield process.create_request_context()


def submit(
    instance: dg.DagsterInstance,
    job_name: str,
    *,
    tags: Mapping[str, str],
    run_config: Mapping[str, Any],
) -> str:
    """Create the run for one job and hand it to the run coordinator; returns its id."""
    from dagster._core.definitions.selector import JobSubsetSelector

    with _workspace(instance) as workspace:
        entry = workspace.get_code_location_entries()[LOCATION_NAME]
        if entry.code_location is None:
            raise ElysiaError(
                f"cannot load the pipeline definitions: {entry.load_error}",
                "run `elysiactl` from the project's environment (.venv)",
            )
        location = entry.code_location
        repo = next(iter(location.get_repositories().values()))
        remote_job = location.get_job(
            JobSubsetSelector(
                location_name=location.name,
                repository_name=repo.name,
                job_name=job_name,
                op_selection=None,
            )
        )
        plan = location.get_execution_plan(
            remote_job,
            dict(run_config),
            step_keys_to_execute=None,
            known_state=None,
            instance=instance,
        ).execution_plan_snapshot
        run = instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=dict(run_config),
            resolved_op_selection=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**remote_job.tags, **tags},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repo.asset_graph,
        )
        instance.submit_run(run.run_id, workspace)
        return run.run_id


def follow(
    instance: dg.DagsterInstance,
    run_id: str,
    on_progress: Callable[[str], None] | None = None,
    *,
    poll_s: float = POLL_S,
) -> dg.DagsterRunStatus:
    """Wait for a submitted run to finish, telling `on_progress` what it does meanwhile.

    A run that stays queued while the daemon's heartbeat goes stale would wait forever;
    that becomes an error saying so (the run stays queued for when the daemon returns).
    """
    from dagster import DagsterEventType

    shown = {
        DagsterEventType.RUN_STARTING: "launched by the daemon's run launcher",
        DagsterEventType.RUN_START: "started",
    }
    cursor: str | None = None
    said_queued = False
    while True:
        connection = instance.get_records_for_run(run_id, cursor=cursor)
        cursor = connection.cursor
        for record in connection.records:
            event = record.event_log_entry.dagster_event
            if event is None or on_progress is None:
                continue
            if event.event_type in shown:
                on_progress(shown[event.event_type])
            elif event.event_type == DagsterEventType.STEP_SUCCESS:
                on_progress(f"step {event.step_key} done")
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                on_progress(f"step {event.step_key} failed")
        run = instance.get_run_by_id(run_id)
        if run is None:
            raise ElysiaError(f"run {run_id} disappeared from the instance", "see the Dagster UI")
        if run.status in _FINISHED and not connection.has_more:
            return run.status
        if run.status == dg.DagsterRunStatus.QUEUED:
            if on_progress is not None and not said_queued:
                on_progress("queued (waiting for a free slot: run limits, tag limits, pools)")
                said_queued = True
            if not daemon_serves_queue(instance):
                raise ElysiaError(
                    f"run {run_id[:8]} is queued but the Dagster daemon stopped serving the queue",
                    "start it again (`dagster-daemon run`, or `./dev.sh ui`); the run waits in "
                    "the queue until then",
                )
        if not connection.has_more:
            time.sleep(poll_s)
