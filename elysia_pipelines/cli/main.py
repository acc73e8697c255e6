"""Entry point of the `elysiactl` console script.

`repo` and `col` are registered as stand-ins that import their command module only
when one of their commands runs (or their own help is asked for): `elysiactl --help`
and `--version` load neither, and `repo list` never loads the backup commands.
Each command module in turn imports weaviate-client, pyarrow, DuckDB or Dagster only
inside the commands that need them; `elysia_pipelines_tests/cli/test_import_set.py`
keeps it that way.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click
import typer
from typer.core import TyperGroup

from elysia_pipelines import __version__
from elysia_pipelines.process_exit import leave

# name -> (module with a Typer `app`, one-line help shown by `elysiactl --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "repo": ("elysia_pipelines.cli.repo", "Add, watch and operate repositories."),
    "col": ("elysia_pipelines.cli.col", "Back up, restore, query and catalog collections."),
}


class _LazySubcommand(TyperGroup):
    """Lists like the real group; builds it from its module only when invoked."""

    def __init__(self, name: str, module: str, help: str) -> None:
        super().__init__(name=name, help=help)
        self.module = module

    def load(self) -> TyperGroup:
        app = importlib.import_module(self.module).app
        command = typer.main.get_command(app)
        command.name = self.name
        command.help = command.help or self.help
        assert isinstance(command, TyperGroup)
        return command

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        return self.load().make_context(info_name, args, parent=parent, **extra)


class _Root(TyperGroup):
    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (module, text) in SUBCOMMANDS.items():
            self.add_command(_LazySubcommand(name, module, text))

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not (standalone_mode and _console_script()):
            return self._main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            self._main(args, prog_name, complete_var, standalone_mode, **extra)
        except SystemExit as exc:
            leave(exc.code)
        leave(0)

    def _main(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        standalone_mode: bool,
        **extra: Any,
    ) -> Any:
        """Click's usage errors and unanswered prompts as our `error:` + `hint:` pair.

        Click would print a boxed "Error" panel (usage errors) or a bare "Aborted."
        (a prompt whose input ended, Ctrl-C at a prompt), neither in the form every
        other refusal takes.
        """
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            if not standalone_mode:
                raise
            if type(exc).__name__ != "NoArgsIsHelpError":  # help was printed instead
                _usage_error(exc, sys.argv[1:] if args is None else args)
            sys.exit(exc.exit_code)
        except click.Abort:
            if not standalone_mode:
                raise
            from elysia_pipelines.cli.output import err_console, fail

            err_console.print()  # the question's line has no newline yet
            fail(
                "no answer: the input ended (or Ctrl-C was pressed) at a question; "
                "nothing was changed",
                "answer in a terminal, or give the answer as an option (e.g. --yes; see --help)",
            )
            sys.exit(1)
        except click.ClickException as exc:
            if not standalone_mode:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _console_script() -> bool:
    """Whether this process is the `elysiactl` console script (not a test's CliRunner)."""
    main = sys.modules.get("__main__")
    return os.path.basename(str(getattr(main, "__file__", "") or "")) == "elysiactl"


def _usage_error(exc: click.UsageError, args: Sequence[str]) -> None:
    """Click's refusal as our error/hint pair; under --json also the one JSON document
    (the command never ran, so it could not set that up itself)."""
    from elysia_pipelines.cli import output

    ctx = exc.ctx
    command = ctx.command_path if ctx is not None else "elysiactl"
    if "--json" in args:
        output.expect_json()
    output.fail(exc.format_message(), f"see `{command} --help` for the usage", reason="usage")


app = typer.Typer(
    name="elysiactl",
    cls=_Root,
    help="Keep git repositories searchable in Weaviate and every collection backed up.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"elysiactl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """elysiactl: repositories (`repo`) and collections (`col`)."""


if __name__ == "__main__":
    app()
