"""The CLI's bridge to the Dagster instance: partitions, launching syncs, reading runs and logs.

`elysiactl` runs a sync *through Dagster* (not by calling the domain functions itself)
so every sync, whoever started it, shows up in the UI with its logs, metadata and
checks. Runs started here execute in this process on the same instance storage the
webserver and daemon read, which is what makes them visible there.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings

PARTITIONS_NAME = "repositories"
SYNC_JOB = "sync_repository"
EXTRACT_JOB = "extract_repository"
INGEST_JOB = "ingest_pending"
BACKUP_JOB = "backup_collection"

_TEMPLATE = Path(__file__).resolve().parent.parent / "dagster.yaml"


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    job_name: str
    status: str
    partition: str | None
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    status: str
    error: str | None
    documents: int | None = None


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
    if not config.exists() and _TEMPLATE.exists():
        shutil.copyfile(_TEMPLATE, config)
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        return dg.DagsterInstance.get()
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


def remove_partition(instance: dg.DagsterInstance, name: str) -> None:
    if instance.has_dynamic_partition(PARTITIONS_NAME, name):
        instance.delete_dynamic_partition(PARTITIONS_NAME, name)


def _job(name: str) -> dg.JobDefinition:
    from elysia_pipelines.definitions import defs

    return defs().resolve_job_def(name)


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
) -> RunOutcome:
    """Execute one job for one repository in this process, recorded on the instance."""
    instance = instance or get_instance(settings)
    register_partition(instance, partition)
    run_tags = {
        "dagster/partition": partition,
        "elysia/source": "elysiactl",
        **owner_tags(),
        **(tags or {}),
    }
    env_home = os.environ.get("ELYSIA_HOME")
    os.environ["ELYSIA_HOME"] = str(settings.home)
    try:
        result = dg.execute_job(
            dg.reconstructable(_JOB_FACTORIES[job_name]),
            instance=instance,
            tags=run_tags,
            run_config={
                # The CLI prints its own progress and RunOutcome.error; Dagster's console
                # lines (and its stack traces) stay in the event log: `repo logs`, the UI.
                "loggers": {"console": {"config": {"log_level": log_level}}},
            },
            raise_on_error=False,
        )
    finally:
        if env_home is None:
            os.environ.pop("ELYSIA_HOME", None)
        else:
            os.environ["ELYSIA_HOME"] = env_home
    with result:
        error = None
        documents = None
        if not result.success:
            failure = next(
                (e for e in result.all_events if e.event_type_value == "STEP_FAILURE"), None
            )
            if failure is not None and failure.step_failure_data is not None:
                err = failure.step_failure_data.error
                error = _user_message(err.message if err else "step failed")
            else:
                error = "the run failed; see `elysiactl repo logs` or the Dagster UI"
        if result.success:
            for mat in result.asset_materializations_for_node("weaviate_collection"):
                value = mat.metadata.get("documents")
                documents = int(value.value) if value is not None else documents
        run = result.dagster_run
        return RunOutcome(
            run_id=run.run_id,
            success=result.success,
            status=str(run.status.value if run.status else "UNKNOWN"),
            error=error,
            documents=documents,
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
