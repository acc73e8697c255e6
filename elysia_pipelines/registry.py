"""The registry of repositories users added, their sync state and their sync history.

It is the single source of truth that the CLI writes and the Dagster sensors read: a
partition exists because a row exists here. SQLite in WAL mode lets the webserver,
the daemon, runs and the CLI read while one of them writes; every write is one short
transaction, and the schema carries a version (PRAGMA user_version) so a newer
release migrates an older file in place instead of asking users to start over.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from elysia_pipelines.clock import utc_now
from elysia_pipelines.documents import collection_name_for, is_valid_repo_name
from elysia_pipelines.errors import ElysiaError, ErrorKind, NotFoundError

SCHEMA_VERSION = 4

# Each entry migrates from version N-1 to N. Never edit a released step; append one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE repositories (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            collection TEXT NOT NULL UNIQUE,
            branch TEXT,
            schedule TEXT NOT NULL DEFAULT '30m',
            include_patterns TEXT NOT NULL DEFAULT '[]',
            exclude_patterns TEXT NOT NULL DEFAULT '[]',
            max_file_size INTEGER NOT NULL,
            vectorizer TEXT NOT NULL DEFAULT 'none',
            model TEXT,
            replicas INTEGER NOT NULL DEFAULT 1,
            token_env TEXT,
            paused INTEGER NOT NULL DEFAULT 0,
            last_synced_commit TEXT,
            last_sync_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE sync_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo TEXT NOT NULL,
            stage TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            from_commit TEXT,
            to_commit TEXT,
            seq INTEGER,
            counts TEXT NOT NULL DEFAULT '{}',
            skipped TEXT NOT NULL DEFAULT '{}',
            failed INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            run_id TEXT
        )""",
        "CREATE INDEX sync_history_repo_time ON sync_history (repo, started_at)",
        """CREATE TABLE sequences (
            collection TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL
        )""",
    ),
    (
        # v2: when a sync last failed, so `status` and the retry sensor need no history scan.
        "ALTER TABLE repositories ADD COLUMN last_error TEXT",
        "ALTER TABLE repositories ADD COLUMN last_error_at TEXT",
    ),
    (
        # v3: the include/exclude/size rules of the last sync, so a changed rule set makes
        # the next extraction re-evaluate every file (newly excluded files get deleted).
        "ALTER TABLE repositories ADD COLUMN last_synced_filter TEXT",
    ),
    (
        # v4: the kind and reason the raiser gave the last failure (errors.ElysiaError),
        # so retries, alerts and `diagnose` need not guess them from the message text.
        "ALTER TABLE repositories ADD COLUMN last_error_kind TEXT",
        "ALTER TABLE repositories ADD COLUMN last_error_reason TEXT",
        # A run's outcome is recorded once, whoever reports it (bookkeeping.record_failure).
        "CREATE INDEX sync_history_run ON sync_history (run_id)",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Repository:
    """One repository the user added; `name` is also its Dagster partition key."""

    name: str
    url: str
    collection: str
    max_file_size: int
    branch: str | None = None
    schedule: str = "30m"
    include_patterns: tuple[str, ...] = ()
    exclude_patterns: tuple[str, ...] = ()
    vectorizer: str = "none"
    model: str | None = None
    replicas: int = 1
    token_env: str | None = None
    paused: bool = False
    last_synced_commit: str | None = None
    last_sync_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_synced_filter: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utc_now)
    updated_at: datetime = field(default_factory=utc_now)
    last_error_kind: ErrorKind | None = None
    last_error_reason: str | None = None

    @property
    def failing(self) -> bool:
        """The last sync failed: the one definition the CLI, status and the planner share."""
        if not self.last_error:
            return False
        return self.last_sync_at is None or (
            self.last_error_at is not None and self.last_error_at >= self.last_sync_at
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_sync_at", "last_error_at", "created_at", "updated_at"):
            data[key] = _iso(data[key])
        data["include_patterns"] = list(self.include_patterns)
        data["exclude_patterns"] = list(self.exclude_patterns)
        return data


class Stage(StrEnum):
    """Which part of a sync a history row describes."""

    EXTRACT = "extract"
    INGEST = "ingest"
    CHECK = "check"
    RUN = "run"


class Status(StrEnum):
    """How a stage ended."""

    SUCCESS = "success"
    NOOP = "noop"
    PARTIAL = "partial"  # applied, with some records dead-lettered
    FAILED = "failed"


# What the success rate counts as a successful sync.
SUCCEEDED = frozenset({Status.SUCCESS, Status.NOOP})


@dataclass(frozen=True)
class SyncRecord:
    """One row of sync history: a stage (extract, ingest, backup) of one sync of one repo."""

    repo: str
    stage: str  # a Stage (rows are read back as the stored text)
    status: str  # a Status
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    from_commit: str | None = None
    to_commit: str | None = None
    seq: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    error: str | None = None
    run_id: str | None = None
    id: int | None = None


_REPO_COLUMNS = tuple(f.name for f in fields(Repository))
_UPDATABLE = frozenset(_REPO_COLUMNS) - {"name", "created_at", "updated_at"}


class Registry:
    """Thread-safe access to `registry.sqlite`; cheap to construct, one connection per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    # --- connection handling -------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.DatabaseError as exc:
                raise ElysiaError(
                    f"cannot open the registry {self.path}: {exc}",
                    "check that ELYSIA_HOME points at an elysia home and the file is not damaged",
                ) from None
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers queue on the lock instead of failing mid-way."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        with self._write() as conn:
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise ElysiaError(
                    f"{self.path} is not a registry database ({exc})",
                    "move the file away or set ELYSIA_HOME to another directory",
                ) from None
            if version > SCHEMA_VERSION:
                raise ElysiaError(
                    f"the registry {self.path} was written by a newer elysia_pipelines "
                    f"(schema {version}, this release knows {SCHEMA_VERSION})",
                    "upgrade elysia_pipelines; the file was left untouched",
                )
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @property
    def schema_version(self) -> int:
        return int(self._connect().execute("PRAGMA user_version").fetchone()[0])

    # --- repositories ---------------------------------------------------------
    @staticmethod
    def _row_to_repo(row: sqlite3.Row) -> Repository:
        data = dict(row)
        return Repository(
            name=data["name"],
            url=data["url"],
            collection=data["collection"],
            max_file_size=int(data["max_file_size"]),
            branch=data["branch"],
            schedule=data["schedule"],
            include_patterns=tuple(json.loads(data["include_patterns"])),
            exclude_patterns=tuple(json.loads(data["exclude_patterns"])),
            vectorizer=data["vectorizer"],
            model=data["model"],
            replicas=int(data["replicas"]),
            token_env=data["token_env"],
            paused=bool(data["paused"]),
            last_synced_commit=data["last_synced_commit"],
            last_sync_at=_dt(data["last_sync_at"]),
            last_error=data.get("last_error"),
            last_error_at=_dt(data.get("last_error_at")),
            last_synced_filter=(
                json.loads(data["last_synced_filter"]) if data.get("last_synced_filter") else None
            ),
            created_at=_dt(data["created_at"]) or utc_now(),
            updated_at=_dt(data["updated_at"]) or utc_now(),
            last_error_kind=(
                ErrorKind(data["last_error_kind"]) if data.get("last_error_kind") else None
            ),
            last_error_reason=data.get("last_error_reason"),
        )

    @staticmethod
    def _to_row(repo: Repository) -> dict[str, Any]:
        row = asdict(repo)
        row["include_patterns"] = json.dumps(list(repo.include_patterns))
        row["exclude_patterns"] = json.dumps(list(repo.exclude_patterns))
        row["paused"] = int(repo.paused)
        row["last_synced_filter"] = (
            json.dumps(repo.last_synced_filter) if repo.last_synced_filter is not None else None
        )
        for key in ("last_sync_at", "last_error_at", "created_at", "updated_at"):
            row[key] = _iso(row[key])
        return row

    def add(self, repo: Repository) -> Repository:
        if not is_valid_repo_name(repo.name):
            raise ElysiaError(
                f"{repo.name!r} is not a valid repository name",
                "use letters, digits, '.', '_' or '-' (at most 100), e.g. --name my-repo",
            )
        row = self._to_row(repo)
        with self._write() as conn:
            existing = conn.execute(
                "SELECT name, collection FROM repositories WHERE name = ? OR collection = ?",
                (repo.name, repo.collection),
            ).fetchone()
            if existing is not None:
                what = (
                    f"repository {repo.name!r} is already registered"
                    if existing["name"] == repo.name
                    else f"collection {repo.collection!r} is already used by {existing['name']!r}"
                )
                raise ElysiaError(
                    what,
                    "pick another name with --name/--collection, or change the existing one "
                    f"with `elysiactl repo update {existing['name']}`",
                )
            columns = ", ".join(_REPO_COLUMNS)
            placeholders = ", ".join(f":{c}" for c in _REPO_COLUMNS)
            conn.execute(f"INSERT INTO repositories ({columns}) VALUES ({placeholders})", row)
        return repo

    def get(self, name: str) -> Repository:
        row = (
            self._connect().execute("SELECT * FROM repositories WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            known = self.names()
            hint = (
                f"known repositories: {', '.join(known[:10])}" + (" ..." if len(known) > 10 else "")
                if known
                else "no repository is registered yet: add one with `elysiactl repo add URL`"
            )
            raise NotFoundError(f"unknown repository {name!r}", hint)
        return self._row_to_repo(row)

    def find(self, name: str) -> Repository | None:
        try:
            return self.get(name)
        except NotFoundError:
            return None

    def by_collection(self, collection: str) -> Repository | None:
        row = (
            self._connect()
            .execute("SELECT * FROM repositories WHERE collection = ?", (collection,))
            .fetchone()
        )
        return self._row_to_repo(row) if row else None

    def list(self) -> list[Repository]:
        rows = self._connect().execute("SELECT * FROM repositories ORDER BY name").fetchall()
        return [self._row_to_repo(r) for r in rows]

    def names(self) -> list[str]:
        rows = self._connect().execute("SELECT name FROM repositories ORDER BY name").fetchall()
        return [r["name"] for r in rows]

    def update(self, name: str, **changes: Any) -> Repository:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        current = self.get(name)
        updated = replace(current, **changes, updated_at=utc_now())
        row = self._to_row(updated)
        assignments = ", ".join(f"{c} = :{c}" for c in [*changes, "updated_at"])
        with self._write() as conn:
            conn.execute(f"UPDATE repositories SET {assignments} WHERE name = :name", row)
        return updated

    def set_paused(self, name: str, paused: bool) -> Repository:
        return self.update(name, paused=paused)

    def mark_synced(
        self,
        name: str,
        commit: str,
        at: datetime | None = None,
        *,
        file_filter: dict[str, Any] | None = None,
    ) -> Repository:
        changes: dict[str, Any] = {
            "last_synced_commit": commit,
            "last_sync_at": at or utc_now(),
            "last_error": None,
            "last_error_kind": None,
            "last_error_reason": None,
        }
        if file_filter is not None:
            changes["last_synced_filter"] = file_filter
        return self.update(name, **changes)

    def mark_failed(
        self,
        name: str,
        error: str,
        at: datetime | None = None,
        *,
        kind: ErrorKind | None = None,
        reason: str | None = None,
    ) -> Repository:
        return self.update(
            name,
            last_error=error[:4000],
            last_error_at=at or utc_now(),
            last_error_kind=kind,
            last_error_reason=reason,
        )

    def clear_failure(self, name: str) -> Repository:
        return self.update(name, last_error=None, last_error_kind=None, last_error_reason=None)

    def remove(self, name: str) -> Repository:
        repo = self.get(name)
        with self._write() as conn:
            conn.execute("DELETE FROM repositories WHERE name = ?", (name,))
        return repo

    # --- change-set sequence numbers ---------------------------------------------
    def allocate_sequence(self, collection: str, at_least: int = 0) -> int:
        """Next change-set number of a collection; never reused, even after files are cleaned."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT last_seq FROM sequences WHERE collection = ?", (collection,)
            ).fetchone()
            seq = max((row["last_seq"] if row else 0) + 1, at_least)
            conn.execute(
                "INSERT INTO sequences (collection, last_seq) VALUES (?, ?) "
                "ON CONFLICT(collection) DO UPDATE SET last_seq = excluded.last_seq",
                (collection, seq),
            )
        return seq

    # --- sync history -------------------------------------------------------------
    def record_sync(self, record: SyncRecord) -> int:
        finished = record.finished_at or utc_now()
        duration = (
            record.duration_s
            if record.duration_s is not None
            else (finished - record.started_at).total_seconds()
        )
        with self._write() as conn:
            cursor = conn.execute(
                """INSERT INTO sync_history (repo, stage, status, started_at, finished_at,
                   duration_s, from_commit, to_commit, seq, counts, skipped, failed, error, run_id)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    record.repo,
                    record.stage,
                    record.status,
                    _iso(record.started_at),
                    _iso(finished),
                    duration,
                    record.from_commit,
                    record.to_commit,
                    record.seq,
                    json.dumps(record.counts),
                    json.dumps(record.skipped),
                    record.failed,
                    record.error,
                    record.run_id,
                ),
            )
        return int(cursor.lastrowid or 0)

    def has_record(self, run_id: str, *, stage: str, status: str) -> bool:
        row = (
            self._connect()
            .execute(
                "SELECT 1 FROM sync_history WHERE run_id = ? AND stage = ? AND status = ? LIMIT 1",
                (run_id, stage, status),
            )
            .fetchone()
        )
        return row is not None

    def history(
        self, repo: str | None = None, *, stage: str | None = None, limit: int = 50
    ) -> list[SyncRecord]:
        clauses, params = [], []
        if repo is not None:
            clauses.append("repo = ?")
            params.append(repo)
        if stage is not None:
            clauses.append("stage = ?")
            params.append(stage)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = (
            self._connect()
            .execute(
                f"SELECT * FROM sync_history {where} ORDER BY started_at DESC, id DESC LIMIT ?",
                (*params, limit),
            )
            .fetchall()
        )
        return [
            SyncRecord(
                id=r["id"],
                repo=r["repo"],
                stage=r["stage"],
                status=r["status"],
                started_at=_dt(r["started_at"]) or utc_now(),
                finished_at=_dt(r["finished_at"]),
                duration_s=r["duration_s"],
                from_commit=r["from_commit"],
                to_commit=r["to_commit"],
                seq=r["seq"],
                counts=json.loads(r["counts"]),
                skipped=json.loads(r["skipped"]),
                failed=r["failed"],
                error=r["error"],
                run_id=r["run_id"],
            )
            for r in rows
        ]

    def success_rate(self, repo: str, *, last: int = 20) -> float | None:
        """Share of successful (or no-op) syncs among the last `last` recorded ones."""
        records = self.history(repo, limit=last)
        if not records:
            return None
        ok = sum(1 for r in records if r.status in SUCCEEDED)
        return ok / len(records)


def new_repository(
    name: str,
    url: str,
    *,
    max_file_size: int,
    collection: str | None = None,
    **options: Any,
) -> Repository:
    """Build a Repository with the derived collection name the rest of the system expects."""
    return Repository(
        name=name,
        url=url,
        collection=collection or collection_name_for(name),
        max_file_size=max_file_size,
        **{k: (tuple(v) if k.endswith("_patterns") else v) for k, v in options.items()},
    )
