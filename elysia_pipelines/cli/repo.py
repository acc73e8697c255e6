"""`elysiactl repo`: add, watch and operate repositories.

Every command is a thin layer: it reads options, calls the registry, the operations
modules and the Dagster bridge (`orchestration`), and renders the result as rich
output for people, plain text when piped, or `--json` for scripts. Problems the
user can fix become one message and a hint (via `handle_errors`), never a traceback.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text

from elysia_pipelines.cli import repo_render
from elysia_pipelines.cli.output import console, fail, handle_errors, print_json
from elysia_pipelines.errors import ElysiaError, ErrorKind, split_hint
from elysia_pipelines.operations.batch_file import read_batch_file
from elysia_pipelines.operations.bookkeeping import stored_failure
from elysia_pipelines.operations.repo_options import (
    RepoOptions,
    check_new_source,
    update_changes,
    validate_token_env,
)
from elysia_pipelines.operations.status import (
    ActiveSync,
    RecentChange,
    collect_statuses,
    dashboard_data,
)
from elysia_pipelines.redaction import redact_credentials
from elysia_pipelines.registry import Registry, Repository, Status
from elysia_pipelines.settings import Settings

if TYPE_CHECKING:
    from dagster import DagsterInstance

app = typer.Typer(
    help="Add, watch and operate repositories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document for scripts.")
NO_WAIT_OPTION = typer.Option(
    False,
    "--no-wait",
    help="When a Dagster daemon serves the run queue, print the run id once it is queued "
    "instead of following the run (without a daemon the run executes here anyway).",
)


def _load() -> tuple[Settings, Registry]:
    settings = Settings.from_env().ensure_dirs()
    return settings, Registry(settings.registry_path)


def _instance(settings: Settings) -> DagsterInstance:
    from elysia_pipelines import orchestration

    return orchestration.get_instance(settings)


def _options(
    url: str | None,
    name: str | None,
    collection: str | None,
    schedule: str | None,
    watch: bool,
    branch: str | None,
    vectorizer: str | None,
    model: str | None,
    replicas: int | None,
    include_pattern: list[str] | None,
    exclude_pattern: list[str] | None,
    max_file_size: str | None,
    token_env: str | None,
    sync: bool = True,
) -> RepoOptions:
    return RepoOptions(
        url=url,
        name=name,
        collection=collection,
        schedule=schedule,
        watch=watch,
        branch=branch,
        vectorizer=vectorizer,
        model=model,
        replicas=replicas,
        include_patterns=tuple(include_pattern or ()),
        exclude_patterns=tuple(exclude_pattern or ()),
        max_file_size=max_file_size,
        token_env=token_env,
        sync=sync,
    )


# Option declarations shared by add and update.
NAME_OPT = typer.Option(None, "--name", help="Short name (default: from the URL).")
COLLECTION_OPT = typer.Option(
    None, "--collection", help="Weaviate collection (default: from the name)."
)
SCHEDULE_OPT = typer.Option(
    None,
    "--schedule",
    help="Interval (15m, 30m, 1h, 6h ...), a 5-field cron expression, or manual.",
)
BRANCH_OPT = typer.Option(None, "--branch", help="Branch to index (default: the remote's HEAD).")
VECTORIZER_OPT = typer.Option(
    None,
    "--vectorizer",
    help="none (BM25 only, default) or a Weaviate module, e.g. text2vec-transformers, "
    "text2vec-openai, text2vec-ollama.",
)
MODEL_OPT = typer.Option(None, "--model", help="Model of the vectorizer module, if it takes one.")
REPLICAS_OPT = typer.Option(None, "--replicas", help="Replication factor (default 1).")
INCLUDE_OPT = typer.Option(
    None, "--include-pattern", help="Only index matching paths (repeatable)."
)
EXCLUDE_OPT = typer.Option(None, "--exclude-pattern", help="Skip matching paths (repeatable).")
SIZE_OPT = typer.Option(None, "--max-file-size", help="Skip larger files, e.g. 1MB (default 1MB).")
TOKEN_OPT = typer.Option(
    None, "--token-env", help="NAME of the environment variable holding the access token."
)


@app.command("add")
@handle_errors
def add(
    url: str | None = typer.Argument(
        None, help="Git URL or local path. Leave out to be asked interactively."
    ),
    watch: bool = typer.Option(
        False, "--watch", help="Sync on a schedule (default 30m); without it: manual syncs only."
    ),
    name: str | None = NAME_OPT,
    collection: str | None = COLLECTION_OPT,
    schedule: str | None = SCHEDULE_OPT,
    branch: str | None = BRANCH_OPT,
    vectorizer: str | None = VECTORIZER_OPT,
    model: str | None = MODEL_OPT,
    replicas: int | None = REPLICAS_OPT,
    include_pattern: list[str] | None = INCLUDE_OPT,
    exclude_pattern: list[str] | None = EXCLUDE_OPT,
    max_file_size: str | None = SIZE_OPT,
    token_env: str | None = TOKEN_OPT,
    no_sync: bool = typer.Option(False, "--no-sync", help="Register only; sync later."),
    no_wait: bool = NO_WAIT_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Add a repository: check access, discover, create the collection, register, sync.

    With --watch it is synced every 30 minutes (or as --schedule says).
    Without --watch or --schedule the schedule is `manual`: nothing runs
    unattended until `repo update NAME --watch`. Without URL, asks interactively.
    """
    from elysia_pipelines.cli import repo_add  # git and weaviate-client: only when adding
    from elysia_pipelines.operations import repo_add as adding

    settings, registry = _load()
    options = _options(
        url,
        name,
        collection,
        schedule,
        watch,
        branch,
        vectorizer,
        model,
        replicas,
        include_pattern,
        exclude_pattern,
        max_file_size,
        token_env,
        sync=not no_sync,
    )
    refine = None
    if url is None:
        if json_out:
            raise fail("--json needs the URL as an argument", "elysiactl repo add URL --json")
        options = repo_add.interactive_options(settings, registry, options)
        refine = repo_add.interactive_refine(settings, registry)
    outcome = adding.run_add(
        settings,
        registry,
        options,
        progress=repo_add.steps_for(json_out),
        before_provision=refine,
        wait=not no_wait,
    )
    if json_out:
        print_json(outcome.to_dict())
    else:
        repo_add.print_outcome(outcome)
    if outcome.sync == adding.InitialSync.FAILED:
        raise typer.Exit(1)


@app.command("add-batch")
@handle_errors
def add_batch(
    file: Path = typer.Argument(
        ..., help="Text file: one URL a line, options after it, # comments."
    ),
    watch: bool = typer.Option(False, "--watch", help="Default --watch for every line."),
    schedule: str | None = typer.Option(
        None, "--schedule", help="Default schedule for every line."
    ),
    no_sync: bool = typer.Option(False, "--no-sync", help="Register only, for every line."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Add many repositories from a file; a bad line is reported and the rest continue.

    Each line is `URL [options]` with the options of `repo add` (e.g. `--schedule 1h
    --branch dev`). Exits non-zero if any line failed.
    """
    from elysia_pipelines.cli import repo_add  # git and weaviate-client: only when adding
    from elysia_pipelines.operations import repo_add as adding

    settings, registry = _load()
    defaults = RepoOptions(watch=watch, schedule=schedule, sync=not no_sync)
    batch = read_batch_file(file, defaults)
    results: list[dict[str, Any]] = [
        {
            "line": e.line_no,
            "text": e.text,
            "ok": False,
            "error": e.message,
            "hint": e.hint,
        }
        for e in batch.errors
    ]
    for error in batch.errors:
        if not json_out:
            console.print(Text(f"line {error.line_no}: {error.message}", style="red"))
    for entry in batch.entries:
        if not json_out:
            console.print(
                Text(
                    f"line {entry.line_no}: {redact_credentials(entry.options.url or '')}",
                    style="bold",
                )
            )
        try:
            outcome = adding.run_add(
                settings, registry, entry.options, progress=repo_add.steps_for(json_out)
            )
        except (
            Exception
        ) as exc:  # one line's failure, even an unexpected one, must not stop the rest
            known = isinstance(exc, ElysiaError)
            message = (
                exc.message if isinstance(exc, ElysiaError) else f"{type(exc).__name__}: {exc}"
            )
            hint = (
                exc.hint if isinstance(exc, ElysiaError) else "unexpected error; please report it"
            )
            results.append(
                {
                    "line": entry.line_no,
                    "text": entry.text,
                    "ok": False,
                    "error": message,
                    "hint": hint,
                    "unexpected": not known,
                }
            )
            if not json_out:
                console.print(Text(f"      failed: {message}", style="red"))
                if hint:
                    console.print(f"      hint: {hint}")
            continue
        ok = outcome.sync != adding.InitialSync.FAILED
        results.append(
            {
                "line": entry.line_no,
                "text": entry.text,
                "ok": ok,
                "name": outcome.name,
                "documents": outcome.documents,
                "sync": outcome.sync,
                "error": outcome.error,
                "hint": outcome.hint,
            }
        )
        if not json_out:
            repo_add.print_outcome(outcome)
    results.sort(key=lambda r: r["line"])
    failed = [r for r in results if not r["ok"]]
    if json_out:
        print_json({"added": len(results) - len(failed), "failed": len(failed), "lines": results})
    else:
        table = Table(title="add-batch summary", title_justify="left", show_edge=False)
        table.add_column("Line", justify="right")
        table.add_column("Result", no_wrap=True)
        table.add_column("Repository / error", overflow="fold")
        for r in results:
            result = Text("added", style="green") if r["ok"] else Text("failed", style="red")
            table.add_row(str(r["line"]), result, r.get("name") if r["ok"] else str(r["error"]))
        console.print(table)
        console.print(f"{len(results) - len(failed)} added, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_repos(json_out: bool = JSON_OPTION) -> None:
    """List registered repositories."""
    _settings, registry = _load()
    repos = registry.list()
    if json_out:
        print_json([_repo_json(r) for r in repos])
        return
    if not repos:
        console.print("No repositories yet. Add one: elysiactl repo add URL --watch")
        return
    console.print(repo_render.repo_list_table(repos))


def _repo_json(repo: Repository) -> dict[str, Any]:
    data = repo.to_dict()
    data["url"] = redact_credentials(repo.url)
    return data


@app.command("status")
@handle_errors
def status(
    name: str | None = typer.Argument(None, help="One repository (default: all, as a table)."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Documents, last and next sync, and health of every repository (or details of one)."""
    settings, registry = _load()
    repos = [registry.get(name)] if name else registry.list()
    statuses, facts = collect_statuses(settings, registry, repos)
    if json_out:
        data = [s.to_dict() for s in statuses]
        print_json(data[0] if name else {"repositories": data, "weaviate_error": facts.error})
        return
    if facts.error:
        console.print(Text(f"Weaviate: {facts.error}", style="yellow"))
    if name:
        console.print(repo_render.status_tree(statuses[0]))
    elif not statuses:
        console.print("No repositories yet. Add one: elysiactl repo add URL --watch")
    else:
        console.print(repo_render.status_table(statuses))


def _log_entries(
    instance: DagsterInstance, registry: Registry, name: str, runs: int
) -> list[dict[str, Any]]:
    """Dagster event log lines of the latest runs, merged with the sync history."""
    from elysia_pipelines import orchestration

    entries: list[dict[str, Any]] = []
    for run in orchestration.recent_runs(instance, name, runs):
        for line in orchestration.run_log_lines(instance, run.run_id):
            if line.level == "DEBUG":
                continue
            entries.append(
                {
                    "time": line.timestamp,
                    "level": line.level,
                    "source": f"run {run.run_id[:8]}",
                    "run_id": run.run_id,
                    "message": line.message,
                }
            )
    for record in registry.history(name, limit=50):
        change = RecentChange.from_record(record)
        detail = record.error.strip().splitlines()[0] if record.error else change.summary
        entries.append(
            {
                "time": change.at,
                "level": "ERROR" if record.status == Status.FAILED else "INFO",
                "source": "history",
                "run_id": record.run_id,
                "message": f"{record.stage} {record.status}: {detail}",
            }
        )
    entries.sort(key=lambda e: e["time"])
    return entries


def _print_log(entry: dict[str, Any]) -> None:
    style = {"ERROR": "red", "CRITICAL": "bold red", "WARNING": "yellow"}.get(entry["level"], "")
    stamp = entry["time"].astimezone(UTC).strftime("%m-%d %H:%M:%S")
    line = Text(f"{stamp} {entry['level']:<7} {entry['source']:<12} ")
    line.append(str(entry["message"]).splitlines()[0] if entry["message"] else "", style=style)
    console.print(line, overflow="fold")


@app.command("logs")
@handle_errors
def logs(
    name: str = typer.Argument(..., help="Repository name."),
    tail: int = typer.Option(40, "--tail", "-n", min=1, help="Show the last N lines."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Sync logs from the Dagster event log and the sync history."""
    settings, registry = _load()
    registry.get(name)
    instance = _instance(settings)
    entries = _log_entries(instance, registry, name, runs=5)[-tail:]
    if json_out:
        print_json(entries)
        return
    if not entries:
        console.print(f"No logs for {name} yet: run `elysiactl repo sync {name}`.")
    for entry in entries:
        _print_log(entry)
    if not follow:
        return
    seen = {
        (e["time"], e["source"], e["message"]) for e in _log_entries(instance, registry, name, 5)
    }
    try:
        while True:
            time.sleep(2.0)
            for entry in _log_entries(instance, registry, name, runs=3):
                key = (entry["time"], entry["source"], entry["message"])
                if key not in seen:
                    seen.add(key)
                    _print_log(entry)
    except KeyboardInterrupt:
        return


def _active_syncs(instance: DagsterInstance) -> list[ActiveSync]:
    from elysia_pipelines import orchestration

    return [
        ActiveSync(
            repo=run.partition,
            run_id=run.run_id,
            job=run.job_name,
            status=run.status,
            started_at=run.started_at,
        )
        for run in orchestration.active_runs(instance)
    ]


@app.command("dashboard")
@handle_errors
def dashboard(
    once: bool = typer.Option(False, "--once", help="Render one frame and exit."),
    refresh: float = typer.Option(5.0, "--refresh", min=0.5, help="Seconds between refreshes."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Live overview: health, active syncs, documents, activity, success rate, storage."""
    if not 0.5 <= refresh <= 3600:  # also nan and inf, which time.sleep refuses
        raise fail(
            f"--refresh {refresh} is out of range", "use 0.5 to 3600 seconds, e.g. --refresh 5"
        )
    settings, registry = _load()
    instance = _instance(settings)

    def frame() -> Any:
        return dashboard_data(settings, registry, _active_syncs(instance))

    if json_out:
        print_json(frame().to_dict())
        return
    if once or not console.is_terminal:
        console.print(repo_render.dashboard(frame()))
        return
    try:
        with Live(repo_render.dashboard(frame()), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(refresh)
                live.update(repo_render.dashboard(frame()), refresh=True)
    except KeyboardInterrupt:
        return


@app.command("update")
@handle_errors
def update(
    name: str = typer.Argument(..., help="Repository name."),
    watch: bool = typer.Option(
        False, "--watch", help="Turn a manual repository into a watched one."
    ),
    url: str | None = typer.Option(None, "--url", help="New URL (same repository, e.g. moved)."),
    collection: str | None = COLLECTION_OPT,
    schedule: str | None = SCHEDULE_OPT,
    branch: str | None = BRANCH_OPT,
    vectorizer: str | None = VECTORIZER_OPT,
    model: str | None = MODEL_OPT,
    replicas: int | None = REPLICAS_OPT,
    include_pattern: list[str] | None = INCLUDE_OPT,
    exclude_pattern: list[str] | None = EXCLUDE_OPT,
    max_file_size: str | None = SIZE_OPT,
    token_env: str | None = TOKEN_OPT,
    json_out: bool = JSON_OPTION,
) -> None:
    """Change a repository's schedule, branch, patterns, size limit or token variable."""
    settings, registry = _load()
    current = registry.get(name)
    options = _options(
        url,
        None,
        collection,
        schedule,
        watch,
        branch,
        vectorizer,
        model,
        replicas,
        include_pattern,
        exclude_pattern,
        max_file_size,
        token_env,
    )
    if url:
        from elysia_pipelines.changes.git_source import parse_source

        parse_source(url)
    changes = update_changes(options, current, settings)
    check_new_source(changes, current)
    if not changes:
        raise fail(
            f"nothing to change for {name}",
            "give at least one option, e.g. --schedule 1h or --exclude-pattern '*.png'",
        )
    updated = registry.update(name, **changes)
    if json_out:
        print_json(_repo_json(updated))
        return
    for key in changes:
        value = getattr(updated, key)
        shown = redact_credentials(value) if key == "url" else value
        console.print(
            f"{key}: {getattr(current, key)!s} -> {shown!s}" if key != "url" else f"url: {shown}"
        )
    console.print(f"Updated {name}; changes apply from the next sync.")


def _set_paused(name: str, paused: bool, json_out: bool) -> None:
    _settings, registry = _load()
    registry.get(name)
    repo = registry.set_paused(name, paused)
    if json_out:
        print_json(_repo_json(repo))
    elif paused:
        console.print(f"Paused {name}: scheduled syncs stop until `elysiactl repo resume {name}`.")
    else:
        console.print(f"Resumed {name}: schedule {repo.schedule}.")


@app.command("pause")
@handle_errors
def pause(name: str = typer.Argument(...), json_out: bool = JSON_OPTION) -> None:
    """Stop scheduled syncs of a repository (manual `repo sync` still works)."""
    _set_paused(name, True, json_out)


@app.command("resume")
@handle_errors
def resume(name: str = typer.Argument(...), json_out: bool = JSON_OPTION) -> None:
    """Restart scheduled syncs of a paused repository."""
    _set_paused(name, False, json_out)


def _run_and_report(
    settings: Settings,
    registry: Registry,
    name: str,
    tags: dict[str, str],
    json_out: bool,
    verb: str,
    wait: bool = True,
) -> None:
    # git and weaviate-client: only when syncing
    from elysia_pipelines.operations import repo_add as adding

    repo = registry.get(name)
    if not json_out:
        console.print(f"{verb} {name} through Dagster ...")
    outcome = adding.sync_through_dagster(
        settings,
        name,
        tags=tags,
        wait=wait,
        progress=None if json_out else lambda line: console.print(f"  {line}"),
    )
    executed = adding.executed_where(outcome)
    if not outcome.finished:
        if json_out:
            print_json(
                {
                    "repo": name,
                    "run_id": outcome.run_id,
                    "status": outcome.status,
                    "executed": executed,
                    "finished": False,
                }
            )
        else:
            console.print(
                f"queued run {outcome.run_id}; follow it with `elysiactl repo logs {name} --follow`"
            )
        return
    documents = outcome.documents
    if outcome.success and documents is None:
        documents = adding.count_documents(settings, repo.collection)
    failure = None
    if not outcome.success:
        failure = adding.record_failure(registry, name, outcome)
    if json_out:
        print_json(
            {
                "repo": name,
                "run_id": outcome.run_id,
                "success": outcome.success,
                "status": outcome.status,
                "documents": documents,
                "error": outcome.error,
                "failure": failure.to_dict() if failure else None,
                "executed": executed,
                "finished": True,
            }
        )
    elif outcome.success:
        docs = "?" if documents is None else f"{documents:,}"
        console.print(
            Text.assemble(("ok ", "green"), f"run {outcome.run_id[:8]}: {docs} documents")
        )
    if failure is not None:
        message, raised_hint = split_hint(outcome.error or "")
        hint = failure.hint.replace("NAME", name)
        if raised_hint:  # what the raiser knew beats the hint of the failure's kind
            follow_up = f"; then `elysiactl repo retry {name}`"
            hint = raised_hint + (follow_up if failure.kind is ErrorKind.USER_FIXABLE else "")
        raise fail(f"sync of {name} failed (run {outcome.run_id[:8]}): {message}", hint)


@app.command("sync")
@handle_errors
def sync(
    name: str = typer.Argument(...),
    no_wait: bool = NO_WAIT_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Sync a repository now (mirror, change set, ingest) through Dagster."""
    settings, registry = _load()
    _run_and_report(
        settings,
        registry,
        name,
        {"elysia/trigger": "repo-sync"},
        json_out,
        "Syncing",
        wait=not no_wait,
    )


@app.command("retry")
@handle_errors
def retry(
    name: str = typer.Argument(...),
    no_wait: bool = NO_WAIT_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Re-run the last failed sync of a repository."""
    from elysia_pipelines import orchestration

    settings, registry = _load()
    repo = registry.get(name)
    runs = orchestration.recent_runs(_instance(settings), name, 1)
    last_run_failed = bool(runs) and runs[0].status == "FAILURE"
    if not (last_run_failed or repo.failing):
        message = (
            f"nothing to retry: the last sync of {name} did not fail"
            if runs or repo.last_sync_at
            else f"nothing to retry: {name} has not been synced yet"
        )
        if json_out:
            print_json({"repo": name, "retried": False, "reason": message})
        else:
            console.print(f"{message}. Sync now with `elysiactl repo sync {name}`.")
        return
    tags = {"elysia/trigger": "repo-retry"}
    if last_run_failed:
        tags["elysia/retry_of"] = runs[0].run_id
    _run_and_report(settings, registry, name, tags, json_out, "Retrying", wait=not no_wait)


@app.command("unblock")
@handle_errors
def unblock(
    name: str = typer.Argument(...),
    retry: bool = typer.Option(
        False, "--retry", help="Put the change set back in pending/ (after fixing it)."
    ),
    discard: bool = typer.Option(
        False, "--discard", help="Delete the change set; its changes are dropped."
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Release the failed change set that blocks a repository's collection."""
    from elysia_pipelines.ingest.moves import unblock_collection

    if retry and discard:
        raise fail(
            "--retry and --discard exclude each other", "choose one (--retry is the default)"
        )
    settings, registry = _load()
    repo = registry.get(name)
    released = unblock_collection(settings, repo.collection, "discard" if discard else "retry")
    if json_out:
        print_json(
            {
                "repo": name,
                "collection": repo.collection,
                "unblocked": released.file if released else None,
                "action": released.action if released else None,
                "still_blocking": released.still_blocking if released else 0,
            }
        )
        return
    if released is None:
        console.print(f"Nothing to unblock: no failed change set blocks {repo.collection}.")
        return
    if released.action == "retry":
        console.print(
            f"Moved {released.file} back to pending/{repo.collection}/; "
            f"`elysiactl repo sync {name}` applies it now (the pending sensor does when the "
            "daemon runs)."
        )
    else:
        console.print(
            f"Discarded {released.file}; its changes are dropped. Later change sets apply "
            f"without them; `elysiactl repo sync {name}` continues."
        )
    if released.still_blocking:
        console.print(
            f"{released.still_blocking} more failed change set(s) still block: run "
            f"`elysiactl repo unblock {name}` again."
        )


@app.command("fix-auth")
@handle_errors
def fix_auth(
    name: str = typer.Argument(...),
    token_env: str | None = typer.Option(
        None, "--token-env", help="NAME of the variable holding a working token."
    ),
    json_out: bool = JSON_OPTION,
) -> None:
    """Re-check access; save a new token variable only if access works with it."""
    from elysia_pipelines.changes.git_source import check_access

    _settings, registry = _load()
    repo = registry.get(name)
    candidate = validate_token_env(token_env) if token_env else repo.token_env
    report = check_access(repo.url, candidate)
    if not report.ok and token_env is None and sys.stdin.isatty() and not json_out:
        console.print(Text(f"Access fails: {report.error}", style="yellow"))
        answer = typer.prompt("Environment variable holding a token (empty: give up)", default="")
        if answer.strip():
            candidate = validate_token_env(answer.strip())
            report = check_access(repo.url, candidate)
    if not report.ok:
        raise fail(
            f"access to {redact_credentials(repo.url)} still fails"
            + (f" with ${candidate}" if candidate else " without a token")
            + f": {report.error}",
            # The access check's hint already says what to export; do not say it twice.
            f"{report.hint}; nothing was saved"
            if report.hint
            else "nothing was saved; export a valid token and run "
            f"`elysiactl repo fix-auth {name} --token-env VAR`",
        )
    changed = candidate != repo.token_env
    if changed:
        registry.update(name, token_env=candidate)
    last_failure = stored_failure(repo)
    cleared = last_failure is not None and last_failure.reason == "auth"
    if json_out:
        print_json({"repo": name, "ok": True, "token_env": candidate, "saved": changed})
        return
    via = f"the token from ${candidate}" if candidate else "no token"
    console.print(
        Text.assemble(
            ("ok ", "green"), f"access to {redact_credentials(repo.url)} works with {via}"
        )
    )
    if changed:
        console.print(f"Saved: {name} now reads its token from ${candidate}.")
    if cleared:
        console.print(f"Run `elysiactl repo retry {name}` to re-run the failed sync.")


@app.command("remove")
@handle_errors
def remove(
    name: str = typer.Argument(...),
    delete_collection: bool = typer.Option(
        False, "--delete-collection", help="Also delete the Weaviate collection and its documents."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json_out: bool = JSON_OPTION,
) -> None:
    """Unregister a repository: registry row, partition, mirror, change sets and checkpoint.

    The collection stays (searchable, restorable) unless --delete-collection is given;
    backups and the sync history always stay.
    """
    from elysia_pipelines.operations.removal import REMOVED_STATE, remove_repository

    settings, registry = _load()
    repo = registry.get(name)
    what = REMOVED_STATE
    if delete_collection:
        what += f", and the collection {repo.collection} with all its documents"
    if not yes:
        if json_out:
            raise fail(f"removing {name} needs confirmation", "add --yes to confirm")
        if not typer.confirm(f"Remove {name} ({what})?", default=False):
            raise fail("cancelled; nothing was removed", code=1)
    removal = remove_repository(
        settings, registry, name, delete_collection=delete_collection, instance=_instance(settings)
    )
    if json_out:
        print_json(
            {
                "repo": name,
                "removed": True,
                "collection": removal.collection,
                "collection_deleted": removal.collection_deleted,
                "removed_paths": removal.removed_paths,
            }
        )
        return
    console.print(f"Removed {name} ({what}).")
    if not delete_collection:
        console.print(f"The collection {repo.collection} and its documents were kept in Weaviate.")
    console.print(
        f"Backups of {repo.collection} are kept: `elysiactl col catalog list --collection "
        f"{repo.collection}`."
    )


@app.command("diagnose")
@handle_errors
def diagnose(name: str = typer.Argument(...), json_out: bool = JSON_OPTION) -> None:
    """Check remote, auth, Weaviate, disk, change sets and errors; recommend fixes."""
    from elysia_pipelines.operations.diagnose import diagnose_repository

    settings, registry = _load()
    result = diagnose_repository(settings, registry, name)
    if json_out:
        print_json(result.to_dict())
    else:
        console.print(Text(f"Diagnosis of {name}", style="bold"))
        console.print(repo_render.diagnosis_table(result))
    if not result.ok:
        raise typer.Exit(1)
