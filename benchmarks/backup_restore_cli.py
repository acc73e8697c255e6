"""Whole-process backup and restore: `elysiactl col backup/restore` against a plain REST tool.

One corpus (the `.py` files of the installed packages, up to `--files`, default 7,000),
one Weaviate test server in a separate process, and in the same run:

* yardstick backup: `GET /v1/objects` in pages of 100 (cursor), all written to one JSON file;
* `elysiactl col backup` as Parquet and as JSON+zstd;
* yardstick restore: load that JSON file whole, `POST /v1/batch/objects` in batches of 100,
  one thread;
* `elysiactl col restore --workers 4` of the Parquet backup.

Every command is a child process; the table shows its wall time, its CPU time and its
peak RSS (`wait4`), and each elysiactl command's speed-up over the yardstick. Targets
(exit status 1 when one is missed): at least 2x the yardstick's wall time, peak RSS no
higher than the yardstick's. Every restore's object count is checked.

    .venv/bin/python benchmarks/backup_restore_cli.py
    .venv/bin/python benchmarks/backup_restore_cli.py --files 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elysia_pipelines_tests.weaviate_server import start_server_process  # noqa: E402

ELYSIACTL = str(Path(sys.executable).with_name("elysiactl"))
SPEEDUP_TARGET = 2.0

SETUP = """
import json, sys, sysconfig, time
from pathlib import Path
import weaviate
from weaviate.classes.config import Configure
port, grpc_port, limit = (int(v) for v in sys.argv[1:4])
site = Path(sysconfig.get_paths()["purelib"])
docs = []
for path in sorted(site.rglob("*.py")):
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        continue
    docs.append({"path": str(path.relative_to(site)), "content": text, "size_bytes": len(text.encode())})
    if len(docs) == limit:
        break
client = weaviate.connect_to_local(host="127.0.0.1", port=port, grpc_port=grpc_port)
try:
    self_provided = Configure.Vectors.self_provided()
    source = client.collections.create("Corpus", vector_config=self_provided)
    start = time.perf_counter()
    for i in range(0, len(docs), 100):
        source.data.insert_many(docs[i : i + 100])
    elapsed = time.perf_counter() - start
    for name in ("YardstickRestore", "CliRestore"):
        client.collections.create(name, vector_config=Configure.Vectors.self_provided())
finally:
    client.close()
print(len(docs), elapsed)
"""

YARDSTICK_BACKUP = """
import json, sys, urllib.request
url, cls, out = sys.argv[1:4]
objects, after = [], ""
while True:
    query = f"{url}/v1/objects?class={cls}&limit=100" + (f"&after={after}" if after else "")
    with urllib.request.urlopen(query) as response:
        page = json.loads(response.read())["objects"]
    if not page:
        break
    objects.extend(page)
    after = page[-1]["id"]
with open(out, "w") as f:
    json.dump(objects, f)
"""

YARDSTICK_RESTORE = """
import json, sys, urllib.request
url, cls, path = sys.argv[1:4]
with open(path) as f:
    objects = json.load(f)
for start in range(0, len(objects), 100):
    batch = [
        {"class": cls, "id": o["id"], "properties": o["properties"]}
        for o in objects[start : start + 100]
    ]
    request = urllib.request.Request(
        f"{url}/v1/batch/objects",
        data=json.dumps({"objects": batch}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        response.read()
"""


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of one child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed: {stderr[-1500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def count(url: str, cls: str) -> int:
    query = json.dumps({"query": f"{{ Aggregate {{ {cls} {{ meta {{ count }} }} }} }}"})
    request = urllib.request.Request(
        f"{url}/v1/graphql", data=query.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return int(json.loads(response.read())["data"]["Aggregate"][cls][0]["meta"]["count"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=7000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_server_process() as server:
        env = dict(
            os.environ,
            ELYSIA_HOME=str(Path(tmp) / "home"),
            WEAVIATE_MODE="url",
            WEAVIATE_URL=server.url,
            WEAVIATE_GRPC_URL=server.grpc_url,
        )
        # Corpus and client live in a child: a parent holding them would inflate every
        # later child's peak RSS (the forked image counts before exec).
        port = server.url.rsplit(":", 1)[1]
        setup = subprocess.run(
            [
                sys.executable,
                "-W",
                "ignore",
                "-c",
                SETUP,
                port,
                str(server.grpc_port),
                str(args.files),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        n_text, insert_text = setup.stdout.split()
        n, insert_s = int(n_text), float(insert_text)
        dump = str(Path(tmp) / "yardstick.json")
        results: dict[str, tuple[float, float, float]] = {}
        plan = [
            (
                "yardstick backup",
                [sys.executable, "-c", YARDSTICK_BACKUP, server.url, "Corpus", dump],
            ),
            ("col backup parquet", [ELYSIACTL, "col", "backup", "Corpus", "--json"]),
            (
                "col backup json+zstd",
                [
                    ELYSIACTL,
                    "col",
                    "backup",
                    "Corpus",
                    "--format",
                    "json",
                    "--compression",
                    "zstd",
                    "--json",
                ],
            ),
            (
                "yardstick restore",
                [sys.executable, "-c", YARDSTICK_RESTORE, server.url, "YardstickRestore", dump],
            ),
        ]
        parquet_id = ""
        for label, argv in plan:
            wall, cpu, rss, out = run_measured(argv, env)
            results[label] = (wall, cpu, rss)
            if label == "col backup parquet":
                parquet_id = json.loads(out)["backup_id"]
        restore = [ELYSIACTL, "col", "restore", parquet_id, "--target-collection", "CliRestore"]
        results["col restore --workers 4"] = run_measured(
            [*restore, "--workers", "4", "--json"], env
        )[:3]
        for cls in ("YardstickRestore", "CliRestore"):
            got = count(server.url, cls)
            if got != n:
                raise SystemExit(f"{cls} holds {got} objects, expected {n}")
    print(f"\n{n:,} .py files; client insert_many (batches of 100): {insert_s:.2f} s")
    print(f"{'command':<28} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'speed-up':>9}  ok")
    missed = []
    pairs = {
        "col backup parquet": "yardstick backup",
        "col backup json+zstd": "yardstick backup",
        "col restore --workers 4": "yardstick restore",
    }
    for label, (wall, cpu, rss) in results.items():
        base = pairs.get(label)
        if base is None:
            print(f"{label:<28} {wall:>7.2f} {cpu:>7.2f} {rss:>8.0f} {'-':>9}  -")
            continue
        speedup = results[base][0] / wall
        ok = speedup >= SPEEDUP_TARGET and rss <= results[base][2]
        if not ok:
            missed.append(label)
        print(
            f"{label:<28} {wall:>7.2f} {cpu:>7.2f} {rss:>8.0f} {speedup:>8.2f}x  {'yes' if ok else 'NO'}"
        )
    print(f"targets: >= {SPEEDUP_TARGET}x the yardstick's wall time, peak RSS <= the yardstick's")
    if missed:
        print(f"TARGET MISSED: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
