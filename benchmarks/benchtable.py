"""What every benchmark reports, in one shape, so `benchmarks/run_all.py` can make one table.

Each benchmark keeps printing its own human table; at the end it also calls `report()`
with its measures. When `run_all.py` runs it, the environment variable
`ELYSIA_BENCH_RESULTS` names a JSON-lines file and every measure is appended there as
one line; run alone, `report()` only returns whether every target was met. Parsing the
human tables instead would break whenever a column moves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_ENV = "ELYSIA_BENCH_RESULTS"


@dataclass(frozen=True)
class Measure:
    """One measured value against its target.

    `ratio` is the value in units of its target or yardstick (e.g. 1.7 = 1.7x the
    yardstick's time); `ok` is None for context rows that have no target.
    """

    benchmark: str
    measure: str
    value: float
    unit: str
    target: str = "-"
    ratio: float | None = None
    ok: bool | None = None


def report(measures: list[Measure]) -> bool:
    """Append `measures` to the results file if one is set; True when none missed."""
    path = os.environ.get(RESULTS_ENV)
    if path:
        with Path(path).open("a", encoding="utf-8") as out:
            for measure in measures:
                out.write(json.dumps(asdict(measure)) + "\n")
    return all(m.ok is not False for m in measures)


def finish(measures: list[Measure], met: str = "targets met") -> int:
    """Report `measures` and say which missed; the exit status of a benchmark's `main()`."""
    if not report(measures):
        print("TARGET MISSED: " + ", ".join(m.measure for m in measures if m.ok is False))
        return 1
    print(met)
    return 0


def verdict(failures: list[str], met: str | None = None) -> int:
    """Print each missed target (or `met`, when given and none missed); the exit status of
    a benchmark that checks its targets in its own words rather than as `Measure`s."""
    for failure in failures:
        print(f"MISSED: {failure}")
    if met is not None and not failures:
        print(met)
    return 1 if failures else 0


def run_child(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """`python SCRIPT --child ARGS` in a fresh interpreter, so its peak memory and import
    cost are its own; returns the JSON object on its last stdout line. A failed child ends
    the benchmark, with the child's stderr."""
    proc = subprocess.run(
        [sys.executable, str(Path(script).resolve()), "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"benchmark child failed: {Path(script).name} {' '.join(args)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load_average() -> float:
    """The 1-minute load average (NaN where the platform has none): timings depend on it."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def print_table_header(header: str, timings: str) -> None:
    """The machine line (CPUs, load: what the figures depend on), then `header` underlined."""
    print(f"machine: {os.cpu_count()} CPUs, load average {load_average():.1f} ({timings})")
    print(header)
    print("-" * len(header))


def read_results(path: Path) -> list[Measure]:
    """The measures a run appended to `path` (none when the file is missing)."""
    if not path.exists():
        return []
    return [
        Measure(**json.loads(line))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
