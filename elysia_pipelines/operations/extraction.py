"""Extracting one registered repository: the change set since its last synced commit.

The `change_set` asset and anything else that extracts for a registered repository
(benchmarks, future commands) call this one function, so the sequence number, the
file rules the last sync used, the history row and the new synced commit are always
handled together: a change set on disk without its registry row (or the reverse)
would make the next sync diff from the wrong commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from elysia_pipelines.changes.extract import (
    ChangeSetTarget,
    ExtractOptions,
    ExtractResult,
    extract_change_set,
)
from elysia_pipelines.changes.patterns import FileFilter
from elysia_pipelines.clock import utc_now
from elysia_pipelines.layout import pending_dir
from elysia_pipelines.operations import bookkeeping
from elysia_pipelines.registry import Registry, Repository
from elysia_pipelines.settings import Settings


@dataclass(frozen=True)
class RepositoryExtraction:
    """An extraction's result with what the registry recorded for it."""

    result: ExtractResult
    seq: int  # allocated even when nothing was written (sequence numbers are never reused)
    duration_s: float


def file_filter_of(repo: Repository) -> FileFilter:
    """The include/exclude/size rules a repository is synced with now."""
    return FileFilter.of(repo.include_patterns, repo.exclude_patterns, repo.max_file_size)


def extract_repository(
    settings: Settings, registry: Registry, repo: Repository, *, run_id: str | None
) -> RepositoryExtraction:
    """Write the repository's next change set into pending/ and record it."""
    started, t0 = utc_now(), time.perf_counter()
    seq = bookkeeping.next_sequence(registry, repo)
    rules = file_filter_of(repo)
    result = extract_change_set(
        settings.mirror_path(repo.name),
        ChangeSetTarget(
            repo=repo.name,
            collection=repo.collection,
            out_dir=pending_dir(settings, repo.collection),
            seq=seq,
        ),
        ExtractOptions(
            from_commit=repo.last_synced_commit,
            branch=repo.branch,
            rules=rules,
            previous_filter=FileFilter.from_dict(repo.last_synced_filter)
            if repo.last_synced_filter
            else None,
        ),
    )
    duration = time.perf_counter() - t0
    bookkeeping.record_extraction(
        registry,
        repo,
        bookkeeping.Extraction(
            from_commit=result.from_commit,
            to_commit=result.to_commit,
            seq=seq if result.path else None,
            counts=dict(result.counts),
            skipped=dict(result.skipped),
            file_filter=rules.to_dict(),
        ),
        started_at=started,
        duration_s=duration,
        run_id=run_id,
    )
    return RepositoryExtraction(result=result, seq=seq, duration_s=duration)
