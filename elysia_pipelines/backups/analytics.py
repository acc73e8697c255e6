"""DuckDB over the backups: SQL on every collection without touching Weaviate.

`connect_analytics` opens an in-memory DuckDB with one view per collection (its latest
complete or verified Parquet backup, hive partitions included), `all_documents`
(every such view with a `collection` column, unioned by column name so collections
with different properties still combine) and `catalog` (the backup catalog's rows).

The catalog view reads catalog.sqlite through DuckDB's sqlite extension when it is
already installed locally; otherwise (offline machines cannot `INSTALL sqlite`) the
rows are registered as an Arrow table snapshot. Extensions are never downloaded
unless ELYSIA_DUCKDB_INSTALL_EXTENSIONS=1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from elysia_pipelines.backups import storage
from elysia_pipelines.backups.catalog import LIVE_STATUSES, open_catalog
from elysia_pipelines.backups.example_queries import EXAMPLE_QUERIES
from elysia_pipelines.backups.example_queries import example_query as example_query
from elysia_pipelines.backups.storage import is_remote
from elysia_pipelines.backups.verify import check_before_query
from elysia_pipelines.errors import ElysiaError
from elysia_pipelines.settings import Settings

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionView:
    collection: str
    view: str
    backup_id: str
    path: str


@dataclass(frozen=True)
class SkippedBackup:
    """A backup a query passed over because `verify` would reject it."""

    collection: str
    backup_id: str
    problems: tuple[str, ...]
    instead: str | None  # the older backup read in its place, if any

    def __str__(self) -> str:
        first = self.problems[0] if self.problems else "it failed verification"
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        fallback = (
            f"reading the older backup {self.instead} instead"
            if self.instead
            else f"no view {self.collection!r} (no other intact Parquet backup)"
        )
        return (
            f"skipped backup {self.backup_id} of {self.collection}: {first}{more}; {fallback}; "
            f"see `elysiactl col catalog verify {self.backup_id}`"
        )


OnSkip = Callable[[SkippedBackup], None]


def _log_skip(skipped: SkippedBackup) -> None:
    _log.warning("%s", skipped)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _catalog_view(conn: duckdb.DuckDBPyConnection, settings: Settings, rows: list[dict]) -> str:
    """Create the `catalog` view; return how ("sqlite" or "snapshot")."""
    loaded = False
    try:
        conn.execute("LOAD sqlite")
        loaded = True
    except duckdb.Error:
        if os.environ.get("ELYSIA_DUCKDB_INSTALL_EXTENSIONS") == "1":
            try:
                conn.execute("INSTALL sqlite")
                conn.execute("LOAD sqlite")
                loaded = True
            except duckdb.Error:
                loaded = False
    if loaded and settings.catalog_path.exists():
        try:
            conn.execute(
                f"ATTACH {_quote_str(str(settings.catalog_path))} AS elysia_catalog "
                "(TYPE sqlite, READ_ONLY)"
            )
            conn.execute("CREATE VIEW catalog AS SELECT * FROM elysia_catalog.backups")
            return "sqlite"
        except duckdb.Error:
            pass
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("collection", pa.string()),
            ("format", pa.string()),
            ("compression", pa.string()),
            ("level", pa.int64()),
            ("path", pa.string()),
            ("size_bytes", pa.int64()),
            ("object_count", pa.int64()),
            ("created_at", pa.string()),
            ("source", pa.string()),
            ("checksum", pa.string()),
            ("status", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("verified_at", pa.string()),
            ("partition_by", pa.string()),
            ("filter", pa.string()),
            ("include_vectors", pa.bool_()),
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    conn.register("_elysia_catalog_rows", table)
    conn.execute("CREATE VIEW catalog AS SELECT * FROM _elysia_catalog_rows")
    return "snapshot"


def latest_parquet_backups(
    settings: Settings, *, check: bool = False, on_skip: OnSkip | None = None
) -> tuple[list[CollectionView], list[dict]]:
    """The newest live Parquet backup of each collection, and every catalog row.

    With `check`, each backup is first checked as `verify` would check it
    (`check_before_query`); one that fails is reported to `on_skip` (default: a logged
    warning), marked corrupt in the catalog, and the next older one is tried, so a query
    never reads a backup `verify` rejects.
    """
    views: list[CollectionView] = []
    report = on_skip or _log_skip
    with open_catalog(settings) as catalog:
        for name in catalog.collections():
            rejected: list[tuple[str, tuple[str, ...]]] = []
            chosen: str | None = None
            for entry in catalog.list(collection=name, format="parquet", statuses=LIVE_STATUSES):
                if not (is_remote(entry.path) or (Path(entry.path) / "data").is_dir()):
                    continue
                problems = check_before_query(entry, settings, catalog) if check else []
                if problems:
                    rejected.append((entry.id, tuple(p.message for p in problems)))
                    continue
                views.append(CollectionView(name, name, entry.id, entry.path))
                chosen = entry.id
                break
            for backup_id, messages in rejected:
                report(SkippedBackup(name, backup_id, messages, chosen))
        rows = catalog.all_rows()  # after the checks, so `catalog` shows their outcome
    return views, rows


def connect_analytics(
    settings: Settings, *, on_skip: OnSkip | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the collection views, `all_documents` and `catalog`.

    Every backup behind a view is checked first; see `latest_parquet_backups`.
    """
    conn = duckdb.connect(":memory:")
    try:
        conn.execute("SET autoinstall_known_extensions = false")
        conn.execute("SET TimeZone = 'UTC'")
        views, rows = latest_parquet_backups(settings, check=True, on_skip=on_skip)
        selects = []
        for index, view in enumerate(views):
            if is_remote(view.path):
                # Object storage: DuckDB scans a pyarrow dataset over pyarrow's filesystem
                # (projection and filters pushed down), so no httpfs extension is needed.
                dataset_name = f"_elysia_remote_{index}"
                conn.register(
                    dataset_name,
                    storage.parquet_dataset(storage.open_location(view.path, settings)),
                )
                conn.execute(
                    f"CREATE VIEW {_quote_ident(view.view)} AS SELECT * FROM {dataset_name}"
                )
            else:
                glob = _quote_str(str(Path(view.path) / "data" / "**" / "*.parquet"))
                conn.execute(
                    f"CREATE VIEW {_quote_ident(view.view)} AS SELECT * FROM "
                    f"read_parquet({glob}, hive_partitioning = true, union_by_name = true)"
                )
            selects.append(
                f"SELECT {_quote_str(view.collection)} AS collection, * "
                f"FROM {_quote_ident(view.view)}"
            )
        if selects:
            conn.execute("CREATE VIEW all_documents AS " + " UNION ALL BY NAME ".join(selects))
        else:
            conn.execute(
                "CREATE VIEW all_documents AS SELECT NULL::VARCHAR AS collection WHERE false"
            )
        _catalog_view(conn, settings, rows)
    except duckdb.Error as exc:
        conn.close()
        raise ElysiaError(
            f"cannot open the backups for analytics: {exc}",
            "run `elysiactl col catalog verify <id>` on the latest Parquet backups",
        ) from None
    return conn


@contextmanager
def analytics_connection(
    settings: Settings, *, on_skip: OnSkip | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = connect_analytics(settings, on_skip=on_skip)
    try:
        yield conn
    finally:
        conn.close()


def view_names(settings: Settings) -> list[str]:
    views, _ = latest_parquet_backups(settings)
    return [v.view for v in views]


def run_query(settings: Settings, sql: str, *, on_skip: OnSkip | None = None) -> pa.Table:
    """Run one SQL statement over the backups; errors become ElysiaError with the views.

    Backups that fail the pre-query check are skipped and reported to `on_skip`.
    """
    if not sql or not sql.strip():
        raise ElysiaError("the query is empty", "pass SQL, or --example NAME")
    with analytics_connection(settings, on_skip=on_skip) as conn:
        try:
            relation = conn.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            views = ", ".join(view_names(settings)) or "(no Parquet backups yet)"
            raise ElysiaError(
                f"query failed: {str(exc).splitlines()[0]}",
                f"views: all_documents, catalog, {views}; examples: {', '.join(EXAMPLE_QUERIES)}",
            ) from None
