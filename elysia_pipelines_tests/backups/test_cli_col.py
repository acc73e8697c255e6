"""`elysiactl col` commands through typer's CliRunner against the Weaviate test server."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from elysia_pipelines.backups.catalog import open_catalog
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.backups.sources import populate
from elysia_pipelines_tests.support import run_cli
from elysia_pipelines_tests.weaviate_fixtures import WeaviateEndpoint

COUNT = 120


def run(*args: str, input: str | None = None) -> Result:
    return run_cli("col", *args, input=input)


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def env(
    elysia_home: Path, weaviate_env: WeaviateEndpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("WEAVIATE_RETRIES", "1")
    monkeypatch.delenv("ELYSIA_FORCE_TERMINAL", raising=False)
    client = weaviate_env.connect()
    try:
        populate(client, "Docs", COUNT, dim=4)
    finally:
        client.close()
    yield Settings.from_env()


def test_backup_list_show_search_verify_query(env: Settings) -> None:
    listed = run_json("list")
    assert listed == [
        {"collection": "Docs", "objects": COUNT, "latest_backup": None, "latest_backup_at": None}
    ]

    made = run_json("backup", "Docs", "--tag", "nightly")
    assert (
        made["object_count"] == COUNT
        and made["format"] == "parquet"
        and made["compression"] == "zstd"
    )
    backup_id = made["backup_id"]
    human = run(
        "backup",
        "Docs",
        "--format",
        "jsonl",
        "--compression",
        "gzip",
        "--filter",
        "language = 'python'",
    )
    assert human.exit_code == 0, human.output
    assert "Backed up" in human.stdout and "filter: language = 'python'" in human.stdout

    entries = run_json("catalog", "list")
    assert len(entries) == 2 and entries[1]["id"] == backup_id
    assert [e["format"] for e in run_json("catalog", "list", "--format", "jsonl")] == ["jsonl"]
    assert len(run_json("catalog", "list", "--collection", "Docs", "--since", "1d")) == 2
    assert run_json("catalog", "list", "--since", "2999-01-01") == []
    table = run("catalog", "list")
    assert backup_id in table.stdout and "parquet+zstd" in table.stdout

    shown = run_json("catalog", "show", backup_id)
    assert shown["tags"] == ["nightly"] and shown["manifest"]["object_count"] == COUNT
    assert "data/part-00000.parquet" in run("catalog", "show", backup_id).stdout

    assert [e["id"] for e in run_json("catalog", "search", "nightly")] == [backup_id]
    assert run("catalog", "search", "zzz").stdout.startswith("No backup matches")

    report = run_json("catalog", "verify", backup_id)
    assert report["ok"] is True and report["catalog_status"] == "verified"
    assert "OK" in run("catalog", "verify", backup_id).stdout

    rows = run_json("query", "SELECT count(*) AS n FROM Docs")
    assert rows == [{"n": COUNT}]
    mix = run_json("query", "--example", "language_mix_per_repo")
    assert sum(r["files"] for r in mix) == COUNT
    csv_out = run(
        "query", "SELECT language, count(*) AS n FROM all_documents GROUP BY 1 ORDER BY 1", "--csv"
    )
    parsed = list(csv.reader(io.StringIO(csv_out.stdout)))
    assert parsed[0] == ["language", "n"] and sum(int(r[1]) for r in parsed[1:]) == COUNT
    assert "row(s)" in run("query", "--example", "files_changed_per_day").stdout
    assert "SELECT" in run("query", "--example", "largest_files_per_language", "--show-sql").stdout


def test_verify_exits_non_zero_on_corruption(env: Settings) -> None:
    made = run_json("backup", "Docs", "--format", "jsonl", "--compression", "zstd")
    data = Path(made["path"]) / made["files"][0]["path"]
    raw = bytearray(data.read_bytes())
    raw[10] ^= 0x01
    data.write_bytes(bytes(raw))
    result = run("catalog", "verify", made["backup_id"])
    assert result.exit_code == 1
    assert "CORRUPT" in result.stdout and "checksum_mismatch" in result.stdout
    as_json = run("catalog", "verify", made["backup_id"], "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"][0]["path"] == made["files"][0]["path"]
    assert run_json("catalog", "show", made["backup_id"])["status"] == "corrupt"


def test_query_warns_about_a_corrupt_latest_backup(env: Settings) -> None:
    """Issue 14.11 end to end: the truncated newest backup is named on stderr and skipped."""
    older = run_json("backup", "Docs")
    newer = run_json("backup", "Docs", "--filter", "language = 'python'")
    data = Path(newer["path"]) / newer["files"][0]["path"]
    data.write_bytes(data.read_bytes()[:-64])
    result = run("query", "SELECT count(*) AS n FROM Docs", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"n": COUNT}]  # the older, complete backup
    assert f"warning: skipped backup {newer['backup_id']} of Docs" in result.stderr
    assert older["backup_id"] in result.stderr and "truncated" in result.stderr
    assert run_json("catalog", "show", newer["backup_id"])["status"] == "corrupt"


def test_cleanup_dry_run_confirm_and_yes(env: Settings) -> None:
    ids = [run_json("backup", "Docs", "--no-vectors")["backup_id"] for _ in range(3)]
    plan = run_json("catalog", "cleanup", "--older-than", "0s", "--keep-last", "1", "--dry-run")
    assert sorted(i["id"] for i in plan["deleted"]) == sorted(ids[:2]) and plan["dry_run"] is True
    declined = run("catalog", "cleanup", "--older-than", "0s", "--keep-last", "1", input="n\n")
    assert declined.exit_code == 1 and "Nothing deleted" in declined.stdout
    assert all(Path(e["path"]).exists() for e in run_json("catalog", "list"))
    needs_yes = run("catalog", "cleanup", "--older-than", "0s", "--keep-last", "1", "--json")
    assert needs_yes.exit_code == 1 and "--yes" in needs_yes.stderr
    done = run_json("catalog", "cleanup", "--older-than", "0s", "--keep-last", "1", "--yes")
    assert sorted(i["id"] for i in done["deleted"]) == sorted(ids[:2])
    assert [e["id"] for e in run_json("catalog", "list")] == [ids[2]]
    assert (
        "Nothing to delete"
        in run("catalog", "cleanup", "--older-than", "0s", "--keep-last", "1").stdout
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("backup", "Docs", "--filter", "langauge = 'go'"), "no property 'langauge'"),
        (("backup", "Docs", "--filter", "size_bytes >"), "column 13"),
        (("backup", "Docs", "--format", "xml"), "--format 'xml'"),
        (("backup", "Docs", "--compression", "brotli"), "compression 'brotli'"),
        (("backup", "Docs", "--partition-by", "path"), "--partition-by 'path'"),
        (("backup", "Missing"), "Missing"),
        (("backup", "Docs", "--tag", "ok", "--tag", " "), "a backup tag is empty"),
        (("catalog", "show", "docs-20240101T000000Z-abcd"), "catalog list"),
        (("catalog", "verify", "docs-20240101T000000Z-abcd"), "catalog list"),
        (("catalog", "list", "--since", "someday"), "neither a duration nor a date"),
        (("catalog", "cleanup", "--older-than", "forever"), "not a duration"),
        (("query", "SELECT * FROM nope"), "query failed"),
        (("query", "--example", "nope"), "no example query"),
        (("query",), "either SQL or --example"),
    ],
)
def test_errors_exit_non_zero_without_traceback(
    env: Settings, args: tuple[str, ...], fragment: str
) -> None:
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    with open_catalog(env) as catalog:
        assert catalog.count() == 0
    assert not any((env.backups_dir).glob("*/*"))
