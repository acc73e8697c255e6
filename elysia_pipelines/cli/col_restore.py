"""`elysiactl col restore`: put a backup back into Weaviate (this or another cluster).

The command only parses options and prints the report; `backups.commands` runs the
restore (in the warm worker when one serves) and every decision lives in
`elysia_pipelines.backups.restore`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from elysia_pipelines.backups.restore_state import STRATEGIES
from elysia_pipelines.cli.output import console, err_console, handle_errors, print_json
from elysia_pipelines.settings import Settings

if TYPE_CHECKING:
    from elysia_pipelines.backups.restore_report import RestoreReport


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    """`--objects a,b --objects c` -> ("a", "b", "c")."""
    if not values:
        return None
    items = [item.strip() for value in values for item in value.split(",")]
    return tuple(item for item in items if item)


def _print_report(report: RestoreReport, workers: int) -> None:
    verb = "Dry run of restoring" if report.dry_run else "Restored"
    console.print(
        f"{verb} backup [bold]{report.backup_id}[/] into [bold]{report.target_collection}[/] "
        f"(strategy {report.strategy}{', incremental' if report.incremental else ''}, "
        f"{workers} worker{'s' if workers != 1 else ''}) in {report.elapsed_s:.1f} s "
        f"({report.objects_per_s:.0f} objects/s)"
    )
    would = "would be " if report.dry_run else ""
    console.print(
        f"  {report.total} objects: {report.created} {would}created, {report.updated} "
        f"{would}updated, {report.skipped} skipped, {report.unchanged} unchanged, "
        f"{report.failed} {'would fail' if report.dry_run else 'failed'}"
    )
    if report.batches_already_done or report.dead_letters_retried:
        console.print(
            f"  resumed: {report.batches_already_done} batches already done, "
            f"{report.dead_letters_retried} dead letters retried"
        )
    for prop in report.properties:
        if prop["action"] == "convert":
            console.print(
                f"  convert {prop['source']} ({prop['source_type']}) -> "
                f"{prop['target']} ({prop['target_type']})"
            )
        elif prop["action"] == "add":
            console.print(f"  add property {prop['target']} ({prop['target_type']})")
    for old, new in report.renamed_properties.items():
        console.print(f"  rename {old} -> {new}")
    for note in report.notes:
        console.print(f"  {note}")
    if report.dry_run:
        console.print("  nothing was written (dry run)")


def restore_command(
    backup: str = typer.Argument(..., metavar="BACKUP_ID|PATH", help="Backup id or directory."),
    target_collection: str | None = typer.Option(
        None, "--target-collection", help="Restore into this collection (default: the backup's)."
    ),
    target_url: str | None = typer.Option(
        None, "--target-url", help="REST URL of another Weaviate cluster to restore into."
    ),
    target_grpc_url: str | None = typer.Option(
        None, "--target-grpc-url", help="gRPC host:port of the target cluster."
    ),
    target_api_key_env: str | None = typer.Option(
        None, "--target-api-key-env", help="NAME of the variable holding the target's API key."
    ),
    strategy: str = typer.Option(
        "overwrite", "--strategy", help=f"For existing objects: {', '.join(STRATEGIES)}."
    ),
    objects: list[str] | None = typer.Option(
        None, "--objects", help="Only these object ids (comma-separated, repeatable)."
    ),
    properties: list[str] | None = typer.Option(
        None, "--properties", help="Only these properties (comma-separated, repeatable)."
    ),
    incremental: bool = typer.Option(
        False, "--incremental", help="Write only objects that differ from the target."
    ),
    mapping: list[str] | None = typer.Option(
        None, "--map", help="Rename a property: old=new (repeatable)."
    ),
    workers: int = typer.Option(4, "--workers", min=1, max=64, help="Parallel writers."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; write nothing."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted restore and retry its dead letters."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Restore a backup into Weaviate (same or another collection, same or another cluster)."""
    # pyarrow and the restore machinery load in the warm worker (or, without one, in
    # `commands.restore_here`), not when `elysiactl` starts.
    from elysia_pipelines.backups import commands
    from elysia_pipelines.backups.restore_migration import parse_property_map

    settings = Settings.from_env().ensure_dirs()  # checkpoints and dead letters go there
    options: dict[str, Any] = {
        "target_collection": target_collection,
        "strategy": strategy,  # validated by RestoreOptions
        "object_ids": _split(objects),
        "properties": _split(properties),
        "incremental": incremental,
        "property_map": parse_property_map(mapping or []),
        "workers": workers,
        "dry_run": dry_run,
        "resume": resume,
        "collect_ids": as_json and dry_run,
    }
    where = {
        "target_url": target_url,
        "target_grpc_url": target_grpc_url,
        "target_api_key_env": target_api_key_env,
    }
    if as_json or not console.is_terminal:
        report = commands.restore(settings, backup, options, **where)
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns: Any = (
            TextColumn("restoring"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("restore", total=None)

            def advance(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            report = commands.restore(settings, backup, options, **where, progress=advance)

    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report, workers)
    if report.failed and not report.dry_run:
        err_console.print(
            f"[bold red]error:[/] {report.failed} object(s) were not restored "
            f"(dead letters: {report.dead_letter_path})"
        )
        err_console.print(
            "[yellow]hint:[/] fix the cause (see each entry's reason), then run the same "
            "command with --resume"
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `restore` to the `col` command group."""
    app.command("restore")(handle_errors(restore_command))
