"""Adding a repository: the use case behind `repo add`, `add-batch` and the interactive add.

Six steps from a URL to a searchable, watched collection: check access, discover,
create the collection, register (row + Dagster partition), run the first sync through
Dagster, report. The CLI only renders them (`AddProgress` hears each step as it
happens, because a first sync of a big repository takes a while and a silent terminal
looks hung) and asks questions in the interactive variant. A failure before
registration leaves nothing behind (no row, no partition, no mirror we created); a
failed first sync keeps the registration so `repo retry` can finish the job once the
cause is fixed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from elysia_pipelines import warm_worker
from elysia_pipelines.changes import discovery, git_source
from elysia_pipelines.errors import ElysiaError, Interrupted
from elysia_pipelines.operations.repo_options import (
    RepoOptions,
    build_repository,
    default_replicas,
    spec_for,
    validate_collection,
    validate_name,
)
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.registry import Registry, Repository
from elysia_pipelines.schedules import parse_schedule
from elysia_pipelines.settings import Settings

if TYPE_CHECKING:
    from elysia_pipelines.operations.failures import FailureClass
    from elysia_pipelines.run_outcome import RunOutcome

TOTAL_STEPS = 6


class AddProgress(Protocol):
    """Hears the workflow advance: step `number` of TOTAL_STEPS starts, is done, or notes."""

    def start(self, number: int, text: str) -> None: ...

    def done(self, text: str) -> None: ...

    def note(self, text: str, style: str = "") -> None: ...


class Silent:
    """Progress for callers that only want the outcome (`--json`, tests)."""

    def start(self, number: int, text: str) -> None:
        pass

    def done(self, text: str) -> None:
        pass

    def note(self, text: str, style: str = "") -> None:
        pass


class InitialSync(StrEnum):
    """What became of the first sync `repo add` starts."""

    SKIPPED = "skipped"  # --no-sync
    SUCCESS = "success"
    FAILED = "failed"
    SUBMITTED = "submitted"  # --no-wait: queued, not followed


class ExecutedBy(StrEnum):
    """Where a sync run was executed."""

    RUN_QUEUE = "run queue"  # a daemon's coordinator and launcher
    IN_PROCESS = "in-process"  # no daemon: the CLI's own process


@dataclass
class AddOutcome:
    """What `repo add` did, for the final message and for `--json`."""

    name: str
    url: str
    collection: str
    schedule: str
    token_env: str | None
    vectorizer: str = "none"
    replicas: int = 1
    discovery: dict[str, Any] = field(default_factory=dict)
    collection_created: bool = False
    registered: bool = False
    sync: InitialSync = InitialSync.SKIPPED
    run_id: str | None = None
    executed: ExecutedBy | None = None
    documents: int | None = None
    next_sync_at: datetime | None = None
    error: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def describe_discovery(report: discovery.DiscoveryReport) -> list[str]:
    """Short lines (each fits 80 columns after the indent) for step [2/6]."""
    languages = (
        ", ".join(f"{name} {percent:.0f}%" for name, _files, percent in report.languages[:3])
        or "no known language"
    )
    skipped = sum(report.skipped.values())
    return [
        f"{report.file_count:,} files in {report.directory_count:,} directories"
        + (f" ({skipped:,} skipped)" if skipped else ""),
        f"languages: {languages}",
        f"frameworks: {', '.join(report.frameworks[:4]) if report.frameworks else 'none detected'}",
        f"initial sync: about {_seconds(report.estimated_initial_sync_s)}",
    ]


def _seconds(value: float) -> str:
    if value < 60:
        return f"{max(1, round(value))}s"
    return f"{round(value / 60)} min"


def discovery_dict(report: discovery.DiscoveryReport) -> dict[str, Any]:
    return {
        "commit": report.commit,
        "branch": report.branch,
        "file_count": report.file_count,
        "directory_count": report.directory_count,
        "total_bytes": report.total_bytes,
        "languages": {name: files for name, files, _percent in report.languages},
        "frameworks": list(report.frameworks),
        "skipped": dict(report.skipped),
        "estimated_initial_sync_s": report.estimated_initial_sync_s,
    }


def primary_language(report: discovery.DiscoveryReport) -> str | None:
    return report.languages[0][0] if report.languages else None


def server_modules(settings: Settings) -> set[str]:
    """Vectorizer modules the Weaviate server has enabled (empty when unknown)."""
    # weaviate-client only where a command talks to it this way (not `repo sync`).
    from elysia_pipelines.weaviate.connection import open_client, server_meta

    try:
        with open_client(settings) as client:
            modules = server_meta(client).get("modules") or {}
    except Exception:
        return set()
    return {name for name in modules if str(name).startswith("text2vec-")}


def check_free(registry: Registry, name: str, collection: str | None) -> None:
    existing = registry.find(name)
    if existing is not None:
        raise ElysiaError(
            f"repository {name!r} is already registered ({redact_credentials(existing.url)})",
            f"pick another name with --name, or change it with `elysiactl repo update {name}`",
        )
    if collection:
        owner = registry.by_collection(collection)
        if owner is not None:
            raise ElysiaError(
                f"collection {collection!r} is already used by {owner.name!r}",
                "pick another collection name with --collection",
            )


def check_access_step(steps: AddProgress, url: str, token_env: str | None) -> None:
    steps.start(1, f"Checking access to {redact_credentials(url)}")
    report = git_source.check_access(url, token_env)
    if not report.ok:
        raise ElysiaError(
            f"cannot access {redact_credentials(url)}: {report.error}",
            report.hint
            or (
                f"check the URL; for a private repository export a token and pass "
                f"--token-env VAR{f' (${token_env} is not set)' if token_env else ''}"
            ),
        )
    if report.token_env:
        steps.done(f"access granted with the token from ${report.token_env}")
    else:
        steps.done("access granted (no token needed)")


def discover_step(
    steps: AddProgress, settings: Settings, options: RepoOptions, name: str
) -> discovery.DiscoveryReport:
    """Mirror the repository (the first sync reuses the mirror) and survey it."""
    steps.start(2, "Discovering the repository")
    mirror = settings.mirror_path(name)
    git_source.mirror_repository(
        options.url or "",
        mirror,
        token_env=options.token_env,
        branch=options.branch,
        timeout_s=settings.git_timeout_s,
    )
    report = discovery.discover(
        mirror,
        include=list(options.include_patterns),
        exclude=list(options.exclude_patterns),
        max_file_size=build_repository(options, settings, name).max_file_size,
        branch=options.branch,
    )
    first, *rest = describe_discovery(report)
    steps.done(first)
    for line in rest:
        steps.note("   " + line)
    return report


def provision_step(
    steps: AddProgress, settings: Settings, repo: Repository, *, choose_replicas: bool
) -> tuple[Repository, bool]:
    """Create (or check) the collection; picks the replica count from the cluster size."""
    # REST first (weaviate.session): the default collection needs no weaviate-client.
    from elysia_pipelines.weaviate.session import WeaviateSession, ensure_collection, node_count
    from elysia_pipelines.weaviate.target import WeaviateTarget

    steps.start(3, f"Creating the Weaviate collection {repo.collection}")
    with WeaviateSession(WeaviateTarget.from_settings(settings)) as session:
        if choose_replicas:
            repo = replace(repo, replicas=default_replicas(node_count(session)))
        result = ensure_collection(session, spec_for(repo))
    model = f", model {repo.model}" if repo.model else ""
    state = "created" if result.created else "already there with the same schema"
    steps.done(f"{state} (vectorizer {repo.vectorizer}{model}, replicas {repo.replicas})")
    return repo, result.created


def register_step(
    steps: AddProgress, settings: Settings, registry: Registry, repo: Repository
) -> None:
    steps.start(4, f"Registering {repo.name} (schedule {repo.schedule})")
    registry.add(repo)
    try:
        warm_worker.call(
            settings.home,
            "elysia_pipelines.orchestration:register_partition_for",
            {"settings": settings, "name": repo.name},
        )
    except BaseException:
        registry.remove(repo.name)
        raise
    steps.done("registry row and Dagster partition added")


def sync_through_dagster(
    settings: Settings,
    name: str,
    *,
    tags: dict[str, str] | None = None,
    wait: bool = True,
    progress: Callable[[str], None] | None = None,
) -> RunOutcome:
    """The sync job for one repository, in the warm worker when one serves this home.

    The caller then imports no Dagster at all (warm_worker says why); the run, its
    events and its outcome are the same either way.
    """
    return warm_worker.call(
        settings.home,
        "elysia_pipelines.operations.repo_add:sync_in_this_process",
        {"settings": settings, "name": name, "tags": tags, "wait": wait},
        progress=progress,
    )


def sync_in_this_process(
    settings: Settings,
    name: str,
    *,
    tags: dict[str, str] | None = None,
    wait: bool = True,
    progress: Callable[[str], None] | None = None,
) -> RunOutcome:
    """The sync job for one repository, without Dagster's console log on our terminal.

    Dagster would print failed steps with their stack trace; the CLI reports the
    run's error itself, and the full log stays in the event log (`repo logs`, UI).
    With a daemon serving the run queue the run goes there (`progress` hears where
    it is); `wait=False` returns once it is submitted.
    """
    from elysia_pipelines import orchestration

    return orchestration.run_job(
        settings,
        orchestration.SYNC_JOB,
        name,
        tags=tags,
        log_level="CRITICAL",
        wait=wait,
        on_progress=progress,
    )


def executed_where(outcome: RunOutcome) -> ExecutedBy:
    return ExecutedBy.RUN_QUEUE if outcome.queued else ExecutedBy.IN_PROCESS


def sync_step(
    steps: AddProgress,
    settings: Settings,
    registry: Registry,
    repo: Repository,
    outcome: AddOutcome,
    *,
    wait: bool = True,
) -> None:
    steps.start(5, "Running the initial sync through Dagster")
    try:
        result = sync_through_dagster(
            settings,
            repo.name,
            tags={"elysia/trigger": "repo-add"},
            wait=wait,
            progress=steps.note,
        )
    except KeyboardInterrupt:
        # Registered already: running `repo add` again would only say the name is taken.
        raise Interrupted(
            f"interrupted during the initial sync; {repo.name} is registered",
            f"finish the first sync with `elysiactl repo sync {repo.name}` (it repeats the "
            "interrupted work)",
        ) from None
    outcome.run_id = result.run_id
    outcome.executed = executed_where(result)
    if not result.finished:
        outcome.sync = InitialSync.SUBMITTED
        steps.done(f"run {result.run_id[:8]} is in the run queue (--no-wait)")
        return
    if result.success:
        outcome.sync = InitialSync.SUCCESS
        outcome.documents = result.documents
        steps.done(f"run {result.run_id[:8]} succeeded")
        return
    outcome.sync = InitialSync.FAILED
    outcome.error = result.error or "the sync run failed"
    record_failure(registry, repo.name, result)
    steps.note(f"run {result.run_id[:8]} failed: {outcome.error}", style="red")


def record_failure(registry: Registry, name: str, result: RunOutcome) -> FailureClass:
    """Make sure the registry shows the failure even when no failure sensor runs."""
    from elysia_pipelines.operations import bookkeeping

    return bookkeeping.record_failure(
        registry,
        name,
        result.error or "the sync run failed",
        kind=result.error_kind,
        reason=result.error_reason,
        run_id=result.run_id,
    )


def count_documents(settings: Settings, collection: str) -> int | None:
    from elysia_pipelines.operations.weaviate_probe import probe

    return probe(settings, [collection]).documents(collection)


def run_add(
    settings: Settings,
    registry: Registry,
    options: RepoOptions,
    *,
    progress: AddProgress | None = None,
    before_provision: Callable[[Repository, Any], Repository] | None = None,
    name_hint: str | None = None,
    wait: bool = True,
) -> AddOutcome:
    """The whole add sequence; raises ElysiaError before registration, else reports."""
    if not options.url:
        raise ElysiaError("no repository URL given", "usage: elysiactl repo add URL [--watch]")
    source = git_source.parse_source(options.url)
    name = validate_name(options.name or name_hint or source.name)
    if options.collection:
        validate_collection(options.collection)
    repo = build_repository(options, settings, name)
    check_free(registry, repo.name, repo.collection)
    steps = progress or Silent()
    warm_worker.start(settings.home)  # imports Dagster on the other core meanwhile
    check_access_step(steps, options.url, options.token_env)
    mirror_created = not settings.mirror_path(name).exists()
    registered = False
    try:
        report = discover_step(steps, settings, options, name)
        if before_provision is not None:
            repo = before_provision(repo, report)
            check_free(registry, repo.name, repo.collection)
        outcome = AddOutcome(
            name=repo.name,
            url=redact_credentials(repo.url),
            collection=repo.collection,
            schedule=repo.schedule,
            token_env=repo.token_env,
            discovery=discovery_dict(report),
        )
        repo, outcome.collection_created = provision_step(
            steps, settings, repo, choose_replicas=options.replicas is None
        )
        outcome.vectorizer, outcome.replicas = repo.vectorizer, repo.replicas
        register_step(steps, settings, registry, repo)
        registered = True
        outcome.registered = True
    finally:
        if not registered and mirror_created:
            shutil.rmtree(settings.mirror_path(name), ignore_errors=True)
    if options.sync:
        sync_step(steps, settings, registry, repo, outcome, wait=wait)
    else:
        steps.start(5, "Initial sync")
        steps.done("skipped (--no-sync); run `elysiactl repo sync " + repo.name + "` later")
    steps.start(6, "Done")
    current = registry.get(repo.name)
    outcome.next_sync_at = parse_schedule(current.schedule).next_due(
        current.last_sync_at, datetime.now(UTC)
    )
    if outcome.sync == InitialSync.SUCCESS and outcome.documents is None:
        outcome.documents = count_documents(settings, repo.collection)
    if outcome.sync == InitialSync.FAILED:
        outcome.hint = (
            f"the repository is registered; fix the cause and run `elysiactl repo retry "
            f"{repo.name}` (details: `elysiactl repo diagnose {repo.name}`)"
        )
    return outcome
