"""``otwatch``: one command with a sub-command per part (console, sensor, agent)."""

from __future__ import annotations

import importlib

import typer

from otwatch import __version__

app = typer.Typer(
    help="OTWatch: OT network security — console, passive sensor, active-query agent.", no_args_is_help=True
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"otwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version"
    ),
) -> None:
    pass


for _name, _help in (
    ("console", "The central console."),
    ("agent", "The active-query agent."),
    ("sensor", "The passive sensor."),
):
    try:
        _mod = importlib.import_module(f"otwatch.{_name}.cli")
    except ModuleNotFoundError as _exc:  # a part not built yet in this checkout
        if _exc.name != f"otwatch.{_name}.cli":
            raise
        continue
    if _name in ("agent", "sensor"):  # install / repair / run / uninstall beside the one-shot commands
        importlib.import_module(f"otwatch.{_name}.lifecycle").register(_mod.app)
    app.add_typer(_mod.app, name=_name, help=_help)


from otwatch.wire.release_cli import app as _release  # noqa: E402 - after the parts, for --help order

app.add_typer(_release, name="release", help="Sign and verify update packages.")


def main() -> None:
    app()
