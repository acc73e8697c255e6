"""Run every benchmark and print one table of what each measured against its target.

`./dev.sh bench` calls this. Each benchmark runs as its own process (as a user would
run it, so one cannot warm another's caches) with `ELYSIA_BENCH_RESULTS` naming a
results file that `benchtable.report()` appends to; a benchmark that reports no
measures still gets a row for its exit status. Exits non-zero when any target was
missed or any benchmark failed.

    .venv/bin/python benchmarks/run_all.py
    .venv/bin/python benchmarks/run_all.py --only cli_speed,repo_sync
    .venv/bin/python benchmarks/run_all.py --skip conformance
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchtable import RESULTS_ENV, Measure, load_average, read_results  # noqa: E402

NOT_BENCHMARKS = {"benchtable", "bench_backups", "run_all"}  # helper modules, not scripts


def benchmarks() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in NOT_BENCHMARKS)


def _names(text: str | None) -> set[str]:
    return {n.strip() for n in (text or "").split(",") if n.strip()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--skip", help="comma-separated benchmark names to leave out")
    args = parser.parse_args()
    names = benchmarks()
    unknown = (_names(args.only) | _names(args.skip)) - set(names)
    if unknown:
        print(f"error: no benchmark named {', '.join(sorted(unknown))}", file=sys.stderr)
        print(f"hint: choose from {', '.join(names)}", file=sys.stderr)
        return 2
    if args.only:
        names = [n for n in names if n in _names(args.only)]
    names = [n for n in names if n not in _names(args.skip)]

    measures: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="bench-results-") as tmp:
        for name in names:
            results = Path(tmp) / f"{name}.jsonl"
            print(f"==> {name}", flush=True)
            started = time.perf_counter()
            rc = subprocess.call(
                [sys.executable, str(HERE / f"{name}.py")],
                env={**os.environ, RESULTS_ENV: str(results)},
            )
            elapsed = time.perf_counter() - started
            reported = read_results(results)
            measures.extend(reported)
            if not reported:  # its own table only: the exit status is its verdict
                measures.append(
                    Measure(name, f"exit status ({elapsed:.0f} s)", rc, "", "0", None, rc == 0)
                )
            elif rc != 0 and all(m.ok is not False for m in reported):
                measures.append(
                    Measure(name, "failed without a missed target", rc, "", "0", None, False)
                )

    print()
    print(f"all benchmarks ({os.cpu_count()} CPUs, load average now {load_average():.1f})")
    header = f"{'benchmark':<20} {'measure':<58} {'value':>12} {'target':>12} {'ratio':>6}  ok"
    print(header)
    print("-" * len(header))
    for m in measures:
        value = f"{m.value:g} {m.unit}".strip()
        ratio = f"{m.ratio:.2f}" if m.ratio is not None else "-"
        ok = {True: "yes", False: "MISSED", None: "-"}[m.ok]
        print(f"{m.benchmark:<20} {m.measure[:58]:<58} {value:>12} {m.target:>12} {ratio:>6}  {ok}")
    missed = [m for m in measures if m.ok is False]
    print()
    print(f"{len(missed)} missed" if missed else "every target met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
