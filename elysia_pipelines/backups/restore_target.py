"""The one restore-specific read of the target: which objects of a batch exist.

Deciding create/update/skip for a batch only needs to know which uuids exist (and
sometimes some properties or the vector), so restore asks for exactly that instead of
downloading every existing object in full. The call itself, its retries and error
wrapping, is the Weaviate layer's `fetch_by_ids`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from elysia_pipelines.weaviate.stored import StoredObject

if TYPE_CHECKING:
    import weaviate

ExistingObject = StoredObject


def fetch_existing(
    client: weaviate.WeaviateClient,
    collection: str,
    uuids: Sequence[str],
    *,
    properties: Sequence[str] | None,
    include_vector: bool,
    tenant: str | None = None,
) -> dict[str, ExistingObject]:
    """The objects among `uuids` that exist; `properties=None` means all, `[]` none.

    Unset properties come back as None from the server and are dropped, so an object
    compares equal to the backup row it was restored from.
    """
    from elysia_pipelines.weaviate.objects import fetch_by_ids

    found = fetch_by_ids(
        client,
        collection,
        uuids,
        include_vector=include_vector,
        return_properties=properties,
        named_vectors=False,
        tenant=tenant,
    )
    return {
        uuid: StoredObject(
            uuid, {k: v for k, v in obj.properties.items() if v is not None}, obj.vector
        )
        for uuid, obj in found.items()
    }
