"""Extraction benchmark: is turning a repository into a change set fast and lean enough?

Builds (or takes with --repo) a repository of source-like text, then measures:

* full extraction (first sync: every file into one change set) and files/s;
* the floor: `git archive HEAD | tar -x`, the least work that materialises every
  file of a commit, and the ratio of the two (target: within 3x); for context
  also `git archive > /dev/null`, git reading every blob and writing nothing;
* incremental extraction after 10 changed files, as a share of the full run
  (target: under 5%);
* peak RSS of the process doing the extraction, measured in a child process, for
  the full repository and for one a quarter of its size (target: under 300 MB and
  not growing with the repository: the larger run may use at most 1.5x).

Every extraction runs in a fresh child Python process, so one run's memory cannot
hide another's. Exits non-zero when a target is missed.

    .venv/bin/python benchmarks/extraction.py                 # 10,000 files, ~50 MB
    .venv/bin/python benchmarks/extraction.py --files 2000    # quicker
    .venv/bin/python benchmarks/extraction.py --repo path/to/repo.git
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchtable import run_child as run_child_script  # noqa: E402
from benchmarks.benchtable import verdict  # noqa: E402
from elysia_pipelines_tests.gitrepo import git_env  # noqa: E402

FULL_TARGET_RATIO = 3.0
INCREMENTAL_TARGET_SHARE = 0.05
RSS_TARGET_MB = 300.0
RSS_GROWTH_LIMIT = 1.5
EXCLUDE = ["node_modules/**", "*.min.js"]
MAX_FILE_SIZE = 1_000_000
CHANGED_FILES = 10

# Fixed identity, no user or system git config: the same repository on every machine.
_GIT_ENV = git_env()

_EXTENSIONS = [".py", ".py", ".ts", ".js", ".go", ".java", ".rs", ".md", ".yaml", ".c"]
_WORDS = [
    "user",
    "account",
    "order",
    "item",
    "price",
    "total",
    "count",
    "index",
    "value",
    "result",
    "config",
    "client",
    "server",
    "request",
    "response",
    "handler",
    "session",
    "token",
    "cache",
    "queue",
    "worker",
    "event",
    "record",
    "batch",
    "stream",
    "buffer",
    "parser",
    "writer",
    "reader",
    "commit",
    "branch",
    "mirror",
    "change",
    "document",
    "collection",
    "backup",
]


def _line_pool(rng: random.Random, size: int = 4000) -> list[str]:
    """Source-looking lines; files are slices of these plus a unique header."""
    templates = [
        "def {a}_{b}({c}, {d}=None):",
        "    {a} = {b}.{c}({d})",
        "    if {a} is not None and {b} > {n}:",
        "        return {a}_{b}[{n}]",
        "    for {a} in {b}_{c}:",
        "        {a}.append({b} + {n})",
        "const {a}{B} = await {c}.{d}({n});",
        "// {a} {b} {c}: keep {d} in sync with the {a} {b}",
        "    # {a} the {b} before {c} the {d}",
        'logger.info("{a} {b} %s", {c})',
        "class {A}{B}({C}):",
        "    {a}: {b} = field(default_factory={c})",
        "",
    ]
    pool = []
    for _ in range(size):
        words = [rng.choice(_WORDS) for _ in range(4)]
        template = rng.choice(templates)
        pool.append(
            template.format(
                a=words[0],
                b=words[1],
                c=words[2],
                d=words[3],
                A=words[0].title(),
                B=words[1].title(),
                C=words[2].title(),
                n=rng.randint(0, 999),
            )
        )
    return pool


def _file_content(rng: random.Random, pool: list[str], index: int, target: int) -> bytes:
    lines = [f"# generated file {index}: {rng.random():.12f}"]
    size = len(lines[0])
    start = rng.randrange(len(pool))
    step = rng.choice((1, 3, 7, 11))
    position = start
    while size < target:
        line = pool[position % len(pool)]
        lines.append(line)
        size += len(line) + 1
        position += step
    return ("\n".join(lines) + "\n").encode()


def generate_repository(path: Path, files: int, *, seed: int = 42) -> tuple[str, str]:
    """A bare repo with `files` files (~5 KB each) in one commit, then a commit changing 10.

    Uses `git fast-import`, which writes a 10,000-file commit in seconds without a
    work tree. Returns (first commit, second commit).
    """
    rng = random.Random(seed)
    pool = _line_pool(rng)
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True, env=_GIT_ENV)
    paths: list[str] = []
    for index in range(files):
        depth = rng.randint(1, 4)
        parts = [f"{rng.choice(_WORDS)}{rng.randint(0, 40)}" for _ in range(depth)]
        paths.append("/".join([*parts, f"file_{index}{rng.choice(_EXTENSIONS)}"]))

    def blob_commands(stream: list[bytes], mark: int, data: bytes) -> None:
        stream.append(f"blob\nmark :{mark}\ndata {len(data)}\n".encode() + data + b"\n")

    def commit_header(stream: list[bytes], message: str, when: int) -> None:
        # A second commit on the same branch in one stream continues from its tip.
        msg = message.encode()
        stream.append(
            f"commit refs/heads/main\ncommitter bench <bench@example.com> {when} +0000\n"
            f"data {len(msg)}\n".encode()
            + msg
            + b"\n"
        )

    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE, env=_GIT_ENV
    )
    assert proc.stdin is not None
    chunk: list[bytes] = []
    for index in range(files):
        size = int(rng.lognormvariate(8.3, 0.6))  # median ~4 KB, mean ~5 KB
        blob_commands(chunk, index + 1, _file_content(rng, pool, index, min(size, 200_000)))
        if len(chunk) >= 500:
            proc.stdin.write(b"".join(chunk))
            chunk = []
    commit_header(chunk, "initial", 1_700_000_000)
    for index, file_path in enumerate(paths):
        chunk.append(f"M 100644 :{index + 1} {file_path}\n".encode())
    chunk.append(b"\n")
    changed = rng.sample(range(files), CHANGED_FILES)
    for offset, index in enumerate(changed):
        blob_commands(chunk, files + offset + 1, _file_content(rng, pool, -index, 4000))
    commit_header(chunk, f"change {CHANGED_FILES} files", 1_700_000_100)
    for offset, index in enumerate(changed):
        chunk.append(f"M 100644 :{files + offset + 1} {paths[index]}\n".encode())
    chunk.append(b"\n")
    proc.stdin.write(b"".join(chunk))
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "gc", "-q"], cwd=path, check=True, env=_GIT_ENV)
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=path, check=True)
    # `synced` is where the previous sync stopped; `main` is 10 changed files later.
    subprocess.run(["git", "branch", "-f", "synced", "main~1"], cwd=path, check=True)
    return _rev(path, "main~1"), _rev(path, "main")


def _rev(repo: Path, rev: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", rev], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def _current_branch(repo: Path) -> str:
    ref = subprocess.run(
        ["git", "symbolic-ref", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    return ref or "main"


def git_archive_floor(repo: Path, work: Path, commit: str) -> float:
    target = work / "archive"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    started = time.perf_counter()
    archive = subprocess.Popen(["git", "archive", commit], cwd=repo, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit("git archive failed")
    elapsed = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    return elapsed


def git_read_floor(repo: Path, commit: str) -> float:
    """`git archive > /dev/null`: reading every blob with nothing written to disk."""
    started = time.perf_counter()
    subprocess.run(["git", "archive", commit], cwd=repo, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run_child(
    repo: Path, out: Path, from_commit: str | None, seq: int, branch: str
) -> dict[str, float]:
    """One extraction in a fresh interpreter; returns its timing and peak memory."""
    shutil.rmtree(out, ignore_errors=True)
    return run_child_script(__file__, str(repo), str(out), from_commit or "-", str(seq), branch)


def child_main(repo: str, out: str, from_commit: str, seq: str, branch: str) -> None:
    from elysia_pipelines.changes.extract import ChangeSetTarget, ExtractOptions, extract_change_set
    from elysia_pipelines.changes.patterns import FileFilter
    from elysia_pipelines.changes.reader import validate_change_set

    started = time.perf_counter()
    result = extract_change_set(
        Path(repo),
        ChangeSetTarget(repo="bench", collection="Bench", out_dir=Path(out), seq=int(seq)),
        ExtractOptions(
            from_commit=None if from_commit == "-" else from_commit,
            branch=branch,
            rules=FileFilter.of((), EXCLUDE, MAX_FILE_SIZE),
        ),
    )
    elapsed = time.perf_counter() - started
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB
    git_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    valid = result.path is not None and validate_change_set(result.path).ok
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "rss_mb": self_rss,
                "git_rss_mb": git_rss,
                "changed": result.changed_files,
                "tracked": result.tracked_files,
                "bytes": result.bytes_written,
                "valid": valid,
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="benchmark this repository instead")
    parser.add_argument("--files", type=int, default=10_000, help="files in the generated repo")
    parser.add_argument("--work-dir", type=Path, help="where to build (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for the timings")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="elysia-bench-extraction-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, work)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, work: Path) -> int:
    print(f"==> building repositories in {work}", flush=True)
    started = time.perf_counter()
    if args.repo:
        # The previous sync stopped at HEAD~1 (branch `synced`), the new one at HEAD.
        repo = args.repo.resolve()
        base = _rev(repo, "HEAD~1")
        subprocess.run(["git", "branch", "-f", "synced", base], cwd=repo, check=True)
        small = None
    else:
        repo = work / "large.git"
        base, _head = generate_repository(repo, args.files)
        small = work / "small.git"
        generate_repository(small, max(args.files // 4, 1), seed=7)
    print(f"    built in {time.perf_counter() - started:.1f} s", flush=True)

    branch = _current_branch(repo)
    floor = min(git_archive_floor(repo, work, base) for _ in range(args.repeat))
    read_floor = min(git_read_floor(repo, base) for _ in range(args.repeat))
    # Full: the first sync, at `synced`. Incremental: `synced`..head, as the next sync
    # of the pipeline would run it (after a full sync of the same mirror).
    fulls = [run_child(repo, work / f"full{i}", None, 1, "synced") for i in range(args.repeat)]
    full = min(fulls, key=lambda r: r["seconds"])
    incs = [run_child(repo, work / f"inc{i}", base, 2, branch) for i in range(args.repeat + 1)]
    inc = min(incs, key=lambda r: r["seconds"])
    small_run = run_child(small, work / "small", None, 1, "synced") if small else None

    files = int(full["tracked"])
    ratio = full["seconds"] / floor
    share = inc["seconds"] / full["seconds"]
    peak = max(r["rss_mb"] for r in fulls)
    rows = [
        ("files in change set", f"{files:,}", ""),
        ("change set size", f"{full['bytes'] / 1e6:.1f} MB", ""),
        ("git archive | tar -x (floor)", f"{floor:.2f} s", ""),
        (
            "full extraction",
            f"{full['seconds']:.2f} s ({files / full['seconds']:,.0f} files/s, "
            f"{full['bytes'] / full['seconds'] / 1e6:.1f} MB/s)",
            "",
        ),
        ("full / floor", f"{ratio:.2f}x", f"< {FULL_TARGET_RATIO:.0f}x"),
        (
            "full / git archive > /dev/null",
            f"{full['seconds'] / read_floor:.2f}x ({read_floor:.2f} s, no files written)",
            "",
        ),
        (
            f"incremental ({CHANGED_FILES} files)",
            f"{inc['seconds'] * 1000:.0f} ms ({int(inc['changed'])} changes)",
            "",
        ),
        ("incremental / full", f"{share * 100:.1f}%", f"< {INCREMENTAL_TARGET_SHARE * 100:.0f}%"),
        (
            "peak RSS, full extraction",
            f"{peak:.0f} MB (git helper {full['git_rss_mb']:.0f} MB)",
            f"< {RSS_TARGET_MB:.0f} MB",
        ),
    ]
    failures = []
    if not all(r["valid"] for r in (*fulls, *incs)):
        failures.append("a change set did not validate")
    if ratio > FULL_TARGET_RATIO:
        failures.append(f"full extraction {ratio:.2f}x the git-archive floor")
    if share > INCREMENTAL_TARGET_SHARE:
        failures.append(f"incremental {share * 100:.1f}% of full")
    if peak > RSS_TARGET_MB:
        failures.append(f"peak RSS {peak:.0f} MB")
    if small_run is not None:
        growth = peak / small_run["rss_mb"]
        rows.append(
            (
                f"peak RSS at {int(small_run['tracked']):,} files",
                f"{small_run['rss_mb']:.0f} MB (growth x{growth:.2f} for 4x files)",
                f"< x{RSS_GROWTH_LIMIT}",
            )
        )
        if growth > RSS_GROWTH_LIMIT:
            failures.append(f"memory grows with repository size (x{growth:.2f})")
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"\n| {'measure'.ljust(width)} | {'value'.ljust(value_width)} | target |")
    print(f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|--------|")
    for name, value, target in rows:
        print(f"| {name.ljust(width)} | {value.ljust(value_width)} | {target} |")
    print()
    return verdict(failures, "all extraction targets met")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--child":
        child_main(*sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
