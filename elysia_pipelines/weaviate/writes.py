"""Writing objects in batches, whatever carries them: weaviate-client or REST.

The batching (count and byte caps), the per-object retry of transient rejections
and the failure accounting are the same for both writers, so they live here, free of
weaviate-client: `objects.upsert` passes the client's batch insert,
`rest_session.RestSession.insert` is the REST one (`elysiactl col restore`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid as uuid_lib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from elysia_pipelines.documents import DOCUMENT_PROPERTIES
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.weaviate.messages import is_transient_message

log = logging.getLogger(__name__)

DATE_PROPERTIES = frozenset(p.name for p in DOCUMENT_PROPERTIES if p.data_type == "date")
# Writes `objs`; returns {index in objs: error} for those the server did not store.
InsertFn = Callable[[Sequence["ObjectToWrite"]], dict[int, str]]


@dataclass(frozen=True)
class ObjectToWrite:
    uuid: str | uuid_lib.UUID
    properties: Mapping[str, Any]
    vector: Sequence[float] | Mapping[str, Sequence[float]] | None = None


@dataclass(frozen=True)
class ObjectFailure:
    uuid: str
    error: str
    object: ObjectToWrite


@dataclass
class UpsertResult:
    written: int = 0
    failures: list[ObjectFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.failures)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid_str(value: str | uuid_lib.UUID) -> str:
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # what str(UUID(value)) gives; a backup's ids all look like this
    try:
        return str(uuid_lib.UUID(str(value)))
    except ValueError:
        raise ElysiaError(
            f"{value!r} is not a UUID", "object ids must be UUIDs (documents.document_uuid)"
        ) from None


def _as_datetime(value: Any) -> Any:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # the server will reject it for this object only
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def normalize_properties(
    properties: Mapping[str, Any], date_properties: frozenset[str] = DATE_PROPERTIES
) -> dict[str, Any]:
    """Dates as timezone-aware datetimes (RFC3339 on the wire), whatever form they came in.

    `synced_at` may arrive as a datetime, a naive datetime (taken as UTC) or an
    ISO/RFC3339 string; Weaviate insists on RFC3339 with an offset.
    """
    out: dict[str, Any] = {}
    for key, value in properties.items():
        if key in date_properties or isinstance(value, datetime):
            out[key] = _as_datetime(value)
        else:
            out[key] = value
    return out


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        # isascii() is a C scan; encoding every file again would cost ~10% of a write.
        return len(value) if value.isascii() else len(value.encode())
    if isinstance(value, bool | int | float) or value is None:
        return 8
    if isinstance(value, Mapping):
        return sum(len(str(k)) + _value_bytes(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return sum(_value_bytes(v) for v in value) + 2
    return len(str(value))


def estimate_bytes(obj: ObjectToWrite) -> int:
    """Roughly what the object costs on the wire (text as UTF-8, vectors as float32)."""
    size = 64 + sum(len(k) + 4 + _value_bytes(v) for k, v in obj.properties.items())
    vector = obj.vector
    if isinstance(vector, Mapping):
        size += sum(4 * len(v) + len(k) for k, v in vector.items())
    elif vector is not None:
        size += 4 * len(vector)
    return size


def split_batches(
    objects: Iterable[ObjectToWrite], max_objects: int, max_bytes: int
) -> Iterator[list[ObjectToWrite]]:
    """Consecutive batches within both caps; an object larger than max_bytes goes alone.

    Lazy: a batch is taken from `objects` only when the previous one was sent, so
    a caller can stream a large change set without holding it in memory.
    """
    if max_objects < 1 or max_bytes < 1:
        raise ElysiaError(
            f"batch limits must be positive (objects={max_objects}, bytes={max_bytes})",
            "set ELYSIA_BATCH_MAX_OBJECTS and ELYSIA_BATCH_MAX_BYTES to positive values",
        )
    batch: list[ObjectToWrite] = []
    batch_bytes = 0
    for obj in objects:
        size = estimate_bytes(obj)
        if batch and (len(batch) >= max_objects or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(obj)
        batch_bytes += size
    if batch:
        yield batch


def upsert_with(
    insert: InsertFn,
    collection: str,
    objects: Iterable[ObjectToWrite],
    *,
    max_batch_objects: int = 200,
    max_batch_bytes: int = 8 * 1000**2,
    max_wait_s: float = 30.0,
    object_retries: int = 2,
) -> UpsertResult:
    """Insert-or-replace `objects` with `insert`; per-object rejections come back as failures.

    Objects whose error looks transient (the shard was busy, a node timed out) are
    sent again up to `object_retries` times; the rest are returned in `failures`
    with the server's message. If Weaviate stays unreachable for a whole batch,
    `WeaviateUnavailableError` is raised with `written` set to what was stored.
    """
    from elysia_pipelines.weaviate.messages import WeaviateUnavailableError

    result = UpsertResult()
    total = 0
    for batch in split_batches(objects, max_batch_objects, max_batch_bytes):
        total += len(batch)
        pending: list[ObjectToWrite] = batch
        for round_ in range(object_retries + 1):
            try:
                errors = insert(pending)
            except WeaviateUnavailableError as exc:
                exc.written = result.written
                raise
            result.written += len(pending) - len(errors)
            again: list[ObjectToWrite] = []
            for index, message in sorted(errors.items()):
                obj = pending[index]
                if round_ < object_retries and is_transient_message(message):
                    again.append(obj)
                else:
                    result.failures.append(ObjectFailure(_uuid_str(obj.uuid), message, obj))
            if not again:
                break
            log.warning(
                "%d objects in %s failed transiently; sending them again", len(again), collection
            )
            time.sleep(min(max_wait_s, 0.5 * 2**round_))
            pending = again
    if result.failures:
        log.warning(
            "%d of %d objects were rejected by %s, e.g. %s",
            result.failed,
            total,
            collection,
            result.failures[0].error,
        )
    return result
