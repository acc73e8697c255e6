"""Run the test server in a child process (benchmarks, crash tests).

A separate process keeps the server's threads off the measured process's GIL, and
lets a crash test kill the client side while the server keeps its data. Faults can
still be changed at run time through the REST control endpoint (`faults()` below).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from elysia_pipelines_tests.weaviate_server.addresses import ServerAddresses

READY_PREFIX = "READY "


@dataclass
class ServerProcess(ServerAddresses):
    """Handle of a server running in a child process."""

    process: subprocess.Popen[str]
    http_port: int
    grpc_port: int
    host: str = "127.0.0.1"

    def control(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/__test__/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def faults(self, **spec: Any) -> dict[str, Any]:
        """Change faults in the child, e.g. `faults(clear=True, fail_next=3, ops=["batch"])`."""
        return self.control("faults", spec)

    def reset(self) -> None:
        self.control("reset", {})

    def stats(self) -> dict[str, Any]:
        return self.control("stats", method="GET")

    def restart(
        self, *, keep_data: bool = True, down_s: float = 0.0, timeout: float = 30.0
    ) -> None:
        """Bounce the server inside the child (same ports), keeping or dropping its data.

        Returns once the server answers again.
        """
        self.control("restart", {"keep_data": keep_data, "down_s": down_s})
        deadline = time.monotonic() + timeout
        time.sleep(0.1 + down_s)
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/v1/.well-known/ready", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"test server at {self.url} did not come back") from None
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the server dies with its data, like a crashed Weaviate."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server_process(
    *,
    http_port: int = 0,
    grpc_port: int = 0,
    backup_dir: Path | str | None = None,
    latency_ms: float = 0.0,
    fail_rate: float = 0.0,
    seed: int = 0,
    auto_schema: bool = True,
    modules: Iterable[str] | None = None,
    nodes: int = 1,
    startup_timeout_s: float = 30.0,
) -> ServerProcess:
    """Start `python -m elysia_pipelines_tests.weaviate_server` and wait for its ready line."""
    cmd = [
        sys.executable,
        "-m",
        "elysia_pipelines_tests.weaviate_server",
        "--http-port",
        str(http_port),
        "--grpc-port",
        str(grpc_port),
        "--latency-ms",
        str(latency_ms),
        "--fail-rate",
        str(fail_rate),
        "--seed",
        str(seed),
    ]
    if backup_dir is not None:
        cmd += ["--backup-dir", str(backup_dir)]
    if not auto_schema:
        cmd.append("--no-auto-schema")
    if modules is not None:
        cmd.append(f"--modules={','.join(modules)}")
    cmd += ["--nodes", str(nodes)]
    repo_root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo_root), env.get("PYTHONPATH", "")) if p)
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line_holder: list[str] = []

    def read_ready() -> None:
        assert process.stdout is not None
        line_holder.append(process.stdout.readline())

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(startup_timeout_s)
    line = line_holder[0] if line_holder else ""
    if not line.startswith(READY_PREFIX):
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(
            f"test server did not start (exit {process.returncode}): {err.strip() or line.strip()}"
        )
    fields = dict(item.split("=", 1) for item in line[len(READY_PREFIX) :].split())
    # Keep draining output so the child never blocks on a full pipe.
    threading.Thread(target=_drain, args=(process,), daemon=True).start()
    return ServerProcess(
        process=process, http_port=int(fields["http"]), grpc_port=int(fields["grpc"])
    )


def _drain(process: subprocess.Popen[str]) -> None:
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            threading.Thread(target=_read_to_end, args=(stream,), daemon=True).start()


def _read_to_end(stream: IO[str]) -> None:
    """Read and drop until the server exits, then close the pipe (no ResourceWarning)."""
    for _ in stream:
        pass
    stream.close()
