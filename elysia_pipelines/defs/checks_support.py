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
