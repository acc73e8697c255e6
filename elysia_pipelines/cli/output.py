"""Console output shared by every command: rich when interactive, plain when piped, JSON on request.

One place decides how errors look so no command ever shows a traceback for a problem
the user can fix.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from elysia_pipelines.errors import ElysiaError, Interrupted

F = TypeVar("F", bound=Callable[..., Any])

# Whether the running command was given --json, and whether it already printed its one
# JSON document: an error then still leaves stdout one valid JSON document.
_json_mode: ContextVar[bool] = ContextVar("json_mode", default=False)
_json_printed: ContextVar[bool] = ContextVar("json_printed", default=False)


def _make_console(stderr: bool = False) -> Console:
    # Plain output when not a terminal (pipes, CI, CliRunner) keeps scripts simple.
    force_terminal = None if os.environ.get("ELYSIA_FORCE_TERMINAL") is None else True
    return Console(stderr=stderr, force_terminal=force_terminal, highlight=False, soft_wrap=False)


console = _make_console()
err_console = _make_console(stderr=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return str(value)


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")
    sys.stdout.flush()
    _json_printed.set(True)


def warn(message: str) -> None:
    """One `warning:` line on stderr; the text is printed as is (no Rich markup)."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


def expect_json() -> None:
    """The command line asked for --json though no command ran to say so (a usage error)."""
    _json_mode.set(True)
    _json_printed.set(False)


def fail(
    message: str,
    hint: str | None = None,
    code: int = 1,
    *,
    kind: str = "user_fixable",
    reason: str = "user_input",
) -> typer.Exit:
    """`error:` and `hint:` on stderr (as plain text: user input and paths are no markup).

    Under --json, stdout also gets `{"error", "hint", "kind", "reason"}` unless the
    command already printed its document, so a script always reads one JSON document.
    """
    # Piped, each stays one line: a path or command cut at column 80 cannot be pasted.
    unwrapped = not err_console.is_terminal
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=unwrapped)
    if hint:
        err_console.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=unwrapped)
    if _json_mode.get() and not _json_printed.get():
        print_json({"error": message, "hint": hint, "kind": kind, "reason": reason})
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn ElysiaError into a two-line message and a non-zero exit instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _json_mode.set(bool(kwargs.get("json_out") or kwargs.get("as_json")))
        _json_printed.set(False)
        try:
            return func(*args, **kwargs)
        except ElysiaError as exc:
            code = 130 if isinstance(exc, Interrupted) else 1
            raise fail(exc.message, exc.hint, code, kind=exc.kind, reason=exc.reason) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted",
                "nothing finished is lost and unfinished work is redone: run the command again",
                code=130,
                kind="transient",
                reason="interrupted",
            ) from None

    return wrapper  # type: ignore[return-value]
