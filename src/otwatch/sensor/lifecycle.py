"""``otwatch sensor install | repair | run | uninstall``: pair with a console and feed it."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from otwatch.wire import install_cli
from otwatch.wire.client import LinkError, NodeState

DEFAULT_BASE = Path("/var/lib/otwatch-sensor")


def register(app: typer.Typer) -> None:
    install_cli.register(app, "sensor", DEFAULT_BASE)
    register_tools(app)

    @app.command()
    def run(
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        interface: Annotated[
            list[str], typer.Option("--interface", "-i", help="live interface (SPAN port)")
        ] = [],  # noqa: B006
        pcap: Annotated[list[Path], typer.Option("--pcap", help="capture file to replay (Play PCAP)")] = [],  # noqa: B006
        loop: Annotated[bool, typer.Option(help="replay the capture files again and again")] = False,
        speed: Annotated[
            float, typer.Option(help="replay pace: 1 = real time, 0 = as fast as possible")
        ] = 1.0,
        report_every: Annotated[float, typer.Option(help="seconds between reports to the console")] = 10.0,
        longpoll: Annotated[float, typer.Option(help="seconds a check-in waits for work")] = 25.0,
    ) -> None:
        """Capture (live or replayed), analyse, and report assets, alerts and statistics to the console."""
        from otwatch.sensor.node import SensorNode
        from otwatch.sensor.sources import LiveInterface, PcapReplay

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if not interface and not pcap:
            install_cli.out.print("[red]error:[/] give --interface and/or --pcap")
            raise typer.Exit(2)
        sources: list[PcapReplay | LiveInterface] = []
        try:
            sources += [LiveInterface(i) for i in interface]
        except (OSError, PermissionError) as exc:
            install_cli.out.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc
        if pcap:
            sources.append(PcapReplay(list(pcap), loop=loop, speed=speed))
        try:
            node = SensorNode(
                NodeState(install_base / "state"), sources, report_every=report_every, longpoll=longpoll
            )
        except LinkError as exc:
            install_cli.out.print(f"[red]error:[/] {exc} (run `otwatch sensor install` first)")
            raise typer.Exit(1) from exc
        signal.signal(signal.SIGTERM, lambda *_: node.stop())
        try:
            node.run()
        except KeyboardInterrupt:
            node.stop()


def register_tools(app: typer.Typer) -> None:
    @app.command()
    def synth(
        output: Annotated[Path, typer.Option("-o", "--output", help="pcap file to write")],
        minutes: Annotated[int, typer.Option(min=1, max=1440, help="minutes of plant traffic")] = 10,
    ) -> None:
        """Write a generated OT capture: a small plant's polling traffic and, in its last minute, an incident."""
        from otwatch.sensor.synth import demo_plant, write_capture

        count = write_capture(str(output), demo_plant(minutes).frames)
        install_cli.out.print(f"{count} packets written to {output}")
