"""One big repository: does a 100,000-file repository sync in flat memory, and does an
incremental sync stay cheap (issue 16 point 3)?

For each size (default 10,000 and 100,000 files of source-like text) a fresh child
process builds a git repository, extracts the full change set and applies it to the
Weaviate test server (itself a separate process, one per size, so neither the server's
memory nor its threads are counted against us), then changes 10 files and syncs
again. The child reports its timings and its peak RSS (`ru_maxrss`), which covers
extraction and ingestion together. Targets:

* peak memory flat in repository size: the largest size uses at most 1.5x the
  smallest's peak RSS;
* the incremental sync of 10 changed files takes under 5 % of the full sync
  (extract + ingest) of the same repository, for the largest size (a small
  repository's full sync is too short for a share to mean much).

After each sync the collection is checked (count, changed files' hashes) by
`benchmarks/ingest.py`'s `run_size`, so a fast but wrong run cannot pass. Prints a
table; exits non-zero when a target is missed.

    .venv/bin/python benchmarks/big_repo.py
    .venv/bin/python benchmarks/big_repo.py --sizes 2000,20000   # quicker
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from benchtable import Measure, print_table_header, report  # noqa: E402
from benchtable import run_child as run_child_script  # noqa: E402

RSS_GROWTH_LIMIT = 1.5
INCREMENTAL_SHARE_LIMIT = 0.05
CHANGED_FILES = 10


def child_main(files: int, work: str) -> None:
    """One size in this process: the peak RSS then belongs to this size alone."""
    from ingest import run_size

    from elysia_pipelines.weaviate.connection import WeaviateTarget
    from elysia_pipelines_tests.weaviate_server import start_server_process

    with start_server_process() as srv:
        target = WeaviateTarget.for_url(srv.url, srv.grpc_url)
        row = run_size(Path(work), target, srv.process.pid, files, CHANGED_FILES)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**asdict(row), "peak_rss_mb": peak_kb / 1024}))


def run_child(files: int, work: Path) -> dict[str, float]:
    return run_child_script(__file__, str(files), str(work))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated file counts")
    parser.add_argument("--child", nargs=2, metavar=("FILES", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(int(args.child[0]), args.child[1])
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    rows: list[dict[str, float]] = []
    for files in sizes:
        with tempfile.TemporaryDirectory(
            prefix=f"big-repo-{files}-", ignore_cleanup_errors=True
        ) as tmp:
            rows.append({"files": files, **run_child(files, Path(tmp))})

    print_table_header(
        f"{'files':>8} | {'full: extract s':>15} {'ingest s':>9} {'total s':>8} | "
        f"{f'incremental ({CHANGED_FILES}) s':>17} {'share':>7} | {'peak RSS MB':>11}",
        "wall clock",
    )
    measures: list[Measure] = []
    for row in rows:
        full = row["first_extract_s"] + row["first_ingest_s"]
        incremental = row["incremental_extract_s"] + row["incremental_ingest_s"]
        share = incremental / full
        print(
            f"{int(row['files']):>8,} | {row['first_extract_s']:>15.2f} "
            f"{row['first_ingest_s']:>9.2f} {full:>8.2f} | {incremental:>17.3f} "
            f"{share:>6.1%} | {row['peak_rss_mb']:>11.0f}"
        )
        measures.append(
            Measure(
                "big_repo",
                f"incremental sync share, {int(row['files']):,} files",
                round(share * 100, 2),
                "% of full",
                f"< {INCREMENTAL_SHARE_LIMIT:.0%}",
                round(share / INCREMENTAL_SHARE_LIMIT, 2),
                # The target is the big repository's; smaller rows show the trend.
                share < INCREMENTAL_SHARE_LIMIT if row is rows[-1] else None,
            )
        )
    smallest, largest = rows[0], rows[-1]
    growth = largest["peak_rss_mb"] / smallest["peak_rss_mb"]
    print(
        f"peak RSS {int(largest['files']):,} vs {int(smallest['files']):,} files: "
        f"{growth:.2f}x (limit {RSS_GROWTH_LIMIT}x)"
    )
    if len(rows) > 1:
        measures.append(
            Measure(
                "big_repo",
                f"peak RSS growth {int(smallest['files']):,} -> {int(largest['files']):,} files",
                round(growth, 2),
                "x",
                f"<= {RSS_GROWTH_LIMIT}x",
                round(growth / RSS_GROWTH_LIMIT, 2),
                growth <= RSS_GROWTH_LIMIT,
            )
        )
    missed = [m for m in measures if m.ok is False]
    for m in missed:
        print(f"MISSED: {m.measure}: {m.value} {m.unit} (target {m.target})")
    if not missed:
        print("targets met")
    return 0 if report(measures) else 1


if __name__ == "__main__":
    sys.exit(main())
