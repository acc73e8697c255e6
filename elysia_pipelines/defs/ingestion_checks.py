"""Success criteria of ingestion: the collection is exactly the repository, nothing is stuck."""

import dagster as dg

from elysia_pipelines.defs.checks_support import partition_of
from elysia_pipelines.defs.ingestion import weaviate_collection
from elysia_pipelines.defs.metadata import md_table
from elysia_pipelines.defs.per_repository import repository_check
from elysia_pipelines.defs.resources import ElysiaSettings, WeaviateResource
from elysia_pipelines.ingest.checkpoint import (
    expected_document_count,
    last_applied_seq,
    load_checkpoint,
)
from elysia_pipelines.ingest.dead_letter import open_dead_letters
from elysia_pipelines.ingest.pending import newest_pending_seq
from elysia_pipelines.ingest.verify import sample_documents_match, sample_precondition
from elysia_pipelines.weaviate.session import collection_exists, count_or_zero

SAMPLE_SIZE = 25


@repository_check(
    weaviate_collection,
    "count_matches",
    "Documents in the collection equal the tracked files after the last change set.",
)
def document_count_matches_tracked_files(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings, weaviate: WeaviateResource
) -> dg.AssetCheckResult:
    settings, repo = elysia.settings_and_repo(partition_of(context))
    expected = expected_document_count(settings, repo.collection)
    with weaviate.session() as client:
        actual = count_or_zero(client, repo.collection)
    if expected is None:
        return dg.AssetCheckResult(
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"documents": actual, "expected": "unknown: no framed change set applied yet"},
        )
    return dg.AssetCheckResult(
        passed=actual == expected,
        metadata={
            "documents": dg.MetadataValue.int(actual),
            "expected": dg.MetadataValue.int(expected),
        },
    )


@repository_check(
    weaviate_collection,
    "no_open_dead_letters",
    "No dead letters are open (every record of every change set was applied).",
)
def no_open_dead_letters(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    settings, repo = elysia.settings_and_repo(partition_of(context))
    letters = open_dead_letters(settings, repo.collection)
    rows = [[d.changeset, d.op, d.path, d.error[:120]] for d in letters[:20]]
    return dg.AssetCheckResult(
        passed=not letters,
        metadata={
            "open_dead_letters": dg.MetadataValue.int(len(letters)),
            "details": dg.MetadataValue.md(md_table(["change set", "op", "path", "error"], rows)),
        },
    )


@repository_check(
    weaviate_collection,
    "nothing_pending",
    "The last applied change set is the newest one written (nothing left pending).",
)
def all_change_sets_applied(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings
) -> dg.AssetCheckResult:
    settings, repo = elysia.settings_and_repo(partition_of(context))
    newest = newest_pending_seq(settings, repo.collection)
    applied = last_applied_seq(settings, repo.collection)
    return dg.AssetCheckResult(
        passed=newest is None or (applied is not None and applied >= newest),
        metadata={
            "last_applied_seq": "(none yet)" if applied is None else str(applied),
            "newest_pending_seq": "(nothing pending)" if newest is None else str(newest),
        },
    )


@repository_check(
    weaviate_collection,
    "sample_matches_git",
    f"A sample of {SAMPLE_SIZE} documents matches the blobs in git at the synced commit.",
)
def sample_matches_repository(
    context: dg.AssetCheckExecutionContext, elysia: ElysiaSettings, weaviate: WeaviateResource
) -> dg.AssetCheckResult:
    settings, repo = elysia.settings_and_repo(partition_of(context))
    last = load_checkpoint(settings, repo.collection).last_applied
    if last is None or not last.to_commit:
        return dg.AssetCheckResult(passed=True, metadata={"sampled": "nothing applied yet"})
    mirror = settings.mirror_path(repo.name)
    unusable = sample_precondition(mirror, last.to_commit)
    if unusable is not None:  # a state to describe, not an error to raise
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"skipped": unusable}
        )
    with weaviate.session() as client:
        if not collection_exists(client, repo.collection):
            return dg.AssetCheckResult(passed=False, metadata={"error": "collection is missing"})
        mismatches = sample_documents_match(
            client, repo.collection, mirror, last.to_commit, SAMPLE_SIZE
        )
    rows = [[m.path, m.problem, m.weaviate_hash, m.git_hash] for m in mismatches[:20]]
    return dg.AssetCheckResult(
        passed=not mismatches,
        metadata={
            "commit": last.to_commit,
            "mismatches": dg.MetadataValue.int(len(mismatches)),
            "details": dg.MetadataValue.md(md_table(["path", "problem", "weaviate", "git"], rows)),
        },
    )
