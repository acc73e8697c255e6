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
from typing import Any

import typer
from typer.core import TyperGroup

from elysia_pipelines import __version__

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
