"""A warm process per ELYSIA_HOME that runs the CLI's Dagster work without its start-up.

Every sync goes through Dagster so that the UI shows it; but importing Dagster, its
storage layer and our code location costs a fresh `elysiactl` process ~1.2 CPU-s before
any work, most of a 10-file `repo sync` (1.9-2.3 s whole process, ~0.4 s of it the sync).
This is a fork server, as `multiprocessing`'s forkserver, nailgun or Gradle's daemon:
one process that has imported all that once and forks a child per call. The child takes
over the caller's stdin, stdout and stderr (passed over a Unix socket, so a terminal
stays a terminal), its environment and working directory, runs the call, and sends back
its progress reports and its result or exception; Ctrl-C in the caller is forwarded to
the child, which stops as an in-process run stops. Nothing is opened before the fork
(no instance, no connection, no thread), so children share nothing but imported code.

The server is started by the first command that needs it and leaves by itself: after
ELYSIA_WARM_IDLE_S seconds (default 900) without a call, when its socket is removed or
replaced (the ELYSIA_HOME deleted, a newer server), or when the code it imported changed
(its key: interpreter, import path, DAGSTER_* variables and our modules' files, so an
upgrade or an edit is never served by old code). With ELYSIA_WARM=off, or where fork or
Unix sockets are missing, every call runs in the caller's process as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from elysia_pipelines.errors import TransientError

ENABLE_ENV = "ELYSIA_WARM"
IDLE_ENV = "ELYSIA_WARM_IDLE_S"
DEFAULT_IDLE_S = 900.0
# Set in a child: the call runs in a warm worker (what a progress line may say).
CHILD_ENV = "ELYSIA_WARM_CHILD"
# How long a call waits at most for a server that is still importing (its lock is
# held) before running in its own process; one that dies starting releases the lock.
STARTUP_WAIT_S = 15.0
# ... and only when it has been starting for this long (its imports take ~2.5 s).
WAIT_WHEN_STARTING_FOR_S = 1.0
# What a child imports anyway, imported once in the server (the sync path's modules).
PRELOAD = (
    "elysia_pipelines.orchestration",
    "elysia_pipelines.operations.repo_add",
    "elysia_pipelines.definitions",
    "dagster._core.execution.api",
    "dagster._core.storage.sqlite_storage",
    "dagster._cli.api",  # and the daemon's launches (run_launcher.execute_run)
    "elysia_pipelines.run_launcher",
)
# `col backup` and `col restore`'s modules: pyarrow with numpy is ~0.24 of the ~0.36
# CPU-s a fresh Parquet backup or restore spends before its first request. Imported
# only if that leaves the server with its one thread (see _preload_arrow).
PRELOAD_ARROW = (
    "pyarrow",
    "pyarrow.parquet",
    "elysia_pipelines.backups.commands",
    "elysia_pipelines.backups.export",
    "elysia_pipelines.backups.formats",
    "elysia_pipelines.backups.arrow_build",
    "elysia_pipelines.backups.restore",
    "elysia_pipelines.backups.restore_workers",
    "elysia_pipelines.weaviate.rest_session",
)
# Importing pyarrow starts two threads, and a process with threads must not fork (a
# child gets a copy of locks some other thread may hold, and none of the threads):
# numpy's OpenBLAS pool and the background purging thread of the jemalloc that pyarrow
# bundles. Both read these variables when their library loads. The children then have
# no BLAS pool (backups and restores do no linear algebra) and no jemalloc purging
# thread (Arrow's default memory pool here is mimalloc; jemalloc is only linked in).
ARROW_THREADS_OFF = {
    "OPENBLAS_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}
SERVER_ARGV = (sys.executable, "-P", "-c", "from elysia_pipelines.warm_worker import main; main()")
_HEADER = struct.Struct("!I")
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS
_OFF = {"0", "off", "false", "no"}


def enabled() -> bool:
    return (
        os.environ.get(ENABLE_ENV, "on").strip().lower() not in _OFF
        and hasattr(os, "fork")
        and hasattr(socket, "AF_UNIX")
        and hasattr(socket, "send_fds")
    )


def in_child() -> bool:
    return os.environ.get(CHILD_ENV) == "1"


def code_key(package: Path | None = None) -> str:
    """What the server's imported code depends on; another key is another server.

    `package`: the source tree whose files count (ours unless a test gives another).
    """
    digest = hashlib.sha256()
    # Not sys.path: its first entry is the caller's script directory or working
    # directory, which the server (started with -P) leaves out; the rest follows
    # from these.
    # Real paths: the same environment reached through a symlink is the same code.
    where = (os.path.realpath(sys.executable), os.path.realpath(sys.prefix))
    for part in (*where, sys.version, os.environ.get("PYTHONPATH", "")):
        digest.update(part.encode() + b"\0")
    for name in sorted(os.environ):
        if name.startswith("DAGSTER_") and name != "DAGSTER_HOME":
            digest.update(f"{name}={os.environ[name]}\0".encode())
    package = package or Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}\0".encode())
    return digest.hexdigest()[:16]


def server_pids(home: Path) -> list[int]:
    """The pids of the warm workers of `home` that are running (any code key)."""
    pids = []
    for lock in sorted((home / "run").glob("warm-*.lock")):
        if _lock_held(lock):
            with contextlib.suppress(ValueError, OSError):
                pids.append(int(lock.read_text().strip()))
    return pids


def stop(home: Path) -> list[int]:
    """Ask every warm worker of `home` to leave (SIGTERM); the pids signalled.

    Running calls finish first. Removing the socket files has the same effect.
    """
    stopped = []
    for pid in server_pids(home):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    return stopped


def _paths(home: Path, key: str) -> tuple[Path, Path]:
    """(socket, lock) of the server for `home` and `key`.

    The socket lives beside the lock in the home unless that path is too long for a
    Unix socket (a deep ELYSIA_HOME); then in a directory of this user's own under
    the temporary directory, named for the home.
    """
    run = home / "run"
    lock = run / f"warm-{key}.lock"
    sock = run / f"warm-{key}.sock"
    if len(os.fsencode(sock)) <= _MAX_SOCKET_PATH:
        return sock, lock
    import tempfile

    private = Path(tempfile.gettempdir()) / f"elysia-{os.getuid()}"
    digest = hashlib.sha256(os.fsencode(home.resolve())).hexdigest()[:16]
    return private / f"{digest}-{key}.sock", lock


def _usable(sock: Path) -> bool:
    return len(os.fsencode(sock)) <= _MAX_SOCKET_PATH and _private_dir_ok(sock.parent)


def _private_dir_ok(directory: Path) -> bool:
    """Ours and closed to others (a shared temporary directory may hold anyone's)."""
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700, parents=True)
    try:
        info = directory.lstat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            directory.chmod(0o700)
            info = directory.lstat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and info.st_mode & 0o077 == 0 and directory.is_dir()


def socket_path(home: Path) -> Path:
    """Where the server for `home` and the code of this process listens."""
    return _paths(home, code_key())[0]


def ready(home: Path) -> bool:
    """Whether a server for `home` and this code accepts calls now."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(socket_path(home)))
        except OSError:
            return False
    return True


def _lock_held(lock: Path) -> bool:
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


def start(
    home: Path, *, idle_s: float | None = None, key: str | None = None
) -> subprocess.Popen[bytes] | None:
    """Start the server for `home` in the background unless one runs or is starting.

    Called as early as a command knows it will need Dagster, so the server's imports
    run on the other core while the command does its own work (git, discovery).
    `key`: this process's `code_key()`, when the caller has it already.
    """
    if not enabled():
        return None
    key = key or code_key()
    sock, lock = _paths(home, key)
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _usable(sock) or _lock_held(lock) or _refused(lock).exists():
        return None
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "warm-worker.log", "ab") as log:
        env = dict(os.environ)
        if idle_s is not None:
            env[IDLE_ENV] = str(idle_s)
        return subprocess.Popen(
            [*SERVER_ARGV, str(home), key],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the terminal's process group: no Ctrl-C
            close_fds=True,
            cwd=home,
        )


def call(
    home: Path,
    target: str,
    kwargs: dict[str, Any],
    *,
    progress: Callable[..., None] | None = None,
) -> Any:
    """`target(**kwargs)` ("module:function") in a warm child, else in this process.

    Starts the server when there is none (this call then runs here, the next finds
    it warm).
    `progress`, when given, is passed to the function as its `progress` argument, and
    whatever the function calls it with in the child (a line of a sync, the counts of
    a backup) is passed to it here: `progress(*args)`; arguments must pickle. Exceptions are raised here as
    the child raised them (ElysiaError keeps its hint and kind).
    """
    conn = None
    if enabled():
        key = code_key()
        conn = _connect(home, key, start(home, key=key))
    if conn is not None:
        with conn:
            served, value = _call_over(conn, target, kwargs, progress)
        if served:
            return value
    module, function = target.split(":")
    extra = {"progress": progress} if progress is not None else {}
    return getattr(importlib.import_module(module), function)(**kwargs, **extra)


def _connect(home: Path, key: str, spawned: subprocess.Popen[bytes] | None) -> socket.socket | None:
    """A connection to a ready server, or None: then the caller runs the call itself.

    A server that has been starting for a while (started early by the same command, as
    `repo add` does before its git work, or by another command) is waited for, since
    it is closer to ready than this process's own imports would be; one just spawned is
    not, and it serves the next call.
    """
    sock, lock = _paths(home, key)
    if not _usable(sock):
        return None
    deadline = time.monotonic() + STARTUP_WAIT_S
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(sock))
            return conn
        except OSError:
            conn.close()
        if spawned is not None or time.monotonic() > deadline or not _lock_held(lock):
            return None
        try:
            starting_for = time.time() - lock.stat().st_mtime
        except FileNotFoundError:
            return None
        if starting_for < WAIT_WHEN_STARTING_FOR_S:
            return None
        time.sleep(0.02)


def _send(conn: socket.socket, message: object, fds: list[int] | None = None) -> None:
    payload = pickle.dumps(message)
    data = _HEADER.pack(len(payload)) + payload
    if fds:
        socket.send_fds(conn, [data], fds)
    else:
        conn.sendall(data)


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _recv(conn: socket.socket) -> Any:
    header = _recv_exactly(conn, _HEADER.size)
    if header is None:
        return None
    payload = _recv_exactly(conn, _HEADER.unpack(header)[0])
    return None if payload is None else pickle.loads(payload)


def launch(
    home: Path, target: str, kwargs: dict[str, Any], *, idle_s: float | None = None
) -> int | None:
    """Start `target(**kwargs)` in a warm child and return its pid, without waiting.

    For a long-lived caller (the daemon's run launcher): the child's stdin is
    /dev/null and its stdout and stderr are the caller's. None when no server is
    ready; one is started then (with `idle_s`, when given), for the next launch.
    """
    if not enabled():
        return None
    key = code_key()
    conn = _connect(home, key, start(home, idle_s=idle_s, key=key))
    if conn is None:
        return None
    with conn, open(os.devnull, "rb") as devnull:
        try:
            _send(conn, _request(target, kwargs, False), [devnull.fileno(), 1, 2])
            message = _recv(conn)
        except OSError:
            return None
    return message.get("pid") if isinstance(message, dict) else None


def _request(target: str, kwargs: dict[str, Any], progress: bool) -> dict[str, Any]:
    return {
        "target": target,
        "kwargs": kwargs,
        "progress": progress,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "argv": sys.argv,
    }


def _call_over(
    conn: socket.socket,
    target: str,
    kwargs: dict[str, Any],
    progress: Callable[..., None] | None,
) -> tuple[bool, Any]:
    """(served, result); not served when the server went away before forking a child."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # what this process printed comes before what the child prints
    try:
        _send(conn, _request(target, kwargs, progress is not None), [0, 1, 2])
    except OSError:
        return False, None
    child: int | None = None
    outcome: dict[str, Any] | None = None
    status: int | None = None
    while True:
        try:
            message = _recv(conn)
            if message is None:
                break
            if "pid" in message:
                child = message["pid"]
            elif "progress" in message:
                if progress is not None:
                    progress(*message["progress"])
            elif "exit" in message:  # it ended without sending a result
                status = message["exit"]
                break
            else:
                # Done: the child's own teardown (atexit, ~0.1-0.15 s) needs no waiting for.
                outcome = message
                break
        except KeyboardInterrupt:
            if child is None:
                raise
            # The child stops as an in-process run stops (marks its run canceled) and
            # sends that back: KeyboardInterrupt, or what the function made of it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGINT)
    if child is None:
        return False, None
    if outcome is None:
        raise TransientError(
            f"the warm worker's process {child} for this command ended without a result "
            f"(exit status {status})",
            "run the command again (its log: ELYSIA_HOME/logs/warm-worker.log); "
            f"{ENABLE_ENV}=off runs every command in its own process",
        )
    if "error" in outcome:
        raise outcome["error"]
    return True, outcome["result"]


def main() -> None:
    """The server: `python -c 'from elysia_pipelines.warm_worker import main; main()' HOME KEY`."""
    home, key = Path(sys.argv[1]), sys.argv[2]
    serve(home, key, float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_S)))


def _refused(lock: Path) -> Path:
    return lock.with_suffix(".refused")


def _refuse(lock: Path, reason: str) -> None:
    """Say why this server cannot serve, so commands stop starting it for this code
    (each start would import for seconds only to give up the same way)."""
    _refused(lock).write_text(reason + "\n")
    print(f"warm worker {os.getpid()}: not serving: {reason}", flush=True)


def serve(home: Path, key: str, idle_s: float) -> None:
    import fcntl
    import gc
    import selectors

    sock_path, lock_path = _paths(home, key)
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another server for this home and code is running or starting
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # whom `stop` signals; mtime: our start
    # Bound before the imports: a filesystem without Unix sockets fails in milliseconds.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = sock_path.with_name(f".{sock_path.name}.{os.getpid()}")
    try:
        staging.unlink(missing_ok=True)
        listener.bind(str(staging))
        os.chmod(staging, 0o600)  # calls run code as this user: nobody else may connect
    except OSError as exc:
        _refuse(lock_path, f"cannot listen on {staging}: {exc}")
        return
    for name, value in ARROW_THREADS_OFF.items():
        os.environ.setdefault(name, value)  # before numpy or pyarrow is loaded
    for module in PRELOAD:
        importlib.import_module(module)
    importlib.import_module("elysia_pipelines.orchestration").preload_jobs()
    _preload_arrow()
    threads = _threads()
    if threads not in (1, None):
        # Unreachable unless an import started a thread only sometimes: forking now
        # could hand children a lock held by that thread.
        staging.unlink(missing_ok=True)
        _refuse(lock_path, f"{threads} threads after the imports")
        return
    listener.listen(64)
    os.replace(staging, sock_path)  # callers connect only once the imports are done
    inode = sock_path.stat().st_ino
    print(f"warm worker {os.getpid()} serving {sock_path}", flush=True)
    gc.freeze()  # imported objects stay out of collections: children keep pages shared
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    last_call = time.monotonic()
    last_key_check = last_call
    while not stop:
        for _ in selector.select(timeout=0.2):
            conn, _ = listener.accept()
            pid = _fork_for(conn, listener, lock)
            if pid is None:
                conn.close()
            else:
                children[pid] = conn
            last_call = time.monotonic()
        _reap(children)
        now = time.monotonic()
        if children:
            last_call = now
        elif now - last_call > idle_s:
            break
        try:
            if sock_path.stat().st_ino != inode or not lock_path.exists():
                break  # replaced by a newer server, removed, or the home was removed
        except FileNotFoundError:
            break
        if now - last_key_check > 5:
            last_key_check = now
            if code_key() != key:
                break  # our modules changed on disk: let the next call start a new server
    with contextlib.suppress(FileNotFoundError):
        if sock_path.stat().st_ino == inode:
            sock_path.unlink()
    listener.close()
    while children:  # running calls finish; their callers still get the exit status
        time.sleep(0.05)
        _reap(children)
    print(f"warm worker {os.getpid()} stopped", flush=True)


def _threads() -> int | None:
    """Threads of this process, None where the system does not say (no /proc)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _preload_arrow() -> None:
    """Import PRELOAD_ARROW if that starts no thread; else children import it themselves.

    Tried first in a forked probe (this process has one thread, so forking is safe):
    a library that starts a thread at import despite ARROW_THREADS_OFF (another
    build, an environment that overrides them) costs a call its ~0.3 CPU-s, never
    an unsafe fork. Where threads cannot be counted nothing is preloaded.
    """
    if _threads() != 1:
        print(f"warm worker {os.getpid()}: cannot count threads; pyarrow not preloaded")
        return
    probe = os.fork()
    if probe == 0:
        try:
            for module in PRELOAD_ARROW:
                importlib.import_module(module)
            os._exit(0 if _threads() == 1 else 3)
        finally:
            os._exit(4)  # an import failed
    status = os.waitstatus_to_exitcode(os.waitpid(probe, 0)[1])
    if status != 0:
        why = "it starts threads" if status == 3 else "it failed"
        print(f"warm worker {os.getpid()}: pyarrow not preloaded: {why} (probe exit {status})")
        return
    for module in PRELOAD_ARROW:
        importlib.import_module(module)


def _reap(children: dict[int, socket.socket]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
            conn.close()


def _same_user(conn: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the socket's 0600 mode is the guard there
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1] == os.getuid()


def _fork_for(conn: socket.socket, listener: socket.socket, lock: int) -> int | None:
    if not _same_user(conn):
        return None
    conn.settimeout(5)
    try:
        header, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
        if len(header) < _HEADER.size:
            return None
        rest = _recv_exactly(conn, _HEADER.unpack(header[: _HEADER.size])[0])
        if rest is None or len(fds) != 3:
            return None
        request = pickle.loads(rest)
    except (OSError, pickle.UnpicklingError):
        return None
    finally:
        conn.settimeout(None)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    try:
        listener.close()
        os.close(lock)
        _run_child(conn, request, fds)
    finally:
        os._exit(70)  # only reached if the child's own exit failed


def _run_child(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    from elysia_pipelines.process_exit import leave

    for signum in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115  # the process's own streams
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ[CHILD_ENV] = "1"
    os.chdir(request["cwd"])
    sys.argv = request["argv"]
    _send(conn, {"pid": os.getpid()})
    kwargs = dict(request["kwargs"])
    if request["progress"]:
        import threading

        sending = threading.Lock()  # a restore reports from its writer threads

        def progress(*args: Any) -> None:
            with sending:
                _send(conn, {"progress": args})

        kwargs["progress"] = progress
    status = 0
    try:
        module, function = request["target"].split(":")
        message: dict[str, Any] = {
            "result": getattr(importlib.import_module(module), function)(**kwargs)
        }
    except BaseException as exc:  # handed to the caller, which raises it
        message, status = {"error": exc}, 1
    try:
        _send(conn, message)
    except OSError:
        pass  # the caller is gone (a launch does not wait for the result)
    except Exception as exc:  # an unpicklable result or error: its text at least
        with contextlib.suppress(OSError):
            _send(conn, {"error": TransientError(f"{type(exc).__name__}: {message}")})
    leave(status)
