"""The options a repository is added (or updated) with, validated in one place.

`repo add` flags, the interactive prompts, and every line of an `add-batch` file
all end up here, so a schedule, size or vectorizer that one path accepts the other
paths accept too, and the error names the option the user typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from elysia_pipelines.documents import collection_name_for, is_valid_repo_name
from elysia_pipelines.errors import ConfigError
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.registry import Repository, new_repository
from elysia_pipelines.schedules import parse_schedule
from elysia_pipelines.settings import Settings, parse_size

if TYPE_CHECKING:
    from elysia_pipelines.weaviate.spec import CollectionSpec

# "none" stores no vectors (BM25 keyword search only), needs no model server, and is
# therefore the default; the modules the CLI accepts are the ones provisioning knows.
DEFAULT_MODELS = {
    "text2vec-openai": "text-embedding-3-small",
    "text2vec-ollama": "nomic-embed-text",
    "text2vec-cohere": "embed-multilingual-v3.0",
}
MAX_REPLICAS = 9
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_COLLECTION_RE = re.compile(r"^[A-Z][A-Za-z0-9_]{0,230}$")


@dataclass(frozen=True)
class RepoOptions:
    """What the user asked for; None means "not given" so `update` changes only what was typed."""

    url: str | None = None
    name: str | None = None
    collection: str | None = None
    schedule: str | None = None
    watch: bool = False
    branch: str | None = None
    vectorizer: str | None = None
    model: str | None = None
    replicas: int | None = None
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    max_file_size: str | None = None
    token_env: str | None = None
    sync: bool = True


def resolve_schedule(options: RepoOptions, settings: Settings) -> str:
    """An explicit --schedule wins; --watch means the default interval; otherwise manual.

    Registering without --watch as `manual` lets people try a repository (and see the
    first sync) before anything runs unattended.
    """
    if options.schedule:
        return _given_schedule(options)
    if options.watch:
        return parse_schedule(settings.default_schedule).text
    return "manual"


def _given_schedule(options: RepoOptions) -> str:
    """--schedule as given; with --watch it must name a schedule that runs."""
    text = parse_schedule(options.schedule or "").text
    if options.watch and text == "manual":
        raise ConfigError(
            "--watch and --schedule manual contradict each other",
            "drop --watch to sync only by hand, or give --schedule an interval like 30m",
        )
    return text


def default_replicas(node_count: int) -> int:
    """Replicas when the user did not choose: 3 on a cluster of 3+ nodes, else 1.

    Three copies let quorum reads and writes survive one node going down; more only
    costs memory. A single node cannot hold more than one copy.
    """
    return 3 if node_count >= 3 else 1


def suggest_vectorizer(language: str | None, available: set[str]) -> tuple[str, str]:
    """A vectorizer the server can run, chosen by what the repository mostly contains.

    Prose (docs, notes) gains most from semantic vectors; code is searched mostly by
    identifiers, where BM25 is strong and a local model is enough. Without any
    text2vec module on the server the only working choice is "none".
    """
    prose = language in {"Markdown", "reStructuredText", "Text", "AsciiDoc", "Org"}
    order = (
        ("text2vec-openai", "text2vec-transformers", "text2vec-ollama", "text2vec-cohere")
        if prose
        else ("text2vec-transformers", "text2vec-ollama", "text2vec-openai", "text2vec-cohere")
    )
    for module in order:
        if module in available:
            kind = "documentation" if prose else "code"
            return module, f"{language or 'mixed'} {kind}; {module} is enabled on the server"
    return "none", (
        f"{language or 'mixed'} files; no text2vec module is enabled on the Weaviate "
        "server, so keyword (BM25) search"
    )


def validate_vectorizer(vectorizer: str) -> str:
    # Imported here: the schema module pulls in weaviate-client, which commands that
    # only read options (repo list, status) must not pay for.
    from elysia_pipelines.weaviate.spec import SUPPORTED_VECTORIZERS

    value = vectorizer.strip().lower()
    if value not in SUPPORTED_VECTORIZERS:
        raise ConfigError(
            f"--vectorizer {vectorizer!r} is not a vectorizer this tool can configure",
            f"use one of: {', '.join(SUPPORTED_VECTORIZERS)}",
        )
    return value


def validate_replicas(replicas: int) -> int:
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ConfigError(
            f"--replicas {replicas} is out of range",
            f"use 1 for a single node, or up to {MAX_REPLICAS} (at most the number of Weaviate nodes)",
        )
    return replicas


def validate_token_env(token_env: str) -> str:
    if not _ENV_NAME_RE.match(token_env):
        raise ConfigError(
            f"--token-env {token_env!r} is not an environment variable name",
            "give the NAME of the variable holding the token (e.g. GITHUB_TOKEN), not the token",
        )
    return token_env


def validate_collection(collection: str) -> str:
    if not _COLLECTION_RE.match(collection):
        raise ConfigError(
            f"--collection {collection!r} is not a valid Weaviate collection name",
            "start with a capital letter, then letters, digits or '_' (e.g. MyRepo)",
        )
    return collection


def validate_name(name: str) -> str:
    if not is_valid_repo_name(name):
        raise ConfigError(
            f"{name!r} is not a valid repository name",
            "use letters, digits, '.', '_' or '-' (at most 100), e.g. --name my-repo",
        )
    return name


def build_repository(options: RepoOptions, settings: Settings, default_name: str) -> Repository:
    """Turn validated options into the registry row `repo add` will insert."""
    if not options.url:
        raise ConfigError("no repository URL given", "pass a URL or a local path: repo add URL")
    name = validate_name(options.name or default_name)
    collection = validate_collection(options.collection or collection_name_for(name))
    vectorizer = validate_vectorizer(options.vectorizer or "none")
    model = options.model or DEFAULT_MODELS.get(vectorizer)
    replicas = validate_replicas(options.replicas if options.replicas is not None else 1)
    # The collection spec is what provisioning will create: building it now rejects a
    # model the vectorizer cannot take before anything is registered.
    collection_spec(collection, vectorizer, model, replicas)
    return new_repository(
        name,
        options.url,
        max_file_size=(
            parse_size(options.max_file_size, what="--max-file-size")
            if options.max_file_size
            else settings.default_max_file_size
        ),
        collection=collection,
        branch=options.branch or None,
        schedule=resolve_schedule(options, settings),
        include_patterns=tuple(options.include_patterns),
        exclude_patterns=tuple(options.exclude_patterns),
        vectorizer=vectorizer,
        model=model,
        replicas=replicas,
        token_env=validate_token_env(options.token_env) if options.token_env else None,
    )


def collection_spec(
    collection: str, vectorizer: str, model: str | None, replicas: int
) -> CollectionSpec:
    from elysia_pipelines.weaviate.spec import CollectionSpec

    return CollectionSpec(
        name=collection, vectorizer=vectorizer, model=model, replication_factor=replicas
    )


def spec_for(repo: Repository) -> CollectionSpec:
    """The collection a registered repository's documents live in, as provisioning sees it."""
    return collection_spec(repo.collection, repo.vectorizer, repo.model, repo.replicas)


def update_changes(options: RepoOptions, current: Repository, settings: Settings) -> dict[str, Any]:
    """The registry columns `repo update` should change: only options the user gave.

    The collection, vectorizer and replicas are fixed once the collection exists
    (Weaviate cannot change them in place), so asking for a different value is an
    error rather than a silent no-op.
    """
    changes: dict[str, Any] = {}
    if options.schedule:
        changes["schedule"] = _given_schedule(options)
    elif options.watch and current.schedule == "manual":
        changes["schedule"] = parse_schedule(settings.default_schedule).text
    if options.url:
        changes["url"] = options.url
    if options.branch is not None:
        changes["branch"] = options.branch or None
    if options.include_patterns:
        changes["include_patterns"] = tuple(options.include_patterns)
    if options.exclude_patterns:
        changes["exclude_patterns"] = tuple(options.exclude_patterns)
    if options.max_file_size:
        changes["max_file_size"] = parse_size(options.max_file_size, what="--max-file-size")
    if options.include_patterns or options.exclude_patterns:
        from elysia_pipelines.changes.patterns import FileFilter

        # Compiled as the next sync will, so a bad rule fails here, not there.
        FileFilter.of(
            changes.get("include_patterns", current.include_patterns),
            changes.get("exclude_patterns", current.exclude_patterns),
            changes.get("max_file_size", current.max_file_size),
        )
    if options.token_env:
        changes["token_env"] = validate_token_env(options.token_env)
    for option, column in (
        ("collection", "collection"),
        ("vectorizer", "vectorizer"),
        ("replicas", "replicas"),
        ("model", "model"),
    ):
        wanted = getattr(options, option)
        if wanted is not None and wanted != getattr(current, column):
            raise ConfigError(
                f"--{option} cannot be changed on an existing repository "
                f"({current.name} uses {getattr(current, column)!r})",
                f"remove it with `elysiactl repo remove {current.name} --delete-collection` "
                "and add it again with the new value",
            )
    return changes


def check_new_source(changes: dict[str, Any], current: Repository) -> None:
    """`repo update --url/--branch`: reachable, and the branch exists, as `repo add` checks."""
    if "url" not in changes and "branch" not in changes:
        return
    from elysia_pipelines.changes import git_source

    url = changes.get("url", current.url)
    token_env = changes.get("token_env", current.token_env)
    report = git_source.check_access(url, token_env)
    if not report.ok:
        raise ConfigError(
            f"cannot access {redact_credentials(url)}: {report.error}",
            report.hint or "check the URL (nothing was changed)",
        )
    branch = changes.get("branch", current.branch)
    if branch and branch not in report.branches:
        known = ", ".join(sorted(report.branches)[:10]) or "none"
        raise ConfigError(
            f"branch {branch!r} does not exist in {redact_credentials(url)}",
            f"branches there: {known} (nothing was changed)",
        )
