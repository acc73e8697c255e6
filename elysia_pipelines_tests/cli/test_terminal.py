"""A real terminal session (pexpect, 80x40 pty): `repo add` and `repo dashboard --once` stay legible.

CliRunner is not a terminal, so rich falls back to plain output there; this test runs
the real console script in a pseudo-terminal of the narrowest common width, answers
the interactive prompts like a person, and checks that no rendered line is wider than
80 columns and that the labels people look for are present.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest

from elysia_pipelines_tests.gitrepo import make_repo
from elysia_pipelines_tests.support import (
    DASHBOARD_TILES,
    assert_mentions,
    elysia_env,
    strip_ansi,
)

WIDTH = 80

pytestmark = pytest.mark.slow


def _env(tmp_path: Path, weaviate_server: object) -> dict[str, str]:
    env = elysia_env(tmp_path, weaviate_server)
    for sizing in ("COLUMNS", "LINES", "NO_COLOR"):
        env.pop(sizing, None)
    return {**env, "WEAVIATE_RETRIES": "1", "TERM": "xterm-256color"}


def _spawn(args: list[str], env: dict[str, str], cwd: Path) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "elysia_pipelines.cli.main", "repo", *args],
        env=env,
        cwd=str(cwd),
        dimensions=(40, WIDTH),
        encoding="utf-8",
        timeout=240,
    )


def _screen_lines(raw: str) -> list[str]:
    # "^C" is the terminal echoing our Ctrl-C, not program output.
    text = strip_ansi(raw).replace("^C", "").replace("\r\n", "\n").replace("\r", "\n")
    return [line.rstrip() for line in text.split("\n")]


def _assert_fits(lines: list[str]) -> None:
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, "lines wider than 80 columns:\n" + "\n".join(too_wide)


def _run_to_end(child: pexpect.spawn) -> str:
    """The screen text of a command run to its end, which must succeed within 80 columns."""
    child.expect(pexpect.EOF)
    child.close()
    lines = _screen_lines(child.before)
    text = "\n".join(lines)
    assert child.exitstatus == 0, text
    _assert_fits(lines)
    return text


def test_add_and_dashboard_render_in_80_columns(tmp_path: Path, weaviate_server: object) -> None:
    source = make_repo(tmp_path / "sources" / "shop")
    env = _env(tmp_path, weaviate_server)

    add = _spawn(["add", source.url, "--watch", "--name", "shop"], env, tmp_path)
    assert_mentions(
        _run_to_end(add),
        (
            "[1/6] Checking access",
            "[2/6] Discovering",
            "[3/6] Creating the Weaviate",
            "[4/6] Registering shop",
            "[5/6] Running the initial sync",
            "[6/6] Done",
            "3 documents in Shop",
            "Watching every 30m",
            "elysiactl repo status shop",
        ),
    )
    assert "\x1b[" in add.before, "rich should style output in a terminal"

    board = _run_to_end(_spawn(["dashboard", "--once"], env, tmp_path))
    assert_mentions(board, ("elysia dashboard", *DASHBOARD_TILES, "shop"))

    live = _spawn(["dashboard", "--refresh", "0.5"], env, tmp_path)
    live.expect("elysia dashboard")
    live.expect("elysia dashboard")  # a second frame: the live view refreshes
    live.sendintr()
    live.expect(pexpect.EOF)
    live.close()
    assert live.exitstatus == 0
    _assert_fits(_screen_lines(live.before))

    follow = _spawn(["logs", "shop", "--follow", "--tail", "3"], env, tmp_path)
    follow.expect("ingest success")
    source.write("extra.py", "Y = 2\n")
    source.commit("more")
    sync = _spawn(["sync", "shop"], env, tmp_path)
    sync.expect(pexpect.EOF)
    sync.close()
    assert sync.exitstatus == 0, sync.before
    follow.expect(r"extract success: \+1")
    follow.sendintr()
    follow.expect(pexpect.EOF)
    follow.close()
    assert follow.exitstatus == 0


def test_interactive_add_in_a_terminal(tmp_path: Path, weaviate_server: object) -> None:
    source = make_repo(tmp_path / "sources" / "notes", {"guide.md": "# Guide\n", "b.md": "b\n"})
    env = _env(tmp_path, weaviate_server)
    child = _spawn(["add", "--no-sync"], env, tmp_path)
    child.expect("Repository URL or path")
    child.sendline(source.url)
    child.expect(r"Name \[notes\]")
    child.sendline("")
    child.expect(r"Collection \[Notes\]")
    child.sendline("")
    child.expect(r"Sync schedule \(15m, 30m, 1h, 6h, manual, cron\) \[30m\]")
    child.sendline("6h")
    child.expect("suggested vectorizer: none")
    child.expect(r"Vectorizer \[none\]")
    child.sendline("")
    child.expect(r"Continue\? \[Y/n\]")
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    lines = _screen_lines(child.before)
    assert child.exitstatus == 0, "\n".join(lines)
    _assert_fits(lines)
    assert "[6/6] Done" in "\n".join(lines)
