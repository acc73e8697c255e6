"""One dynamic partition per registered repository; the registry sensor keeps them in step."""

import dagster as dg

REPOSITORIES = "repositories"

repositories_partitions = dg.DynamicPartitionsDefinition(name=REPOSITORIES)
