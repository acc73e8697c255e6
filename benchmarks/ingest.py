"""Ingestion benchmark: first sync and incremental sync, end to end (extract + ingest).

For each repository size (default 1,000 and 10,000 files of source-like text) it
builds a git repository, then measures against the Weaviate test server running in
a separate process (so the server's threads do not share our GIL):

* first sync: extract a full change set and apply it; objects/s over both stages
  (target: at least 2,000 objects/s);
* incremental sync after 10 changed files: extract + apply (target: under 2 s, and
  it must not grow with the repository: the rows for 1k and 10k files show it).

After each sync the collection is checked (object count, and the changed files'
content hashes), so a fast but wrong run cannot pass. Prints a table; exits
non-zero when a target is missed.

    .venv/bin/python benchmarks/ingest.py
    .venv/bin/python benchmarks/ingest.py --sizes 2000 --changed 10
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchtable import print_table_header  # noqa: E402
from elysia_pipelines.changes.extract import ChangeSetTarget, ExtractOptions, extract_change_set  # noqa: E402
from elysia_pipelines.documents import document_uuid  # noqa: E402
from elysia_pipelines.ingest import apply_pending  # noqa: E402
from elysia_pipelines.settings import Settings  # noqa: E402
from elysia_pipelines.weaviate.connection import WeaviateTarget, open_client  # noqa: E402
from elysia_pipelines.weaviate.objects import count, fetch_by_ids  # noqa: E402
from elysia_pipelines_tests.gitrepo import git_env  # noqa: E402
from elysia_pipelines_tests.weaviate_server import start_server_process  # noqa: E402

FIRST_SYNC_TARGET_OBJECTS_S = 2000.0
INCREMENTAL_TARGET_S = 2.0

# Fixed identity, no user or system git config: the same repository on every machine.
_GIT_ENV = git_env()
_WORDS = [
    "user",
    "order",
    "item",
    "price",
    "total",
    "index",
    "value",
    "result",
    "config",
    "client",
    "server",
    "request",
]
_EXTENSIONS = (".py", ".ts", ".go", ".java", ".md", ".yaml")


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=_GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _source(rng: random.Random, index: int) -> str:
    lines = [f"# module {index}"]
    for _ in range(rng.randint(5, 80)):
        a, b, c = (rng.choice(_WORDS) for _ in range(3))
        lines.append(f"    {a}_{b} = {c}.get({rng.randint(0, 999)})  # {a} {b}")
    return "\n".join(lines) + "\n"


def _file_path(index: int) -> str:
    return f"pkg{index // 100:03d}/mod{index:05d}{_EXTENSIONS[index % len(_EXTENSIONS)]}"


def build_repo(path: Path, files: int, seed: int = 1) -> None:
    """One commit with `files` files; written directly, added with one `git add`."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    for index in range(files):
        target = path / _file_path(index)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_source(rng, index), encoding="utf-8")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")


def change_files(path: Path, files: int, changed: int, seed: int = 2) -> dict[str, str]:
    """Modify `changed` files spread over the repository; return path -> expected hash."""
    rng = random.Random(seed)
    expected = {}
    for index in rng.sample(range(files), changed):
        relpath = _file_path(index)
        data = _source(rng, index + 1_000_000).encode("utf-8")
        (path / relpath).write_bytes(data)
        expected[relpath] = "sha256:" + hashlib.sha256(data).hexdigest()
    _git(path, "commit", "-q", "-am", "change")
    return expected


def server_cpu_s(pid: int) -> float:
    """CPU seconds the server process used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    files: int
    first_extract_s: float
    first_ingest_s: float
    incremental_extract_s: float
    incremental_ingest_s: float
    ingest_client_cpu_s: float
    ingest_server_cpu_s: float

    @property
    def first_total_s(self) -> float:
        return self.first_extract_s + self.first_ingest_s

    @property
    def first_objects_s(self) -> float:
        return self.files / self.first_total_s

    @property
    def ingest_objects_s(self) -> float:
        return self.files / self.first_ingest_s

    @property
    def incremental_total_s(self) -> float:
        return self.incremental_extract_s + self.incremental_ingest_s


def run_size(work: Path, target: WeaviateTarget, server_pid: int, files: int, changed: int) -> Row:
    repo_dir = work / f"repo-{files}"
    build_repo(repo_dir, files)
    settings = Settings().with_home(work / f"home-{files}").ensure_dirs()
    name = f"bench{files}"
    collection = f"Bench{files}"
    out_dir = settings.pending_dir / collection
    with open_client(target) as client:
        t0 = time.perf_counter()
        first = extract_change_set(
            repo_dir,
            ChangeSetTarget(repo=name, collection=collection, out_dir=out_dir, seq=1),
            ExtractOptions(from_commit=None),
        )
        t1 = time.perf_counter()
        cpu0, server0 = time.process_time(), server_cpu_s(server_pid)
        report = apply_pending(settings, client, collection, repo=name)
        t2 = time.perf_counter()
        client_cpu, server_cpu = time.process_time() - cpu0, server_cpu_s(server_pid) - server0
        stored = count(client, collection)
        if [r.seq for r in report.applied] != [1] or stored != files:
            raise SystemExit(f"first sync of {files} files is wrong: {report.summary()}, {stored}")

        expected = change_files(repo_dir, files, changed)
        t3 = time.perf_counter()
        extract_change_set(
            repo_dir,
            ChangeSetTarget(repo=name, collection=collection, out_dir=out_dir, seq=2),
            ExtractOptions(from_commit=first.to_commit),
        )
        t4 = time.perf_counter()
        report = apply_pending(settings, client, collection, repo=name)
        t5 = time.perf_counter()
        docs = fetch_by_ids(client, collection, [document_uuid(name, p) for p in expected])
        got = {d.properties["path"]: d.properties["content_hash"] for d in docs.values()}
        if got != expected or count(client, collection) != files:
            raise SystemExit(f"incremental sync of {files} files is wrong: {report.summary()}")
    return Row(files, t1 - t0, t2 - t1, t4 - t3, t5 - t4, client_cpu, server_cpu)


def print_table(rows: list[Row], changed: int) -> None:
    print_table_header(
        f"{'repo files':>10} | {'first: extract s':>16} {'ingest s':>9} {'total s':>8} "
        f"{'objects/s':>9} {'(ingest only)':>13} | {f'incremental ({changed} files) s':>28}",
        "timings are wall clock",
    )
    for row in rows:
        print(
            f"{row.files:>10,} | {row.first_extract_s:>16.2f} {row.first_ingest_s:>9.2f} "
            f"{row.first_total_s:>8.2f} {row.first_objects_s:>9,.0f} {row.ingest_objects_s:>13,.0f}"
            f" | {row.incremental_total_s:>16.3f} (extract {row.incremental_extract_s:.3f}, "
            f"ingest {row.incremental_ingest_s:.3f})"
        )
    print()
    print("first-sync ingest CPU (load-independent): client process / test server process")
    for row in rows:
        print(
            f"{row.files:>10,} files: client {row.ingest_client_cpu_s:.2f} s "
            f"({row.files / max(row.ingest_client_cpu_s, 1e-9):,.0f} objects per CPU-second), "
            f"server {row.ingest_server_cpu_s:.2f} s"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated file counts")
    parser.add_argument("--changed", type=int, default=10, help="files changed for incremental")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp, start_server_process() as srv:
        target = WeaviateTarget.for_url(srv.url, srv.grpc_url)
        for files in sizes:
            rows.append(run_size(Path(tmp), target, srv.process.pid, files, args.changed))
    print_table(rows, args.changed)
    failures = []
    for row in rows:
        if row.first_objects_s < FIRST_SYNC_TARGET_OBJECTS_S:
            failures.append(
                f"first sync of {row.files:,} files: {row.first_objects_s:,.0f} objects/s "
                f"< {FIRST_SYNC_TARGET_OBJECTS_S:,.0f}"
            )
        if row.incremental_total_s >= INCREMENTAL_TARGET_S:
            failures.append(
                f"incremental sync in a {row.files:,}-file repository: "
                f"{row.incremental_total_s:.2f} s >= {INCREMENTAL_TARGET_S} s"
            )
    for failure in failures:
        print(f"MISSED: {failure}")
    if not failures:
        print(
            f"targets met: first sync >= {FIRST_SYNC_TARGET_OBJECTS_S:,.0f} objects/s end to end, "
            f"incremental < {INCREMENTAL_TARGET_S} s"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
