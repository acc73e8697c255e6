"""The commands people type to look around must start fast: no heavy library behind them.

weaviate-client, pyarrow, pandas, duckdb, dagster (and git, grpc) together take
seconds to import. Each command below runs in a fresh interpreter (as the console
script does) and reports at exit which of them ended up in `sys.modules`, so one
stray top-level import anywhere under `elysia_pipelines.cli` fails here by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import weaviate
from weaviate.classes.config import Configure

from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.gitrepo import make_repo
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

FORBIDDEN = ("weaviate", "pyarrow", "pandas", "duckdb", "dagster", "git", "grpc", "numpy")

# Runs the real Typer app the console script runs, then prints the top-level
# packages of every forbidden module loaded, whatever the exit status.
WRAPPER = """
import atexit, json, sys
forbidden = set(json.loads(sys.argv[1]))
def report():
    loaded = sorted({name.split(".")[0] for name in sys.modules} & forbidden)
    sys.stderr.write("LOADED " + json.dumps(loaded) + "\\n")
atexit.register(report)
from elysia_pipelines.cli.main import app
sys.argv = ["elysiactl", *sys.argv[2:]]
app()
"""

COMMANDS = [
    ["--help"],
    ["--version"],
    ["repo", "--help"],
    ["col", "--help"],
    ["repo", "list"],
    ["repo", "list", "--json"],
    ["repo", "status"],
    ["repo", "status", "--json"],
    ["col", "catalog", "list"],
    ["col", "catalog", "list", "--json"],
]


def run_command(
    args: list[str], env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(FORBIDDEN), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("LOADED ")]
    assert lines, f"no import report from {args}: {proc.stderr[-2000:]}"
    return proc, json.loads(lines[-1].removeprefix("LOADED "))


@pytest.fixture
def ten_repos(
    settings: Settings, weaviate_env: WeaviateEndpoint, weaviate_client: weaviate.WeaviateClient
) -> list[str]:
    """Ten registered repositories; the first one's collection exists and holds objects."""
    registry = Registry(settings.registry_path)
    names = [f"demo{i}" for i in range(10)]
    for name in names:
        registry.add(new_repository(name, f"https://example.com/{name}.git", max_file_size=1 << 20))
    first = registry.get(names[0]).collection
    weaviate_client.collections.create(first, vector_config=Configure.Vectors.self_provided())
    weaviate_client.collections.get(first).data.insert_many(
        [{"path": f"f{i}.py"} for i in range(3)]
    )
    return names


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_command_imports_no_heavy_library(args: list[str], ten_repos: list[str]) -> None:
    proc, loaded = run_command(args, dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert loaded == [], f"`elysiactl {' '.join(args)}` imported {loaded}"


def test_status_reads_weaviate_counts_over_rest(ten_repos: list[str]) -> None:
    """The REST probe still answers the real questions: existence and object counts."""
    proc, loaded = run_command(["repo", "status", "--json"], dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert loaded == []
    data = json.loads(proc.stdout)
    assert data["weaviate_error"] is None
    by_name = {r["name"]: r for r in data["repositories"]}
    assert set(by_name) == set(ten_repos)
    assert by_name["demo0"]["documents"] == 3
    assert by_name["demo1"]["documents"] is None


def test_status_without_weaviate_still_renders(settings: Settings, tmp_path: Path) -> None:
    """An unreachable server is a message next to the registry's data, not a traceback."""
    Registry(settings.registry_path).add(
        new_repository("demo", "https://example.com/demo.git", max_file_size=1 << 20)
    )
    env = dict(os.environ, WEAVIATE_MODE="url", WEAVIATE_URL="http://127.0.0.1:9")
    proc, loaded = run_command(["repo", "status", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    assert loaded == []
    assert "cannot reach Weaviate" in json.loads(proc.stdout)["weaviate_error"]


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (["col", "list"], "weaviate"),
        (["repo", "add", "--name", "quiet", "{url}", "--no-sync"], "dagster"),
    ],
    ids=["col list", "repo add"],
)
def test_commands_that_load_weaviate_or_dagster_print_no_warning(
    args: list[str], heavy: str, ten_repos: list[str], tmp_path: Path
) -> None:
    """Issue 11.7: run as the console script runs (default warning filters), a command that
    imports weaviate (whose authlib warns about httpx at import) or dagster (whose
    partitioned asset checks are a preview feature) prints no warning."""
    url = make_repo(tmp_path / "quiet").url
    proc, loaded = run_command([a.format(url=url) for a in args], dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert heavy in loaded  # the import that used to warn did happen
    assert "Warning" not in proc.stderr + proc.stdout, proc.stderr


def test_backup_and_restore_import_only_what_they_use(
    ten_repos: list[str], settings: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    """Backups and restores talk REST to a server reached by URL: weaviate-client, grpc
    and pandas stay out (pyarrow, with numpy, only for Parquet). A whole process of
    these costs a user less than a second; those imports alone were 1.5 s of it."""
    collection = Registry(settings.registry_path).get(ten_repos[0]).collection
    env = dict(os.environ)
    proc, loaded = run_command(["col", "backup", collection, "--format", "json", "--json"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert loaded == [], f"JSON backup imported {loaded}"
    proc, loaded = run_command(["col", "backup", collection, "--json"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert loaded == ["numpy", "pyarrow"], f"Parquet backup imported {loaded}"
    backup_id = json.loads(proc.stdout)["backup_id"]
    weaviate_client.collections.create("Copy", vector_config=Configure.Vectors.self_provided())
    proc, loaded = run_command(
        ["col", "restore", backup_id, "--target-collection", "Copy", "--json"], env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert loaded == ["numpy", "pyarrow"], f"restore into an empty collection imported {loaded}"
    assert json.loads(proc.stdout)["created"] == 3


def test_sync_through_dagster_leaves_weaviate_client_out(
    settings: Settings, weaviate_env: WeaviateEndpoint, tmp_path: Path
) -> None:
    """A sync's run (mirror, change set, ingestion, checks) talks REST to Weaviate: its
    process does not pay 0.6-1.0 CPU-s for weaviate-client and gRPC (weaviate.session)."""
    source = make_repo(tmp_path / "src")
    env = dict(os.environ, ELYSIA_RUN_MODE="in-process")
    proc, _ = run_command(["repo", "add", source.url, "--name", "demo", "--json"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    source.write("extra.py", "X = 2\n")
    source.commit("more")
    proc, loaded = run_command(["repo", "sync", "demo", "--json"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["success"] and outcome["documents"] == 4, outcome
    assert "dagster" in loaded
    assert "weaviate" not in loaded and "grpc" not in loaded, loaded
