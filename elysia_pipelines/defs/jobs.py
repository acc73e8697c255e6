"""Jobs: each one materializes a slice of the per-repository asset graph (checks included)."""

import dagster as dg

from elysia_pipelines.defs.extraction import change_set, repo_mirror
from elysia_pipelines.defs.ingestion import weaviate_collection
from elysia_pipelines.defs.partitions import repositories_partitions
from elysia_pipelines.defs.per_repository import repository_job

extract_repository = repository_job(
    "extract_repository",
    [repo_mirror, change_set],
    "Mirror the repository and write the change set since the last sync.",
    stage="extract",
)

ingest_pending = repository_job(
    "ingest_pending",
    [weaviate_collection],
    "Apply the repository's pending change sets to its Weaviate collection.",
    stage="ingest",
)

sync_repository = repository_job(
    "sync_repository",
    [repo_mirror, change_set, weaviate_collection],
    "Mirror, extract and ingest in one run (what `elysiactl repo sync` starts).",
    stage="sync",
)

# Dagster 1.13's Checks tab cannot run the checks of a partitioned asset on their own
# ("not yet supported"); this job is the UI's way to do it: its Launchpad asks for the
# repository (partition) and runs every check against what is already materialized.
check_repository = dg.define_asset_job(
    "check_repository",
    selection=dg.AssetSelection.checks_for_assets(repo_mirror, change_set, weaviate_collection),
    # A job of checks alone gets no partitions from Dagster (it infers them from assets);
    # a partitioned config gives it the repository picker and the partition tag.
    config=dg.PartitionedConfig(
        partitions_def=repositories_partitions,
        run_config_for_partition_key_fn=lambda _key: {},
    ),
    description="Run every check of one repository against its current state (no sync).",
    tags={"elysia/stage": "check"},
)
