"""Burst benchmark: 100 repositories come due at once on one machine (issue 16.2, last part).

Generates `--repos` small real git repositories (the ones `scale_repos.py` makes: three
files, one commit), registers them the way `elysiactl repo add --no-sync` does (registry
row + Dagster dynamic partition), all due at once (never synced, a 30 min schedule), and
starts a real `dagster-daemon run` on a tmp DAGSTER_HOME whose `dagster.yaml` is the
project's (`dagster.yaml`: QueuedRunCoordinator, `max_concurrent_runs`,
the `elysia/stage=extract` tag limit, pools), with the Weaviate test server in a separate
process. Nothing is submitted by hand: the daemon's `due_syncs_sensor` asks for one
`extract_repository` run per repository, and its `pending_change_sets_sensor` for one
`ingest_pending` run per change set written, exactly as in production. `--extract-only`
stops once the extraction runs are done (ingestion runs may still be queued).

Measured while the burst drains:

* runs at once, two ways: sampled every 0.25 s from the instance (runs STARTING or
  STARTED, which is what the coordinator counts against its limits) and, afterwards,
  the sweep of the run records' start/end timestamps; the same for extraction runs
  against the tag limit, and steps in each pool against the pool limit (from the
  steps' start/end events);
* that every run succeeds and, once nothing is queued or running and pending/ is
  empty, every collection holds its repository's three documents; the wall time from
  the first run created to the last run's end;
* memory: every 0.25 s the RSS (and PSS) of every process in the daemon's session (the
  daemon, its code servers, the run workers it spawns and their git children), split
  into the run workers' trees and the rest.

Targets (exit status 1 on a miss): never more runs at once than `max_concurrent_runs`,
never more extraction runs than the tag limit, never more steps of a pool than its
limit, every run SUCCESS, every collection complete, and peak RSS of the whole session at most
`max_concurrent_runs` x (largest single run worker tree) + the largest RSS of the rest
(daemon + code servers + warm worker): queued runs must cost no memory. 100
repositories take ~85 s of runs on a shared 2-core machine with the shipped
WarmRunLauncher (15-30 minutes with Dagster's DefaultRunLauncher, which starts an
interpreter per run).

    .venv/bin/python benchmarks/burst.py
    .venv/bin/python benchmarks/burst.py --repos 20 --extract-only   # quicker
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchtable import Measure, report  # noqa: E402
from benchmarks.scale_repos import generate_repos, names_for  # noqa: E402
from elysia_pipelines import warm_worker  # noqa: E402
from elysia_pipelines.orchestration import open_instance  # noqa: E402
from elysia_pipelines_tests.daemon import running_daemon  # noqa: E402
from elysia_pipelines_tests.weaviate_server import start_server_process  # noqa: E402
from elysia_pipelines_tests.webserver import INSTANCE_TEMPLATE  # noqa: E402

INSTANCE_CONFIG = INSTANCE_TEMPLATE  # the project's dagster.yaml
SAMPLE_S = 0.25
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# A run worker is a child the code server starts with multiprocessing's "spawn".
WORKER_MARK = b"spawn_main"
WARM_MARK = b"elysia_pipelines.warm_worker import main"
FILES_PER_REPO = 3  # scale_repos.make_repo's README.md, src/main.py, src/util.py


@dataclass(frozen=True)
class Limits:
    max_runs: int
    tag_limits: dict[tuple[str, str], int]
    pool_default: int

    @classmethod
    def of(cls, config: dict[str, Any]) -> Limits:
        runs = config["concurrency"]["runs"]
        return cls(
            max_runs=int(runs["max_concurrent_runs"]),
            tag_limits={
                (t["key"], t["value"]): int(t["limit"])
                for t in runs.get("tag_concurrency_limits", [])
            },
            pool_default=int(config["concurrency"]["pools"]["default_limit"]),
        )


class Proc(NamedTuple):
    ppid: int
    rss_kb: int
    pss_kb: int  # shared pages divided among the processes sharing them
    cmdline: bytes


def _pss_kb(proc_dir: str) -> int:
    for line in Path(proc_dir, "smaps_rollup").read_bytes().splitlines():
        if line.startswith(b"Pss:"):
            return int(line.split()[1])
    return 0


def session_processes(sid: int) -> dict[int, Proc]:
    """Every live process in session `sid` (Linux /proc), by pid."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_bytes()
            fields = stat.rsplit(b")", 1)[1].split()
            if int(fields[3]) != sid:
                continue
            rss_pages = int(Path(entry.path, "statm").read_bytes().split()[1])
            pss = _pss_kb(entry.path)
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        found[int(entry.name)] = Proc(int(fields[1]), rss_pages * PAGE_KB, pss, cmdline)
    return found


def deployment_processes(daemon_sid: int, home: Path) -> dict[int, Proc]:
    """The daemon's session and the warm worker's (WarmRunLauncher forks run workers
    there, in a session of its own), by pid."""
    procs = session_processes(daemon_sid)
    for server in warm_worker.server_pids(home):
        procs.update(session_processes(server))
    return procs


def _owners(procs: dict[int, Proc]) -> dict[int, int | None]:
    """pid -> the run worker whose tree it is in (None: the daemon's side).

    A run worker is either spawned by a code server (DefaultRunLauncher) or a child of
    a warm worker (WarmRunLauncher); the warm worker itself counts with the daemon.
    """
    # Its forks carry its command line too: the server is the one whose parent does not.
    servers = {
        pid
        for pid, proc in procs.items()
        if WARM_MARK in proc.cmdline
        and WARM_MARK not in getattr(procs.get(proc.ppid), "cmdline", b"")
    }
    workers = {
        pid
        for pid, proc in procs.items()
        if WORKER_MARK in proc.cmdline or (proc.ppid in servers and pid not in servers)
    }
    owners: dict[int, int | None] = {}
    for pid in procs:
        node, owner = pid, None
        for _ in range(64):  # walk up to the worker that owns this process, if any
            if node in workers:
                owner = node
                break
            parent = procs.get(node)
            if parent is None:
                break
            node = parent.ppid
        owners[pid] = owner
    return owners


def split_memory(procs: dict[int, Proc], field: str) -> tuple[int, dict[int, int]]:
    """(KB outside run workers, {worker pid: KB of the worker and its descendants})."""
    owners = _owners(procs)
    trees: dict[int, int] = {o: 0 for o in owners.values() if o is not None}
    rest = 0
    for pid, proc in procs.items():
        owner = owners[pid]
        if owner is None:
            rest += getattr(proc, field)
        else:
            trees[owner] += getattr(proc, field)
    return rest, trees


def rest_processes(procs: dict[int, Proc]) -> list[tuple[int, str]]:
    """(RSS KB, command) of the processes outside run workers, largest first."""
    owners = _owners(procs)
    out = [
        (proc.rss_kb, proc.cmdline.replace(b"\0", b" ").decode(errors="replace")[:100])
        for pid, proc in procs.items()
        if owners[pid] is None
    ]
    return sorted(out, reverse=True)


@dataclass
class Samples:
    peak_total_kb: int = 0
    peak_rest_kb: int = 0
    idle_rest_kb: int = 0
    peak_run_tree_kb: int = 0  # largest single worker tree seen
    peak_total_pss_kb: int = 0
    peak_rest_pss_kb: int = 0
    peak_run_tree_pss_kb: int = 0
    worker_peaks_kb: dict[int, int] = field(default_factory=dict)  # worker pid -> its peak RSS
    peak_workers: int = 0  # worker processes alive at once
    peak_in_progress: int = 0  # runs STARTING or STARTED at once (instance)
    peak_extract_in_progress: int = 0
    peak_queued: int = 0
    count: int = 0
    rest_at_peak: list[tuple[int, str]] = field(default_factory=list)  # (RSS KB, command)
    errors: list[str] = field(default_factory=list)


def sample_forever(
    sid: int, home: Path, dagster_home: Path, samples: Samples, stop: threading.Event
) -> None:
    import dagster as dg

    instance = open_instance(dagster_home)
    in_progress = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    while not stop.wait(SAMPLE_S):
        procs = deployment_processes(sid, home)
        rest, trees = split_memory(procs, "rss_kb")
        samples.peak_total_kb = max(samples.peak_total_kb, rest + sum(trees.values()))
        if rest > samples.peak_rest_kb:
            samples.peak_rest_kb = rest
            samples.rest_at_peak = rest_processes(procs)
        samples.peak_run_tree_kb = max([samples.peak_run_tree_kb, *trees.values()])
        samples.peak_workers = max(samples.peak_workers, len(trees))
        for pid, kb in trees.items():
            samples.worker_peaks_kb[pid] = max(samples.worker_peaks_kb.get(pid, 0), kb)
        rest, trees = split_memory(procs, "pss_kb")
        samples.peak_total_pss_kb = max(samples.peak_total_pss_kb, rest + sum(trees.values()))
        samples.peak_rest_pss_kb = max(samples.peak_rest_pss_kb, rest)
        samples.peak_run_tree_pss_kb = max([samples.peak_run_tree_pss_kb, *trees.values()])
        try:
            runs = instance.get_runs(filters=dg.RunsFilter(statuses=in_progress))
            queued = instance.get_runs_count(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED])
            )
        except Exception as exc:  # a locked SQLite read: try again at the next sample
            samples.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        samples.peak_in_progress = max(samples.peak_in_progress, len(runs))
        extract = sum(1 for r in runs if r.tags.get("elysia/stage") == "extract")
        samples.peak_extract_in_progress = max(samples.peak_extract_in_progress, extract)
        samples.peak_queued = max(samples.peak_queued, queued)
        samples.count += 1


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at t closes before a start at t)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def step_intervals(instance: Any, run_ids: list[str]) -> dict[str, list[tuple[float, float]]]:
    """{step key: [(start, end)]} from every run's step events."""
    import dagster as dg

    ends = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}
    out: dict[str, list[tuple[float, float]]] = {}
    for run_id in run_ids:
        started: dict[str, float] = {}
        for record in instance.get_records_for_run(run_id, limit=10_000).records:
            event = record.event_log_entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                started[event.step_key] = record.event_log_entry.timestamp
            elif event.event_type in ends and event.step_key in started:
                out.setdefault(event.step_key, []).append(
                    (started.pop(event.step_key), record.event_log_entry.timestamp)
                )
    return out


def step_pools() -> dict[str, str]:
    """{step key (op name): pool} of the code location's assets."""
    from elysia_pipelines.definitions import defs

    pools = {}
    for job_name in ("extract_repository", "ingest_pending"):
        job = defs().resolve_job_def(job_name)
        for node in job.graph.node_defs:
            pool = getattr(node, "pool", None)
            if pool:
                pools[node.name] = pool
    return pools


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=100, help="Repositories due at once.")
    parser.add_argument(
        "--extract-only",
        action="store_true",
        help="Stop when the extraction runs are done (do not wait for ingestion).",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="Give up after this (s).")
    args = parser.parse_args()
    config = yaml.safe_load(INSTANCE_CONFIG.read_text())
    limits = Limits.of(config)
    extract_limit = limits.tag_limits.get(("elysia/stage", "extract"))

    with tempfile.TemporaryDirectory(prefix="burst-") as tmp, start_server_process() as server:
        tmp_path = Path(tmp)
        dagster_home = tmp_path / "dagster_home"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text(INSTANCE_CONFIG.read_text())
        env = dict(
            os.environ,
            ELYSIA_HOME=str(tmp_path / "home"),
            DAGSTER_HOME=str(dagster_home),
            WEAVIATE_MODE="url",
            WEAVIATE_URL=server.url,
            WEAVIATE_GRPC_URL=server.grpc_url,
        )
        env.pop("ELYSIA_FORCE_TERMINAL", None)
        os.environ.update(env)

        import dagster as dg

        from elysia_pipelines import orchestration
        from elysia_pipelines.defs.runs import ACTIVE
        from elysia_pipelines.registry import Registry, new_repository
        from elysia_pipelines.settings import Settings
        from elysia_pipelines.weaviate.connection import open_client
        from elysia_pipelines.weaviate.objects import count_or_zero

        settings = Settings.from_env().ensure_dirs()
        start = time.perf_counter()
        paths = generate_repos(tmp_path / "sources", args.repos)
        registry = Registry(settings.registry_path)
        names = names_for(args.repos)
        for name, path in zip(names, paths, strict=True):
            registry.add(new_repository(name, path.as_uri(), max_file_size=1 << 20, schedule="30m"))
        instance = orchestration.get_instance(settings)
        instance.add_dynamic_partitions(orchestration.PARTITIONS_NAME, names)
        print(
            f"{args.repos} repositories generated and registered in "
            f"{time.perf_counter() - start:.1f} s; all due (never synced, schedule 30m)",
            flush=True,
        )
        pools = step_pools()

        samples = Samples()
        stop = threading.Event()
        with running_daemon(dagster_home, env) as daemon:
            samples.idle_rest_kb = split_memory(
                deployment_processes(daemon.pid, settings.home), "rss_kb"
            )[0]
            sampler = threading.Thread(
                target=sample_forever,
                args=(daemon.pid, settings.home, dagster_home, samples, stop),
                name="burst-sampler",
                daemon=True,
            )
            sampler.start()
            print(f"daemon up (session RSS {samples.idle_rest_kb / 1024:.0f} MB)", flush=True)
            deadline = time.monotonic() + args.timeout
            last_line = ""
            failed: list[str] = []
            while True:
                records = instance.get_run_records()
                by_job: dict[str, dict[str, int]] = {}
                for r in records:
                    status = r.dagster_run.status.value
                    by_job.setdefault(r.dagster_run.job_name, {}).setdefault(status, 0)
                    by_job[r.dagster_run.job_name][status] += 1
                failed = [
                    f"{r.dagster_run.job_name} {r.dagster_run.tags.get('dagster/partition')} "
                    f"{r.dagster_run.status.value}"
                    for r in records
                    if r.dagster_run.status
                    in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
                ]
                extracted = by_job.get("extract_repository", {}).get("SUCCESS", 0)
                active = any(r.dagster_run.status in ACTIVE for r in records)
                drained = not active and not any(settings.pending_dir.glob("*/*.jsonl"))
                line = "  ".join(
                    f"{job}: " + ", ".join(f"{s} {n}" for s, n in sorted(st.items()))
                    for job, st in sorted(by_job.items())
                )
                if line != last_line:
                    stamp = datetime.now(UTC).strftime("%H:%M:%S")
                    print(f"{stamp} {line}", flush=True)
                    last_line = line
                if failed or (extracted >= args.repos and (args.extract_only or drained)):
                    break
                if time.monotonic() > deadline or daemon.poll() is not None:
                    failed.append("timed out" if daemon.poll() is None else "daemon exited")
                    break
                time.sleep(2)
            stop.set()
            sampler.join(timeout=10)
        records = list(instance.get_run_records())
        complete = 0  # collections holding all three files of their repository
        if not args.extract_only:
            with open_client(settings) as client:
                complete = sum(
                    count_or_zero(client, repo.collection) == FILES_PER_REPO
                    for repo in registry.list()
                )
        finished = [r for r in records if r.start_time and r.end_time]
        intervals = [(r.start_time, r.end_time) for r in finished]
        extract_intervals = [
            (r.start_time, r.end_time)
            for r in finished
            if r.dagster_run.tags.get("elysia/stage") == "extract"
        ]
        succeeded = {
            job: sum(
                1
                for r in records
                if r.dagster_run.job_name == job
                and r.dagster_run.status == dg.DagsterRunStatus.SUCCESS
            )
            for job in ("extract_repository", "ingest_pending")
        }
        first_created = min(r.create_timestamp.timestamp() for r in records) if records else 0.0
        last_end = max((r.end_time for r in finished), default=first_created)
        wall_s = last_end - first_created
        steps = step_intervals(instance, [r.dagster_run.run_id for r in finished])
        pool_steps: dict[str, list[tuple[float, float]]] = {}
        for step, spans in steps.items():
            if step in pools:
                pool_steps.setdefault(pools[step], []).extend(spans)
        per_run_s = [e - s for s, e in intervals]
        run_tree_mb = samples.peak_run_tree_kb / 1024
        peak_mb = samples.peak_total_kb / 1024
        rest_mb = samples.peak_rest_kb / 1024
        memory_bound = limits.max_runs * run_tree_mb + rest_mb

    rows: list[Measure] = []

    def row(label: str, value: float, unit: str, target: str, limit: float | None) -> None:
        ok = None if limit is None else value <= limit
        ratio = None if limit is None or not limit else round(value / limit, 2)
        rows.append(Measure("burst", label, round(value, 2), unit, target, ratio, ok))

    considered = [
        r for r in records if not (args.extract_only and r.dagster_run.job_name == "ingest_pending")
    ]
    not_succeeded = [r for r in considered if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    row(f"runs created ({args.repos} due repositories)", len(records), "runs", "-", None)
    row("runs that did not succeed", len(not_succeeded), "runs", "0", 0)
    rows.append(
        Measure(
            "burst",
            "extraction runs SUCCESS",
            succeeded["extract_repository"],
            "runs",
            f"= {args.repos}",
            None,
            succeeded["extract_repository"] == args.repos,
        )
    )
    if not args.extract_only:
        row("ingestion runs SUCCESS", succeeded["ingest_pending"], "runs", "-", None)
        rows.append(
            Measure(
                "burst",
                f"collections with all {FILES_PER_REPO} documents",
                complete,
                "collections",
                f"= {args.repos}",
                None,
                complete == args.repos,
            )
        )
    row(
        "max runs STARTING/STARTED at once (sampled)",
        samples.peak_in_progress,
        "runs",
        f"<= {limits.max_runs}",
        limits.max_runs,
    )
    row(
        "max runs started at once (run records' start/end)",
        max_overlap(intervals),
        "runs",
        f"<= {limits.max_runs}",
        limits.max_runs,
    )
    if extract_limit is not None:
        row(
            "max extraction runs at once (sampled)",
            samples.peak_extract_in_progress,
            "runs",
            f"<= {extract_limit}",
            extract_limit,
        )
        row(
            "max extraction runs at once (run records)",
            max_overlap(extract_intervals),
            "runs",
            f"<= {extract_limit}",
            extract_limit,
        )
    for pool, spans in sorted(pool_steps.items()):
        row(
            f"max steps of pool {pool!r} at once ({len(spans)} steps)",
            max_overlap(spans),
            "steps",
            f"<= {limits.pool_default}",
            limits.pool_default,
        )
    row("max runs queued at once (sampled)", samples.peak_queued, "runs", "-", None)
    row("max run worker processes alive at once", samples.peak_workers, "processes", "-", None)
    row("wall: first run created -> last run ended", wall_s, "s", "-", None)
    if per_run_s:
        per_run_s.sort()
        row("one run, started -> ended, median", per_run_s[len(per_run_s) // 2], "s", "-", None)
    row("RSS: daemon + code servers, idle", samples.idle_rest_kb / 1024, "MB", "-", None)
    row("RSS: daemon + code servers, peak", rest_mb, "MB", "-", None)
    worker_peaks = sorted(samples.worker_peaks_kb.values())
    if worker_peaks:
        median_mb = worker_peaks[len(worker_peaks) // 2] / 1024
        row(
            f"RSS: one run worker's peak, median of {len(worker_peaks)}", median_mb, "MB", "-", None
        )
    row("RSS: largest single run worker (with its git children)", run_tree_mb, "MB", "-", None)
    row("PSS: daemon + code servers, peak", samples.peak_rest_pss_kb / 1024, "MB", "-", None)
    row("PSS: largest single run worker", samples.peak_run_tree_pss_kb / 1024, "MB", "-", None)
    row("PSS: peak of the whole session", samples.peak_total_pss_kb / 1024, "MB", "-", None)
    row(
        "peak RSS of the whole session",
        peak_mb,
        "MB",
        f"<= {memory_bound:.0f} MB",
        memory_bound,
    )

    load = os.getloadavg()[0]
    print(
        f"\n{args.repos} repositories due at once; limits from {INSTANCE_CONFIG.name}: "
        f"max_concurrent_runs {limits.max_runs}, extract tag limit {extract_limit}, pools "
        f"{limits.pool_default}; {samples.count} samples; load average {load:.1f}"
    )
    if samples.errors:
        print(f"({len(samples.errors)} samples skipped: {samples.errors[0]})")
    print("processes outside run workers at their peak (RSS MB, command):")
    for rss, cmd in samples.rest_at_peak[:8]:
        print(f"  {rss / 1024:7.1f}  {cmd}")
    for problem in failed[:10]:
        print(f"NOT DONE: {problem}")
    print(f"{'measure':<60} {'value':>9} {'unit':<9} {'target':>12}  ok")
    for m in rows:
        verdict = "-" if m.ok is None else "yes" if m.ok else "NO"
        print(f"{m.measure:<60} {m.value:>9g} {m.unit:<9} {m.target:>12}  {verdict}")
    if not report(rows) or failed:
        print("TARGET MISSED: " + ", ".join(m.measure for m in rows if m.ok is False))
        return 1
    print("targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
