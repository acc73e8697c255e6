"""The UI backend sees the project: start dagster-webserver and ask its GraphQL API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from elysia_pipelines_tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.slow
def test_webserver_serves_assets_partitions_and_checks(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "ELYSIA_HOME": str(tmp_path / "home"),
    }
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    exe = Path(sys.executable).with_name("dagster-webserver")
    proc = subprocess.Popen(
        [str(exe), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    pytest.fail(f"webserver did not start:\n{output[-4000:]}")
                time.sleep(0.5)
        data = _graphql(
            port,
            "{ assetNodes { assetKey { path } kinds isPartitioned "
            "partitionDefinition { name } assetChecksOrError { "
            "... on AssetChecks { checks { name } } } } }",
        )
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        for key in ("repo_mirror", "change_set", "weaviate_collection", "collection_backup"):
            assert key in nodes, sorted(nodes)
            assert nodes[key]["isPartitioned"]
        assert "git" in nodes["repo_mirror"]["kinds"]
        assert "weaviate" in nodes["weaviate_collection"]["kinds"]
        assert "parquet" in nodes["collection_backup"]["kinds"]
        change_set_checks = {c["name"] for c in nodes["change_set"]["assetChecksOrError"]["checks"]}
        assert {
            "change_set_is_valid",
            "change_set_accounts_for_diff",
            "change_set_reaches_head",
        } <= change_set_checks
        assert nodes["weaviate_collection"]["assetChecksOrError"]["checks"]
        sensors = _graphql(
            port,
            '{ sensorsOrError(repositorySelector: {repositoryName: "__repository__", '
            'repositoryLocationName: "elysia_pipelines"}) { ... on Sensors { results { name } } } }',
        )
        names = {s["name"] for s in sensors["sensorsOrError"]["results"]}
        assert {
            "registry_partitions_sensor",
            "pending_change_sets_sensor",
            "due_syncs_sensor",
        } <= names
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
