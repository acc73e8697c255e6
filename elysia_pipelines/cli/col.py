"""`elysiactl col`: back up, list, catalog, verify, clean up and query collections.

Commands only parse options, call the domain functions in `elysia_pipelines.backups`
and print; `--json` prints one JSON document and nothing else. `restore` lives in
`col_restore.py` and is registered at the end of this module.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from elysia_pipelines.backups.catalog import CatalogEntry, open_catalog
from elysia_pipelines.backups.durations import parse_duration, parse_since
from elysia_pipelines.backups.example_queries import EXAMPLE_QUERIES, example_query
from elysia_pipelines.backups.layout import FORMATS, PARTITION_KEYS, read_manifest
from elysia_pipelines.backups.retention import cleanup
from elysia_pipelines.cli import col_restore
from elysia_pipelines.cli.output import console, err_console, handle_errors, print_json, warn
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings, format_size

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
catalog_app = typer.Typer(
    no_args_is_help=True,
    help="List, show, search, verify and clean up backups in the catalog.",
)
app.add_typer(catalog_app, name="catalog")

FILTER_HELP = (
    "Only objects matching EXPR, e.g. \"language = 'python' and size_bytes > 1000\", "
    "\"synced_at > '2024-01-01'\", \"path like '*.py'\", \"language in ('go','rust')\", "
    '"not (a = 1 or b != 2)". Operators: = != < <= > >= like in, and/or/not, parentheses.'
)


def _settings() -> Settings:
    return Settings.from_env().ensure_dirs()


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> None:
    if value is not None and value not in allowed:
        raise ElysiaError(
            f"{option} {value!r} is not one of: {', '.join(allowed)}",
            f"use {option} {allowed[0]} (or one of the others listed)",
        )


def _when(text: str) -> str:
    """A catalog timestamp shortened for tables."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def _print_table(table: Table) -> None:
    """Tables at their natural width when piped: cut columns help no script or reader."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=250, highlight=False, soft_wrap=False).print(table)


def _entries_table(entries: list[CatalogEntry]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    # Ids and times must stay copy-pasteable: never wrapped, the other columns give way.
    id_width = max((len(e.id) for e in entries), default=2)
    table.add_column("id", no_wrap=True, min_width=id_width)
    table.add_column("collection")
    table.add_column("created (UTC)", no_wrap=True, min_width=16)
    table.add_column("format")
    table.add_column("objects", justify="right")
    table.add_column("size", justify="right")
    table.add_column("status")
    for e in entries:
        fmt = e.format if e.compression == "none" else f"{e.format}+{e.compression}"
        status = e.status + (" " + ",".join(e.tags) if e.tags else "")
        table.add_row(
            e.id,
            e.collection,
            _when(e.created_at),
            fmt,
            f"{e.object_count:,}",
            format_size(e.size_bytes),
            status,
        )
    return table


# ------------------------------------------------------------------ backup


@app.command("backup")
@handle_errors
def backup_command(
    collection: str = typer.Argument(..., help="Collection to back up."),
    format: str = typer.Option("parquet", "--format", help="parquet, json or jsonl."),
    compression: str = typer.Option(
        "auto",
        "--compression",
        help="auto, none, gzip, zstd, lz4 (parquet also snappy). auto: zstd for Parquet; "
        "for JSON none below 1 MiB, else zstd.",
    ),
    level: int | None = typer.Option(None, "--level", help="Compression level."),
    filter_expr: str | None = typer.Option(None, "--filter", metavar="EXPR", help=FILTER_HELP),
    output: str | None = typer.Option(
        None,
        "--output",
        metavar="DIR|URI",
        help="Write under a directory or an s3://, gs://, az://, abfs:// or file:// URI "
        "instead of ELYSIA_BACKUP_URI (default ELYSIA_HOME/backups).",
    ),
    include_vectors: bool = typer.Option(
        True, "--include-vectors/--no-vectors", help="Store the objects' vectors."
    ),
    partition_by: str | None = typer.Option(
        None, "--partition-by", help="Hive-partition the files by language or repo."
    ),
    tags: list[str] | None = typer.Option(None, "--tag", help="Tag the backup (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Back up a collection to Parquet or (compressed) JSON/JSONL and catalog it."""
    from elysia_pipelines.backups import commands
    from elysia_pipelines.backups.backup_spec import BackupOptions

    _choice(format, FORMATS, "--format")
    _choice(partition_by, PARTITION_KEYS, "--partition-by")
    settings = _settings()
    options = BackupOptions(
        format=format,
        compression=compression,
        level=level,
        filter_expr=filter_expr,
        output=output,
        include_vectors=include_vectors,
        partition_by=partition_by,
        tags=tuple(tags or ()),
    )
    if as_json or not console.is_terminal:
        result = commands.backup(settings, collection, options)
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns: Any = (
            TextColumn(f"backing up {collection}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("objects"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("backup", total=None)

            def advance(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = commands.backup(settings, collection, options, progress=advance)
    if as_json:
        print_json(result.to_dict())
        return
    codec = result.compression + (f" level {result.level}" if result.level is not None else "")
    console.print(
        f"Backed up [bold]{result.object_count:,}[/] objects of [bold]{result.collection}[/] "
        f"as {result.format} ({codec}) in {result.duration_s:.1f} s"
    )
    console.print(f"  id:    {result.backup_id}")
    console.print(f"  path:  {result.path}")
    console.print(f"  size:  {format_size(result.size_bytes)} in {len(result.files)} file(s)")
    if result.tenant_count:
        console.print(f"  tenants: {result.tenant_count} (each object keeps its tenant)")
    if result.filter:
        console.print(f"  filter: {result.filter} ({result.scanned_count:,} objects scanned)")


# ------------------------------------------------------------------ list


@app.command("list")
@handle_errors
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Collections in Weaviate with their object counts and latest backup."""
    from elysia_pipelines.weaviate.connection import open_client
    from elysia_pipelines.weaviate.objects import count
    from elysia_pipelines.weaviate.schema import list_collections

    settings = _settings()
    with open_client(settings) as client:
        names = list_collections(client)
        counts = {name: count(client, name) for name in names}
    with open_catalog(settings) as catalog:
        latest = {name: catalog.latest(name) for name in names}
    rows = [
        {
            "collection": name,
            "objects": counts[name],
            "latest_backup": latest[name].id if latest[name] else None,
            "latest_backup_at": latest[name].created_at if latest[name] else None,
        }
        for name in names
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("No collections in Weaviate.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("collection", "objects", "latest backup"):
        table.add_column(column, justify="right" if column == "objects" else "left")
    for row in rows:
        table.add_row(row["collection"], f"{row['objects']:,}", row["latest_backup"] or "-")
    _print_table(table)


# ------------------------------------------------------------------ catalog


@catalog_app.command("list")
@handle_errors
def catalog_list(
    collection: str | None = typer.Option(None, "--collection", help="Only this collection."),
    since: str | None = typer.Option(None, "--since", help="Newer than 7d, 12h or 2024-01-01."),
    format: str | None = typer.Option(None, "--format", help="Only parquet, json or jsonl."),
    include_deleted: bool = typer.Option(
        False, "--all", help="Include backups deleted by retention."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most N rows."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Backups in the catalog, newest first."""
    _choice(format, FORMATS, "--format")
    moment = parse_since(since) if since else None
    with open_catalog(_settings()) as catalog:
        entries = catalog.list(
            collection=collection,
            since=moment,
            format=format,
            include_deleted=include_deleted,
            limit=limit,
        )
    if as_json:
        print_json([e.to_dict() for e in entries])
    elif not entries:
        console.print("No backups match.")
    else:
        _print_table(_entries_table(entries))


@catalog_app.command("show")
@handle_errors
def catalog_show(
    backup_id: str = typer.Argument(..., help="Backup id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Everything about one backup: catalog row, manifest summary and files."""
    from elysia_pipelines.backups.storage import is_remote

    settings = _settings()
    with open_catalog(settings) as catalog:
        entry = catalog.get(backup_id)
    manifest = None
    problem: str | None = None
    if entry.status != "deleted" and (is_remote(entry.path) or Path(entry.path).is_dir()):
        try:
            from elysia_pipelines.backups.reader import open_backup

            manifest = (
                open_backup(entry.path, settings).manifest
                if is_remote(entry.path)
                else read_manifest(Path(entry.path))
            )
        except ElysiaError as exc:
            manifest = None
            problem = exc.message
    if as_json:
        data = entry.to_dict()
        data["manifest"] = manifest.to_dict() if manifest else None
        data["problem"] = problem
        print_json(data)
        return
    console.print(f"[bold]{entry.id}[/]")
    fields = [
        ("collection", entry.collection),
        ("created", entry.created_at),
        ("status", entry.status + (f" (checked {entry.verified_at})" if entry.verified_at else "")),
        (
            "format",
            f"{entry.format}, {entry.compression}"
            + (f" level {entry.level}" if entry.level is not None else ""),
        ),
        ("objects", f"{entry.object_count:,}"),
        ("size", format_size(entry.size_bytes)),
        ("path", entry.path),
        ("source", entry.source or "-"),
        ("vectors", "yes" if entry.include_vectors else "no"),
        ("partition by", entry.partition_by or "-"),
        ("filter", entry.filter or "-"),
        ("tags", ", ".join(entry.tags) or "-"),
        ("manifest sha256", entry.checksum),
    ]
    for label, value in fields:
        console.print(f"  {label + ':':<16} {value}")
    if problem:
        console.print(f"  [bold red]{'problem:':<16}[/] {escape(problem)}")
    if manifest is not None:
        console.print(
            f"  {'schema:':<16} {len(manifest.schema.get('properties', []))} properties, "
            f"vectorizer {manifest.schema.get('vectorizer', '-')}, "
            f"vector dimension {manifest.vector_dimension or '-'}"
        )
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in ("file", "rows", "size", "sha256"):
            table.add_column(column, justify="right" if column in ("rows", "size") else "left")
        for f in manifest.files:
            table.add_row(f.path, f"{f.rows:,}", format_size(f.size_bytes), f.sha256[:16] + "…")
        _print_table(table)


@catalog_app.command("verify")
@handle_errors
def catalog_verify(
    backup: str = typer.Argument(..., metavar="BACKUP_ID|PATH", help="Backup id or directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Re-hash every file, check rows and schema; exit 1 when anything is wrong."""
    from elysia_pipelines.backups.verify import verify_backup  # pyarrow

    report = verify_backup(backup, _settings())
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        console.print(
            f"[green]OK[/] {report.backup_id}: {report.checked_files} file(s), "
            f"{format_size(report.checked_bytes)} match the manifest"
        )
    else:
        console.print(f"[bold red]CORRUPT[/] {report.backup_id}: {len(report.problems)} problem(s)")
        for problem in report.problems:
            console.print(f"  - {escape(f'[{problem.kind}]')} {escape(problem.message)}")
    if not report.ok:
        raise typer.Exit(1)


@catalog_app.command("cleanup")
@handle_errors
def catalog_cleanup(
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Delete backups older than this (default: ELYSIA_BACKUP_RETENTION_DAYS).",
    ),
    keep_last: int | None = typer.Option(
        None, "--keep-last", min=0, help="Always keep the newest N per collection."
    ),
    collection: str | None = typer.Option(None, "--collection", help="Only this collection."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be deleted."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete old backups (never the newest --keep-last of a collection) and stale temp dirs."""
    settings = _settings()
    age = parse_duration(older_than, what="--older-than") if older_than else None
    plan = cleanup(settings, age, keep_last, dry_run=True, collection=collection)
    if not dry_run and (plan.deleted or plan.stale_tmp_dirs) and not yes:
        if as_json:
            raise ElysiaError("cleanup needs --yes together with --json", "add --yes or --dry-run")
        _print_cleanup(plan)
        if not typer.confirm(f"Delete {len(plan.deleted)} backup(s)?", default=False):
            console.print("Nothing deleted.")
            raise typer.Exit(1)
    report = plan if dry_run else cleanup(settings, age, keep_last, collection=collection)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_cleanup(report)


def _print_cleanup(report: Any) -> None:
    verb = "Would delete" if report.dry_run else "Deleted"
    if not report.deleted and not report.stale_tmp_dirs:
        console.print(
            f"Nothing to delete (cutoff {report.cutoff[:19]}, keeping the newest "
            f"{report.keep_last} per collection)."
        )
        return
    console.print(
        f"{verb} {len(report.deleted)} backup(s), {format_size(report.freed_bytes)} "
        f"(older than {report.cutoff[:19]}, newest {report.keep_last} per collection kept)"
    )
    for item in report.deleted:
        console.print(f"  - {item.id}  {_when(item.created_at)}  {format_size(item.size_bytes)}")
    for stale in report.stale_tmp_dirs:
        console.print(f"  - unfinished: {stale}")


@catalog_app.command("search")
@handle_errors
def catalog_search(
    text: str = typer.Argument(..., help="Substring of id, collection, tag or path."),
    collection: str | None = typer.Option(None, "--collection", help="Only this collection."),
    format: str | None = typer.Option(None, "--format", help="Only parquet, json or jsonl."),
    since: str | None = typer.Option(None, "--since", help="Newer than 7d or 2024-01-01."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find backups by a substring of their id, collection, tags or path."""
    _choice(format, FORMATS, "--format")
    with open_catalog(_settings()) as catalog:
        entries = catalog.search(
            text,
            collection=collection,
            format=format,
            since=parse_since(since) if since else None,
        )
    if as_json:
        print_json([e.to_dict() for e in entries])
    elif not entries:
        console.print(f"No backup matches {text!r}.")
    else:
        _print_table(_entries_table(entries))


# ------------------------------------------------------------------ query


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@app.command("query")
@handle_errors
def query_command(
    sql: str | None = typer.Argument(None, help="SQL over the latest Parquet backups."),
    example: str | None = typer.Option(
        None, "--example", help=f"Run a named example: {', '.join(EXAMPLE_QUERIES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print rows as CSV."),
    show_sql: bool = typer.Option(False, "--show-sql", help="Print the example's SQL only."),
) -> None:
    """SQL (DuckDB) over backups: one view per collection, all_documents, catalog."""
    if (sql is None) == (example is None):
        raise ElysiaError(
            "give either SQL or --example NAME",
            f"e.g. elysiactl col query --example {next(iter(EXAMPLE_QUERIES))}",
        )
    if as_json and as_csv:
        raise ElysiaError("--json and --csv exclude each other")
    statement = example_query(example) if example else str(sql)
    if show_sql:
        console.print(statement, markup=False)
        return
    from elysia_pipelines.backups.analytics import run_query  # DuckDB and pyarrow

    table = run_query(
        _settings(),
        statement,
        on_skip=lambda skipped: warn(str(skipped)),
    )
    rows = table.to_pylist()
    if as_json:
        print_json(rows)
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow(
                [
                    "" if v is None else (v.isoformat() if isinstance(v, datetime) else v)
                    for v in row.values()
                ]
            )
        sys.stdout.flush()
    else:
        out = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for name in table.column_names:
            out.add_column(name)
        for row in rows:
            out.add_row(*(_cell(v) for v in row.values()))
        _print_table(out)
        console.print(f"{len(rows)} row(s)")


col_restore.register(app)
