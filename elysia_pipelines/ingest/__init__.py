"""Ingestion: apply change sets from pending/ to Weaviate collections, exactly once in effect.

Import from here; the modules are split by concern and none of them imports Dagster:

* `pending`     which files are complete, apply order, the sensor's incremental scan
* `apply`       apply_pending: validate, batch, write, checkpoint, move, sync history
* `objects`     change record -> last-write-wins batch of upserts/deletes
* `checkpoint`  checkpoints/<collection>.json (current file + records applied, last applied)
* `dead_letter` dead_letter/<collection>/<changeset-stem>.jsonl, retry, supersede
* `moves`       pending -> processed/ | failed/ (+ <stem>.error.json), unblock
* `verify`      sample of documents vs. blobs in the git mirror
* `retention`   prune processed/ after processed_retention_days

State on disk, all under ELYSIA_HOME: pending/<collection>/ (input), processed/ and
failed/<collection>/ (output, blobs move with their file), checkpoints/, dead_letter/.
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
