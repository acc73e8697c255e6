"""The backup catalog: one SQLite row per backup in `ELYSIA_HOME/catalog.sqlite`.

The files on disk are the truth about content; the catalog is what makes "which
backups exist, how big, verified when" answerable in milliseconds without walking the
backup tree. WAL mode lets the Dagster daemon write while a CLI reads. The schema is
versioned with `PRAGMA user_version`; `MIGRATIONS[i]` moves version i to i+1 in place.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from elysia_pipelines.backups.layout import rfc3339
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.settings import Settings

STATUSES = ("complete", "verified", "corrupt", "deleted")
LIVE_STATUSES = ("complete", "verified")

# Each migration is a list of statements (triggers contain semicolons of their own).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the table and the indexes behind list --collection / --since / --format.
    (
        """
        CREATE TABLE backups (
            id              TEXT PRIMARY KEY,
            collection      TEXT NOT NULL,
            format          TEXT NOT NULL,
            compression     TEXT NOT NULL,
            level           INTEGER,
            path            TEXT NOT NULL,
            size_bytes      INTEGER NOT NULL,
            object_count    INTEGER NOT NULL,
            created_at      TEXT NOT NULL,          -- RFC 3339 UTC with Z: sorts as text
            source          TEXT,                   -- redacted URL
            checksum        TEXT NOT NULL,          -- sha256 of manifest.json
            status          TEXT NOT NULL CHECK (status IN
                                ('complete', 'verified', 'corrupt', 'deleted')),
            tags            TEXT NOT NULL DEFAULT '[]',   -- JSON array
            verified_at     TEXT,
            partition_by    TEXT,
            filter          TEXT,
            include_vectors INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX backups_by_collection ON backups (collection, created_at)",
        "CREATE INDEX backups_by_created ON backups (created_at)",
        "CREATE INDEX backups_by_format ON backups (format, created_at)",
        "CREATE INDEX backups_by_status ON backups (status, collection, created_at)",
    ),
    # 2: substring search through an FTS5 trigram index instead of four LIKE scans.
    (
        """
        CREATE VIRTUAL TABLE backups_search USING fts5(
            id, collection, tags, path,
            content='backups', content_rowid='rowid', tokenize='trigram'
        )
        """,
        """
        CREATE TRIGGER backups_search_insert AFTER INSERT ON backups BEGIN
            INSERT INTO backups_search (rowid, id, collection, tags, path)
            VALUES (new.rowid, new.id, new.collection, new.tags, new.path);
        END
        """,
        """
        CREATE TRIGGER backups_search_delete AFTER DELETE ON backups BEGIN
            INSERT INTO backups_search (backups_search, rowid, id, collection, tags, path)
            VALUES ('delete', old.rowid, old.id, old.collection, old.tags, old.path);
        END
        """,
        """
        CREATE TRIGGER backups_search_update AFTER UPDATE OF id, collection, tags, path
        ON backups BEGIN
            INSERT INTO backups_search (backups_search, rowid, id, collection, tags, path)
            VALUES ('delete', old.rowid, old.id, old.collection, old.tags, old.path);
            INSERT INTO backups_search (rowid, id, collection, tags, path)
            VALUES (new.rowid, new.id, new.collection, new.tags, new.path);
        END
        """,
        "INSERT INTO backups_search (backups_search) VALUES ('rebuild')",
    ),
    # 3: tenants of a multi-tenant collection's backup (0: single-tenant).
    ("ALTER TABLE backups ADD COLUMN tenant_count INTEGER NOT NULL DEFAULT 0",),
)
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "id, collection, format, compression, level, path, size_bytes, object_count, created_at, "
    "source, checksum, status, tags, verified_at, partition_by, filter, include_vectors, "
    "tenant_count"
)
_UPDATE_ALL = ", ".join(
    f"{c.strip()} = excluded.{c.strip()}" for c in _COLUMNS.split(",") if c.strip() != "id"
)
# Trigram search needs three characters; shorter text falls back to a LIKE scan.
_TRIGRAM_MIN = 3


@dataclass
class CatalogEntry:
    id: str
    collection: str
    format: str
    compression: str
    path: str
    size_bytes: int
    object_count: int
    created_at: str
    checksum: str
    status: str = "complete"
    source: str | None = None
    tags: list[str] = field(default_factory=list)
    verified_at: str | None = None
    level: int | None = None
    partition_by: str | None = None
    filter: str | None = None
    include_vectors: bool = False
    tenant_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> CatalogEntry:
        """A row selected as `_COLUMNS`, by position (name lookups cost more than the query)."""
        (
            id_,
            collection,
            fmt,
            compression,
            level,
            path,
            size_bytes,
            object_count,
            created_at,
            source,
            checksum,
            status,
            tags,
            verified_at,
            partition_by,
            filter_text,
            include_vectors,
            tenant_count,
        ) = row
        return cls(
            id=id_,
            collection=collection,
            format=fmt,
            compression=compression,
            level=level,
            path=path,
            size_bytes=size_bytes,
            object_count=object_count,
            created_at=created_at,
            source=source,
            checksum=checksum,
            status=status,
            tags=[] if not tags or tags == "[]" else json.loads(tags),
            verified_at=verified_at,
            partition_by=partition_by,
            filter=filter_text,
            include_vectors=bool(include_vectors),
            tenant_count=int(tenant_count or 0),
        )


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise ElysiaError(
            f"cannot open the backup catalog {path}: {exc}",
            "it must be a readable, writable SQLite file; move whatever is there aside",
        ) from None
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        if not os.access(path.parent, os.W_OK) or not os.access(path, os.W_OK):
            # Read-only directory or mount: the file may be fine; moving it aside is wrong.
            raise ElysiaError(
                f"the backup catalog {path} cannot be written: {exc}",
                f"make {path.parent} writable (SQLite keeps its WAL beside the catalog), or "
                "point ELYSIA_HOME to a writable directory; the catalog itself is kept",
            ) from None
        raise ElysiaError(
            f"the backup catalog {path} is not a usable SQLite database: {exc}",
            "move it aside; `elysiactl col catalog` will start a new one",
        ) from None
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ElysiaError(
            f"the backup catalog {path} has schema version {version}; this release knows "
            f"up to {SCHEMA_VERSION}",
            "upgrade elysia_pipelines to the release that wrote it",
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for step in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class Catalog:
    """A connection to catalog.sqlite; use `open_catalog(settings)` as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = _connect(path)
        try:
            _migrate(self._conn, path)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ElysiaError(
                f"the backup catalog {path} is not a usable SQLite database: {exc}",
                "move it aside; `elysiactl col catalog` will start a new one",
            ) from None

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ writes

    def add(self, entry: CatalogEntry) -> None:
        self.add_many([entry])

    def add_many(self, entries: Sequence[CatalogEntry]) -> None:
        rows = [
            (
                e.id,
                e.collection,
                e.format,
                e.compression,
                e.level,
                e.path,
                e.size_bytes,
                e.object_count,
                e.created_at,
                e.source,
                e.checksum,
                e.status,
                json.dumps(list(e.tags)),
                e.verified_at,
                e.partition_by,
                e.filter,
                int(e.include_vectors),
                int(e.tenant_count),
            )
            for e in entries
        ]
        with self._transaction():
            # An upsert, not INSERT OR REPLACE: REPLACE deletes without firing the
            # delete trigger, which would leave the search index stale.
            self._conn.executemany(
                f"INSERT INTO backups ({_COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                f"ON CONFLICT (id) DO UPDATE SET {_UPDATE_ALL}",
                rows,
            )

    def set_status(
        self, backup_id: str, status: str, *, verified_at: datetime | None = None
    ) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._transaction():
            cursor = self._conn.execute(
                "UPDATE backups SET status = ?, verified_at = COALESCE(?, verified_at) "
                "WHERE id = ?",
                (status, rfc3339(verified_at) if verified_at else None, backup_id),
            )
        if cursor.rowcount == 0:
            raise _not_found(backup_id)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ reads

    def find(self, backup_id: str) -> CatalogEntry | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM backups WHERE id = ?", (backup_id,)
        ).fetchone()
        return CatalogEntry.from_row(row) if row else None

    def get(self, backup_id: str) -> CatalogEntry:
        entry = self.find(backup_id)
        if entry is None:
            raise _not_found(backup_id)
        return entry

    def list(
        self,
        *,
        collection: str | None = None,
        since: datetime | None = None,
        format: str | None = None,
        statuses: Sequence[str] | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
    ) -> list[CatalogEntry]:
        """Newest first."""
        where, params = self._filters(collection, since, format, statuses, include_deleted)
        return self._select(where, params, limit)

    def search(
        self,
        text: str,
        *,
        collection: str | None = None,
        since: datetime | None = None,
        format: str | None = None,
        include_deleted: bool = False,
        limit: int | None = 100,
    ) -> list[CatalogEntry]:
        """Case-insensitive substring match over id, collection, tags and path; newest first."""
        where, params = self._filters(collection, since, format, None, include_deleted)
        if len(text) >= _TRIGRAM_MIN:
            where.append("rowid IN (SELECT rowid FROM backups_search WHERE backups_search MATCH ?)")
            params.append('"' + text.replace('"', '""') + '"')
        else:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(id LIKE ? ESCAPE '\\' OR collection LIKE ? ESCAPE '\\' "
                "OR tags LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\')"
            )
            params.extend([pattern] * 4)
        return self._select(where, params, limit)

    def latest(self, collection: str, *, format: str | None = None) -> CatalogEntry | None:
        found = self.list(collection=collection, format=format, statuses=LIVE_STATUSES, limit=1)
        return found[0] if found else None

    def collections(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT DISTINCT collection FROM backups WHERE status != 'deleted' ORDER BY collection"
        ).fetchall()
        return [r[0] for r in rows]

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM backups").fetchone()[0])

    def all_rows(self) -> list[dict[str, Any]]:
        """Every row as plain dicts (for the analytics `catalog` view)."""
        return [e.to_dict() for e in self._select([], [], None)]

    @staticmethod
    def _filters(
        collection: str | None,
        since: datetime | None,
        format: str | None,
        statuses: Sequence[str] | None,
        include_deleted: bool,
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if collection:
            where.append("collection = ?")
            params.append(collection)
        if since is not None:
            where.append("created_at >= ?")
            params.append(rfc3339(since))
        if format:
            where.append("format = ?")
            params.append(format)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        elif not include_deleted:
            where.append("status != 'deleted'")
        return where, params

    def _select(self, where: list[str], params: list[Any], limit: int | None) -> list[CatalogEntry]:
        sql = f"SELECT {_COLUMNS} FROM backups"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, min(limit, 2**63 - 1)]  # SQLite's integers are 64-bit
        return [CatalogEntry.from_row(r) for r in self._conn.execute(sql, params).fetchall()]


def _not_found(backup_id: str) -> NotFoundError:
    return NotFoundError(
        f"no backup {backup_id!r} in the catalog",
        "list backups with `elysiactl col catalog list`; a backup directory that is not in "
        "the catalog is read by `col catalog verify PATH` and `col restore PATH`",
    )


@contextmanager
def open_catalog(settings: Settings) -> Iterator[Catalog]:
    catalog = Catalog(settings.catalog_path)
    try:
        yield catalog
    finally:
        catalog.close()
