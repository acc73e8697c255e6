"""`repo add` (flags, interactive, batch) end to end: git repo -> Dagster sync -> Weaviate."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from elysia_pipelines.orchestration import PARTITIONS_NAME
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.gitrepo import GitRepo, make_repo


def _partitions(cli: Cli) -> list[str]:
    from elysia_pipelines.orchestration import get_instance

    instance: dg.DagsterInstance = get_instance(cli.settings())
    return list(instance.get_dynamic_partitions(PARTITIONS_NAME))


def test_add_watch_syncs_and_reports(cli: Cli, source: GitRepo) -> None:
    result = cli.run("add", source.url, "--watch")
    assert result.exit_code == 0, result.output
    out = result.output
    for step in range(1, 7):
        assert f"[{step}/6]" in out
    assert "access granted (no token needed)" in out
    assert "3 files" in out and "Python" in out
    assert "3 documents in Demo" in out
    assert "Watching every 30m; next sync" in out
    assert "elysiactl repo status demo" in out

    repo = cli.registry().get("demo")
    assert (repo.schedule, repo.collection, repo.vectorizer) == ("30m", "Demo", "none")
    assert repo.last_synced_commit == source.head()
    assert _partitions(cli) == ["demo"]

    status = json.loads(cli.run("status", "--json").stdout)
    [row] = status["repositories"]
    assert row["documents"] == 3
    assert row["health"] == "healthy"
    assert row["url"] == source.url

    tree = cli.run("status", "demo")
    assert tree.exit_code == 0
    for label in (
        "URL:",
        "Collection: Demo, 3 documents",
        "Last sync:",
        "Next sync:",
        "Success rate:",
        "Recent changes",
        "extract success",
    ):
        assert label in tree.output, label


def test_add_without_watch_is_manual_and_no_sync_registers_only(cli: Cli, source: GitRepo) -> None:
    result = cli.run("add", source.url, "--name", "quiet", "--no-sync", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schedule"] == "manual"
    assert data["sync"] == "skipped"
    assert data["registered"] is True
    assert data["discovery"]["file_count"] == 3
    assert data["next_sync_at"] is None
    repo = cli.registry().get("quiet")
    assert repo.schedule == "manual" and repo.last_sync_at is None
    assert _partitions(cli) == ["quiet"]

    listing = cli.run("list")
    assert "quiet" in listing.output and "manual" in listing.output


def test_add_with_options(cli: Cli, source: GitRepo) -> None:
    result = cli.run(
        "add",
        source.url,
        "--name",
        "opts",
        "--collection",
        "OptsDocs",
        "--schedule",
        "0 */2 * * *",
        "--exclude-pattern",
        "*.md",
        "--max-file-size",
        "2MB",
        "--replicas",
        "1",
        "--no-sync",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["collection"] == "OptsDocs"
    assert data["discovery"]["file_count"] == 2
    assert data["discovery"]["skipped"] == {"excluded": 1}
    repo = cli.registry().get("opts")
    assert repo.schedule == "0 */2 * * *"
    assert repo.exclude_patterns == ("*.md",)
    assert repo.max_file_size == 2_000_000


def test_interactive_add_with_scripted_answers(cli: Cli, source: GitRepo) -> None:
    answers = "\n".join([source.url, "", "", "1h", "", "y"]) + "\n"
    result = cli.run("add", "--no-sync", input=answers)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Repository URL or path" in out
    assert "Name [demo]" in out
    assert "Collection [Demo]" in out
    assert "Sync schedule (15m, 30m, 1h, 6h, manual, cron) [30m]" in out
    assert "suggested vectorizer: none" in out
    assert "Summary" in out and "Continue? [Y/n]" in out
    assert "[5/6] Initial sync" in out and "skipped (--no-sync)" in out
    assert cli.registry().get("demo").schedule == "1h"


def test_interactive_reasks_bad_answers_and_cron(cli: Cli, source: GitRepo) -> None:
    answers = (
        "\n".join(
            [
                source.url,
                "bad name!",
                "tool",
                "lowercase",
                "Tool",
                "2m",
                "cron",
                "15 3 * * *",
                "magic",
                "none",
                "y",
            ]
        )
        + "\n"
    )
    result = cli.run("add", "--no-sync", input=answers)
    assert result.exit_code == 0, result.output
    assert "not a valid repository name" in result.output
    assert "not a valid Weaviate collection name" in result.output
    assert "shorter than 5 minutes" in result.output
    assert "not a vectorizer" in result.output
    repo = cli.registry().get("tool")
    assert (repo.collection, repo.schedule) == ("Tool", "15 3 * * *")


def test_interactive_cancel_leaves_nothing(cli: Cli, source: GitRepo) -> None:
    answers = "\n".join([source.url, "", "", "", "", "n"]) + "\n"
    result = cli.run("add", input=answers)
    assert result.exit_code == 1
    assert "cancelled; nothing was registered" in result.output
    assert cli.registry().names() == []
    assert not cli.settings().mirror_path("demo").exists()


def test_add_batch_reports_bad_lines_and_continues(cli: Cli, tmp_path: Path) -> None:
    one = make_repo(tmp_path / "sources" / "one")
    two = make_repo(tmp_path / "sources" / "two", {"doc.md": "# two\n"})
    batch = tmp_path / "repos.txt"
    batch.write_text(
        "# team repositories\n"
        f"{one.url} --schedule 1h --sync\n"
        "\n"
        f"{two.url} --schedule every-now-and-then\n"
        f"{tmp_path / 'missing-repo'}\n"
        f"{two.url} --name two-docs --no-sync   # register only\n",
        encoding="utf-8",
    )
    result = cli.run("add-batch", str(batch), "--no-sync")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "line 4: schedule 'every-now-and-then'" in out
    assert "line 5" in out and "failed:" in out
    assert "2 added, 2 failed" in out
    registry = cli.registry()
    assert registry.names() == ["one", "two-docs"]
    assert registry.get("one").schedule == "1h"
    assert registry.get("one").last_synced_commit == one.head()
    assert registry.get("two-docs").last_synced_commit is None

    again = cli.run("add-batch", str(batch), "--no-sync", "--json")
    data = json.loads(again.stdout)
    assert again.exit_code == 1
    assert [line["line"] for line in data["lines"]] == [2, 4, 5, 6]
    assert "already registered" in data["lines"][0]["error"]


def test_add_with_token_names_the_variable_never_the_token(
    cli: Cli, source: GitRepo, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ELYSIA_DEMO_TOKEN", "tok-123-very-secret")
    result = cli.run("add", source.url, "--token-env", "ELYSIA_DEMO_TOKEN", "--no-sync")
    assert result.exit_code == 0, result.output
    assert "access granted with the token from $ELYSIA_DEMO_TOKEN" in result.output
    assert "tok-123-very-secret" not in result.output
    assert cli.registry().get("demo").token_env == "ELYSIA_DEMO_TOKEN"
    data = cli.run("list", "--json").stdout
    assert "tok-123-very-secret" not in data and "ELYSIA_DEMO_TOKEN" in data
