"""Bad input that used to end in a traceback: one `error:` + `hint:` pair and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from elysia_pipelines.cli.main import app
from elysia_pipelines.settings import Settings
from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.gitrepo import GitRepo


def _rejected(args: list[str]) -> str:
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    said = " ".join(result.output.split())
    assert result.exit_code != 0, said
    assert "error:" in said and "hint:" in said, said
    assert "Traceback" not in said
    return said


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--schedule", "99999999999999h", "longer than a year"),
        ("--max-file-size", "999999999999999999999TB", "too large"),
    ],
)
def test_huge_values_are_refused(
    cli: Cli, source: GitRepo, option: str, value: str, message: str
) -> None:
    assert message in _rejected(["repo", "add", source.url, option, value])
    assert cli.registry().list() == []


@pytest.mark.parametrize("kind", ["file", "file-as-parent"])
def test_unusable_elysia_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    home = blocker if kind == "file" else blocker / "home"
    monkeypatch.setenv("ELYSIA_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    for args in (["repo", "list"], ["repo", "sync", "x"], ["repo", "pause", "x"]):
        assert "ELYSIA_HOME" in _rejected(args)
    assert "ELYSIA_HOME" in _rejected(["col", "catalog", "list"])
    # restore writes checkpoints and dead letters there: it used to blame the catalog
    assert "ELYSIA_HOME" in _rejected(["col", "restore", "some-backup"])


def test_unreadable_catalog_exits_non_zero(settings: Settings) -> None:
    settings.catalog_path.write_bytes(b"this is not sqlite" * 100)
    assert "catalog" in _rejected(["col", "catalog", "list"])
    settings.catalog_path.unlink()
    settings.catalog_path.mkdir()
    assert "catalog" in _rejected(["col", "catalog", "list"])


def test_update_checks_url_branch_and_patterns_like_add(
    cli: Cli, source: GitRepo, tmp_path: Path
) -> None:
    added = cli.run("add", source.url, "--name", "demo")
    assert added.exit_code == 0, added.output
    before = cli.registry().get("demo")
    missing = str(tmp_path / "no-such-repo")
    assert "cannot access" in _rejected(["repo", "update", "demo", "--url", missing])
    assert "does not exist" in _rejected(["repo", "update", "demo", "--branch", "nope"])
    assert "never closes" in _rejected(["repo", "update", "demo", "--include-pattern", "["])
    assert "never closes" in _rejected(
        ["repo", "add", source.url, "--name", "other", "--exclude-pattern", "a["]
    )
    assert cli.registry().get("demo") == before  # nothing was changed
    source.branch("dev")
    source.commit("on dev", allow_empty=True)
    ok = cli.run("update", "demo", "--branch", "dev", "--include-pattern", "*.[ch]")
    assert ok.exit_code == 0, ok.output
    assert cli.registry().get("demo").branch == "dev"
