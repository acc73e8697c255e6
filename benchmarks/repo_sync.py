"""Whole-process first sync and incremental sync: `elysiactl repo add/sync` against `insert_many`.

One corpus (the `.py` files of the installed packages, up to `--files`, default 7,000,
committed into a fresh git repository), one Weaviate test server in a separate process,
and in the same run, every command a child process timed from spawn to exit:

* yardstick: a plain weaviate-client script that reads the same files, builds the same
  objects (the same properties and UUIDs) and writes them with
  `collection.data.insert_many` in batches of 100;
* `elysiactl repo add PATH` (first sync included) with a fresh ELYSIA_HOME and
  DAGSTER_HOME, as a user runs it;
* then 10 files changed and committed, and `elysiactl repo sync NAME`.

Targets (exit status 1 when one is missed): `repo add` within 2x the yardstick's wall
time; the incremental `repo sync` under 1.5 s. The collections' object counts and the
changed files' content hashes are checked, so a fast but wrong run cannot pass.

    .venv/bin/python benchmarks/repo_sync.py
    .venv/bin/python benchmarks/repo_sync.py --files 2000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchtable import Measure, report  # noqa: E402
from elysia_pipelines.documents import document_uuid  # noqa: E402
from elysia_pipelines_tests.gitrepo import git_env  # noqa: E402
from elysia_pipelines_tests.weaviate_server import start_server_process  # noqa: E402

ELYSIACTL = str(Path(sys.executable).with_name("elysiactl"))
ADD_RATIO_TARGET = 2.0
SYNC_TARGET_S = 1.5
MAX_FILE_SIZE = 1000**2  # elysiactl's default: larger files would be skipped, not indexed
NAME = "corpus"

# The yardstick: what someone would write with the client alone. It builds the objects
# elysiactl stores (same properties, same deterministic UUIDs) from the checked-out files.
YARDSTICK = """
import datetime, hashlib, subprocess, sys, time, uuid
from pathlib import Path
import weaviate
from weaviate.classes.config import Configure, DataType, Property
port, grpc_port, repo_dir, repo, cls = sys.argv[1:6]
namespace = uuid.UUID("6f1d7a52-3c1e-5b8e-9a3d-2f4b8c0e9d17")
root = Path(repo_dir)
commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                        text=True, check=True).stdout.strip()
paths = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                       check=True).stdout.decode().split("\\0")
now = datetime.datetime.now(datetime.timezone.utc)
objects = []
for path in filter(None, paths):
    data = (root / path).read_bytes()
    text = data.decode("utf-8")
    name = path.rsplit("/", 1)[-1]
    objects.append(weaviate.classes.data.DataObject(
        uuid=uuid.uuid5(namespace, f"{repo}:{path}"),
        properties={
            "repo": repo, "path": path, "file_name": name,
            "extension": name.rsplit(".", 1)[-1], "language": "python", "content": text,
            "content_hash": "sha256:" + hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data), "line_count": text.count("\\n"),
            "commit": commit, "synced_at": now,
        },
    ))
text_props = ("repo", "path", "file_name", "extension", "language", "content",
              "content_hash", "commit")
properties = [Property(name=n, data_type=DataType.TEXT) for n in text_props] + [
    Property(name="size_bytes", data_type=DataType.INT),
    Property(name="line_count", data_type=DataType.INT),
    Property(name="synced_at", data_type=DataType.DATE),
]
client = weaviate.connect_to_local(host="127.0.0.1", port=int(port), grpc_port=int(grpc_port))
try:
    collection = client.collections.create(
        cls, properties=properties, vector_config=Configure.Vectors.self_provided()
    )
    start = time.perf_counter()
    for i in range(0, len(objects), 100):
        result = collection.data.insert_many(objects[i : i + 100])
        if result.errors:
            raise SystemExit(f"insert_many failed: {list(result.errors.values())[:1]}")
    insert_s = time.perf_counter() - start
finally:
    client.close()
print(len(objects), insert_s)
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def build_corpus(repo: Path, limit: int) -> list[str]:
    """Commit up to `limit` UTF-8 `.py` files of the installed packages; their paths."""
    site = Path(sysconfig.get_paths()["purelib"])
    chosen: list[str] = []
    for path in sorted(site.rglob("*.py")):
        if len(chosen) == limit:
            break
        try:
            data = path.read_bytes()
            data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not data.strip() or len(data) > MAX_FILE_SIZE or b"\0" in data:
            continue  # elysiactl skips empty, binary and oversized files; keep the sets equal
        relpath = path.relative_to(site).as_posix()
        target = repo / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        chosen.append(relpath)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "corpus")
    return chosen


def change_files(repo: Path, paths: list[str], changed: int) -> dict[str, str]:
    """Append a line to `changed` files spread over the corpus; path -> expected hash."""
    step = max(1, len(paths) // changed)
    expected = {}
    for relpath in paths[::step][:changed]:
        target = repo / relpath
        data = target.read_bytes() + b"\n# changed by the benchmark\n"
        target.write_bytes(data)
        expected[relpath] = "sha256:" + hashlib.sha256(data).hexdigest()
    git(repo, "commit", "-q", "-am", "change")
    return expected


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, stdout); a failing child ends the benchmark."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {stdout[-800:]}{stderr[-1500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, stdout


def _get(url: str) -> dict:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def count(url: str, cls: str) -> int:
    query = json.dumps({"query": f"{{ Aggregate {{ {cls} {{ meta {{ count }} }} }} }}"})
    request = urllib.request.Request(
        f"{url}/v1/graphql", data=query.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return int(json.loads(response.read())["data"]["Aggregate"][cls][0]["meta"]["count"])


def stored_hashes(url: str, cls: str, paths: list[str]) -> dict[str, str]:
    hashes = {}
    for path in paths:
        obj = _get(f"{url}/v1/objects/{cls}/{document_uuid(NAME, path)}")
        hashes[path] = obj["properties"]["content_hash"]
    return hashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=7000, help="files in the corpus")
    parser.add_argument("--changed", type=int, default=10, help="files changed for the sync")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repo-sync-bench-") as tmp:
        work = Path(tmp)
        repo = work / NAME
        repo.mkdir()
        paths = build_corpus(repo, args.files)
        size_mb = sum((repo / p).stat().st_size for p in paths) / 1e6
        with start_server_process() as server:
            env = dict(
                os.environ,
                ELYSIA_HOME=str(work / "home"),
                DAGSTER_HOME=str(work / "dagster_home"),
                WEAVIATE_MODE="url",
                WEAVIATE_URL=server.url,
                WEAVIATE_GRPC_URL=server.grpc_url,
            )
            for var in ("ELYSIA_RUN_MODE", "ELYSIA_EXECUTOR", "ELYSIA_FORCE_TERMINAL"):
                env.pop(var, None)
            port = server.url.rsplit(":", 1)[1]
            yardstick_argv = [
                sys.executable,
                "-c",
                YARDSTICK,
                port,
                str(server.grpc_port),
                str(repo),
                NAME,
                "Yardstick",
            ]
            yard_wall, yard_cpu, out = run_measured(yardstick_argv, env)
            n_text, insert_text = out.split()
            insert_s = float(insert_text)
            add_wall, add_cpu, out = run_measured(
                [ELYSIACTL, "repo", "add", str(repo), "--name", NAME, "--json"], env
            )
            collection = json.loads(out)["collection"]
            expected = change_files(repo, paths, args.changed)
            sync_wall, sync_cpu, _ = run_measured([ELYSIACTL, "repo", "sync", NAME, "--json"], env)
            yard_count, ours = count(server.url, "Yardstick"), count(server.url, collection)
            got = stored_hashes(server.url, collection, list(expected))
    shutil.rmtree(work, ignore_errors=True)
    n = int(n_text)
    if not (n == len(paths) == yard_count == ours):
        raise SystemExit(
            f"object counts differ: corpus {len(paths)}, yardstick {n} (stored {yard_count}), "
            f"elysiactl {ours}"
        )
    if got != expected:
        wrong = sorted(p for p in expected if got.get(p) != expected[p])
        raise SystemExit(f"after repo sync these files have stale content: {wrong}")

    add_ratio = add_wall / yard_wall
    measures = [
        Measure("repo_sync", "yardstick insert_many, whole process", yard_wall, "s"),
        Measure(
            "repo_sync",
            "repo add (first sync), whole process",
            add_wall,
            "s",
            f"<= {ADD_RATIO_TARGET}x yardstick",
            add_ratio,
            add_ratio <= ADD_RATIO_TARGET,
        ),
        Measure(
            "repo_sync",
            f"repo sync ({args.changed} changed files), whole process",
            sync_wall,
            "s",
            f"< {SYNC_TARGET_S} s",
            sync_wall / SYNC_TARGET_S,
            sync_wall < SYNC_TARGET_S,
        ),
    ]
    print(f"\n{n:,} .py files ({size_mb:.0f} MB); yardstick's insert_many alone: {insert_s:.2f} s")
    print(f"{'command':<44} {'wall s':>7} {'CPU s':>7} {'x yardstick':>12} {'target':>16}  ok")
    cpu = {
        measures[0].measure: yard_cpu,
        measures[1].measure: add_cpu,
        measures[2].measure: sync_cpu,
    }
    for m in measures:
        ratio = m.value / yard_wall
        verdict = "-" if m.ok is None else "yes" if m.ok else "NO"
        print(
            f"{m.measure:<44} {m.value:>7.2f} {cpu[m.measure]:>7.2f} {ratio:>11.2f}x "
            f"{m.target:>16}  {verdict}"
        )
    ok = report(measures)
    if not ok:
        print("TARGET MISSED: " + ", ".join(m.measure for m in measures if m.ok is False))
        return 1
    print("targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
