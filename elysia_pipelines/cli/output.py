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
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from elysia_pipelines.errors import ElysiaError

F = TypeVar("F", bound=Callable[..., Any])


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


def warn(message: str) -> None:
    """One `warning:` line on stderr; the text is printed as is (no Rich markup)."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}")


def fail(message: str, hint: str | None = None, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[yellow]hint:[/] {hint}")
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn ElysiaError into a two-line message and a non-zero exit instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ElysiaError as exc:
            raise fail(exc.message, exc.hint) from None
        except KeyboardInterrupt:
            raise fail("interrupted", code=130) from None

    return wrapper  # type: ignore[return-value]
