"""The Weaviate layer: connections, provisioning, and object helpers (no Dagster here).

Ingestion, backup and restore import from this package rather than from
weaviate-client directly, so retries, batching limits and error messages stay
consistent across the pipeline.
"""

from elysia_pipelines.weaviate.connection import (
    WeaviateTarget,
    connect,
    describe_target,
    open_client,
    server_version,
)
from elysia_pipelines.weaviate.objects import (
    ObjectFailure,
    ObjectToWrite,
    StoredObject,
    UpsertResult,
    count,
    delete_ids,
    delete_where,
    fetch_by_ids,
    iter_objects,
    upsert,
)
from elysia_pipelines.weaviate.retry import (
    WeaviateUnavailableError,
    is_transient,
    transient_retry,
)
from elysia_pipelines.weaviate.schema import (
    SUPPORTED_VECTORIZERS,
    CollectionSpec,
    ProvisionResult,
    SchemaMismatchError,
    collection_exists,
    compare_schema,
    create_collection_from_description,
    delete_collection,
    describe_collection,
    ensure_collection,
    spec_from_description,
)

__all__ = [
    "SUPPORTED_VECTORIZERS",
    "CollectionSpec",
    "ObjectFailure",
    "ObjectToWrite",
    "ProvisionResult",
    "SchemaMismatchError",
    "StoredObject",
    "UpsertResult",
    "WeaviateTarget",
    "WeaviateUnavailableError",
    "collection_exists",
    "compare_schema",
    "connect",
    "count",
    "create_collection_from_description",
    "delete_collection",
    "delete_ids",
    "delete_where",
    "describe_collection",
    "describe_target",
    "ensure_collection",
    "fetch_by_ids",
    "is_transient",
    "iter_objects",
    "open_client",
    "server_version",
    "spec_from_description",
    "transient_retry",
    "upsert",
]
