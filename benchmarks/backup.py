"""Backup benchmark: sizes, export speed, peak memory, catalog latency, DuckDB queries.

Starts the Weaviate test server in its own process, loads more than 10,000 real source
files (the venv's site-packages plus the standard library) as documents with 32-dim
vectors, and measures:

- sizes of JSON, JSON.gz / .zst / .lz4, JSONL auto and Parquet (zstd) vs plain JSON;
- export objects/s end to end, and writing MB/s (plain-JSON megabytes over the time
  spent outside the Weaviate reads: the test server's read speed is not ours), plus
  writing alone from documents already in memory, next to a yardstick (zstd-3 on the
  same bytes in one call) because shared machines vary a lot;
- peak RSS of each exporting process (every export runs in a child; ru_maxrss), and
  the same export on 5,000 vs 10,000 objects to show memory does not grow with size;
- catalog list/show/search latency with 10,000 catalog entries;
- the DuckDB example queries on the 10,000-object Parquet backup.

Prints a table and exits 1 when a target is missed. Floors (exit 1): Parquet < 50% of
JSON, compressed JSON (auto/zstd) < 30%, catalog queries < 100 ms. Aims (reported):
Parquet <= 20%, zstd JSON <= 20% at >= 100 MB/s writing, catalog < 10 ms, peak memory
< 150 MB whatever the collection size.

    .venv/bin/python benchmarks/backup.py [--objects 10000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import benchtable  # noqa: E402

EXPORTS: list[tuple[str, str, str]] = [
    # (label, format, compression)
    ("JSON", "json", "none"),
    ("JSON.gz", "json", "gzip"),
    ("JSON.zst", "json", "zstd"),
    ("JSON.lz4", "json", "lz4"),
    ("JSONL auto", "jsonl", "auto"),
    ("Parquet zstd", "parquet", "zstd"),
    ("Parquet zstd-9", "parquet", "zstd:9"),
    ("Parquet snappy", "parquet", "snappy"),
]
DIM = 32
FULL = "Bench"
HALF = "BenchHalf"


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- child side


def child_main(spec: dict[str, Any]) -> None:
    """Runs in a fresh interpreter so ru_maxrss is this export's own peak."""
    from elysia_pipelines.settings import Settings
    from elysia_pipelines.weaviate.connection import open_client
    from elysia_pipelines.weaviate.objects import count

    settings = Settings.from_env().ensure_dirs()
    # pyarrow imports pandas lazily on its first conversion; importing it up front keeps
    # import (and, without .pyc files, compile) time out of the writing time, and it is
    # part of the baseline either way.
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import elysia_pipelines.backups.export  # noqa: F401

    if spec["mode"] == "baseline":
        # Everything an export imports, plus a connection: the floor under every export.
        with open_client(settings) as client:
            count(client, spec["collection"])
        print(json.dumps({"maxrss_mb": _maxrss_mb()}))
        return
    from elysia_pipelines.backups.export import BackupOptions, backup_collection

    compression, _, level = spec["compression"].partition(":")
    with open_client(settings) as client:
        before = _maxrss_mb()
        result = backup_collection(
            client,
            spec["collection"],
            settings,
            BackupOptions(
                format=spec["format"],
                compression=compression,
                level=int(level) if level else None,
                include_vectors=True,
            ),
        )
    out = result.to_dict()
    out["maxrss_mb"] = _maxrss_mb()
    out["maxrss_before_mb"] = before
    print(json.dumps(out, default=str))


def run_child(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return benchtable.run_child(__file__, json.dumps(spec), env=env, timeout=900)


# ---------------------------------------------------------------------- measurements


def load(url_env: dict[str, str], objects: int) -> tuple[int, float, float]:
    from elysia_pipelines.settings import Settings
    from elysia_pipelines.weaviate.connection import open_client
    from elysia_pipelines_tests.backups.sources import populate, site_packages, stdlib

    roots = (site_packages(), stdlib())
    settings = Settings.from_env(url_env)
    start = time.perf_counter()
    with open_client(settings) as client:
        full = populate(client, FULL, objects, dim=DIM, roots=roots)
        populate(client, HALF, objects // 2, dim=DIM, roots=roots)
    return full, time.perf_counter() - start, 0.0


def catalog_latency(work: Path, entries: int = 10_000) -> list[tuple[str, float, int]]:
    """Median ms of 30 runs each, opening the catalog every time as a CLI call does."""
    from datetime import UTC, datetime, timedelta

    from elysia_pipelines.backups.catalog import CatalogEntry, open_catalog
    from elysia_pipelines.backups.durations import parse_since
    from elysia_pipelines.backups.layout import rfc3339
    from elysia_pipelines.settings import Settings

    settings = Settings().with_home(work / "catalog_home").ensure_dirs()
    now = datetime.now(UTC)
    rows = []
    for i in range(entries):
        collection = f"Repo_{i % 50:02d}"
        created = now - timedelta(hours=i * 0.5)
        backup_id = f"{collection.lower()}-{created:%Y%m%dT%H%M%SZ}-{i % 65536:04x}"
        rows.append(
            CatalogEntry(
                id=backup_id,
                collection=collection,
                format=("parquet", "jsonl", "json")[i % 3],
                compression="zstd",
                path=f"/srv/backups/{collection}/{backup_id}",
                size_bytes=1_000_000 + i,
                object_count=1000 + i,
                created_at=rfc3339(created),
                checksum=f"{i:064x}",
                tags=["nightly"] if i % 7 else ["weekly", f"release-{i}"],
            )
        )
    with open_catalog(settings) as catalog:
        catalog.add_many(rows)
    probe = rows[entries // 2]

    def timed(fn: Any) -> tuple[float, int]:
        samples = []
        n = 0
        for _ in range(30):
            start = time.perf_counter()
            with open_catalog(settings) as catalog:
                n = len(fn(catalog))
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples), n

    results = []
    for label, fn in (
        ("list --collection (200 rows)", lambda c: c.list(collection="Repo_07")),
        ("list --since 7d", lambda c: c.list(since=parse_since("7d"))),
        ("list --format jsonl --limit 50", lambda c: c.list(format="jsonl", limit=50)),
        ("list (all 10,000 rows)", lambda c: c.list()),
        ("show ID", lambda c: [c.get(probe.id)]),
        ("search 'release-77' (substring)", lambda c: c.search("release-77")),
        ("search 'repo_07' --format parquet", lambda c: c.search("repo_07", format="parquet")),
    ):
        ms, n = timed(fn)
        results.append((label, ms, n))
    return results


def duckdb_times(home: Path) -> list[tuple[str, float, int]]:
    from elysia_pipelines.backups.analytics import EXAMPLE_QUERIES, connect_analytics
    from elysia_pipelines.settings import Settings

    settings = Settings().with_home(home)
    results = []
    start = time.perf_counter()
    connect_analytics(settings).close()
    results.append(("connect_analytics, first in process", (time.perf_counter() - start) * 1000, 0))
    start = time.perf_counter()
    conn = connect_analytics(settings)
    results.append(("connect_analytics, again", (time.perf_counter() - start) * 1000, 0))
    try:
        for name, sql in EXAMPLE_QUERIES.items():
            start = time.perf_counter()
            rows = conn.sql(sql).fetchall()
            results.append((name, (time.perf_counter() - start) * 1000, len(rows)))
    finally:
        conn.close()
    return results


def writer_only(work: Path, objects: int = 3000) -> list[tuple[str, float, float]]:
    """Writing speed without Weaviate: real documents already in memory, one process.

    Returns (label, plain-JSON MB/s, size vs plain JSON) per codec.
    """
    import pandas  # noqa: F401  (pyarrow's lazy import, kept out of the timing)

    from elysia_pipelines.backups.export import BackupOptions, BackupSource, write_backup
    from elysia_pipelines.settings import Settings
    from elysia_pipelines_tests.backups.sources import (
        backup_objects,
        document_description,
        site_packages,
        stdlib,
    )

    settings = Settings().with_home(work / "writer_home").ensure_dirs()
    docs = sorted(
        backup_objects(objects, dim=DIM, roots=(site_packages(), stdlib())), key=lambda o: o.uuid
    )
    description = document_description("Writer")
    write_backup(
        docs[:50], BackupSource("Writer", description), settings, BackupOptions(format="parquet")
    )
    out = []
    plain = 0
    for label, fmt, compression in (
        ("JSON", "json", "none"),
        ("JSON.zst", "json", "zstd"),
        ("JSON.lz4", "json", "lz4"),
        ("Parquet zstd", "parquet", "zstd"),
        ("Parquet snappy", "parquet", "snappy"),
    ):
        start = time.perf_counter()
        result = write_backup(
            docs,
            BackupSource("Writer", description),
            settings,
            BackupOptions(format=fmt, compression=compression),
        )
        seconds = time.perf_counter() - start
        plain = plain or result.size_bytes
        out.append((label, plain / 1e6 / seconds, result.size_bytes / plain))
    return out


def _raw_zstd_speed(json_backup: Path) -> float:
    """MB/s of zstd level 3 on the first 32 MB of the plain JSON: the machine's yardstick."""
    import zstandard

    data = next(json_backup.glob("data/*.json")).read_bytes()[: 32 * 1024 * 1024]
    start = time.perf_counter()
    zstandard.ZstdCompressor(level=3).compress(data)
    return len(data) / 1e6 / (time.perf_counter() - start)


# ---------------------------------------------------------------------- report


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return 0

    from elysia_pipelines_tests.weaviate_server.process import start_server_process

    work = Path(tempfile.mkdtemp(prefix="elysia-bench-backup-"))
    failures: list[str] = []
    server = start_server_process()
    try:
        env = dict(os.environ)
        env.update(
            {
                "WEAVIATE_URL": server.url,
                "WEAVIATE_GRPC_URL": server.grpc_url,
                "WEAVIATE_MODE": "url",
                "ELYSIA_HOME": str(work / "home"),
            }
        )
        env.pop("WEAVIATE_API_KEY", None)
        loaded, load_s, _ = load(env, args.objects)
        print(
            f"loaded {loaded:,} real source files (+{args.objects // 2:,} in {HALF}) "
            f"with {DIM}-dim vectors into the test server in {load_s:.1f} s"
        )
        if loaded < 10_000 and args.objects >= 10_000:
            failures.append(f"only {loaded} documents could be loaded (need 10,000)")

        baseline = run_child({"mode": "baseline", "collection": FULL}, env)["maxrss_mb"]
        results: dict[str, dict[str, Any]] = {}
        for label, fmt, compression in EXPORTS:
            results[label] = run_child(
                {"mode": "export", "collection": FULL, "format": fmt, "compression": compression},
                env,
            )
        half = {
            label: run_child(
                {"mode": "export", "collection": HALF, "format": fmt, "compression": compression},
                env,
            )
            for label, fmt, compression in EXPORTS
            if label in ("Parquet zstd", "JSON.zst")
        }
        json_size = results["JSON"]["size_bytes"]

        print()
        print(
            f"Exports of {loaded:,} objects ({mb(json_size)} as plain JSON); "
            f"baseline process RSS {baseline:.0f} MB"
        )
        header = (
            f"{'format':<15} {'codec':<9} {'size':>11} {'of JSON':>8} {'objects/s':>10} "
            f"{'write MB/s':>11} {'read s':>7} {'write s':>8} {'peak RSS':>9}"
        )
        print(header)
        print("-" * len(header))
        for label, _fmt, _comp in EXPORTS:
            r = results[label]
            ours = max(r["duration_s"] - r["read_seconds"], 1e-9)
            codec = r["compression"] + (f"-{r['level']}" if r["level"] is not None else "")
            print(
                f"{label:<15} {codec:<9} {mb(r['size_bytes']):>11} "
                f"{r['size_bytes'] / json_size:>8.1%} {r['object_count'] / r['duration_s']:>10,.0f} "
                f"{json_size / 1e6 / ours:>11,.0f} {r['read_seconds']:>7.2f} {ours:>8.2f} "
                f"{r['maxrss_mb']:>6.0f} MB"
            )
        raw_speed = _raw_zstd_speed(Path(results["JSON"]["path"]))
        print(
            f"(yardstick: zstd-3 in a single call compresses this JSON at {raw_speed:.0f} MB/s "
            f"on this machine now; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        print()
        print(
            "Peak memory vs collection size (each export in its own process; "
            f"baseline = imports + connection = {baseline:.0f} MB):"
        )
        for label, small in half.items():
            big = results[label]
            print(
                f"  {label:<13} {small['object_count']:>6,} objects: {small['maxrss_mb']:.0f} MB "
                f"(+{small['maxrss_mb'] - baseline:.0f})   "
                f"{big['object_count']:>6,} objects: {big['maxrss_mb']:.0f} MB "
                f"(+{big['maxrss_mb'] - baseline:.0f})   growth "
                f"{big['maxrss_mb'] - small['maxrss_mb']:+.0f} MB for "
                f"{big['object_count'] - small['object_count']:,} more objects"
            )

        writers = writer_only(work)
        print()
        print("Writing only (3,000 real documents already in memory, no Weaviate):")
        for label, speed, ratio in writers:
            print(f"  {label:<15} {speed:>6.0f} MB/s of plain JSON   size {ratio:.1%} of JSON")

        catalog = catalog_latency(work)
        print()
        print("Catalog latency with 10,000 entries (median of 30, open + query + close):")
        for label, ms, n in catalog:
            print(f"  {label:<36} {ms:>8.2f} ms  ({n} rows)")

        queries = duckdb_times(work / "home")
        print()
        print(
            f"DuckDB over the latest Parquet backups ({loaded:,} + {args.objects // 2:,} objects):"
        )
        for label, ms, n in queries:
            print(f"  {label:<36} {ms:>8.1f} ms" + (f"  ({n} rows)" if n else ""))

        # ---------------------------------------------------------------- targets
        parquet = results["Parquet zstd"]["size_bytes"] / json_size
        zst = results["JSON.zst"]["size_bytes"] / json_size
        auto = results["JSONL auto"]["size_bytes"] / results["JSON"]["size_bytes"]
        zst_speed = dict((label, speed) for label, speed, _ in writers)["JSON.zst"]
        worst_catalog = max(ms for label, ms, _ in catalog if "all 10,000" not in label)
        peak = max(r["maxrss_mb"] for r in [*results.values(), *half.values()])
        working = peak - baseline
        growth = max(results[k]["maxrss_mb"] - half[k]["maxrss_mb"] for k in half)
        checks = [
            ("floor", "Parquet (zstd) < 50% of JSON", parquet < 0.50, f"{parquet:.1%}"),
            ("floor", "JSON zstd < 30% of JSON", zst < 0.30, f"{zst:.1%}"),
            ("floor", "JSONL auto < 30% of JSON", auto < 0.30, f"{auto:.1%}"),
            ("floor", "catalog queries < 100 ms", worst_catalog < 100, f"{worst_catalog:.2f} ms"),
            ("aim", "Parquet (zstd) <= 20% of JSON", parquet <= 0.20, f"{parquet:.1%}"),
            ("aim", "JSON zstd <= 20% of JSON", zst <= 0.20, f"{zst:.1%}"),
            (
                "aim",
                "JSON zstd writing >= 100 MB/s",
                zst_speed >= 100,
                f"{zst_speed:.0f} MB/s (yardstick {raw_speed:.0f})",
            ),
            ("aim", "catalog queries < 10 ms", worst_catalog < 10, f"{worst_catalog:.2f} ms"),
            ("aim", "peak exporter RSS < 150 MB", peak < 150, f"{peak:.0f} MB"),
            ("aim", "export working memory < 150 MB", working < 150, f"{working:.0f} MB"),
            ("aim", "memory flat from N/2 to N objects", growth < 20, f"{growth:+.0f} MB"),
        ]
        print()
        print("Targets:")
        for kind, label, ok, value in checks:
            print(f"  [{'ok' if ok else 'MISS'}] {kind:<5} {label:<34} {value}")
            if kind == "floor" and not ok:
                failures.append(f"{label}: {value}")
    finally:
        server.stop()
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print()
    return benchtable.verdict(failures, "all floors met")


if __name__ == "__main__":
    sys.exit(main())
