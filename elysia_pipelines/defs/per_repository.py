"""How an asset, check or job of this project is declared, so every one says the same.

Every asset names the same owners and code version and turns our errors into clean
failures (`user_errors`); every per-repository definition is partitioned by repository,
and a check of a per-repository asset is partitioned like it so the UI runs and reports
it per repository. Declaring that once keeps a new asset from forgetting one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from elysia_pipelines.defs.metadata import CODE_VERSION, OWNERS, user_errors
from elysia_pipelines.defs.partitions import repositories_partitions

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def exponential_retry(max_retries: int, delay: int) -> dg.RetryPolicy:
    """A retry policy with exponential backoff and jitter (what every asset retries with)."""
    return dg.RetryPolicy(
        max_retries=max_retries,
        delay=delay,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def project_asset(
    *, partitioned: bool = True, **asset_args: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """`dg.asset` with the project's owners and code version, errors through `user_errors`."""

    def declare(fn: Callable[..., Any]) -> dg.AssetsDefinition:
        if partitioned:
            asset_args.setdefault("partitions_def", repositories_partitions)
        return dg.asset(owners=OWNERS, code_version=CODE_VERSION, **asset_args)(
            user_errors()(fn)
        )

    return declare


def repository_check(
    asset: dg.AssetsDefinition, name: str, description: str, *, blocking: bool = False
) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """`dg.asset_check` of a per-repository asset, partitioned like the asset."""
    return dg.asset_check(
        asset=asset,
        name=name,
        partitions_def=repositories_partitions,
        blocking=blocking,
        description=description,
    )


def repository_job(
    name: str, assets: Sequence[dg.AssetsDefinition], description: str, stage: str
) -> UnresolvedAssetJobDefinition:
    """A job over one repository's partition of `assets`, tagged with its stage."""
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=repositories_partitions,
        description=description,
        tags={"elysia/stage": stage},
    )
