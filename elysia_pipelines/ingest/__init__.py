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

The names below load on first use (`elysia_pipelines.lazy`), so a command that never
talks to Weaviate does not import weaviate-client through this package.
"""

from __future__ import annotations

from elysia_pipelines.lazy import lazy_getattr

_EXPORTS: dict[str, str] = {
    "ChangeSetResult": "apply",
    "Checkpoint": "checkpoint",
    "DeadLetter": "dead_letter",
    "DeadLetterRetry": "dead_letter",
    "FailedChangeSet": "moves",
    "FileState": "pending",
    "IngestProgress": "apply",
    "IngestReport": "apply",
    "Mismatch": "verify",
    "ScanResult": "pending",
    "apply_pending": "apply",
    "blocking_failure": "moves",
    "expected_document_count": "checkpoint",
    "failed_changesets": "moves",
    "file_status": "pending",
    "last_applied_seq": "checkpoint",
    "load_checkpoint": "checkpoint",
    "newest_pending_seq": "pending",
    "open_dead_letters": "dead_letter",
    "pending_files": "pending",
    "prune_processed": "retention",
    "registered_spec": "apply",
    "retry_dead_letters": "dead_letter",
    "sample_documents_match": "verify",
    "sample_precondition": "verify",
    "scan_pending": "pending",
    "unblock": "moves",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
