"""Backups in object storage, against a real S3 API (moto's server on 127.0.0.1).

Everything goes through the same pyarrow S3 filesystem a real bucket would use: backup,
catalog, verify (re-hashing the remote objects), DuckDB queries, restore into another
Weaviate server, retention and the errors of a wrong key or a missing bucket. GCS and
Azure share the code path behind `storage.open_location` but have no offline server
here, so only their URI handling is tested.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import weaviate
from click.testing import Result

from elysia_pipelines.backups import storage
from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.backups.reader import open_backup
from elysia_pipelines.backups.retention import cleanup
from elysia_pipelines.backups.verify import verify_backup
from elysia_pipelines.errors import ElysiaError, NotFoundError
from elysia_pipelines.settings import Settings
from elysia_pipelines.weaviate.connection import WeaviateTarget, open_client
from elysia_pipelines.weaviate.objects import count
from elysia_pipelines_tests.backups.test_restore import (
    interrupted_restore,
    source_documents,
    stored,
    write_docs,
)
from elysia_pipelines_tests.s3_server import S3Server
from elysia_pipelines_tests.support import run_cli
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint
from elysia_pipelines_tests.weaviate_server import WeaviateTestServer


def run(*args: str) -> Result:
    return run_cli("col", *args)


@pytest.fixture
def env(s3_env: S3Server, weaviate_env: WeaviateEndpoint, settings: Settings) -> Settings:
    return Settings.from_env()


@pytest.fixture
def bucket(s3_env: S3Server) -> str:
    return s3_env.new_bucket()


def _docs_collection(client: weaviate.WeaviateClient, n: int = 12) -> list[str]:
    from elysia_pipelines.weaviate.schema import CollectionSpec, ensure_collection

    docs = source_documents(n)
    ensure_collection(client, CollectionSpec(name="Docs"))
    write_docs(client, "Docs", docs)
    return [u for u, _, _ in docs]


def _backup(bucket: str, *extra: str) -> dict:
    result = run("backup", "Docs", "--output", f"s3://{bucket}/nightly", "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_backup_catalog_verify_query_restore_through_s3(
    env: Settings,
    bucket: str,
    s3_env: S3Server,
    weaviate_client: weaviate.WeaviateClient,
    second_weaviate_server: WeaviateTestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uuids = _docs_collection(weaviate_client)
    backup = _backup(bucket, "--partition-by", "language")
    backup_id = backup["backup_id"]
    uri = f"s3://{bucket}/nightly/Docs/{backup_id}"
    assert backup["path"] == uri and backup["object_count"] == len(uuids)
    keys = [o["Key"] for o in s3_env.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert f"nightly/Docs/{backup_id}/manifest.json" in keys
    assert any(k.endswith(".parquet") and "/data/language=" in k for k in keys)

    listed = run("catalog", "list", "--json")
    assert listed.exit_code == 0 and uri in listed.stdout
    shown = run("catalog", "show", backup_id, "--json")
    assert json.loads(shown.stdout)["manifest"]["object_count"] == len(uuids)
    assert run("catalog", "search", bucket, "--json").stdout.count(backup_id) >= 1

    verified = run("catalog", "verify", backup_id, "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["ok"] is True

    queried = run(
        "query", "SELECT count(*) AS n, count(DISTINCT language) AS l FROM Docs", "--json"
    )
    assert queried.exit_code == 0, queried.output
    assert f'"n": {len(uuids)}' in queried.stdout.replace(" ", " ")

    restored = run(
        "restore",
        backup_id,
        "--target-url",
        second_weaviate_server.url,
        "--target-grpc-url",
        second_weaviate_server.grpc_url,
        "--workers",
        "2",
        "--json",
    )
    assert restored.exit_code == 0, restored.output
    target = WeaviateTarget.for_url(second_weaviate_server.url, second_weaviate_server.grpc_url)
    with open_client(target) as other:
        assert count(other, "Docs") == len(uuids)
        assert stored(other, "Docs", uuids) == stored(weaviate_client, "Docs", uuids)

    # A second cluster with its own (empty) catalog restores by URI from the manifest alone.
    other_home = tmp_path / "other_home"
    other_home.mkdir()
    monkeypatch.setenv("ELYSIA_HOME", str(other_home))
    by_uri = run(
        "restore",
        uri,
        "--target-url",
        second_weaviate_server.url,
        "--target-grpc-url",
        second_weaviate_server.grpc_url,
        "--target-collection",
        "Copy",
        "--json",
    )
    assert by_uri.exit_code == 0, by_uri.output
    assert json.loads(by_uri.stdout)["created"] == len(uuids)
    assert (
        not (other_home / "catalog.sqlite").exists()
        or backup_id not in run("catalog", "list", "--json").stdout
    )


def test_default_destination_from_settings(
    env: Settings,
    bucket: str,
    weaviate_client: weaviate.WeaviateClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ELYSIA_BACKUP_URI is where `col backup` (and the scheduled asset) write by default."""
    _docs_collection(weaviate_client, 5)
    monkeypatch.setenv("ELYSIA_BACKUP_URI", f"s3://{bucket}/default")
    result = run("backup", "Docs", "--format", "jsonl", "--compression", "zstd", "--json")
    assert result.exit_code == 0, result.output
    path = json.loads(result.stdout)["path"]
    assert path.startswith(f"s3://{bucket}/default/Docs/")
    reader = open_backup(json.loads(result.stdout)["backup_id"], Settings.from_env())
    assert sum(len(b) for b in reader.iter_batches(2)) == 5


def _only_data_key(s3: S3Server, bucket: str) -> str:
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    return next(k for k in keys if "/data/" in k)


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "delete"])
def test_verify_rehashes_remote_objects(
    env: Settings,
    bucket: str,
    s3_env: S3Server,
    weaviate_client: weaviate.WeaviateClient,
    damage: str,
) -> None:
    _docs_collection(weaviate_client, 8)
    backup_id = _backup(bucket)["backup_id"]
    key = _only_data_key(s3_env, bucket)
    client = s3_env.client()
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    if damage == "corrupt":
        middle = len(body) // 2
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :],
        )
        expected = {"checksum_mismatch"}
    elif damage == "truncate":
        client.put_object(Bucket=bucket, Key=key, Body=body[: len(body) // 2])
        expected = {"truncated", "checksum_mismatch"}
    else:
        client.delete_object(Bucket=bucket, Key=key)
        expected = {"missing_file"}
    result = run("catalog", "verify", backup_id, "--json")
    assert result.exit_code != 0
    report = json.loads(result.stdout)
    kinds = {p["kind"] for p in report["problems"]}
    assert expected <= kinds, kinds
    assert report["path"].startswith(f"s3://{bucket}/")
    with open_catalog(env) as catalog:
        assert catalog.get(backup_id).status == "corrupt"
    if damage == "delete":
        with pytest.raises(ElysiaError, match="missing 1 data file"):
            open_backup(backup_id, env)


def test_fully_deleted_remote_backup_is_reported(
    env: Settings, bucket: str, s3_env: S3Server, weaviate_client: weaviate.WeaviateClient
) -> None:
    _docs_collection(weaviate_client, 3)
    backup_id = _backup(bucket)["backup_id"]
    client = s3_env.client()
    for obj in client.list_objects_v2(Bucket=bucket)["Contents"]:
        client.delete_object(Bucket=bucket, Key=obj["Key"])
    report = verify_backup(backup_id, env)
    assert not report.ok and report.problems[0].kind == "missing_directory"
    assert "does not exist" in report.problems[0].message
    result = run("restore", backup_id, "--dry-run")
    assert result.exit_code != 0
    assert "error:" in result.output and "does not exist" in result.output


_SLOW_UPLOAD = """
import sys, time
from elysia_pipelines.backups.export import BackupOptions, BackupSource, write_backup
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.backups.sources import document_description
from elysia_pipelines_tests.backups.sources import backup_objects

objects = sorted(backup_objects(300, dim=8), key=lambda o: o.uuid)

def slow():
    for i in range(100000):
        if i == 2500:
            print("uploading", flush=True)
        if i > 2500:
            time.sleep(0.01)
        obj = objects[i % len(objects)]
        yield type(obj)(f"{i:08x}" + obj.uuid[8:], obj.properties, obj.vector)

write_backup(slow(), BackupSource("Docs", document_description()), Settings.from_env(),
             BackupOptions(output=sys.argv[1], format="jsonl", compression="none"))
"""


def test_upload_killed_midway_is_never_taken_for_a_backup(
    env: Settings, bucket: str, s3_env: S3Server, tmp_path: Path
) -> None:
    script = tmp_path / "slow_upload.py"
    script.write_text(_SLOW_UPLOAD)
    process = subprocess.Popen(
        [sys.executable, str(script), f"s3://{bucket}/crash"],
        stdout=subprocess.PIPE,
        env={**os.environ},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"uploading"
    deadline = time.monotonic() + 60
    client = s3_env.client()
    # Wait until the streamed upload has sent at least one multipart part.
    while time.monotonic() < deadline:
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        if uploads and client.list_parts(
            Bucket=bucket, Key=uploads[0]["Key"], UploadId=uploads[0]["UploadId"]
        ).get("Parts"):
            break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the upload never sent a part")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    backup_prefix = uploads[0]["Key"].split("/data/")[0]
    uri = f"s3://{bucket}/{backup_prefix}"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not any(k.endswith("manifest.json") for k in keys)
    with open_catalog(env) as catalog:
        assert catalog.count() == 0
    with pytest.raises(NotFoundError, match="does not exist"):
        open_backup(uri, env)
    assert not verify_backup(uri, env).ok
    root = storage.open_location(f"s3://{bucket}/crash", env)
    # A finished part object (if the store completed one) counts as an unfinished backup.
    client.put_object(Bucket=bucket, Key=f"{backup_prefix}/data/part-00000.jsonl", Body=b"{}\n")
    stale = storage.stale_prefixes(root, 0, time.time() + 1)
    assert [s.uri for s in stale] == [uri]


def test_retention_deletes_remote_objects_and_dry_run_keeps_them(
    env: Settings, bucket: str, s3_env: S3Server, weaviate_client: weaviate.WeaviateClient
) -> None:
    _docs_collection(weaviate_client, 3)
    first = _backup(bucket)["backup_id"]
    second = _backup(bucket)["backup_id"]
    client = s3_env.client()

    def prefixes() -> set[str]:
        # pyarrow keeps the emptied parent as a directory marker (`nightly/Docs/`).
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
        return {k.split("/")[2] for k in keys if k.split("/")[2]}

    dry = run("catalog", "cleanup", "--older-than", "0d", "--keep-last", "1", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert [d["id"] for d in json.loads(dry.stdout)["deleted"]] == [first]
    assert prefixes() == {first, second}
    report = cleanup(env, older_than=timedelta(0), keep_last=1)
    assert [d.id for d in report.deleted] == [first] and report.freed_bytes > 0
    assert prefixes() == {second}
    with open_catalog(env) as catalog:
        assert catalog.get(first).status == "deleted"


def test_wrong_credentials_give_one_clear_error(
    env: Settings,
    bucket: str,
    weaviate_client: weaviate.WeaviateClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _docs_collection(weaviate_client, 2)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    result = run("backup", "Docs", "--output", f"s3://{bucket}/x")
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert "access denied (the credentials were refused)" in output and "hint:" in output
    assert "not-the-secret" not in output and "Traceback" not in result.output
    # Keys from variables named in settings: a missing variable is named, never guessed.
    monkeypatch.setenv("ELYSIA_S3_ACCESS_KEY_ENV", "MY_KEY")
    monkeypatch.setenv("ELYSIA_S3_SECRET_KEY_ENV", "MY_SECRET")
    monkeypatch.delenv("MY_KEY", raising=False)
    result = run("backup", "Docs", "--output", f"s3://{bucket}/x")
    assert result.exit_code != 0
    assert "error: the variable MY_KEY named in settings is not set" in result.output
    with open_catalog(env) as catalog:
        assert catalog.count() == 0


def test_unreachable_endpoint_is_a_transient_storage_error(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ELYSIA_S3_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(storage.StorageUnavailable) as raised:
        open_backup("s3://bucket/p/Docs/docs-20240101T000000Z-abcd", Settings.from_env())
    assert raised.value.transient and raised.value.hint


def test_missing_bucket_gives_one_clear_error(
    env: Settings, s3_env: S3Server, weaviate_client: weaviate.WeaviateClient
) -> None:
    _docs_collection(weaviate_client, 2)
    result = run("backup", "Docs", "--output", "s3://no-such-bucket-here/x")
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert "the bucket does not exist" in output and "hint:" in output
    assert "Traceback" not in result.output
    with open_catalog(env) as catalog:
        assert catalog.count() == 0


def test_uris_are_redacted_and_parsed_for_every_provider(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert storage.redact_uri("s3://key:secret@bucket/p?X-Amz-Signature=abc") == "s3://bucket/p"
    assert (
        storage.redact_uri("abfs://c@acct.dfs.core.windows.net/p?sv=2020&sig=xyz")
        == "abfs://c@acct.dfs.core.windows.net/p"
    )
    assert storage.is_remote("gs://b/p") and storage.is_remote("az://c/p")
    assert not storage.is_remote("file:///tmp/x") and not storage.is_remote("/tmp/x")
    assert storage.local_path("file:///tmp/x%20y") == Path("/tmp/x y")
    with pytest.raises(ElysiaError, match="credentials in the URI") as refused:
        storage.open_location("s3://AKIDEXAMPLE:hunter2@bucket/p", env)
    assert "hunter2" not in str(refused.value) and "AKIDEXAMPLE" not in str(refused.value)
    with pytest.raises(ElysiaError, match="names no bucket"):
        storage.open_location("s3:///nothing", env)
    for name in ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ElysiaError, match="storage account"):
        storage.open_location("az://container/prefix", env)
    gcs = storage.open_location("gs://bucket/prefix/x", env)
    assert gcs.path == "bucket/prefix/x" and type(gcs.filesystem).__name__ == "GcsFileSystem"


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_interrupted_restore_from_s3_resumes_without_duplicates(
    env: Settings, bucket: str, weaviate_client: weaviate.WeaviateClient, fmt: str
) -> None:
    from dataclasses import replace

    from elysia_pipelines.backups.restore import RestoreOptions, restore_backup

    uuids = _docs_collection(weaviate_client, 20)
    backup = _backup(bucket, "--format", fmt, "--compression", "zstd")
    reader = open_backup(backup["path"], env)  # by URI: streamed from the bucket
    assert reader.filesystem is not None
    options = RestoreOptions(target_collection="Again", batch_size=3, workers=1, settings=env)
    interrupted_restore(reader, weaviate_client, options, after=3)
    assert 0 < count(weaviate_client, "Again") < 20
    report = restore_backup(reader, weaviate_client, replace(options, resume=True))
    assert report.batches_already_done >= 3 and count(weaviate_client, "Again") == 20
    assert stored(weaviate_client, "Again", uuids, vectors=True) == stored(
        weaviate_client, "Docs", uuids, vectors=True
    )
