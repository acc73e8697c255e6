"""Ingestion: apply change sets from pending/ to Weaviate collections, exactly once in effect.

Import from here; the modules are split by concern (pending scan, apply, checkpoint,
dead letters, moves, verification) and none of them imports Dagster.
"""

from __future__ import annotations

from elysia_pipelines.ingest.apply import (
    ChangeSetResult,
    IngestProgress,
    IngestReport,
    apply_pending,
    spec_for,
)
from elysia_pipelines.ingest.checkpoint import (
    Checkpoint,
    expected_document_count,
    last_applied_seq,
    load_checkpoint,
)
from elysia_pipelines.ingest.dead_letter import (
    DeadLetter,
    DeadLetterRetry,
    open_dead_letters,
    retry_dead_letters,
)
from elysia_pipelines.ingest.moves import (
    FailedChangeSet,
    blocking_failure,
    failed_changesets,
    unblock,
)
from elysia_pipelines.ingest.pending import (
    FileState,
    ScanResult,
    file_status,
    newest_pending_seq,
    pending_files,
    scan_pending,
)
from elysia_pipelines.ingest.retention import prune_processed
from elysia_pipelines.ingest.verify import Mismatch, sample_documents_match

__all__ = [
    "ChangeSetResult",
    "Checkpoint",
    "DeadLetter",
    "DeadLetterRetry",
    "FailedChangeSet",
    "FileState",
    "IngestProgress",
    "IngestReport",
    "Mismatch",
    "ScanResult",
    "apply_pending",
    "blocking_failure",
    "expected_document_count",
    "failed_changesets",
    "file_status",
    "last_applied_seq",
    "load_checkpoint",
    "newest_pending_seq",
    "open_dead_letters",
    "pending_files",
    "prune_processed",
    "retry_dead_letters",
    "sample_documents_match",
    "scan_pending",
    "spec_for",
    "unblock",
]
