"""Keep the `repositories` dynamic partitions equal to the registry.

Whatever writes the registry (the CLI, a script, a test) puts a repository into the
pipeline within one tick; removing it there removes its partition here.
"""

import dagster as dg

from elysia_pipelines.defs.partitions import REPOSITORIES, repositories_partitions
from elysia_pipelines.defs.resources import ElysiaSettings

_LOGGED_NAMES = 10


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition for every registered repository and removes deleted ones.",
)
def registry_partitions_sensor(
    context: dg.SensorEvaluationContext, elysia: ElysiaSettings
) -> dg.SensorResult | dg.SkipReason:
    registered = set(elysia.registry().names())
    existing = set(context.instance.get_dynamic_partitions(REPOSITORIES))
    to_add = sorted(registered - existing)
    to_delete = sorted(existing - registered)
    if not to_add and not to_delete:
        return dg.SkipReason(f"{len(existing)} repositories, partitions in step")
    requests = []
    if to_add:
        requests.append(repositories_partitions.build_add_request(to_add))
    if to_delete:
        requests.append(repositories_partitions.build_delete_request(to_delete))
    for name in to_delete:
        # Also what happens to a partition added with the UI's "Add a partition": the
        # registry, not the partition list, is what makes a repository.
        context.log.warning(
            f"removed partition {name!r}: no repository of that name is registered; "
            f"register it with `elysiactl repo add URL --name {name}`"
        )
    if to_add:
        # 500 names in one log line is unreadable in the UI's tick log: count and a few.
        shown = ", ".join(to_add[:_LOGGED_NAMES]) + (", ..." if len(to_add) > _LOGGED_NAMES else "")
        context.log.info(f"added {len(to_add)} partition(s): {shown}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
