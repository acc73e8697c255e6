"""How every refusal looks: `error:` + `hint:`, plain text, one JSON document under --json.

Found by auditing `elysiactl` with bad input: names with `[` ended in a rich MarkupError
traceback, click's usage errors and unanswered prompts printed their own formats, and
--json commands printed nothing on stdout when they failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from elysia_pipelines.cli.main import app
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.gitrepo import GitRepo


def _invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def _said(result: Result) -> str:
    return " ".join(result.output.split())


def _refused(result: Result, code: int = 1) -> str:
    said = _said(result)
    assert result.exit_code == code, said
    assert said.count("error:") == 1 and said.count("hint:") == 1, said
    assert "Traceback" not in said and "╭" not in said and "Aborted" not in said, said
    return said


@pytest.mark.parametrize("name", ["[/]", "x[/y]", "[bold]ghost"])
def test_names_with_brackets_are_shown_as_typed(cli: Cli, name: str) -> None:
    said = _refused(cli.run("status", name))
    assert f"unknown repository '{name}'" in said


def test_repository_path_with_brackets(cli: Cli, tmp_path: Path) -> None:
    missing = str(tmp_path / "x[/]y")
    assert missing in _refused(cli.run("add", missing))


@pytest.mark.parametrize(
    ("args", "message", "command"),
    [
        (
            ["col", "restore", "x", "--workers", "0"],
            "'--workers': 0 is not in the range",
            "col restore",
        ),
        (["repo", "logs", "x", "--tail", "abc"], "'abc' is not a valid integer", "repo logs"),
        (["repo", "nosuchcmd"], "No such command 'nosuchcmd'", "repo"),
        (["--nope"], "No such option '--nope'", "elysiactl"),
    ],
)
def test_usage_errors_take_the_same_form(
    elysia_home: Path, args: list[str], message: str, command: str
) -> None:
    said = _refused(_invoke(*args), code=2)
    assert message in said
    assert f"{command} --help" in said


def test_usage_errors_under_json_are_one_json_document(elysia_home: Path) -> None:
    result = _invoke("repo", "sync", "demo", "--json", "--nope")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["error"] == "No such option '--nope'."
    assert data["hint"] == "see `elysiactl repo sync --help` for the usage"
    assert data["kind"] == "user_fixable" and data["reason"] == "usage"
    assert "error: No such option" in result.stderr


def test_help_without_arguments_still_shows_help() -> None:
    result = _invoke("repo")
    assert result.exit_code == 2
    assert "add-batch" in result.output and "error:" not in result.output


def test_unanswered_confirmation_changes_nothing(cli: Cli, source: GitRepo) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    said = _refused(cli.run("remove", "demo", input=""))
    assert "no answer" in said and "--yes" in said
    assert cli.registry().names() == ["demo"]
    assert cli.settings().mirror_path("demo").exists()


def test_json_errors_are_one_json_document(cli: Cli, source: GitRepo) -> None:
    result = cli.run("status", "ghost", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["error"] == "unknown repository 'ghost'"
    assert data["hint"] and data["kind"] == "user_fixable" and data["reason"] == "not_found"
    assert "error:" in result.stderr  # people running it still read the message

    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    needs_yes = cli.run("remove", "demo", "--json")
    assert needs_yes.exit_code == 1
    assert "--yes" in json.loads(needs_yes.stdout)["hint"]
    backup = _invoke("col", "backup", "Demo", "--format", "xml", "--json")
    assert "parquet" in _refused(backup)
    assert json.loads(backup.stdout)["error"].startswith("--format 'xml'")


@pytest.mark.parametrize(("option", "value"), [("--format", "xml"), ("--partition-by", "author")])
def test_unknown_choices_name_the_choices(elysia_home: Path, option: str, value: str) -> None:
    said = _refused(_invoke("col", "backup", "Demo", option, value))
    assert f"{option} '{value}' is not one of" in said


# --- refusals that used to be accepted, or pointed the wrong way ---------------------


def test_backup_destination_with_unknown_scheme_is_refused(
    cli: Cli, source: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0  # creates Demo
    monkeypatch.chdir(tmp_path)
    said = _refused(_invoke("col", "backup", "Demo", "--output", "ftp://user:pw@host/x"))
    assert "unsupported storage scheme 'ftp'" in said and "s3://" in said
    assert "pw" not in said
    assert not (tmp_path / "ftp:").exists()  # it used to become a local directory
    assert "unsupported storage scheme" in _refused(_invoke("col", "restore", "ftp://host/x"))


def test_zero_max_file_size_is_refused_by_add_and_update(cli: Cli, source: GitRepo) -> None:
    added = cli.run("add", source.url, "--max-file-size", "0")
    assert "not a positive size" in _refused(added)
    assert "[1/6]" not in added.output  # refused before any step runs
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    before = cli.registry().get("demo")
    assert "not a positive size" in _refused(cli.run("update", "demo", "--max-file-size", "0"))
    assert cli.registry().get("demo") == before  # a 0 limit made every later sync fail


def test_watch_with_manual_schedule_is_a_contradiction(cli: Cli, source: GitRepo) -> None:
    said = _refused(cli.run("add", source.url, "--watch", "--schedule", "manual"))
    assert "contradict" in said
    assert cli.registry().names() == []
    assert cli.run("add", source.url, "--no-sync", "--schedule", "1h").exit_code == 0
    assert "contradict" in _refused(cli.run("update", "demo", "--watch", "--schedule", "manual"))
    assert cli.registry().get("demo").schedule == "1h"


def test_local_paths_that_are_no_repository(cli: Cli, tmp_path: Path) -> None:
    missing = _refused(cli.run("add", str(tmp_path / "nowhere")))
    assert "does not exist" in missing and "token" not in missing
    plain = tmp_path / "plain"
    plain.mkdir()
    not_git = _refused(cli.run("add", str(plain)))
    assert "is not a git repository" in not_git and "token" not in not_git
    a_file = tmp_path / "notes.txt"
    a_file.write_text("hello\n")
    as_file = _refused(cli.run("add", str(a_file)))
    assert "is a file, not a git repository" in as_file and "network" not in as_file
    empty = GitRepo.init(tmp_path / "empty")
    no_commits = _refused(cli.run("add", str(empty.path)))
    assert f"{empty.path} has no commits" in no_commits and ".clone-" not in no_commits
    assert cli.registry().names() == []


def test_catalog_show_does_not_promise_paths(elysia_home: Path, tmp_path: Path) -> None:
    said = _refused(_invoke("col", "catalog", "show", str(tmp_path)))
    assert "catalog verify PATH" in said


def test_failed_sync_shows_the_raisers_hint_once(cli: Cli, source: GitRepo) -> None:
    import shutil

    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    shutil.rmtree(source.path)
    said = _refused(cli.run("sync", "demo"))  # one hint: it used to print two
    assert "does not exist" in said and "check the path" in said
    assert "`elysiactl repo retry demo`" in said


def test_grpc_address_equal_to_rest_address_is_named(
    elysia_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from elysia_pipelines_tests.support import free_port

    port = free_port()
    monkeypatch.setenv("WEAVIATE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WEAVIATE_GRPC_URL", f"127.0.0.1:{port}")
    said = _refused(_invoke("col", "list"))  # was "ValidationError: ... ConnectionParams"
    assert f"WEAVIATE_GRPC_URL names the REST address 127.0.0.1:{port}" in said
    assert "ValidationError" not in said


def test_cron_that_never_fires_is_refused(cli: Cli, source: GitRepo) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    said = _refused(cli.run("update", "demo", "--schedule", "0 0 31 2 *"))
    assert "never fires" in said
    assert cli.registry().get("demo").schedule == "manual"
    assert cli.run("status", "demo").exit_code == 0  # croniter's error used to crash it
    assert cli.run("update", "demo", "--schedule", "0 0 29 2 *").exit_code == 0  # leap day


@pytest.mark.parametrize(
    "args",
    [
        ["col", "catalog", "list", "--since", "99999999999d"],
        ["col", "catalog", "cleanup", "--older-than", "99999999999d", "--dry-run"],
    ],
)
def test_huge_spans_are_refused(elysia_home: Path, args: list[str]) -> None:
    assert "longer than 1000 years" in _refused(_invoke(*args))  # was an OverflowError


def test_compression_level_is_checked_for_auto_too(cli: Cli, source: GitRepo) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    said = _refused(_invoke("col", "backup", "Demo", "--level", "99999999999999999999"))
    assert "out of range for zstd" in said  # reached pyarrow as an OverflowError
    assert _invoke("col", "backup", "Demo", "--level", "5").exit_code == 0


def test_catalog_limit_beyond_sqlite_integers(elysia_home: Path) -> None:
    result = _invoke("col", "catalog", "list", "--limit", "99999999999999999999")
    assert result.exit_code == 0, result.output  # was an OverflowError traceback
    assert "No backups match" in result.output


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_dashboard_refresh_must_be_seconds(elysia_home: Path, value: str) -> None:
    # click's range lets nan and inf through; time.sleep then raised in live mode
    assert "out of range" in _refused(_invoke("repo", "dashboard", "--refresh", value))


def test_diagnose_never_says_fine_next_to_a_failed_check(
    cli: Cli,
    source: GitRepo,
    weaviate_server_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    failing = weaviate_server_factory(fail_rate=1.0)  # every request answers 503
    monkeypatch.setenv("WEAVIATE_URL", failing.url)
    monkeypatch.setenv("WEAVIATE_GRPC_URL", f"127.0.0.1:{failing.grpc_port}")
    monkeypatch.setenv("WEAVIATE_RETRIES", "0")
    result = cli.run("diagnose", "demo")
    said = _said(result)
    assert result.exit_code == 1, said
    assert "everything looks fine" not in said  # it said so under a failed weaviate check
    assert "Recommendations" in said and "Weaviate answered with an error" in said
