"""``otwatch agent install | repair | run | uninstall``: the shared pairing commands plus the agent's run."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from otwatch.agent.engine import BUILTIN_VERSION
from otwatch.wire import install_cli
from otwatch.wire.client import LinkError, NodeState

DEFAULT_BASE = Path("/var/lib/otwatch-agent")


def register(app: typer.Typer) -> None:
    install_cli.register(app, "agent", DEFAULT_BASE, engine_version=BUILTIN_VERSION)

    @app.command()
    def run(
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        port_map: Annotated[str, typer.Option(help="protocol=port overrides, e.g. modbus=5020")] = "",
        longpoll: Annotated[float, typer.Option(help="seconds a check-in waits for work")] = 25.0,
    ) -> None:
        """Keep the check-in loop with the console: configuration, Scan Now, Abort Scan, schedules, updates."""
        from otwatch.agent.node import AgentNode

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        pm = {k: int(v) for k, v in (p.split("=", 1) for p in port_map.split(",") if p)}
        try:
            node = AgentNode(NodeState(install_base / "state"), port_map=pm, longpoll=longpoll)
        except LinkError as exc:
            install_cli.out.print(f"[red]error:[/] {exc} (run `otwatch agent install` first)")
            raise typer.Exit(1) from exc
        signal.signal(signal.SIGTERM, lambda *_: node.stop())
        try:
            node.run()
        except KeyboardInterrupt:
            node.stop()
