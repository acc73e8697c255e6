"""Entry point of the `elysiactl` console script."""

from __future__ import annotations

import typer

from elysia_pipelines import __version__

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


def _register() -> None:
    # Sub-apps live in their own modules; importing them here keeps `main` the one place
    # that knows the command tree.
    import importlib

    for module_name, name, help_text in (
        ("elysia_pipelines.cli.repo", "repo", "Add, watch and operate repositories."),
        ("elysia_pipelines.cli.col", "col", "Back up, restore, query and catalog collections."),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.add_typer(module.app, name=name, help=help_text)


_register()

if __name__ == "__main__":
    app()
