"""The Weaviate layer: connections, provisioning, and object helpers (no Dagster here).

Ingestion, backup and restore import from this package rather than from
weaviate-client directly, so retries, batching limits and error messages stay
consistent across the pipeline.

The names below load on first use (`elysia_pipelines.lazy`): importing a light
submodule such as `target` must not import weaviate-client through this package.
"""

from __future__ import annotations

from elysia_pipelines.lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "CollectionSpec": "schema",
    "ObjectFailure": "objects",
    "ObjectToWrite": "objects",
    "ProvisionResult": "schema",
    "SUPPORTED_VECTORIZERS": "schema",
    "SchemaMismatchError": "schema",
    "StoredObject": "objects",
    "UpsertResult": "objects",
    "WeaviateTarget": "connection",
    "WeaviateUnavailableError": "retry",
    "collection_exists": "schema",
    "compare_schema": "schema",
    "connect": "connection",
    "count": "objects",
    "create_collection_from_description": "schema",
    "delete_collection": "schema",
    "delete_ids": "objects",
    "delete_where": "objects",
    "describe_collection": "schema",
    "describe_target": "connection",
    "ensure_collection": "schema",
    "fetch_by_ids": "objects",
    "is_transient": "retry",
    "iter_objects": "objects",
    "open_client": "connection",
    "server_version": "connection",
    "spec_from_description": "schema",
    "transient_retry": "retry",
    "upsert": "objects",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
