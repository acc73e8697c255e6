"""One dynamic partition per registered repository; the registry sensor keeps them in step."""

import warnings

import dagster as dg

REPOSITORIES = "repositories"

repositories_partitions = dg.DynamicPartitionsDefinition(name=REPOSITORIES)

# Partitioned asset checks (every check of a per-repository asset is partitioned like it,
# so the UI executes and reports them per repository) are marked preview in Dagster 1.13;
# we rely on them on purpose, so their warning is not repeated at every start.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
