"""The CLI's bridge to the Dagster instance: partitions, launching syncs, reading runs and logs.

`elysiactl` runs a sync *through Dagster* (not by calling the domain functions itself)
so every sync, whoever started it, shows up in the UI with its logs, metadata and
checks. When a Dagster daemon serves the instance's run queue the runs are submitted
to it (`run_queue`), so the deployment decides where they execute and how many at
once; otherwise they execute in this process on the same instance storage the
webserver and daemon read, which is what makes them visible there.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg

from elysia_pipelines.errors import ElysiaError, ErrorKind
from elysia_pipelines.run_outcome import RunOutcome
from elysia_pipelines.settings import Settings

PARTITIONS_NAME = "repositories"
SYNC_JOB = "sync_repository"
EXTRACT_JOB = "extract_repository"
INGEST_JOB = "ingest_pending"
BACKUP_JOB = "backup_collection"


def _instance_template() -> Path:
    """The shipped instance config: the project root's dagster.yaml in a checkout, the copy
    that the wheel carries inside the package (pyproject's force-include) when installed."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "dagster.yaml", package.parent / "dagster.yaml"):
        if candidate.is_file():
            return candidate
    return package.parent / "dagster.yaml"


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    job_name: str
    status: str
    partition: str | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class StepFailure:
    """The failed steps' own messages, and the kind and reason our code gave the first."""

    message: str
    kind: ErrorKind | None = None
    reason: str | None = None


def step_failure(instance: dg.DagsterInstance, run_id: str) -> StepFailure | None:
    """Read from the event log, so the CLI and the failure sensor see the same failure.

    `defs.metadata.user_errors` puts the raised error's kind and reason into the
    `dg.Failure` metadata; failures from outside our code have none and are
    classified from their text later.
    """
    messages: list[str] = []
    kind: ErrorKind | None = None
    reason: str | None = None
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event else None
        if data is None:
            continue
        messages.append(_user_message(data.error.message if data.error else "step failed"))
        metadata = data.user_failure_data.metadata if data.user_failure_data else {}
        if kind is None and "kind" in metadata:
            kind = ErrorKind(getattr(metadata["kind"], "value", metadata["kind"]))
            raw_reason = metadata.get("reason")
            reason = str(getattr(raw_reason, "value", raw_reason)) if raw_reason else None
    if not messages:
        return None
    return StepFailure("\n".join(dict.fromkeys(messages)), kind, reason)


@dataclass(frozen=True)
class LogLine:
    timestamp: datetime
    level: str
    message: str
    step: str | None = None


def get_instance(settings: Settings) -> dg.DagsterInstance:
    """The persistent instance under DAGSTER_HOME (created with our dagster.yaml if new)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    template = _instance_template()
    if not config.exists() and template.exists():
        shutil.copyfile(template, config)
    return open_instance(home)


def open_instance(home: Path) -> dg.DagsterInstance:
    """The instance whose dagster.yaml is in `home`, on the pooled SQLite storage.

    What `DagsterInstance.get()` builds for DAGSTER_HOME=home: the shipped dagster.yaml
    names its storage directory as `{env: DAGSTER_HOME}`, so that variable is set while
    the config is read, and the storage's directory is then spelled out (stock SQLite
    storage becomes the pooled one; same files, instance_storage says why) so that
    processes handed this instance's ref need no DAGSTER_HOME of their own.
    """
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        from dagster._core.instance.ref import InstanceRef

        from elysia_pipelines.instance_storage import pooled

        ref = InstanceRef.from_dir(str(home))
        return dg.DagsterInstance.from_ref(
            ref._replace(storage_data=pooled(ref.storage_data, str(home)))
        )
    except Exception as exc:  # dagster raises several types for a broken instance
        raise ElysiaError(
            f"cannot open the Dagster instance in {home}: {exc}",
            "check DAGSTER_HOME and its dagster.yaml (`./dev.sh ui` creates a working one)",
        ) from None
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous


def register_partition(instance: dg.DagsterInstance, name: str) -> None:
    if not instance.has_dynamic_partition(PARTITIONS_NAME, name):
        instance.add_dynamic_partitions(PARTITIONS_NAME, [name])


def register_partition_for(settings: Settings, name: str) -> None:
    """`register_partition` on the instance of `settings` (a warm worker's call)."""
    with get_instance(settings) as instance:
        register_partition(instance, name)


def remove_partition(instance: dg.DagsterInstance, name: str) -> None:
    if instance.has_dynamic_partition(PARTITIONS_NAME, name):
        instance.delete_dynamic_partition(PARTITIONS_NAME, name)


# What `defs/` reads from the environment when it loads: a change means another location.
_LOAD_ENV = ("ELYSIA_EXECUTOR", "ELYSIA_EXECUTOR_CONFIG")


def _job(name: str) -> dg.JobDefinition:
    """The job from the code location, loaded once per process and executor choice.

    `dg.reconstructable` and `execute_job` call the job factory again for every phase of
    a run (plan, executor, each step's context): without the cache each call loaded the
    whole `defs/` folder anew (~4 loads of ~0.5-3.7 s per sync). The executor comes from
    the environment at load time, so a process that changes ELYSIA_EXECUTOR (a test, a
    long-lived caller) gets the location loaded for the new value.
    """
    return _job_for(name, tuple(os.environ.get(var) for var in _LOAD_ENV))


_last_load_env: list[tuple[str | None, ...]] = []


def _reconstructable(name: str) -> Any:
    """`dg.reconstructable` of the job, and never Dagster's copy for another executor.

    Dagster keeps the last job definition per process (an lru_cache on
    `ReconstructableJob.get_definition` and `get_repository_definition`, keyed by the
    code pointer, which does not change with ELYSIA_EXECUTOR); after a change it would
    run the old executor, so its cache is dropped when the choice changed.
    """
    load_env = tuple(os.environ.get(var) for var in _LOAD_ENV)
    if _last_load_env and _last_load_env[-1] != load_env:
        from dagster._core.definitions.reconstruct import ReconstructableJob

        ReconstructableJob.get_definition.cache_clear()
        ReconstructableJob.get_repository_definition.cache_clear()
    _last_load_env[:] = [load_env]
    return dg.reconstructable(_JOB_FACTORIES[name])


@functools.cache
def _job_for(name: str, load_env: tuple[str | None, ...]) -> dg.JobDefinition:
    from elysia_pipelines.definitions import defs

    return defs().resolve_job_def(name)


def preload_jobs() -> None:
    """Load the code location and every job now (the warm worker, before it forks)."""
    for name in _JOB_FACTORIES:
        _job(name)


def sync_job() -> dg.JobDefinition:
    return _job(SYNC_JOB)


def extract_job() -> dg.JobDefinition:
    return _job(EXTRACT_JOB)


def ingest_job() -> dg.JobDefinition:
    return _job(INGEST_JOB)


def backup_job() -> dg.JobDefinition:
    return _job(BACKUP_JOB)


_JOB_FACTORIES = {
    SYNC_JOB: sync_job,
    EXTRACT_JOB: extract_job,
    INGEST_JOB: ingest_job,
    BACKUP_JOB: backup_job,
}


def run_job(
    settings: Settings,
    job_name: str,
    partition: str,
    *,
    instance: dg.DagsterInstance | None = None,
    tags: dict[str, str] | None = None,
    log_level: str = "CRITICAL",
    wait: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Run one job for one repository: through the run queue when a daemon serves it.

    With a daemon the deployment's coordinator, launcher and executor run it (limits and
    pools apply) and this follows it to the end unless `wait` is false; without one it
    executes in this process. Either way it is recorded on the instance and the outcome
    is read back from the event log, so both give the same result and error text.
    """
    from elysia_pipelines import run_queue, warm_worker

    instance = instance or get_instance(settings)
    register_partition(instance, partition)
    run_tags = {"dagster/partition": partition, "elysia/source": "elysiactl", **(tags or {})}
    if _use_queue(settings, instance):
        # No owner tags: the run worker, not this process, owns a queued run.
        run_id = run_queue.submit(
            instance, job_name, tags=run_tags, run_config=_pinned_config(settings)
        )
        if on_progress is not None:
            on_progress(f"run {run_id[:8]} submitted to the run queue")
        if not wait:
            return RunOutcome(run_id, False, "QUEUED", None, queued=True, finished=False)
        run_queue.follow(instance, run_id, on_progress)
        return outcome_of(instance, run_id, queued=True)
    if on_progress is not None:
        where = (
            f"in elysiactl's warm worker (process {os.getpid()})"
            if warm_worker.in_child()
            else "in this process"
        )
        on_progress(
            f"running {where} (ELYSIA_RUN_MODE=in-process)"
            if settings.run_mode == "in-process"
            else f"no Dagster daemon serves the run queue: running {where}"
        )
    invocation = uuid.uuid4().hex
    run_tags = {**run_tags, **owner_tags(), INVOCATION_TAG: invocation}
    env_home = os.environ.get("ELYSIA_HOME")
    os.environ["ELYSIA_HOME"] = str(settings.home)
    try:
        result = interruptible(
            lambda: dg.execute_job(
                _reconstructable(job_name),
                instance=instance,
                tags=run_tags,
                run_config={
                    # The CLI prints its own progress and RunOutcome.error; Dagster's console
                    # lines (and its stack traces) stay in the event log: `repo logs`, the UI.
                    "loggers": {"console": {"config": {"log_level": log_level}}},
                },
                raise_on_error=False,
            ),
            on_interrupt=lambda: _cancel_runs_of(instance, invocation),
        )
    finally:
        if env_home is None:
            os.environ.pop("ELYSIA_HOME", None)
        else:
            os.environ["ELYSIA_HOME"] = env_home
    with result:
        run_id = result.dagster_run.run_id
    return outcome_of(instance, run_id, queued=False)


INVOCATION_TAG = "elysia/invocation"
_T = TypeVar("_T")


def interruptible(execute: Callable[[], _T], *, on_interrupt: Callable[[], None]) -> _T:
    """`execute()` on a worker thread, so that Ctrl-C stops the command.

    Dagster's in-process execution defers SIGINT to points the in-process executor never
    reaches: a Ctrl-C during a sync was swallowed and the run went on to "succeeded". Here
    the main thread only waits; on KeyboardInterrupt it records what was stopped
    (`on_interrupt`) and re-raises, and the process ends with the worker in the middle of
    its step, which is what a killed process leaves: every step resumes from its
    checkpoint on the next run.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = execute()
        except BaseException as exc:  # handed to the main thread below
            box["error"] = exc

    # Dagster's compute-log capture points the process's fds 1 and 2 at its own files for
    # the run (its tail helpers die on the same Ctrl-C): what the CLI prints after an
    # interruption must reach the terminal again.
    saved = (os.dup(1), os.dup(2))
    worker = threading.Thread(target=target, name="elysia-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        on_interrupt()
        raise
    finally:
        for fd in saved:
            os.close(fd)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _cancel_runs_of(instance: dg.DagsterInstance, invocation: str) -> None:
    """Mark this command's unfinished run canceled, so the UI does not show it running."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={INVOCATION_TAG: invocation}))
    for run in runs:
        if not run.is_finished:
            instance.report_run_canceled(run, message="interrupted (Ctrl-C) in elysiactl")


def _use_queue(settings: Settings, instance: dg.DagsterInstance) -> bool:
    from elysia_pipelines import run_queue

    if settings.run_mode == "in-process":
        return False
    if run_queue.daemon_serves_queue(instance):
        return True
    if settings.run_mode == "queue":
        age = run_queue.daemon_heartbeat_age(instance)
        seen = "never ran" if age is None else f"last heartbeat {age:.0f} s ago"
        raise ElysiaError(
            f"ELYSIA_RUN_MODE=queue but no Dagster daemon serves the run queue of "
            f"{settings.dagster_home} ({seen})",
            "start `dagster-daemon run` (or `./dev.sh ui`) for this DAGSTER_HOME, "
            "or unset ELYSIA_RUN_MODE to run in this process",
        )
    return False


def _pinned_config(settings: Settings) -> dict[str, Any]:
    """Run config that makes a queued run use this CLI's state directory and Weaviate.

    The run worker's environment is the daemon's (or a pod's); pinning what the CLI
    was pointed at keeps "same results either way". Only the *name* of the API key
    variable travels, never the key.
    """
    resources: dict[str, Any] = {"elysia": {"config": {"home": str(settings.home)}}}
    if settings.weaviate_mode != "embedded" and settings.weaviate_url:
        weaviate = {"url": settings.weaviate_url, "api_key_env": settings.weaviate_api_key_env}
        if settings.weaviate_grpc_url:
            weaviate["grpc_url"] = settings.weaviate_grpc_url
        resources["weaviate"] = {"config": weaviate}
    return {"resources": resources}


def outcome_of(instance: dg.DagsterInstance, run_id: str, *, queued: bool) -> RunOutcome:
    """The finished run's outcome from its event log (the same for both ways of running)."""
    run = instance.get_run_by_id(run_id)
    status = run.status if run is not None else dg.DagsterRunStatus.FAILURE
    success = status == dg.DagsterRunStatus.SUCCESS
    error = None
    documents = None
    failure = None
    records = instance.get_records_for_run(
        run_id,
        of_type={dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.RUN_FAILURE},
    ).records
    events = [r.event_log_entry.dagster_event for r in records]
    if not success:
        failure = step_failure(instance, run_id)
        if failure is not None:
            error = failure.message
        elif status == dg.DagsterRunStatus.CANCELED:
            error = "the run was canceled"
        elif run_failure := next(
            (e for e in events if e and e.event_type == dg.DagsterEventType.RUN_FAILURE), None
        ):
            # Failed before any step ran (e.g. the launcher could not start it).
            error = _user_message(run_failure.message or "the run failed")
        else:
            error = "the run failed; see `elysiactl repo logs` or the Dagster UI"
    else:
        for event in events:
            if event is None or event.event_type != dg.DagsterEventType.ASSET_MATERIALIZATION:
                continue
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key != dg.AssetKey("weaviate_collection"):
                continue
            value = materialization.metadata.get("documents")
            documents = int(value.value) if value is not None else documents
    return RunOutcome(
        run_id=run_id,
        success=success,
        status=str(status.value),
        error=error,
        documents=documents,
        queued=queued,
        error_kind=failure.kind if failure else None,
        error_reason=failure.reason if failure else None,
    )


_EXCEPTION_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?:[A-Z]\w*)?(?:Error|Failure|Exception): ")


def _user_message(message: str) -> str:
    """Our own text: Dagster prefixes it with the exception's qualified class name."""
    return _EXCEPTION_PREFIX.sub("", message.strip(), count=1)


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def _summary(record: dg.RunRecord) -> RunSummary:
    run = record.dagster_run
    return RunSummary(
        run_id=run.run_id,
        job_name=run.job_name,
        status=run.status.value,
        partition=run.tags.get("dagster/partition"),
        started_at=_ts(record.start_time),
        ended_at=_ts(record.end_time),
    )


def recent_runs(
    instance: dg.DagsterInstance, repo_name: str | None = None, limit: int = 20
) -> list[RunSummary]:
    fail_dead_runs(instance)
    filters = dg.RunsFilter(tags={"dagster/partition": repo_name}) if repo_name else None
    return [_summary(r) for r in instance.get_run_records(filters=filters, limit=limit)]


_ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
OWNER_PID_TAG = "elysia/pid"
OWNER_HOST_TAG = "elysia/host"
OWNER_START_TAG = "elysia/pid_start"


def _process_start(pid: int) -> str | None:
    """Start time of `pid` in clock ticks since boot (Linux), so a reused pid is told apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def owner_tags() -> dict[str, str]:
    """Who executes an in-process run: a SIGKILL leaves its run STARTED, and these say
    whose death to look for."""
    tags = {OWNER_PID_TAG: str(os.getpid()), OWNER_HOST_TAG: socket.gethostname()}
    start = _process_start(os.getpid())
    if start is not None:
        tags[OWNER_START_TAG] = start
    return tags


def _owner_alive(tags: dict[str, str]) -> bool:
    """False only when the run's owner provably died on this host; unknown means alive."""
    pid_text = tags.get(OWNER_PID_TAG)
    if not pid_text or tags.get(OWNER_HOST_TAG) != socket.gethostname():
        return True  # launched by the daemon or another host: its monitoring decides
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    recorded = tags.get(OWNER_START_TAG)
    return recorded is None or _process_start(pid) in (None, recorded)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark runs whose owning process is gone as failed; returns their run ids.

    A killed `repo sync` cannot report its own end, so without this its run stays
    STARTED forever for the UI, `repo status` and the busy-partition logic.
    """
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=_ACTIVE), limit=100)
    dead = []
    for record in records:
        run = record.dagster_run
        if run.status == dg.DagsterRunStatus.QUEUED or _owner_alive(dict(run.tags)):
            continue
        instance.report_run_failed(
            run,
            message=f"the process that ran it (pid {run.tags.get(OWNER_PID_TAG)}) is gone "
            "(killed?); the next sync repeats its work exactly",
        )
        dead.append(run.run_id)
    return dead


def active_runs(instance: dg.DagsterInstance) -> list[RunSummary]:
    fail_dead_runs(instance)
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=_ACTIVE), limit=100)
    return [_summary(r) for r in records]


def run_log_lines(instance: dg.DagsterInstance, run_id: str) -> list[LogLine]:
    lines: list[LogLine] = []
    for entry in instance.all_logs(run_id):
        message = entry.user_message or (entry.dagster_event.message if entry.dagster_event else "")
        if not message:
            continue
        lines.append(
            LogLine(
                timestamp=datetime.fromtimestamp(entry.timestamp, tz=UTC),
                level=logging.getLevelName(entry.level),
                message=message,
                step=entry.step_key,
            )
        )
    return lines
