"""``otwatch``: one command with a sub-command per part (console, sensor, agent)."""

from __future__ import annotations

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


from otwatch.agent import lifecycle as _agent_lifecycle  # noqa: E402
from otwatch.agent.cli import app as _agent  # noqa: E402
from otwatch.console.cli import app as _console  # noqa: E402
from otwatch.sensor.cli import app as _sensor  # noqa: E402

_agent_lifecycle.register(_agent)  # install / repair / run / uninstall beside the one-shot scan
app.add_typer(_console, name="console", help="The central console.")
app.add_typer(_agent, name="agent", help="The active-query agent.")
app.add_typer(_sensor, name="sensor", help="The passive sensor.")

from otwatch.wire.release_cli import app as _release  # noqa: E402 - after the parts, for --help order

app.add_typer(_release, name="release", help="Sign and verify update packages.")


def main() -> None:
    app()
