"""The UI backend sees the project: start dagster-webserver and ask its GraphQL API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from elysia_pipelines.orchestration import open_instance
from elysia_pipelines_tests.support import free_port, start_logged
from elysia_pipelines_tests.webserver import (
    INSTANCE_TEMPLATE,
    ROOT,
    install_instance_config,
    running_webserver,
)

# What a start must not print: Python warning categories (DeprecationWarning,
# PreviewWarning, BetaWarning, AuthlibDeprecationWarning ...) and Dagster's note that a
# dagster.yaml in the working directory is ignored. Log levels are spelled WARNING.
_WARNING = re.compile(r"\w+Warning\b.*|.*dagster\.yaml\) in the current folder.*")


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
    home = tmp_path / "dagster_home"
    with running_webserver(home, {"ELYSIA_HOME": str(tmp_path / "home")}) as web:
        port = web.port
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
            "is_valid",
            "accounts_for_diff",
            "reaches_head",
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
        # The code server has imported the definitions (and weaviate) by now.
        assert not _WARNING.findall(web.log_tail(1_000_000)), web.log_tail()


_LOCATION = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


@pytest.mark.slow
def test_dev_sh_ui_starts_without_warnings(tmp_path: Path) -> None:
    """`./dev.sh ui` as a user starts it: `dg dev` (webserver, daemon, code server) comes
    up with the code location loaded and prints no warning on the way."""
    port = free_port()
    log_path = tmp_path / "dev-ui.log"
    env = {
        **os.environ,
        "ELYSIA_HOME": str(tmp_path / "home"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
    }
    env.pop("DAGSTER_HOME", None)  # dev.sh's default: $ELYSIA_HOME/dagster_home
    with log_path.open("wb") as log:
        proc = start_logged([str(ROOT / "dev.sh"), "ui"], log=log, env=env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 240
            loaded = None
            while loaded is None:
                assert proc.poll() is None, log_path.read_text(errors="replace")
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                try:
                    entries = _graphql(port, _LOCATION)["workspaceOrError"]["locationEntries"]
                except OSError:
                    entries = []
                for entry in entries:
                    if entry["loadStatus"] == "LOADED":
                        loaded = entry
                time.sleep(0.5)
            assert loaded["locationOrLoadError"]["__typename"] == "RepositoryLocation", loaded
            # The daemon says which daemons run once it is up: wait for it, then read.
            while "Instance is configured with the following daemons" not in log_path.read_text(
                errors="replace"
            ):
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.5)
            assert (tmp_path / "home" / "dagster_home" / "dagster.yaml").exists()
        finally:
            os.killpg(proc.pid, signal.SIGINT)  # dg dev stops its services on Ctrl-C
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    output = log_path.read_text(errors="replace")
    assert not _WARNING.findall(output), output


_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""


def _check_executions(port: int, check: dict) -> list[dict]:
    """The latest executions (run, status, partition) of one asset check, as the UI lists them."""
    key = json.dumps(check["assetKey"]["path"])
    data = _graphql(
        port,
        f'{{ assetCheckExecutions(assetKey: {{path: {key}}}, checkName: "{check["name"]}",'
        " limit: 10) { runId status partition } }",
    )
    return data["assetCheckExecutions"]


def _graphql_vars(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # GraphQL puts the server's error in the body
        raise AssertionError(exc.read().decode(errors="replace")[:4000]) from None
    assert "errors" not in body, body
    return body["data"]


def _launch(port: int, job: str, partition: str, **selection: list) -> str:
    params = {
        "selector": {
            "repositoryLocationName": "elysia_pipelines",
            "repositoryName": "__repository__",
            "pipelineName": job,
            **selection,
        },
        "runConfigData": "{}",
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    launched = _graphql_vars(port, _LAUNCH, {"params": params})["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _wait_for_run(port: int, run_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while True:
        run = _graphql(port, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')
        status = run["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"} or time.monotonic() > deadline:
            return status
        time.sleep(1)


@pytest.mark.slow
def test_checks_only_run_of_one_partition_from_the_checks_tab(
    tmp_path: Path, elysia_home: Path, weaviate_env: object
) -> None:
    """What the Checks tab's "Execute all" launches: a checks-only run with a partition tag."""

    from elysia_pipelines.registry import Registry, new_repository
    from elysia_pipelines.settings import Settings
    from elysia_pipelines_tests.gitrepo import GitRepo

    settings = Settings.from_env().ensure_dirs()
    registry = Registry(settings.registry_path)
    for name in ("alpha", "beta"):
        source = GitRepo.init(tmp_path / f"src-{name}")
        source.write("main.py", f"print('{name}')\n")
        source.commit("initial")
        registry.add(new_repository(name, source.url, max_file_size=100_000))
    home = tmp_path / "dagster_home"
    # The webserver launches runs itself (no daemon in this test), as `dagster dev` would
    # with the queued coordinator's daemon; everything else is the project's instance config.
    config = yaml.safe_load(INSTANCE_TEMPLATE.read_text())
    config["run_coordinator"] = {
        "module": "dagster.core.run_coordinator",
        "class": "DefaultRunCoordinator",  # takes no config (the queued one's would fail)
    }
    install_instance_config(home, config=yaml.safe_dump(config))
    with open_instance(home) as instance:
        instance.add_dynamic_partitions("repositories", ["alpha", "beta"])
    with running_webserver(home) as web:
        port = web.port
        for name in ("alpha", "beta"):
            run_id = _launch(port, "sync_repository", name)
            assert _wait_for_run(port, run_id) == "SUCCESS", name
        checks = [
            {"assetKey": {"path": ["change_set"]}, "name": "is_valid"},
            {"assetKey": {"path": ["change_set"]}, "name": "reaches_head"},
            {"assetKey": {"path": ["weaviate_collection"]}, "name": "no_open_dead_letters"},
        ]
        run_id = _launch(
            port, "__ASSET_JOB", "alpha", assetSelection=[], assetCheckSelection=checks
        )
        assert _wait_for_run(port, run_id) == "SUCCESS"
        for check in checks:
            executions = _check_executions(port, check)
            ours = [e for e in executions if e["runId"] == run_id]
            assert [(e["partition"], e["status"]) for e in ours] == [("alpha", "SUCCEEDED")]
            # The two syncs recorded one result per repository, not one for all.
            assert {e["partition"] for e in executions} == {"alpha", "beta"}
        # The UI's way to run one repository's checks alone: the check_repository job's
        # Launchpad with the repository picked (Dagster 1.13's Checks tab cannot).
        run_id = _launch(port, "check_repository", "beta")
        assert _wait_for_run(port, run_id) == "SUCCESS"
        for check in checks:
            ours = [e for e in _check_executions(port, check) if e["runId"] == run_id]
            assert [(e["partition"], e["status"]) for e in ours] == [("beta", "SUCCEEDED")]
