"""What asset checks need from the instance: the latest materialization of a partition."""

from typing import Any

import dagster as dg


def latest_metadata(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, partition: str
) -> dict[str, Any] | None:
    """Plain values of the newest materialization's metadata for one partition, or None."""
    result = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    )
    if not result.records:
        return None
    materialization = result.records[0].asset_materialization
    if materialization is None:
        return None
    return {key: value.value for key, value in materialization.metadata.items()}


def partition_of(context: dg.AssetCheckExecutionContext) -> str:
    """The repository this check runs for; a run without one fails with what to do instead.

    Dagster 1.13's UI cannot run checks of a partitioned asset on their own (its Execute
    button says "not yet supported"), yet its Checks-tab "Execute all" launches them
    without a partition. Each check would then die on an invariant error; this says why.
    """
    if context.has_partition_key:
        return context.partition_key
    raise dg.Failure(
        description=(
            "this check runs per repository and the run has no partition: Dagster's "
            "Checks-tab 'Execute all' cannot run partitioned checks on their own. "
            "Launch the check_repository job with the repository picked (Jobs > "
            "check_repository > Launchpad), or materialize the repository's partition "
            "(its checks run with it)"
        ),
        allow_retries=False,
    )
