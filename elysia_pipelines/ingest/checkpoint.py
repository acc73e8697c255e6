"""Per-collection ingestion progress on disk, so a killed run resumes instead of restarting.

The checkpoint is the only state ingestion keeps between runs besides the files in
pending/processed/failed. It is rewritten after every batch with a temp file +
fsync + rename, so a SIGKILL at any instant leaves either the old or the new
version, never a torn one. Being behind by one batch is harmless: upserts and
deletes are keyed by deterministic UUIDs, so re-applying a batch changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from elysia_pipelines.clock import utc_now_iso
from elysia_pipelines.disk import write_json_atomic
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.layout import checkpoint_path
from elysia_pipelines.settings import Settings

Phase = Literal["applying", "applied"]


@dataclass(frozen=True)
class CurrentFile:
    """The change set a run is working on.

    `phase="applied"` means every write is done and only the move to processed/ is
    left: a resumed run then moves the file instead of applying it again.
    """

    file: str
    seq: int | None
    records_applied: int
    phase: Phase = "applying"
    updated_at: str = ""


@dataclass(frozen=True)
class LastApplied:
    """The newest change set fully applied; the asset checks compare against it."""

    file: str
    seq: int | None
    to_commit: str | None
    tracked_files: int | None
    finished_at: str


@dataclass(frozen=True)
class Checkpoint:
    collection: str
    current: CurrentFile | None = None
    last_applied: LastApplied | None = None

    @property
    def last_applied_seq(self) -> int | None:
        return self.last_applied.seq if self.last_applied else None

    def progress(self, file: str, seq: int | None, records_applied: int) -> Checkpoint:
        return replace(
            self,
            current=CurrentFile(file, seq, records_applied, "applying", utc_now_iso()),
        )

    def applied(
        self,
        file: str,
        seq: int | None,
        records: int,
        to_commit: str | None,
        tracked_files: int | None,
    ) -> Checkpoint:
        now = utc_now_iso()
        last = self.last_applied
        if seq is None:
            # A file without a sequence number (another producer) changes the documents
            # but not the sequence: keep the last one so the stale check and the
            # "all applied" check still work.
            last = LastApplied(file, last.seq if last else None, to_commit, tracked_files, now)
        elif last is None or last.seq is None or seq >= last.seq:
            last = LastApplied(file, seq, to_commit, tracked_files, now)
        return replace(
            self,
            current=CurrentFile(file, seq, records, "applied", now),
            last_applied=last,
        )

    def finished(self) -> Checkpoint:
        return replace(self, current=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "current": asdict(self.current) if self.current else None,
            "last_applied": asdict(self.last_applied) if self.last_applied else None,
        }


def load_checkpoint(settings: Settings, collection: str) -> Checkpoint:
    path = checkpoint_path(settings, collection)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Checkpoint(collection)
    except (OSError, ValueError) as exc:
        raise ElysiaError(
            f"the ingestion checkpoint {path} cannot be read: {exc}",
            "it is rewritten atomically, so this means outside damage; move it away and run "
            "again (re-applying pending change sets is idempotent)",
        ) from None
    try:
        current = data.get("current")
        last = data.get("last_applied")
        return Checkpoint(
            collection=collection,
            current=CurrentFile(**current) if current else None,
            last_applied=LastApplied(**last) if last else None,
        )
    except (TypeError, AttributeError) as exc:
        raise ElysiaError(
            f"the ingestion checkpoint {path} has an unexpected shape: {exc}",
            "move it away and run again (re-applying pending change sets is idempotent)",
        ) from None


def save_checkpoint(settings: Settings, checkpoint: Checkpoint) -> None:
    write_json_atomic(checkpoint_path(settings, checkpoint.collection), checkpoint.to_json())


def last_applied_seq(settings: Settings, collection: str) -> int | None:
    """Sequence of the newest fully applied change set (None before the first one)."""
    return load_checkpoint(settings, collection).last_applied_seq


def expected_document_count(settings: Settings, collection: str) -> int | None:
    """Documents the collection should hold: `tracked_files` of the last applied change set.

    None when nothing was applied yet or the last change set came from a producer that
    does not state it (the flat mgit format has no end record).
    """
    last = load_checkpoint(settings, collection).last_applied
    return last.tracked_files if last else None
