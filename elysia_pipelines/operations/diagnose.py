"""`repo diagnose`: every check that explains a sick repository, and what to do about it.

When a repository stops syncing, the cause is one of a handful of things (the remote,
the token, Weaviate, the disk, change sets piling up, dead letters, the same error
over and over). Running all the checks at once and turning each finding into a
concrete command saves the person on call from knowing where each of those lives.
Results are data (checks + recommendations) so the CLI can print them as a table or
JSON and exit non-zero when a check failed.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from elysia_pipelines.changes import git_source
from elysia_pipelines.ingest.checkpoint import expected_document_count
from elysia_pipelines.ingest.dead_letter import open_dead_letters
from elysia_pipelines.ingest.pending import pending_files
from elysia_pipelines.layout import failed_dir
from elysia_pipelines.operations.bookkeeping import stored_failure
from elysia_pipelines.operations.failures import classify_failure
from elysia_pipelines.operations.weaviate_probe import probe
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.registry import Registry, Repository, Stage, Status
from elysia_pipelines.settings import Settings, format_size


class CheckStatus(StrEnum):
    """How one diagnosis check came out; only FAIL makes the diagnosis not ok."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


OK, WARN, FAIL, SKIP = CheckStatus.OK, CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.SKIP

# Free space below these is a warning / a failure (a mirror fetch or a backup would fail).
DISK_WARN_FRACTION = 0.10
DISK_FAIL_BYTES = 1024**3
# Change sets waiting beyond this mean ingestion is not keeping up (or not running).
PENDING_WARN = 5
# Skipped-as-too-large files beyond this deserve an exclude pattern or a larger limit.
TOO_LARGE_WARN = 10
HISTORY_WINDOW = 20


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str


@dataclass(frozen=True)
class Diagnosis:
    repo: str
    checked_at: datetime
    checks: list[Check] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


class _Findings:
    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.recommendations: list[str] = []

    def check(self, name: str, status: CheckStatus, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def recommend(self, text: str) -> None:
        if text not in self.recommendations:
            self.recommendations.append(text)


def _check_remote(repo: Repository, out: _Findings) -> None:
    url = redact_credentials(repo.url)
    via = f" (token from ${repo.token_env})" if repo.token_env else " (no token)"
    if repo.token_env and not os.environ.get(repo.token_env, "").strip():
        out.check("remote", SKIP, f"{url}: not checked, the token is missing")
        out.check("authentication", FAIL, f"${repo.token_env} is not set in this environment")
        out.recommend(
            f"export {repo.token_env}=<token> where Dagster and elysiactl run, or point to "
            f"another variable with `elysiactl repo fix-auth {repo.name} --token-env VAR`"
        )
        return
    report = git_source.check_access(repo.url, repo.token_env)
    if report.ok:
        out.check("remote", OK, f"{url} is reachable")
        out.check("authentication", OK, f"access granted{via}")
        return
    failure = classify_failure(report.error, kind=report.kind, reason=report.reason)
    if failure.reason == "auth":
        out.check("remote", OK, f"{url} answered, but refused access")
        out.check("authentication", FAIL, f"{report.error}{via}")
        out.recommend(
            f"fix the credentials: export a valid token and run "
            f"`elysiactl repo fix-auth {repo.name} --token-env VAR`"
        )
    else:
        out.check("remote", FAIL, report.error or "unreachable")
        out.check("authentication", SKIP, "the remote could not be read")
        out.recommend(report.hint or failure.hint.replace("NAME", repo.name))


def _check_weaviate(settings: Settings, repo: Repository, out: _Findings) -> None:
    facts = probe(settings, [repo.collection])
    if not facts.reachable:
        out.check("weaviate", FAIL, f"{facts.target}: {facts.error}")
        out.check("collection", SKIP, "Weaviate is not reachable")
        # A server that answers with errors (503, 500) comes without a hint of its own.
        out.recommend(
            facts.hint
            or "Weaviate answered with an error: check the server (its logs, its load) at "
            "WEAVIATE_URL; syncs retry such failures automatically"
        )
        return
    out.check("weaviate", OK, f"{facts.target} is reachable")
    collection = facts.collections[repo.collection]
    if not collection.exists:
        out.check("collection", FAIL, f"collection {repo.collection} does not exist")
        out.recommend(
            f"run `elysiactl repo sync {repo.name}`: the sync creates the collection and "
            "fills it again"
        )
        return
    expected = expected_document_count(settings, repo.collection)
    documents = collection.documents
    if expected is None:
        out.check(
            "collection", OK, f"{repo.collection}: {documents} documents (no sync applied yet)"
        )
    elif documents == expected:
        out.check("collection", OK, f"{repo.collection}: {documents} documents, as expected")
    else:
        out.check(
            "collection",
            WARN,
            f"{repo.collection}: {documents} documents, {expected} tracked files at the last sync",
        )
        out.recommend(
            f"run `elysiactl repo sync {repo.name}` to re-apply changes; if the gap stays, "
            "look at dead letters and failed change sets below"
        )


def _check_disk(settings: Settings, out: _Findings) -> None:
    for label, path in (("mirrors", settings.mirrors_dir), ("backups", settings.backups_dir)):
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        usage = shutil.disk_usage(existing)
        free_fraction = usage.free / usage.total if usage.total else 0.0
        detail = f"{format_size(usage.free)} free of {format_size(usage.total)} ({path})"
        if usage.free < DISK_FAIL_BYTES:
            out.check(f"disk ({label})", FAIL, detail)
            out.recommend(
                f"free disk space for {label}, or move ELYSIA_HOME to a larger disk; "
                "old backups can be pruned with ELYSIA_BACKUP_KEEP_LAST"
            )
        elif free_fraction < DISK_WARN_FRACTION:
            out.check(f"disk ({label})", WARN, detail)
            out.recommend(f"disk for {label} is over 90% full; plan more space")
        else:
            out.check(f"disk ({label})", OK, detail)


def _count_files(directory: Path, pattern: str) -> int:
    return sum(1 for _ in directory.glob(pattern)) if directory.is_dir() else 0


def _check_change_sets(settings: Settings, repo: Repository, out: _Findings) -> None:
    waiting = len(pending_files(settings, repo.collection))
    status = WARN if waiting > PENDING_WARN else OK
    out.check("pending change sets", status, f"{waiting} waiting in pending/{repo.collection}")
    if status == WARN:
        out.recommend(
            "change sets pile up: is the Dagster daemon running (the pending sensor ingests "
            f"them)? `elysiactl repo sync {repo.name}` ingests them now"
        )
    failed_here = failed_dir(settings, repo.collection)
    failed = _count_files(failed_here, "*.jsonl")
    out.check(
        "failed change sets",
        WARN if failed else OK,
        f"{failed} in failed/{repo.collection}" if failed else "none",
    )
    if failed:
        out.recommend(
            f"read the *.error.json files beside the change sets in {failed_here} to see why "
            f"they were rejected; fix the file (or its cause) and run `elysiactl repo unblock "
            f"{repo.name} --retry`, or drop it with `elysiactl repo unblock {repo.name} --discard`"
        )
    letters = open_dead_letters(settings, repo.collection)
    out.check(
        "dead letters",
        WARN if letters else OK,
        f"{len(letters)} documents could not be written" if letters else "none",
    )
    if letters:
        reasons = Counter(classify_failure(letter.error).reason for letter in letters)
        if reasons.get("timeout"):
            out.recommend(
                f"Weaviate writes timed out: raise WEAVIATE_TIMEOUT_S (now "
                f"{settings.weaviate_timeout_s:g}) or lower ELYSIA_BATCH_MAX_OBJECTS "
                f"(now {settings.batch_max_objects})"
            )
        out.recommend(
            f"dead letters are retried on the next ingestion; sample error: "
            f"{letters[0].error.splitlines()[0][:160]}"
        )


def _check_history(
    settings: Settings, registry: Registry, repo: Repository, out: _Findings
) -> None:
    records = registry.history(repo.name, limit=HISTORY_WINDOW)
    failures = [r for r in records if r.status == Status.FAILED and r.error]
    errors = [r.error or "" for r in failures]
    if repo.last_error and (not errors or errors[0] != repo.last_error):
        errors.insert(0, repo.last_error)
    if not errors:
        detail = f"no errors in the last {len(records)} syncs" if records else "no syncs yet"
        out.check("recent errors", OK, detail)
    else:
        latest = errors[0].strip().splitlines()[0][:200]
        out.check("recent errors", WARN, f"{len(errors)} error(s); latest: {latest}")
    kinds = {}
    last = stored_failure(repo)
    if last is not None:
        kinds[last.reason] = last
    for error in errors:
        failure = classify_failure(error)
        kinds.setdefault(failure.reason, failure)
    if "auth" in kinds:
        out.recommend(
            f"authentication failed: run `elysiactl repo fix-auth {repo.name} --token-env VAR` "
            "with a variable holding a valid token"
        )
    if "rate_limit" in kinds:
        failure = kinds["rate_limit"]
        when = f" (limit resets at {failure.retry_at:%H:%M:%S} UTC)" if failure.retry_at else ""
        out.recommend(
            f"the remote rate-limits us{when}: use a token (--token-env) or a longer "
            f"schedule, e.g. `elysiactl repo update {repo.name} --schedule 1h`"
        )
    if "timeout" in kinds:
        out.recommend(
            f"timeouts: raise WEAVIATE_TIMEOUT_S (now {settings.weaviate_timeout_s:g}s) for "
            f"Weaviate, or ELYSIA_GIT_TIMEOUT_S (now {settings.git_timeout_s:g}s) for large clones"
        )
    if "not_found" in kinds:
        out.recommend(
            f"the repository or branch was not found: check the URL and branch "
            f"(`elysiactl repo update {repo.name} --branch NAME`)"
        )
    permanent = [f for f in kinds.values() if not f.retryable]
    if permanent and repo.schedule != "manual" and not repo.paused:
        out.recommend(
            "this error will not go away by itself; scheduled syncs keep failing until it is "
            f"fixed (or `elysiactl repo pause {repo.name}`)"
        )
    too_large = sum(r.skipped.get("too_large", 0) for r in records if r.stage == Stage.EXTRACT)
    binary = sum(r.skipped.get("binary", 0) for r in records if r.stage == Stage.EXTRACT)
    if too_large >= TOO_LARGE_WARN:
        out.check("skipped files", WARN, f"{too_large} too large, {binary} binary")
        out.recommend(
            f"{too_large} files were skipped as larger than {format_size(repo.max_file_size)}: "
            "exclude large binaries/generated files with "
            f"`elysiactl repo update {repo.name} --exclude-pattern '*.bin'` "
            "or raise --max-file-size if they are text worth searching"
        )
    else:
        out.check("skipped files", OK, f"{too_large} too large, {binary} binary")
    if repo.paused:
        out.recommend(f"the repository is paused: `elysiactl repo resume {repo.name}`")


def diagnose_repository(
    settings: Settings, registry: Registry, name: str, *, now: datetime | None = None
) -> Diagnosis:
    """Run every check for one repository; never raises for a failing check."""
    repo = registry.get(name)
    out = _Findings()
    _check_remote(repo, out)
    _check_weaviate(settings, repo, out)
    _check_disk(settings, out)
    _check_change_sets(settings, repo, out)
    _check_history(settings, registry, repo, out)
    return Diagnosis(
        repo=repo.name,
        checked_at=now or datetime.now(UTC),
        checks=out.checks,
        recommendations=out.recommendations,
    )
