"""Conformance: the official weaviate-client integration suite against our test server.

The test server (`elysia_pipelines_tests/weaviate_server/`) stands in for Weaviate in
every test of this project, so the suite proves only as much as the server is faithful.
This script takes the integration suite (`integration/` of the client's sdist) of the
exact weaviate-client version pinned in `uv.lock`, starts the test server in a
separate process and runs the modules that matter to a sync/backup/restore tool
against it. The client skips tests for features newer than the version the server
reports (1.32.0), so those count as skipped, as they would against a real 1.32.

It prints passed/failed/skipped per module and the modules it does not run, with the
reason. Exit status 1 when a test fails that `conformance/expected_divergences.txt`
does not list, or when fewer than 90 % of the tests that ran (passed + failed) pass.

    .venv/bin/python benchmarks/conformance.py
    .venv/bin/python benchmarks/conformance.py --modules test_collection_filter -k like
    .venv/bin/python benchmarks/conformance.py --workers 2

The sdist is cached under `.cache/conformance/` (gitignored); pytest-asyncio and
polars, which the suite imports but this project does not need, are added for the run
only (`uv run --with`), so `uv.lock` is untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # this checkout's test server, not an installed one
    sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent / "conformance"
CACHE = ROOT / ".cache" / "conformance"
DIVERGENCES = HERE / "expected_divergences.txt"
TARGET_PASS_RATE = 0.90

# Modules that exercise what a sync/backup/restore tool relies on.
RELEVANT = [
    "test_collection",
    "test_collection_config",
    "test_collection_batch",
    "test_batch_v4",
    "test_collection_batch_delete",
    "test_collection_filter",
    "test_collection_get",
    "test_iterator",
    "test_collection_aggregate",
    "test_collection_near_vector",
    "test_backup_v4",
    "test_vectors",
    "test_collection_nested",
    "test_tenants",
]

# The suite's CI starts several Weaviates (ci/docker-compose*.yml in the sdist) and some
# tests pick one by port. Those whose setup matters get a test server configured like
# it; every other local port goes to the default one. (ports, server options, why)
SERVER_PROFILES: list[tuple[tuple[int, ...], dict[str, object], str]] = [
    (
        (8086, 50057),
        {
            "modules": [
                "text2colbert-jinaai",
                "text2vec-openai",
                "generative-openai",
                "text2vec-cohere",
                "generative-cohere",
                "reranker-cohere",
            ]
        },
        "docker-compose-modules.yml: its ENABLE_MODULES",
    ),
    ((8087, 50058), {"nodes": 3}, "docker-compose-cluster.yml: three nodes"),
]

# Every other module of the suite, and why it is not run.
NOT_MODELLED = {
    "test_alias": "collection aliases: not modelled (the project never uses them)",
    "test_auth": "authentication (OIDC, API keys): the test server has no auth",
    "test_client": "client-level features (GraphQL raw queries, headers, proxies, timeouts)",
    "test_client_debug": "debug endpoints of a real node",
    "test_collection_async": "async twins of test_collection; the project's async path is tested in-tree",
    "test_collection_boost": "query boosting (1.33+ features)",
    "test_collection_diversity": "diversity selection (newer than 1.32)",
    "test_collection_diversity_hybrid": "diversity selection (newer than 1.32)",
    "test_collection_geo": "geo-coordinate filters: not modelled",
    "test_collection_hfresh": "HFresh vector index: not modelled",
    "test_collection_hybrid": "hybrid fusion details (ranked fusion, explain scores, max vector distance) not modelled: 12/28 pass",
    "test_collection_model": "typed generics over vectorizer modules",
    "test_collection_multi_node": "cluster of several nodes: the server is one node",
    "test_collection_openai": "vectorizer/generative modules (OpenAI): the server never vectorizes",
    "test_collection_query_profile": "query profiling (newer than 1.32)",
    "test_collection_references": "cross-references: the project stores none",
    "test_collection_rerank": "reranker modules: refused",
    "test_collections_sorting": "sorting by vectorizer-backed collections on a real node",
    "test_export": "collection export (newer than 1.32)",
    "test_gql_raw_v4": "raw GraphQL: the server speaks REST and gRPC only",
    "test_groups": "group-by searches: refused",
    "test_rbac": "RBAC: the server has no users or roles",
    "test_replicate": "replica movement between nodes: the server is one node",
    "test_tokenize": "tokenize endpoint (newer than 1.32)",
    "test_users": "user management: the server has no users",
}


@dataclass
class ModuleResult:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


def locked_client_version() -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    for package in lock["package"]:
        if package["name"] == "weaviate-client":
            return str(package["version"])
    raise SystemExit("error: weaviate-client is not in uv.lock\nhint: run `.tools/bin/uv lock`")


def pip_command() -> list[str]:
    """pip of this interpreter, else the one of the bootstrap venv dev.sh installs uv into."""
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    tools = ROOT / ".tools" / "bin" / "python"
    if tools.exists():
        return [str(tools), "-m", "pip"]
    raise SystemExit("error: no pip to download the sdist with\nhint: run ./dev.sh setup first")


def integration_suite(version: str) -> Path:
    """The sdist's `integration/` folder, downloaded and unpacked once per version."""
    target = CACHE / f"weaviate-client-{version}"
    if (target / "integration" / "conftest.py").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    sdist = CACHE / f"weaviate_client-{version}.tar.gz"
    if not sdist.exists():
        print(f"==> downloading the weaviate-client {version} sdist", flush=True)
        subprocess.run(
            [
                *pip_command(),
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"weaviate-client=={version}",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
    prefix = f"weaviate_client-{version}/integration/"
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers() if m.name.startswith(prefix)]
        archive.extractall(tmp, members=members, filter="data")
        os.replace(Path(tmp) / f"weaviate_client-{version}", target)
    return target


def suite_requirements(suite: Path, version: str) -> list[str]:
    """Test-only packages the suite imports, pinned as its own requirements file pins them."""
    sdist = CACHE / f"weaviate_client-{version}.tar.gz"
    pins: dict[str, str] = {"pytest-asyncio": "pytest-asyncio", "polars": "polars"}
    with tarfile.open(sdist) as archive:
        for name in ("requirements-test.txt", "requirements-devel.txt"):
            member = archive.extractfile(f"weaviate_client-{version}/{name}")
            if member is None:
                continue
            for line in member.read().decode().splitlines():
                requirement = line.split("#")[0].strip()
                for package in pins:
                    if (
                        requirement.startswith(package)
                        and requirement[len(package) :][:1] in "=<>!~"
                    ):
                        pins[package] = requirement
    return list(pins.values())


def load_divergences() -> dict[str, str]:
    divergences: dict[str, str] = {}
    for line in DIVERGENCES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test_id, _, reason = line.partition("  # ")
        divergences[test_id.strip()] = reason.strip()
    return divergences


def parse_junit(report: Path) -> dict[str, ModuleResult]:
    results: dict[str, ModuleResult] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        result = results.setdefault(module, ModuleResult())
        test_id = f"{module}::{case.get('name')}"
        outcome = {child.tag for child in case}
        if outcome & {"failure", "error"}:
            if "skipped" in outcome:  # an error in teardown of a skipped test
                result.skipped += 1
            else:
                result.failed += 1
                result.failures.append(test_id)
        elif "skipped" in outcome:
            result.skipped += 1
        else:
            result.passed += 1
    return results


def run_suite(suite: Path, version: str, modules: list[str], args: argparse.Namespace) -> Path:
    from elysia_pipelines_tests.weaviate_server.process import start_server_process

    report = CACHE / "report.xml"
    report.unlink(missing_ok=True)
    uv = ROOT / ".tools" / "bin" / "uv"
    extras = [f"--with={requirement}" for requirement in suite_requirements(suite, version)]
    command = [
        str(uv) if uv.exists() else "uv",
        "run",
        "--frozen",
        "--no-sync",
        "--project",
        str(ROOT),
        *extras,
        "python",
        "-m",
        "pytest",
        *[f"integration/{module}.py" for module in modules],
        "-p",
        "remap_ports",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-q",
        "--tb=line",
        "-rN",
        f"--timeout={args.timeout}",
        f"--junitxml={report}",
        "-n",
        str(args.workers),
    ]
    if args.k:
        command += ["-k", args.k]
    workers = max(1, args.workers)
    with tempfile.TemporaryDirectory() as backups, contextlib.ExitStack() as stack:
        # One server per xdist worker and profile (remap_ports picks it): some modules
        # empty the whole server, which would pull collections from under another worker.
        servers = [
            stack.enter_context(start_server_process(backup_dir=Path(backups) / str(i)))
            for i in range(workers)
        ]
        port_map: dict[str, list[tuple[int, int]]] = {
            "default": [(s.http_port, s.grpc_port) for s in servers]
        }
        for ports, options, _why in SERVER_PROFILES:
            started = [
                stack.enter_context(start_server_process(**options))  # type: ignore[arg-type]
                for _ in range(workers)
            ]
            servers += started
            port_map[",".join(map(str, ports))] = [(s.http_port, s.grpc_port) for s in started]
        env = {
            **os.environ,
            "CONFORMANCE_PORTS": json.dumps(port_map),
            "PYTHONPATH": str(HERE),
        }
        print(
            f"==> running {len(modules)} modules against {len(servers)} test servers "
            f"({workers} per profile: default, "
            f"{', '.join(why for _, _, why in SERVER_PROFILES)})",
            flush=True,
        )
        log = CACHE / "pytest.log"
        with log.open("w") as out:
            subprocess.run(command, cwd=suite, env=env, stdout=out, stderr=subprocess.STDOUT)
    if not report.exists():
        raise SystemExit(f"error: pytest wrote no report\nhint: see {log.relative_to(ROOT)}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modules", default=",".join(RELEVANT), help="comma-separated module names"
    )
    parser.add_argument("-k", default="", help="pytest -k expression")
    parser.add_argument("--workers", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test")
    parser.add_argument(
        "--from-report", action="store_true", help="print the table of the last run without running"
    )
    args = parser.parse_args(argv)
    modules = [m.strip().removesuffix(".py") for m in args.modules.split(",") if m.strip()]

    version = locked_client_version()
    suite = integration_suite(version)
    started = time.monotonic()
    report = CACHE / "report.xml" if args.from_report else run_suite(suite, version, modules, args)
    results = parse_junit(report)
    elapsed = time.monotonic() - started
    divergences = load_divergences()

    print(
        f"\nweaviate-client {version} integration suite against the test server ({elapsed:.0f} s)"
    )
    print(f"{'module':<32} {'passed':>7} {'failed':>7} {'skipped':>8} {'pass %':>7}")
    totals: Counter[str] = Counter()
    unexpected: list[str] = []
    for module in modules:
        result = results.get(module, ModuleResult())
        ran = result.passed + result.failed
        rate = f"{100 * result.passed / ran:.1f}" if ran else "-"
        print(f"{module:<32} {result.passed:>7} {result.failed:>7} {result.skipped:>8} {rate:>7}")
        totals.update(passed=result.passed, failed=result.failed, skipped=result.skipped)
        unexpected += [t for t in result.failures if t not in divergences]
    ran = totals["passed"] + totals["failed"]
    rate = totals["passed"] / ran if ran else 0.0
    print(
        f"{'total':<32} {totals['passed']:>7} {totals['failed']:>7} {totals['skipped']:>8} "
        f"{100 * rate:>7.1f}"
    )
    present = {p.stem for p in (suite / "integration").glob("test_*.py")}
    print("\nnot run (not modelled by the test server):")
    for module in sorted(present - set(modules)):
        print(
            f"  {module:<34} {NOT_MODELLED.get(module, 'not classified: add it to RELEVANT or NOT_MODELLED')}"
        )
    failed_ids = {t for r in results.values() for t in r.failures}
    stale = sorted(t for t in divergences if t not in failed_ids and t.split("::")[0] in modules)
    if stale and not args.k:
        print(
            f"\n{len(stale)} listed divergences passed or did not run (remove them from the list):"
        )
        for test_id in stale:
            print(f"  {test_id}")
    ok = True
    if unexpected:
        ok = False
        print(
            f"\nFAILED: {len(unexpected)} failures not listed in {DIVERGENCES.relative_to(ROOT)}:"
        )
        for test_id in unexpected:
            print(f"  {test_id}")
    if rate < TARGET_PASS_RATE and not args.k:
        ok = False
        print(f"\nFAILED: pass rate {100 * rate:.1f} % is below {100 * TARGET_PASS_RATE:.0f} %")
    print("\nOK" if ok else f"\n(pytest output: {(CACHE / 'pytest.log').relative_to(ROOT)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
