"""How `repo add` looks in a terminal: numbered steps, the final message, the questions.

The workflow itself is `operations.repo_add`; this module renders its progress with
rich and asks for what the interactive add needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from typing import Any

import typer
from rich.text import Text

from elysia_pipelines.changes import git_source
from elysia_pipelines.cli.output import console
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.operations.repo_add import (
    TOTAL_STEPS,
    AddOutcome,
    InitialSync,
    check_free,
    primary_language,
    server_modules,
)
from elysia_pipelines.operations.repo_options import (
    RepoOptions,
    suggest_vectorizer,
    validate_collection,
    validate_name,
)
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.registry import Registry, Repository
from elysia_pipelines.schedules import parse_schedule
from elysia_pipelines.settings import Settings, format_size

INTERACTIVE_SCHEDULES = ("15m", "30m", "1h", "6h", "manual", "cron")


class Steps:
    """Prints "[n/6] ..." lines as the add workflow advances (an `AddProgress`)."""

    def start(self, number: int, text: str) -> None:
        console.print(Text.assemble((f"[{number}/{TOTAL_STEPS}] ", "bold cyan"), text))

    def done(self, text: str) -> None:
        console.print(Text.assemble(("      ok ", "green"), text))

    def note(self, text: str, style: str = "") -> None:
        console.print(Text("      " + text, style=style))


def steps_for(json_out: bool) -> Steps | None:
    """Numbered steps in a terminal, none under --json (its output must stay one JSON)."""
    return None if json_out else Steps()


def print_outcome(outcome: AddOutcome) -> None:
    if outcome.sync == InitialSync.FAILED:
        console.print(
            Text(f"      {outcome.name} registered, but the initial sync failed.", style="red")
        )
        console.print(f"      {outcome.hint}")
        return
    docs = "?" if outcome.documents is None else f"{outcome.documents:,}"
    if outcome.sync == InitialSync.SUBMITTED:
        console.print(
            f"      First sync queued as run {outcome.run_id}; follow it with "
            f"`elysiactl repo logs {outcome.name} --follow`"
        )
    if outcome.sync == InitialSync.SUCCESS:
        console.print(
            Text.assemble(("      ok ", "green"), f"{docs} documents in {outcome.collection}")
        )
    if outcome.schedule == "manual":
        console.print(
            "      Schedule: manual (sync with `elysiactl repo sync " + outcome.name + "`)"
        )
    else:
        when = (
            f"{outcome.next_sync_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if outcome.next_sync_at
            else "when the schedule fires"
        )
        console.print(f"      Watching every {outcome.schedule}; next sync {when}")
    console.print(f"      Check it: elysiactl repo status {outcome.name}")


# --- interactive ------------------------------------------------------------------


def _prompt_schedule(default: str) -> str:
    while True:
        answer = typer.prompt(
            f"Sync schedule ({', '.join(INTERACTIVE_SCHEDULES)})", default=default
        ).strip()
        if answer == "cron":
            answer = typer.prompt("Cron expression (5 fields, e.g. '0 */2 * * *')").strip()
        try:
            return parse_schedule(answer).text
        except ElysiaError as exc:
            console.print(Text(f"  {exc.message}; {exc.hint}", style="yellow"))


def interactive_options(settings: Settings, registry: Registry, base: RepoOptions) -> RepoOptions:
    """Ask for the URL and name (everything else comes after discovery)."""
    while True:
        url = typer.prompt("Repository URL or path").strip()
        try:
            source = git_source.parse_source(url)
            break
        except ElysiaError as exc:
            console.print(Text(f"  {exc.message}; {exc.hint}", style="yellow"))
    while True:
        name = typer.prompt("Name", default=source.name).strip()
        try:
            validate_name(name)
            check_free(registry, name, None)
            break
        except ElysiaError as exc:
            console.print(Text(f"  {exc.message}", style="yellow"))
    return RepoOptions(**{**base.__dict__, "url": url, "name": name})


def interactive_refine(
    settings: Settings, registry: Registry
) -> Callable[[Repository, Any], Repository]:
    """After discovery: collection, schedule, vectorizer (suggested), summary, confirm."""

    def refine(repo: Repository, report: Any) -> Repository:
        while True:
            collection = typer.prompt("Collection", default=repo.collection).strip()
            try:
                validate_collection(collection)
                owner = registry.by_collection(collection)
                if owner is not None:
                    raise ElysiaError(
                        f"collection {collection!r} is already used by {owner.name!r}"
                    )
                break
            except ElysiaError as exc:
                console.print(Text(f"  {exc.message}", style="yellow"))
        schedule = _prompt_schedule(
            repo.schedule if repo.schedule != "manual" else settings.default_schedule
        )
        suggestion, why = suggest_vectorizer(primary_language(report), server_modules(settings))
        console.print(Text(f"  suggested vectorizer: {suggestion} ({why})", style="dim"))
        while True:
            vectorizer = typer.prompt("Vectorizer", default=suggestion).strip().lower()
            try:
                from elysia_pipelines.operations.repo_options import (
                    DEFAULT_MODELS,
                    collection_spec,
                    validate_vectorizer,
                )

                vectorizer = validate_vectorizer(vectorizer)
                model = DEFAULT_MODELS.get(vectorizer)
                collection_spec(collection, vectorizer, model, repo.replicas)
                break
            except ElysiaError as exc:
                console.print(Text(f"  {exc.message}", style="yellow"))
        updated = replace(
            repo, collection=collection, schedule=schedule, vectorizer=vectorizer, model=model
        )
        console.print(Text("Summary", style="bold"))
        for label, value in (
            ("Repository", f"{updated.name} ({redact_credentials(updated.url)})"),
            ("Collection", updated.collection),
            ("Schedule", updated.schedule),
            ("Vectorizer", updated.vectorizer + (f" ({updated.model})" if updated.model else "")),
            ("Max file size", format_size(updated.max_file_size)),
            ("Files", f"{report.file_count:,}"),
        ):
            console.print(f"  {label:<14}{value}")
        if not typer.confirm("Continue?", default=True):
            raise ElysiaError("cancelled; nothing was registered", "run `elysiactl repo add` again")
        return updated

    return refine
