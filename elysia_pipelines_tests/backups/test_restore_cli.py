"""`elysiactl col restore` end to end through typer's CliRunner, including error exits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import weaviate
from click.testing import Result

from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.connection import WeaviateTarget, open_client
from elysia_pipelines.weaviate.objects import count
from elysia_pipelines.weaviate.schema import collection_exists
from elysia_pipelines_tests.backups.test_restore import (
    _code_backup,
    _codes_collection,
    backed_up,
    make_backup,
    source_documents,
    stored,
)
from elysia_pipelines_tests.support import free_port, run_cli
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer


def run(*args: str) -> Result:
    return run_cli("col", "restore", *args)


@pytest.fixture
def env(weaviate_env: WeaviateEndpoint, settings: Settings) -> Settings:
    """ELYSIA_HOME and WEAVIATE_URL point at this test's home and server."""
    return Settings.from_env()


def test_restore_json_into_new_collection(
    env: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    docs, reader = backed_up(weaviate_client, env, 8)
    result = run(reader.backup_id, "--target-collection", "Copy", "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["created"] == 8 and report["failed"] == 0 and report["collection_created"]
    uuids = [u for u, _, _ in docs]
    assert stored(weaviate_client, "Copy", uuids) == stored(weaviate_client, "Docs", uuids)


def test_dry_run_lists_ids_and_writes_nothing(
    env: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    docs, reader = backed_up(weaviate_client, env, 6)
    result = run(str(reader.root), "--target-collection", "Fresh", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] and sorted(report["ids"]["created"]) == sorted(u for u, _, _ in docs)
    assert not collection_exists(weaviate_client, "Fresh")

    human = run(reader.backup_id, "--dry-run", "--strategy", "skip")
    assert human.exit_code == 0, human.output
    assert "6 skipped" in human.stdout and "nothing was written" in human.stdout


def test_partial_merge_with_map_prints_a_summary(
    env: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    docs, reader = backed_up(weaviate_client, env, 5)
    chosen = [docs[0][0], docs[3][0]]
    result = run(
        reader.backup_id,
        "--target-collection",
        "Partial",
        "--objects",
        ",".join(chosen),
        "--properties",
        "body,path",
        "--map",
        "content=body",
        "--strategy",
        "merge",
    )
    assert result.exit_code == 0, result.output
    assert "2 objects: 2 created" in result.stdout
    assert "rename content -> body" in result.stdout
    after = stored(weaviate_client, "Partial", [u for u, _, _ in docs])
    assert sorted(after) == sorted(chosen)
    assert all(set(props) == {"body", "path"} for props in after.values())


def test_cross_cluster_via_options(
    env: Settings,
    weaviate_client: weaviate.WeaviateClient,
    second_weaviate_server: WeaviateTestServer,
) -> None:
    reader = make_backup(weaviate_client, env, source_documents(7))
    result = run(
        reader.backup_id,
        "--target-url",
        second_weaviate_server.url,
        "--target-grpc-url",
        second_weaviate_server.grpc_url,
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 7
    target = WeaviateTarget.for_url(second_weaviate_server.url, second_weaviate_server.grpc_url)
    with open_client(target) as other:
        assert count(other, "Docs") == 7


def test_dead_letters_exit_nonzero_then_resume(
    env: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    reader, uuids = _code_backup(env, ["1", "two", "3"])
    _codes_collection(weaviate_client, "int")
    result = run(reader.backup_id)
    assert result.exit_code == 1
    assert "1 object(s) were not restored" in result.output and "--resume" in result.output
    dead = list(env.dead_letter_dir.glob("restore-*.jsonl"))
    assert len(dead) == 1 and uuids[1] in dead[0].read_text()

    still = run(reader.backup_id, "--resume", "--json")
    assert still.exit_code == 1 and json.loads(still.stdout)["failed"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "nope=x"], "does not have: 'nope'"),
        (["--map", "broken"], "is not of the form old=new"),
        (["--properties", "zzz"], "does not have: 'zzz'"),
        (["--strategy", "replace"], "unknown strategy 'replace'"),
        (["--objects", "not-a-uuid"], "is not a UUID"),
        (["--target-grpc-url", "localhost:50051"], "need --target-url"),
        (["--resume", "--dry-run"], "cannot be combined"),
    ],
)
def test_bad_options_exit_with_a_message(
    env: Settings, weaviate_client: weaviate.WeaviateClient, args: list[str], message: str
) -> None:
    reader = make_backup(weaviate_client, env, source_documents(3))
    result = run(reader.backup_id, "--target-collection", "Never", *args)
    assert result.exit_code == 1
    assert message in result.output and "hint" in result.output
    assert "Traceback" not in result.output
    assert not collection_exists(weaviate_client, "Never")


def test_unknown_backup_id(env: Settings) -> None:
    result = run("docs-20240101T000000Z-abcd")
    assert result.exit_code == 1
    assert "no backup 'docs-20240101T000000Z-abcd'" in result.output
    assert "Traceback" not in result.output
    missing = run(str(Path(env.home) / "no" / "such" / "dir"))
    assert missing.exit_code == 1 and "not found" in missing.output


def test_unreachable_target(
    env: Settings, weaviate_client: weaviate.WeaviateClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = make_backup(weaviate_client, env, source_documents(3))
    monkeypatch.setenv("WEAVIATE_RETRIES", "0")
    port = free_port()
    result = run(
        reader.backup_id,
        "--target-url",
        f"http://127.0.0.1:{port}",
        "--target-grpc-url",
        f"127.0.0.1:{free_port()}",
    )
    assert result.exit_code == 1
    assert "Cannot reach" in result.output and "Traceback" not in result.output


def test_damaged_backup_leaves_no_empty_collection_behind(
    env: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    """The damage shows when the data is read, after the target was created: a left-over
    empty collection looked like a restore that worked (found by the CLI audit)."""
    import warnings

    reader = make_backup(weaviate_client, env, source_documents(6))
    data = next(Path(reader.root).glob("data/**/*.parquet"))
    raw = bytearray(data.read_bytes())
    for i in range(200, 260):  # inside the first data page: the footer still reads
        raw[i] ^= 0xFF
    data.write_bytes(bytes(raw))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(str(reader.root), "--target-collection", "Broken")
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and said.count("error:") == 1, said
    assert f"catalog verify {reader.root}`" in said and "<id>" not in said
    assert not collection_exists(weaviate_client, "Broken")
    # weaviate-client's Dep025 (vector_index_config) used to reach the terminal
    assert not [w for w in caught if "vector_index_config" in str(w.message)]


def test_unreachable_target_cluster_names_the_option(
    env: Settings, weaviate_client: weaviate.WeaviateClient
) -> None:
    reader = make_backup(weaviate_client, env, source_documents(3))
    url = f"http://127.0.0.1:{free_port()}"
    result = run(reader.backup_id, "--target-url", url, "--target-collection", "Far")
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "error:" in said, said
    assert "Check --target-url" in said and "WEAVIATE_URL" not in said  # it named the env
