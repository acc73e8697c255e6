"""Bad input gives one clear message and a non-zero exit, never a traceback or lost data."""

from __future__ import annotations

from pathlib import Path

import pytest

from elysia_pipelines_tests.cli.conftest import Cli
from elysia_pipelines_tests.gitrepo import GitRepo
from elysia_pipelines_tests.support import free_port


def _assert_clean_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "error:" in result.output
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)


@pytest.mark.parametrize(
    "args",
    [
        ("status", "ghost"),
        ("logs", "ghost"),
        ("sync", "ghost"),
        ("retry", "ghost"),
        ("pause", "ghost"),
        ("resume", "ghost"),
        ("update", "ghost", "--schedule", "1h"),
        ("fix-auth", "ghost"),
        ("remove", "ghost", "--yes"),
        ("diagnose", "ghost"),
    ],
)
def test_unknown_repository(cli: Cli, args: tuple[str, ...]) -> None:
    _assert_clean_error(cli.run(*args), "unknown repository 'ghost'", "repo add URL")


def test_invalid_url(cli: Cli) -> None:
    _assert_clean_error(cli.run("add", "ftp://example.com/repo.git"))
    assert cli.registry().names() == []


def test_unreachable_remote(cli: Cli, tmp_path: Path) -> None:
    missing = (tmp_path / "nowhere" / "repo").as_uri()
    _assert_clean_error(cli.run("add", missing), "cannot access")
    assert cli.registry().names() == []


def test_bad_schedule_and_options(cli: Cli, source: GitRepo) -> None:
    _assert_clean_error(cli.run("add", source.url, "--schedule", "2m"), "shorter than 5 minutes")
    _assert_clean_error(cli.run("add", source.url, "--max-file-size", "huge"), "not a size")
    _assert_clean_error(cli.run("add", source.url, "--vectorizer", "magic"), "vectorizer")
    _assert_clean_error(
        cli.run("add", source.url, "--vectorizer", "text2vec-transformers", "--model", "x"),
        "model",
    )
    _assert_clean_error(cli.run("add", source.url, "--token-env", "not a name"), "variable name")
    assert cli.registry().names() == []


def test_missing_token_variable(cli: Cli, source: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELYSIA_NO_SUCH_TOKEN", raising=False)
    _assert_clean_error(
        cli.run("add", source.url, "--token-env", "ELYSIA_NO_SUCH_TOKEN"),
        "ELYSIA_NO_SUCH_TOKEN",
    )


def test_missing_weaviate_leaves_nothing_behind(
    cli: Cli, source: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("WEAVIATE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WEAVIATE_GRPC_URL", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("WEAVIATE_RETRIES", "0")
    result = cli.run("add", source.url, "--watch")
    _assert_clean_error(result, "[3/6]", "Weaviate", "WEAVIATE_URL")
    assert cli.registry().names() == []
    assert not cli.settings().mirror_path("demo").exists()


def test_duplicate_name_keeps_existing(cli: Cli, source: GitRepo) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    before = cli.registry().get("demo")
    _assert_clean_error(cli.run("add", source.url), "already registered", "--name")
    assert cli.registry().get("demo") == before
    assert cli.settings().mirror_path("demo").exists()


def test_status_without_weaviate_still_renders(
    cli: Cli, source: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.run("add", source.url, "--no-sync").exit_code == 0
    port = free_port()
    monkeypatch.setenv("WEAVIATE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WEAVIATE_GRPC_URL", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("WEAVIATE_RETRIES", "0")
    result = cli.run("status")
    assert result.exit_code == 0
    assert "Weaviate:" in result.output and "demo" in result.output
    diagnosis = cli.run("diagnose", "demo")
    assert diagnosis.exit_code == 1
    assert "weaviate" in diagnosis.output and "fail" in diagnosis.output


def test_missing_branch_leaves_no_mirror(cli: Cli, source: GitRepo) -> None:
    result = cli.run("add", source.url, "--branch", "no-such-branch")
    _assert_clean_error(result, "no-such-branch")
    assert cli.registry().names() == []
    assert not cli.settings().mirror_path("demo").exists()
