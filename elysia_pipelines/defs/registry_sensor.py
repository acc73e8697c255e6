"""Keep the `repositories` dynamic partitions equal to the registry.

Whatever writes the registry (the CLI, a script, a test) puts a repository into the
pipeline within one tick; removing it there removes its partition here.
"""

import dagster as dg

from elysia_pipelines.defs.partitions import REPOSITORIES, repositories_partitions
from elysia_pipelines.defs.resources import ElysiaSettings


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
    context.log.info(f"partitions: +{to_add} -{to_delete}")
    return dg.SensorResult(dynamic_partitions_requests=requests)
