"""Object-storage benchmark: backup and restore through a local S3 server vs local disk.

Starts the Weaviate test server and moto's S3 server (the one the tests use, over real
HTTP on 127.0.0.1) as processes, loads 10,000 (and 5,000) documents of real source files
with 32-dim vectors, then in one run, interleaved over `--repeat` rounds (each run keeps
its fastest round and its highest memory):

* `col backup`-equivalent (`backup_collection`, Parquet zstd) to local disk and to
  `s3://bench/...`;
* `restore_backup` (4 workers) of each of those backups into a fresh collection.

Every run is a child process, so its peak resident memory (`VmHWM`) is its own. Every
restore checks the restored count. Targets (exit 1 when missed): S3 time within 1.5x of
local-disk time for backup and for restore, and memory flat: the S3 peak at 10,000
objects within 15% of the S3 peak at 5,000.

    .venv/bin/python benchmarks/remote_storage.py [--objects 10000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import benchtable  # noqa: E402
from benchmarks.bench_backups import peak_mb, write_bench_backup  # noqa: E402
from elysia_pipelines.backups.export import (  # noqa: E402
    BackupOptions,
    backup_collection,
)
from elysia_pipelines.backups.reader import open_backup  # noqa: E402
from elysia_pipelines.backups.restore import RestoreOptions, restore_backup  # noqa: E402
from elysia_pipelines.settings import Settings  # noqa: E402
from elysia_pipelines.weaviate.connection import WeaviateTarget, open_client  # noqa: E402
from elysia_pipelines.weaviate.objects import count  # noqa: E402
from elysia_pipelines.weaviate.schema import (  # noqa: E402
    delete_collection,
)
from elysia_pipelines_tests.s3_server import REGION, start_s3_server  # noqa: E402
from elysia_pipelines_tests.weaviate_server import start_server_process  # noqa: E402

RATIO_TARGET = 1.5
MEMORY_GROWTH_TARGET = 0.15
BUCKET = "bench"


def load_collection(settings: Settings, target: WeaviateTarget, name: str, n: int) -> None:
    """`n` documents in Weaviate, written by our own restore from a scratch backup."""
    with open_client(target) as client:
        result = write_bench_backup(
            settings,
            client,
            f"{name}Seed",
            n,
            BackupOptions(output=settings.home / "seed"),
            record_in_catalog=False,
        )
        reader = open_backup(result.path, settings)
        restore_backup(
            reader, client, RestoreOptions(target_collection=name, workers=4, settings=settings)
        )
        assert count(client, name) == n


def child(spec: dict[str, Any]) -> dict[str, Any]:
    settings = Settings.from_env()
    target = WeaviateTarget.for_url(spec["url"], spec["grpc_url"])
    imported_mb = peak_mb()
    with open_client(target) as client:
        started = time.perf_counter()
        if spec["mode"] == "backup":
            result = backup_collection(
                client,
                spec["collection"],
                settings,
                BackupOptions(output=spec["dest"], compression="zstd"),
            )
            elapsed = time.perf_counter() - started
            return {
                "seconds": elapsed,
                "objects": result.object_count,
                "backup_id": result.backup_id,
                "path": str(result.path),
                "peak_mb": peak_mb(),
                "imported_mb": imported_mb,
            }
        reader = open_backup(spec["backup_id"], settings)
        options = RestoreOptions(target_collection=spec["target"], workers=4, settings=settings)
        failed = restore_backup(reader, client, options).failed
        elapsed = time.perf_counter() - started
        restored = count(client, spec["target"])
        delete_collection(client, spec["target"])
    return {
        "seconds": elapsed,
        "objects": restored if not failed else -failed,
        "peak_mb": peak_mb(),
        "imported_mb": imported_mb,
    }


def run_child(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return benchtable.run_child(__file__, json.dumps(spec), env=env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0

    large, small = args.objects, args.objects // 2
    s3 = start_s3_server()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="remote-bench-") as tmp,
            start_server_process() as server,
        ):
            home = Path(tmp) / "home"
            env = {
                **os.environ,
                "ELYSIA_HOME": str(home),
                "WEAVIATE_URL": server.url,
                "WEAVIATE_GRPC_URL": server.grpc_url,
                "AWS_ACCESS_KEY_ID": s3.access_key,
                "AWS_SECRET_ACCESS_KEY": s3.secret_key,
                "AWS_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",
                "ELYSIA_S3_ENDPOINT_URL": s3.endpoint,
            }
            os.environ.update(env)
            settings = Settings.from_env().ensure_dirs()
            target = WeaviateTarget.for_url(server.url, server.grpc_url)
            s3.client().create_bucket(Bucket=BUCKET)
            for name, n in (("Bench", large), ("BenchHalf", small)):
                started = time.perf_counter()
                load_collection(settings, target, name, n)
                print(f"loaded {n} objects into {name} in {time.perf_counter() - started:.1f} s")

            dests = {"local disk": str(Path(tmp) / "out"), "S3 (moto)": f"s3://{BUCKET}/bench"}
            plan = [(label, "Bench", large) for label in dests] + [
                ("S3 (moto)", "BenchHalf", small)
            ]
            best: dict[tuple[str, str, str], dict[str, Any]] = {}

            def keep(key: tuple[str, str, str], result: dict[str, Any]) -> None:
                previous = best.get(key)
                if previous is None:
                    best[key] = result
                    return
                peak = max(previous["peak_mb"], result["peak_mb"])
                objects = min(previous["objects"], result["objects"])
                if result["seconds"] < previous["seconds"]:
                    best[key] = result
                best[key]["peak_mb"], best[key]["objects"] = peak, objects

            for round_ in range(args.repeat):
                for label, collection, n in plan:
                    spec = {
                        "mode": "backup",
                        "collection": collection,
                        "dest": dests[label],
                        "url": server.url,
                        "grpc_url": server.grpc_url,
                    }
                    backup = run_child(spec, env)
                    keep((label, "backup", collection), backup)
                    restore = run_child(
                        {
                            **spec,
                            "mode": "restore",
                            "backup_id": backup["backup_id"],
                            "target": f"Restored{round_}",
                        },
                        env,
                    )
                    restore["expected"] = n
                    keep((label, "restore", collection), restore)
                    print(
                        f"  round {round_ + 1}: {label:<10} {n:>6} objects  backup "
                        f"{backup['seconds']:5.1f} s ({backup['peak_mb']:.0f} MB)  restore "
                        f"{restore['seconds']:5.1f} s ({restore['peak_mb']:.0f} MB)",
                        flush=True,
                    )
    finally:
        s3.process.terminate()
        s3.process.wait(timeout=30)

    print()
    header = (
        f"| {'run':<30} | {'objects':>7} | {'seconds':>7} | {'objects/s':>9} | {'peak MB':>7} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for (label, mode, collection), r in best.items():
        n = large if collection == "Bench" else small
        print(
            f"| {mode + ' to/from ' + label:<30} | {n:>7} | {r['seconds']:>7.1f} | "
            f"{n / r['seconds']:>9.0f} | {r['peak_mb']:>7.0f} |"
        )
    failures: list[str] = []
    for (_label, mode, collection), r in best.items():
        n = large if collection == "Bench" else small
        if r["objects"] != n:
            failures.append(f"{mode} of {collection}: {r['objects']} objects, expected {n}")
    print()
    for mode in ("backup", "restore"):
        local = best[("local disk", mode, "Bench")]
        remote = best[("S3 (moto)", mode, "Bench")]
        half = best[("S3 (moto)", mode, "BenchHalf")]
        ratio = remote["seconds"] / local["seconds"]
        growth = remote["peak_mb"] / half["peak_mb"] - 1
        print(
            f"{mode}: S3 {ratio:.2f}x local disk (target <= {RATIO_TARGET}x); S3 peak "
            f"{half['peak_mb']:.0f} MB at {small} -> {remote['peak_mb']:.0f} MB at {large} "
            f"({growth:+.0%}, target within {MEMORY_GROWTH_TARGET:.0%}); local peak "
            f"{local['peak_mb']:.0f} MB"
        )
        if ratio > RATIO_TARGET:
            failures.append(f"{mode}: S3 {ratio:.2f}x local disk > {RATIO_TARGET}x")
        if growth > MEMORY_GROWTH_TARGET:
            failures.append(f"{mode}: S3 peak memory grew {growth:+.0%} from {small} to {large}")
    return benchtable.verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
