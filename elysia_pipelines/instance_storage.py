"""Dagster's SQLite instance storage with one pooled engine per database file.

Dagster's stock SQLite storage (`DagsterSqliteStorage`, what a `dagster.yaml` without a
`storage:` block means) opens a new SQLAlchemy engine and connection for every read and
write. A 10-file `repo sync` made ~400 of them: ~0.7 CPU-s per run went to building
engines and compiling the same statements again (the statement cache lives on the
engine), and each write's commit waited for an fsync (`synchronous=FULL`), seconds of
wall time on a busy disk.

`PooledSqliteStorage` keeps the same files in the same layout (runs, one event-log shard
per run plus the index shard, schedules), so the webserver, the daemon and stock
Dagster processes read and write them as before; it only keeps one engine per file
(with a small connection pool) and sets `PRAGMA synchronous=NORMAL` on its connections.
The databases are in WAL mode, where NORMAL never corrupts them and loses nothing when a
process dies; only the last commits before an OS crash or power loss may be lost, which
for a run's event log is the same as the run dying a moment earlier.

`orchestration.get_instance` uses it in place of the stock class for the CLI's process
and the runs it executes; a deployment can also name it in `dagster.yaml`:

    storage:
      custom:
        module: elysia_pipelines.instance_storage
        class: PooledSqliteStorage
        config:
          base_dir: /path/to/dagster_home/storage
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    _event_logs_directory,
    _runs_directory,
    _schedule_directory,
)
from dagster._serdes import ConfigurableClassData
from dagster.version import __version__ as dagster_version
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

STOCK_STORAGE = ("dagster._core.storage.sqlite_storage", "DagsterSqliteStorage")
POOLED_STORAGE = (__name__, "PooledSqliteStorage")

# What a set-up database holds besides `alembic_version` (see `_stamped`).
_RUN_TABLES = frozenset({"runs", "instance_info"})
_SCHEDULE_TABLES = frozenset({"jobs", "job_ticks"})
_EVENT_TABLES = frozenset({"event_logs"})

# Event-log shards kept open besides the index: a long-lived process (a webserver
# showing many runs) must not hold a file descriptor for every run it ever read.
MAX_OPEN_SHARDS = 8


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def pooled_engine(conn_string: str) -> Engine:
    """One engine for one SQLite file: a pool of connections with the busy timeout Dagster uses.

    Connections may be checked out by another thread than the one that opened them
    (Dagster's event watcher, sensors on threads): each is used by one thread at a time,
    which is what `check_same_thread=False` allows.
    """
    engine = db.create_engine(
        conn_string,
        poolclass=QueuePool,
        pool_size=2,
        max_overflow=32,  # a webserver serves many requests at once; SQLite connections are cheap
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
    )
    db.event.listen(engine, "connect", _pragmas)
    return engine


class _Engines:
    """Engines by connection string for one storage, at most `limit` (least recently used
    go), dropped without closing in a forked child (its parent still owns the sockets).

    Closed when the process exits, as the stock storage closes each connection after use:
    the last close checkpoints a WAL database, so no `-wal` file with unmerged commits is
    left behind by an `elysiactl` command.
    """

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        _OPEN.add(self)

    def get(self, conn_string: str) -> Engine:
        with self._lock:
            if self._pid != os.getpid():
                for engine in self._engines.values():
                    engine.dispose(close=False)
                self._engines.clear()
                self._pid = os.getpid()
            engine = self._engines.get(conn_string)
            if engine is None:
                engine = self._engines[conn_string] = pooled_engine(conn_string)
            self._engines.move_to_end(conn_string)
            while self._limit is not None and len(self._engines) > self._limit:
                _, oldest = self._engines.popitem(last=False)
                oldest.dispose()
            return engine

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


_OPEN: weakref.WeakSet[_Engines] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for engines in list(_OPEN):
        if engines._pid == os.getpid():
            engines.dispose()


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


class _PooledConnect:
    """`connect()` through one pooled engine for a storage on a single database file.

    Mixed in before the stock SQLite run or schedule storage, whose `__init__`,
    `_conn_string` and `dispose` it builds on.
    """

    _conn_string: str

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(conn_string, inst_data)  # type: ignore[call-arg]
        self._engines = _Engines()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with _transaction(self._engines.get(self._conn_string)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engines.dispose()


class PooledRunStorage(_PooledConnect, SqliteRunStorage):
    pass


class PooledScheduleStorage(_PooledConnect, SqliteScheduleStorage):
    pass


def _stamped(path: str, tables: frozenset[str]) -> bool:
    """Whether a SQLite file is already set up: `tables` exist and alembic stamped it.

    For such a file the stock set-up (`from_local`, `_initdb`) only checks this, but
    reads its ~90 alembic revision scripts to do so: ~0.1 CPU-s per database, three
    or four per command. An unstamped or missing file gets the stock set-up.
    """
    if not os.path.exists(path):
        return False
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "alembic_version" not in names or not tables <= names:
                return False
            return conn.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    except sqlite3.Error:
        return False


def _local(cls: Any, base_dir: str, name: str, tables: frozenset[str]) -> Any:
    """`cls.from_local(base_dir)`, skipping its alembic check when the file is set up."""
    path = os.path.join(os.path.abspath(base_dir), f"{name}.db")
    if _stamped(path, tables):
        return cls(create_db_conn_string(base_dir, name))
    return cls.from_local(base_dir)


class PooledEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines = _Engines(limit=MAX_OPEN_SHARDS + 1)
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # The same steps as the stock method, with the shard's engine kept.
        with self._db_lock:
            if shard not in self._initialized_dbs:
                if _stamped(self.path_for_shard(shard), _EVENT_TABLES):
                    pass  # set up already: the stock check would find nothing to do
                elif shard == INDEX_SHARD_NAME or not self._shard_from_template(shard):
                    self._initdb(self._engines.get(self.conn_string_for_shard(shard)))
                self._initialized_dbs.add(shard)
            with _transaction(self._engines.get(self.conn_string_for_shard(shard))) as conn:
                yield conn

    def _shard_from_template(self, shard: str) -> bool:
        """A new run's shard as a copy of an empty one: True if this call created it.

        Creating a shard the stock way (tables, WAL, alembic reading its ~90 revision
        scripts to check and stamp the head) cost ~0.15 CPU-s per run. The template is
        made that same way once per Dagster version, so a copy is what `_initdb` would
        have produced; an existing shard (or one another process just created) is left
        to the stock check.
        """
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        template = os.path.join(self._base_dir, f".run-shard-{dagster_version}.sqlite")
        if not os.path.exists(template):
            self._make_template(template)
        partial = f"{path}.{os.getpid()}.partial"
        try:
            shutil.copyfile(template, partial)
            os.link(partial, path)  # fails if the shard appeared meanwhile: never overwrite
        except FileExistsError:
            return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        return True

    def _make_template(self, template: str) -> None:
        partial = f"{template}.{os.getpid()}.partial"
        engine = db.create_engine(f"sqlite:///{partial}", poolclass=NullPool)
        try:
            self._initdb(engine)
        finally:
            engine.dispose()  # the last connection's close checkpoints the WAL into the file
        os.replace(partial, template)

    def wipe(self) -> None:
        self._engines.dispose()  # the shard files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._engines.dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """`DagsterSqliteStorage` (same `base_dir`, same files) with pooled engines."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.base_dir = base_dir
        self._run_storage = _local(PooledRunStorage, _runs_directory(base_dir), "runs", _RUN_TABLES)
        self._event_log_storage = PooledEventLogStorage(_event_logs_directory(base_dir))
        self._schedule_storage = _local(
            PooledScheduleStorage, _schedule_directory(base_dir), "schedules", _SCHEDULE_TABLES
        )
        self._inst_data = inst_data
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: dict[str, Any]
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def pooled(
    storage_data: ConfigurableClassData | None, home: str
) -> ConfigurableClassData | None:
    """SQLite storage (stock, or ours as the shipped dagster.yaml names it) as this class with
    `base_dir` spelled out; any other storage (Postgres) unchanged.

    The shipped dagster.yaml says `base_dir: {env: DAGSTER_HOME}`; the CLI knows its home
    without that variable, and the instance's ref (which step or run processes get) must
    not depend on their environment having it.
    """
    if storage_data is None:
        return None
    if (storage_data.module_name, storage_data.class_name) not in (STOCK_STORAGE, POOLED_STORAGE):
        return storage_data
    return ConfigurableClassData(*POOLED_STORAGE, f"base_dir: {json.dumps(home)}\n")
