"""A real, throw-away PostgreSQL server for tests (Debian's `postgresql` binaries).

`running_postgres()` initdb's a cluster in a fresh temporary directory, starts `postgres`
on a free TCP port of 127.0.0.1 (its unix socket stays in that directory, so nothing of
the machine's own PostgreSQL is touched), creates the database and removes everything
afterwards. PostgreSQL refuses to run as root, so as root (CI) the cluster belongs to
the `postgres` user, or `nobody` when there is none; otherwise it runs as the caller.
Missing binaries raise `PostgresUnavailable` with the reason, for the test to skip on
(`./dev.sh test` installs the package when it may).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from elysia_pipelines_tests.support import free_port

_BINARIES = ("initdb", "postgres")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or no user to run them as."""


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    db_name: str
    data_dir: Path

    def env(self) -> dict[str, str]:
        """The variables deploy/dagster.postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }

    def connect(self) -> object:
        """A psycopg2 connection (autocommit), as Dagster's storage connects: over TCP."""
        import psycopg2

        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.db_name,
        )
        conn.autocommit = True
        return conn

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:  # type: ignore[attr-defined]
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()  # type: ignore[attr-defined]


def find_bin_dir() -> Path:
    """The directory holding initdb and postgres: on PATH, else Debian's versioned dirs."""
    on_path = [shutil.which(name) for name in _BINARIES]
    if all(on_path):
        return Path(os.path.realpath(on_path[0] or "")).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all((Path(candidate) / name).is_file() for name in _BINARIES):
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, postgres) not found on PATH or in "
        "/usr/lib/postgresql/*/bin; install Debian's 'postgresql' package "
        "(`./dev.sh test` does as root)"
    )


def _run_as() -> str | None:
    """The user to run the server as: None for the caller, a name when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root and neither a 'postgres' nor 'nobody' user exists")


def _as_user(user: str | None, argv: list[str]) -> list[str]:
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *argv]
    # `nobody` has no login shell: give su one.
    import shlex

    return ["su", "-s", "/bin/sh", user, "-c", shlex.join(argv)]


@contextmanager
def running_postgres(
    *, user: str = "elysia", db_name: str = "dagster", timeout_s: float = 60.0
) -> Iterator[PgServer]:
    """Start a private PostgreSQL server; stop it and delete its files afterwards."""
    bin_dir = find_bin_dir()
    owner = _run_as()
    # Not under pytest's tmp_path: its parents are root-only, the server user must enter.
    root = Path(tempfile.mkdtemp(prefix="elysia-pg-"))
    data_dir, password = root / "data", "elysia-test-pw"
    try:
        pwfile = root / "pwfile"
        pwfile.write_text(password + "\n")
        if owner is not None:
            entry = pwd.getpwnam(owner)
            for path in (root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            _as_user(
                owner,
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
            ),
            check=True,
            capture_output=True,
        )
        port = free_port()
        log = (root / "postgres.log").open("ab")
        proc = subprocess.Popen(
            _as_user(
                owner,
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data_dir),
                    "-p",
                    str(port),
                    "-k",
                    str(root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    # A test cluster: durability is not what is under test.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            server = PgServer("127.0.0.1", port, user, password, "postgres", data_dir)
            _wait_ready(server, proc, root / "postgres.log", timeout_s)
            _create_db(server, db_name)
            yield PgServer("127.0.0.1", port, user, password, db_name, data_dir)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # fast shutdown: disconnect clients
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            log.close()
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"initdb failed: {exc.stderr.decode(errors='replace')[-2000:]}"
        ) from None
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _create_db(server: PgServer, db_name: str) -> None:
    conn = server.connect()
    try:
        with conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f'CREATE DATABASE "{db_name}"')
    finally:
        conn.close()  # type: ignore[attr-defined]


def _wait_ready(
    server: PgServer, proc: subprocess.Popen[bytes], log: Path, timeout_s: float
) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            server.connect().close()  # type: ignore[attr-defined]
            return
        except psycopg2.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"postgres did not start:\n{tail}") from None
            time.sleep(0.2)
