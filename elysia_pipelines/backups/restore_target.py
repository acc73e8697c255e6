"""The few things restore asks of the target Weaviate, each retried on transient errors.

Most calls go through the Weaviate layer (`elysia_pipelines.weaviate`). The one
restore-specific read is `fetch_existing`: deciding create/update/skip for a batch
only needs to know which uuids exist (and sometimes one property or the vector), so
it asks for exactly that instead of downloading every existing object in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import weaviate
from weaviate.classes.config import DataType, Property
from weaviate.classes.query import Filter

from elysia_pipelines.weaviate.retry import transient_retry


@dataclass(frozen=True)
class ExistingObject:
    uuid: str
    properties: dict[str, Any]
    vector: Any  # list[float], {name: list[float]} or None


def plain_vector(vector: Any) -> Any:
    """The client returns `{"default": [...]}`; backups and writes use the bare list."""
    if isinstance(vector, Mapping):
        if not vector:
            return None
        if set(vector) == {"default"}:
            return list(vector["default"])
        return {str(k): list(v) for k, v in vector.items()}
    return vector


def add_property(
    client: weaviate.WeaviateClient, collection: str, name: str, data_type: str
) -> None:
    """Add one property with an explicit type (instead of letting auto-schema guess one)."""
    prop = Property(name=name, data_type=DataType(data_type))
    for attempt in transient_retry(what=f"add property {collection}.{name}"):
        with attempt:
            client.collections.get(collection).config.add_property(prop)


def fetch_existing(
    client: weaviate.WeaviateClient,
    collection: str,
    uuids: Sequence[str],
    *,
    properties: Sequence[str] | None,
    include_vector: bool,
) -> dict[str, ExistingObject]:
    """The objects among `uuids` that exist; `properties=None` means all, `[]` none."""
    if not uuids:
        return {}
    handle = client.collections.get(collection)
    for attempt in transient_retry(what=f"read existing objects of {collection}"):
        with attempt:
            result = handle.query.fetch_objects(
                filters=Filter.by_id().contains_any(list(uuids)),
                limit=len(uuids),
                return_properties=list(properties) if properties is not None else None,
                include_vector=include_vector,
            )
    found: dict[str, ExistingObject] = {}
    for obj in result.objects:
        props = {k: v for k, v in (obj.properties or {}).items() if v is not None}
        found[str(obj.uuid)] = ExistingObject(
            str(obj.uuid), props, plain_vector(obj.vector) if include_vector else None
        )
    return found
