"""Turn change-set records into the writes a batch performs.

Every record maps to writes keyed by the document's deterministic UUID, and a
batch keeps only the last write per UUID. That is what makes a batch safe to apply
in any internal order and safe to apply again after a crash: a file added and
deleted in the same change set ends deleted, a rename deletes the old document
and writes the new one, and replaying the same records yields the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from elysia_pipelines.changes.format import (
    CONTENT_OPS,
    OP_DELETE,
    OP_RENAME,
    OP_SKIP,
)
from elysia_pipelines.changes.reader import FileChange
from elysia_pipelines.documents import document_uuid
from elysia_pipelines.weaviate.writes import ObjectToWrite

# Properties other than content, UUID and framing, per object on the wire (rough).
_OBJECT_OVERHEAD_BYTES = 400


@dataclass(frozen=True)
class RecordRef:
    """Where a write came from, so a dead letter can name the record."""

    changeset: str
    index: int  # 0-based position among the change records (begin/end not counted)
    op: str
    path: str


@dataclass
class WriteBatch:
    """Last-write-wins set of upserts and deletes, sized for one Weaviate round trip."""

    upserts: dict[str, tuple[ObjectToWrite, RecordRef]] = field(default_factory=dict)
    deletes: dict[str, RecordRef] = field(default_factory=dict)
    size_bytes: int = 0

    def __len__(self) -> int:
        return len(self.upserts) + len(self.deletes)

    def upsert(self, obj: ObjectToWrite, ref: RecordRef) -> None:
        self.deletes.pop(obj.uuid, None)
        self.upserts[obj.uuid] = (obj, ref)
        self.size_bytes += object_size(obj)

    def delete(self, uuid: str, ref: RecordRef) -> None:
        self.upserts.pop(uuid, None)
        self.deletes[uuid] = ref

    def has_room(self, record: dict[str, Any], max_objects: int, max_bytes: int) -> bool:
        """Whether `record` still fits; an empty batch always takes one record."""
        if not self:
            return True
        return len(self) < max_objects and self.size_bytes + record_size(record) <= max_bytes


def object_size(obj: ObjectToWrite) -> int:
    content = obj.properties.get("content") or ""
    # len() is exact for ASCII source and avoids encoding every file a second time;
    # the Weaviate layer splits again by encoded bytes, so the gRPC limit holds anyway.
    return len(content) + _OBJECT_OVERHEAD_BYTES


def record_size(record: dict[str, Any]) -> int:
    """What a record will cost in a batch, before it is turned into an object."""
    size = record.get("size_bytes")
    if not isinstance(size, int):
        size = len(record.get("content") or record.get("content_base64") or "")
    return size + _OBJECT_OVERHEAD_BYTES


def to_file_change(record: dict[str, Any], index: int, changeset: Path) -> FileChange:
    return FileChange.from_record(record, index, changeset)


def add_record(
    batch: WriteBatch,
    record: dict[str, Any],
    *,
    index: int,
    changeset: Path,
    repo: str,
    synced_at: datetime,
    delete_skipped: bool = True,
) -> str | None:
    """Add one change record's writes to `batch`; return the UUID it leaves in place.

    A `skip` deletes the path's document too: the extractor emits a delete when a
    file that had a document becomes binary or too large, but a skip alone must
    not leave stale content searchable. In a full snapshot that is already the
    snapshot cleanup's job (`delete_skipped=False`), which spares a first sync one
    delete per binary file.
    """
    op = record["op"]
    path = record["path"]
    record_repo = record.get("repo") or repo
    ref = RecordRef(changeset.name, index, op, path)
    if op == OP_SKIP and not delete_skipped:
        return None
    if op in (OP_DELETE, OP_SKIP):
        batch.delete(document_uuid(record_repo, path), ref)
        return None
    if op == OP_RENAME and record.get("previous_path"):
        batch.delete(document_uuid(record_repo, record["previous_path"]), ref)
    if op in CONTENT_OPS:
        change = to_file_change({**record, "repo": record_repo}, index, changeset)
        properties = change.document_properties(synced_at)
        uuid = document_uuid(record_repo, path)
        batch.upsert(ObjectToWrite(uuid=uuid, properties=properties, vector=None), ref)
        return uuid
    return None
