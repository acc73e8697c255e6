"""Entry point of the `elysiactl` console script."""

from __future__ import annotations

import typer

from elysia_pipelines import __version__
from elysia_pipelines.cli import col, repo

app = typer.Typer(
    name="elysiactl",
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


app.add_typer(repo.app, name="repo", help="Add, watch and operate repositories.")
app.add_typer(col.app, name="col", help="Back up, restore, query and catalog collections.")

if __name__ == "__main__":
    app()
