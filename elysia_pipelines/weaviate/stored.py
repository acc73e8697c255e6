"""An object as read back from Weaviate, shared by the client and the REST readers.

Kept free of weaviate-client so the REST reader (`rest_session`) can return it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Vector = list[float] | dict[str, list[float]]


@dataclass(frozen=True)
class StoredObject:
    uuid: str
    properties: dict[str, Any]  # dates come back as timezone-aware datetimes
    vector: Vector | None = None  # list for the classic vector, dict for named vectors
