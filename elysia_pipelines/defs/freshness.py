"""Freshness per repository, judged against that repository's own sync schedule.

Dagster's freshness policies are per asset, not per partition, and one policy cannot
carry thirty repositories' different schedules. So freshness is a partitioned asset
check, `weaviate_collection:fresh`, whose verdict comes from `schedules.freshness`:
red once a repository is more than two of its own intervals behind. A sensor
evaluates it for every repository (the UI's per-partition check status then shows
which ones are stale without anyone running anything); it can also be executed from
the Checks tab like any other check, and each sync evaluates it as it finishes.
"""

import json
from datetime import datetime

import dagster as dg

from elysia_pipelines.clock import utc_now
from elysia_pipelines.defs.checks_support import partition_of
from elysia_pipelines.defs.ingestion import weaviate_collection
from elysia_pipelines.defs.per_repository import repository_check
from elysia_pipelines.defs.resources import ElysiaSettings
from elysia_pipelines.registry import Repository
from elysia_pipelines.schedules import ALLOWED_INTERVALS_BEHIND, freshness, parse_schedule

FRESH = "fresh"


def _verdict(repo: Repository, now: datetime) -> tuple[bool, dict[str, object], str]:
    schedule = parse_schedule(repo.schedule)
    state = freshness(schedule, repo.last_sync_at, repo.created_at, now, paused=repo.paused)
    metadata: dict[str, object] = {
        "schedule": repo.schedule + (" (paused)" if repo.paused else ""),
        "last_successful_sync": repo.last_sync_at.isoformat() if repo.last_sync_at else "never",
        "intervals_behind": dg.MetadataValue.float(round(state.intervals_behind, 2)),
        "allowed_intervals_behind": dg.MetadataValue.int(ALLOWED_INTERVALS_BEHIND),
    }
    if not state.judged:
        why = "paused" if repo.paused else "synced manually"
        return True, metadata, f"{repo.name} is {why}: no schedule to fall behind"
    if state.fresh:
        return True, metadata, f"{state.intervals_behind:.1f} intervals behind its schedule"
    return (
        False,
        metadata,
        f"{state.intervals_behind:.1f} intervals behind its {repo.schedule} schedule (more "
        f"than {ALLOWED_INTERVALS_BEHIND}): see `elysiactl repo diagnose {repo.name}`",
    )


@repository_check(
    weaviate_collection,
    FRESH,
    f"The repository's last successful sync is at most {ALLOWED_INTERVALS_BEHIND} of its "
    "own schedule's intervals behind (manual and paused repositories always pass).",
)
def collection_is_fresh(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    repo = elysia.registry().get(partition_of(context))
    passed, metadata, description = _verdict(repo, utc_now())
    return dg.AssetCheckResult(passed=passed, metadata=metadata, description=description)


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Evaluates weaviate_collection:fresh for every repository against its own "
        "schedule and records the verdict when it changes (red: more than "
        f"{ALLOWED_INTERVALS_BEHIND} intervals behind)."
    ),
)
def freshness_sensor(context: dg.SensorEvaluationContext, elysia: ElysiaSettings) -> dg.SensorResult:
    """Reports only changed verdicts (and first ones): a verdict per repository every five
    minutes would bury each check's history in identical rows."""
    previous: dict[str, bool] = json.loads(context.cursor) if context.cursor else {}
    now = utc_now()
    verdicts: dict[str, bool] = {}
    events = []
    stale = []
    for repo in elysia.registry().list():
        passed, metadata, description = _verdict(repo, now)
        verdicts[repo.name] = passed
        if not passed:
            stale.append(repo.name)
        if previous.get(repo.name) != passed:
            events.append(
                dg.AssetCheckEvaluation(
                    asset_key=weaviate_collection.key,
                    check_name=FRESH,
                    passed=passed,
                    metadata=metadata,
                    description=description,
                    partition=repo.name,
                )
            )
    summary = f"{len(verdicts) - len(stale)} of {len(verdicts)} repositories fresh"
    if stale:
        summary += f"; stale: {', '.join(stale)}"
    summary += f"; {len(events)} verdict(s) changed" if events else "; no verdict changed"
    return dg.SensorResult(
        skip_reason=dg.SkipReason(summary),
        cursor=json.dumps(verdicts, sort_keys=True),
        asset_events=events,
    )
