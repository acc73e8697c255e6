"""Helpers shared by tests and benchmarks, kept out of conftest files so both can import them.

One free-port probe, one way to drive `elysiactl` in-process and one ANSI pattern: copies of
these drifted apart (two ANSI regexes matched different escape sets) before they lived here.
"""

from __future__ import annotations

import re
import socket

from click.testing import Result

# CSI sequences, OSC titles/links, charset switches and keypad modes: everything rich or a
# pseudo-terminal may emit around text.
ANSI_RE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")


def free_port() -> int:
    """A local TCP port nothing listens on right now (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def run_cli(*args: str, input: str | None = None) -> Result:
    """`elysiactl ARGS...` in this process; exceptions propagate so a traceback fails the test."""
    from typer.testing import CliRunner

    from elysia_pipelines.cli.main import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
