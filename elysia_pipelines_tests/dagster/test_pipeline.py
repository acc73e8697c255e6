"""The asset graph end to end, in process: real git repository, test Weaviate, real files."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.defs.backups import collection_backup
from elysia_pipelines.defs.extraction import CHANGE_SET_SCHEMA, change_set, repo_mirror
from elysia_pipelines.defs.ingestion import weaviate_collection
from elysia_pipelines.defs.partitions import repositories_partitions
from elysia_pipelines.defs.pending_sensor import pending_change_sets_sensor
from elysia_pipelines.defs.registry_sensor import registry_partitions_sensor
from elysia_pipelines.defs.resources import ElysiaSettings, WeaviateResource
from elysia_pipelines.defs.sync_sensors import (
    due_run_requests,
    due_syncs_sensor,
    sync_failure_sensor,
)
from elysia_pipelines.registry import Registry, new_repository
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.objects import iter_objects
from elysia_pipelines_tests.gitrepo import GitRepo

ASSETS = [repo_mirror, change_set, weaviate_collection]


@pytest.fixture
def env(tmp_path: Path, elysia_home: Path, weaviate_env: object) -> dict:
    settings = Settings.from_env().ensure_dirs()
    source = GitRepo.init(tmp_path / "src")
    source.write("app/main.py", "print('hello')\n")
    source.write("README.md", "# demo\n")
    source.write("logo.png", b"\x89PNG\r\n\x1a\n\0\0binary")
    source.commit("initial")
    registry = Registry(settings.registry_path)
    registry.add(new_repository("demo", source.url, max_file_size=100_000))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("repositories", ["demo"])
    resources = {"elysia": ElysiaSettings(), "weaviate": WeaviateResource()}
    return {
        "settings": settings,
        "source": source,
        "registry": registry,
        "instance": instance,
        "resources": resources,
    }


def _checks() -> list:
    from elysia_pipelines.defs import backups, extraction_checks, freshness, ingestion_checks

    found = []
    for module in (extraction_checks, ingestion_checks, freshness, backups):
        found += [v for v in vars(module).values() if isinstance(v, dg.AssetChecksDefinition)]
    return found


def _change_set_checks_job(env: dict) -> dg.JobDefinition:
    """A checks-only job of `change_set`, what the UI's Checks tab launches."""
    checks = [c for c in _checks() if {k.asset_key for k in c.check_keys} == {change_set.key}]
    checks_only = dg.define_asset_job(
        "change_set_checks_only",
        selection=dg.AssetSelection.checks_for_assets(change_set),
        partitions_def=repositories_partitions,
    )
    return dg.Definitions(
        assets=[change_set], asset_checks=checks, jobs=[checks_only], resources=env["resources"]
    ).resolve_job_def("change_set_checks_only")


def _run(env: dict, assets: list) -> dg.ExecuteInProcessResult:
    keys = {a.key for a in assets}
    checks = [c for c in _checks() if {k.asset_key for k in c.check_keys} & keys]
    return dg.materialize(
        [*assets, *checks],
        partition_key="demo",
        instance=env["instance"],
        resources=env["resources"],
        raise_on_error=False,
    )


def _documents(env: dict, weaviate_client) -> dict[str, str]:
    repo = env["registry"].get("demo")
    return {
        o.properties["path"]: o.properties["content"]
        for o in iter_objects(weaviate_client, repo.collection)
    }


def test_sync_extracts_ingests_and_checks_pass(env: dict, weaviate_client) -> None:
    result = _run(env, ASSETS)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 8  # fresh included: a sync that just succeeded is fresh
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations]
    assert _documents(env, weaviate_client) == {
        "app/main.py": "print('hello')\n",
        "README.md": "# demo\n",
    }
    mats = result.asset_materializations_for_node("weaviate_collection")
    assert mats[0].metadata["documents"].value == 2
    # What the UI shows never reads "None" (a first sync has no "from" commit).
    shown_values = [
        str(v.value)
        for node in ("repo_mirror", "change_set", "weaviate_collection")
        for m in result.asset_materializations_for_node(node)
        for v in m.metadata.values()
    ] + [str(v.value) for e in evaluations for v in e.metadata.values()]
    assert not [v for v in shown_values if re.search(r"\bNone\b", v)], shown_values
    assert "(first sync)" in str(mats[0].metadata["applied"].value)
    # The change set's path in the UI is where the file is now that it is applied.
    meta = result.asset_materializations_for_node("change_set")[0].metadata
    shown = Path(str(meta["change_set"].value))
    assert shown.exists() and shown.parent == env["settings"].processed_dir / "Demo"
    assert not Path(str(meta["written_to"].value)).exists()
    # Every field of every record written is a column of the declared schema.
    columns = {c.name for c in CHANGE_SET_SCHEMA.columns}
    with shown.open() as lines:
        records = [json.loads(line) for line in lines][1:-1]
    assert records and {key for r in records for key in r} <= columns
    (spec,) = change_set.specs
    assert spec.metadata["dagster/column_schema"] == CHANGE_SET_SCHEMA

    # An incremental change: modify, rename, delete.
    source: GitRepo = env["source"]
    source.write("app/main.py", "print('hello, world')\n")
    source.move("README.md", "docs/README.md")
    source.write("app/util.py", "X = 1\n")
    source.commit("second")
    result = _run(env, ASSETS)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert _documents(env, weaviate_client) == {
        "app/main.py": "print('hello, world')\n",
        "docs/README.md": "# demo\n",
        "app/util.py": "X = 1\n",
    }
    history = env["registry"].history("demo", stage="ingest")
    assert history and history[0].counts.get("rename") == 1

    # Nothing changed: no change set, the materialization says so, checks still pass.
    result = _run(env, ASSETS)
    assert result.success
    meta = result.asset_materializations_for_node("change_set")[0].metadata
    assert "nothing changed" in str(meta["change_set"].value)


def test_backup_asset_and_checks(env: dict, weaviate_client) -> None:
    assert _run(env, ASSETS).success
    result = _run(env, [collection_backup])
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"verifies", "count_matches", "restores"}
    assert all(e.passed for e in evaluations.values()), evaluations
    with open_catalog(env["settings"]) as catalog:
        entry = catalog.latest("Demo")
    assert entry is not None and entry.object_count == 2
    meta = result.asset_materializations_for_node("collection_backup")[0].metadata
    shown = [v.value for v in meta.values()] + [
        v.value for e in evaluations.values() for v in e.metadata.values()
    ]
    shown = [v for v in shown if isinstance(v, str)]  # text, Markdown, paths
    assert not [v for v in shown if re.search(r"\bNone\b", v)], shown
    schema = meta["dagster/column_schema"].value
    assert isinstance(schema, dg.TableSchema)
    types = {c.name: c.type for c in schema.columns}
    assert {"uuid", "path", "content", "size_bytes"} <= set(types), types
    assert types["uuid"] == "string" and not next(
        c for c in schema.columns if c.name == "uuid"
    ).constraints.nullable


def test_backup_asset_writes_to_the_default_object_store_uri(
    env: dict, weaviate_client, s3_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ELYSIA_BACKUP_URI sends the scheduled backup to S3; its checks read it from there."""
    bucket = s3_env.new_bucket()
    monkeypatch.setenv("ELYSIA_BACKUP_URI", f"s3://{bucket}/scheduled")
    assert _run(env, ASSETS).success
    result = _run(env, [collection_backup])
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert all(e.passed for e in evaluations.values()), evaluations
    meta = result.asset_materializations_for_node("collection_backup")[0].metadata
    assert str(meta["dagster/uri"].value).startswith(f"s3://{bucket}/scheduled/Demo/")
    shown = json.dumps({k: str(v.value) for k, v in meta.items()})
    assert s3_env.secret_key not in shown and s3_env.access_key not in shown
    assert "| path" in str(meta["preview"].value)  # the preview read the remote Parquet file
    with open_catalog(env["settings"]) as catalog:
        entry = catalog.latest("Demo")
    assert entry is not None and entry.path.startswith(f"s3://{bucket}/scheduled/Demo/")


def test_corrupt_pending_change_set_fails_the_run_and_keeps_data(
    env: dict,
    weaviate_client,
) -> None:
    assert _run(env, ASSETS).success
    before = _documents(env, weaviate_client)
    pending = env["settings"].pending_dir / "Demo"
    lines = [
        {
            "op": "begin",
            "repo": "demo",
            "collection": "Demo",
            "from_commit": None,
            "to_commit": "0" * 40,
            "created_at": "2026-01-01T00:00:00Z",
            "format": 1,
        },
        {"op": "explode", "repo": "demo", "path": "../../etc/passwd"},
        {"op": "end", "count": 1},
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (pending / "99999999-deadbeef0000.jsonl").write_text(text)
    result = _run(env, [weaviate_collection])
    assert not result.success
    assert _documents(env, weaviate_client) == before
    failed = list((env["settings"].failed_dir / "Demo").glob("*.error.json"))
    assert failed and "99999999" in failed[0].name


def test_registry_sensor_adds_and_removes_partitions(env: dict) -> None:
    instance: dg.DagsterInstance = env["instance"]
    env["registry"].add(new_repository("other", env["source"].url, max_file_size=1000))
    instance.add_dynamic_partitions("repositories", ["stale"])
    with dg.build_sensor_context(instance=instance, resources=env["resources"]) as ctx:
        result = registry_partitions_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    requests = result.dynamic_partitions_requests or []
    added = [r for r in requests if isinstance(r, dg.AddDynamicPartitionsRequest)]
    deleted = [r for r in requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
    assert added[0].partition_keys == ["other"]
    assert deleted[0].partition_keys == ["stale"]


def test_pending_sensor_requests_one_run_per_collection(env: dict) -> None:
    assert _run(env, [repo_mirror, change_set]).success
    with dg.build_sensor_context(instance=env["instance"], resources=env["resources"]) as ctx:
        result = pending_change_sets_sensor(ctx)
    assert [r.partition_key for r in result.run_requests] == ["demo"]
    run_key = result.run_requests[0].run_key
    # Same files, next tick with the new cursor: nothing new to request.
    with dg.build_sensor_context(
        instance=env["instance"], resources=env["resources"], cursor=result.cursor
    ) as ctx:
        again = pending_change_sets_sensor(ctx)
    assert again.run_requests == []
    assert run_key.startswith("ingest:Demo:")


def test_due_sensor_honours_schedule_pause_and_manual(env: dict) -> None:
    registry: Registry = env["registry"]
    registry.add(
        new_repository("manual-one", env["source"].url, max_file_size=1000, schedule="manual")
    )
    registry.add(new_repository("paused-one", env["source"].url, max_file_size=1000, paused=True))
    now = datetime.now(UTC)
    requests, _ = due_run_requests(registry, now, busy=set())
    assert [r.partition_key for r in requests] == ["demo"]  # never synced: due now
    registry.mark_synced("demo", "abc", at=now - timedelta(minutes=10))
    assert due_run_requests(registry, now, busy=set())[0] == []  # 30m schedule not due yet
    registry.mark_synced("demo", "abc", at=now - timedelta(minutes=31))
    assert [r.partition_key for r in due_run_requests(registry, now, busy=set())[0]] == ["demo"]
    assert due_run_requests(registry, now, busy={"demo"})[0] == []
    with dg.build_sensor_context(instance=env["instance"], resources=env["resources"]) as ctx:
        result = due_syncs_sensor(ctx)
    assert [r.job_name for r in result.run_requests] == ["extract_repository"]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_failed_sync_alerts_webhook_and_schedules_retry(
    env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received.clear()
    monkeypatch.setenv("ELYSIA_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    try:
        registry: Registry = env["registry"]
        registry.update("demo", url=str(env["source"].path.parent / "missing-repo"))
        result = _run(env, [repo_mirror])
        assert not result.success
        with dg.build_run_status_sensor_context(
            sensor_name="sync_failure_sensor",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=env["instance"],
            dagster_run=result.dagster_run,
            resources=env["resources"],
        ) as status_ctx:
            sync_failure_sensor(status_ctx.for_run_failure())
    finally:
        server.shutdown()
    assert len(_Hook.received) == 1
    alert = _Hook.received[0]
    assert alert["repo"] == "demo" and alert["run_id"] == result.run_id
    assert alert["error"] and alert["hint"]
    assert alert["kind"] == "user_fixable"
    repo = registry.get("demo")
    assert repo.last_error
    # The kind git_source gave the error travelled through dg.Failure into the registry.
    assert (repo.last_error_kind, repo.last_error_reason) == ("user_fixable", "not_found")
    # A user-fixable failure (repository not found) is not retried automatically.
    _, notes = due_run_requests(registry, datetime.now(UTC), busy=set())
    assert any(n.startswith("demo: not retrying (user_fixable: not_found)") for n in notes)


def test_changed_exclude_pattern_removes_documents_on_next_sync(env: dict, weaviate_client) -> None:
    assert _run(env, ASSETS).success
    assert set(_documents(env, weaviate_client)) == {"app/main.py", "README.md"}
    env["registry"].update("demo", exclude_patterns=("*.md",))
    result = _run(env, ASSETS)  # no new commit: only the rules changed
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert set(_documents(env, weaviate_client)) == {"app/main.py"}


def test_change_set_failing_a_blocking_check_never_reaches_weaviate_on_the_sensor_path(
    env: dict, weaviate_client
) -> None:
    """Extraction alone (the scheduled path) writes into pending/; the pending sensor,
    not this run, would ingest it. A failed blocking check must stop that too."""
    assert _run(env, ASSETS).success
    before = _documents(env, weaviate_client)
    source: GitRepo = env["source"]
    source.write("app/new.py", "print('new')\n")
    source.commit("new file")
    extract = dg.materialize(
        [repo_mirror, change_set],
        partition_key="demo",
        instance=env["instance"],
        resources=env["resources"],
    )
    assert extract.success
    pending = env["settings"].pending_dir / "Demo"
    [written] = list(pending.glob("*.jsonl"))
    # The mirror moves on before the checks run: the change set no longer reaches head.
    source.write("app/later.py", "print('later')\n")
    source.commit("later")
    assert dg.materialize(
        [repo_mirror], partition_key="demo", instance=env["instance"], resources=env["resources"]
    ).success
    # What the UI's Checks tab launches: a checks-only run of one partition,
    # tagged like the UI tags it (execute_in_process's partition_key insists on an asset).
    result = _change_set_checks_job(env).execute_in_process(
        tags={"dagster/partition": "demo"}, instance=env["instance"], raise_on_error=False
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["reaches_head"].passed
    assert evaluations["reaches_head"].partition == "demo"
    assert not written.exists()
    error = json.loads(
        (env["settings"].failed_dir / "Demo" / f"{written.stem}.error.json").read_text()
    )
    assert "change_set/reaches_head" in error["reason"]

    with dg.build_sensor_context(instance=env["instance"], resources=env["resources"]) as ctx:
        tick = pending_change_sets_sensor(ctx)
    assert not tick.run_requests
    assert tick.skip_reason is not None and "pending" in str(tick.skip_reason.skip_message)
    _run(env, [weaviate_collection])  # the collection is blocked: nothing is applied
    assert _documents(env, weaviate_client) == before


def test_checks_only_run_without_a_partition_says_what_to_do(env: dict) -> None:
    """What the Checks tab's "Execute all" launches in Dagster 1.13: the checks of a
    partitioned asset with no partition. Each fails with the way out, not an invariant."""
    result = _change_set_checks_job(env).execute_in_process(instance=env["instance"], raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 3
    for event in failures:
        message = event.step_failure_data.error.message
        assert "has no partition" in message and "Launch the check_repository job" in (
            message
        ), message
        assert "DagsterInvariantViolationError" not in message
