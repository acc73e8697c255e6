"""Jobs: each one materializes a slice of the per-repository asset graph (checks included)."""

import dagster as dg

from elysia_pipelines.defs.extraction import change_set, repo_mirror
from elysia_pipelines.defs.ingestion import weaviate_collection
from elysia_pipelines.defs.partitions import repositories_partitions

extract_repository = dg.define_asset_job(
    "extract_repository",
    selection=dg.AssetSelection.assets(repo_mirror, change_set),
    partitions_def=repositories_partitions,
    description="Mirror the repository and write the change set since the last sync.",
    tags={"elysia/stage": "extract"},
)

ingest_pending = dg.define_asset_job(
    "ingest_pending",
    selection=dg.AssetSelection.assets(weaviate_collection),
    partitions_def=repositories_partitions,
    description="Apply the repository's pending change sets to its Weaviate collection.",
    tags={"elysia/stage": "ingest"},
)

sync_repository = dg.define_asset_job(
    "sync_repository",
    selection=dg.AssetSelection.assets(repo_mirror, change_set, weaviate_collection),
    partitions_def=repositories_partitions,
    description="Mirror, extract and ingest in one run (what `elysiactl repo sync` starts).",
    tags={"elysia/stage": "sync"},
)
