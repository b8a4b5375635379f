"""``otwatch sensor install | repair | run | uninstall``: pair with a console and feed it."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from otwatch.wire import install_cli
from otwatch.wire.client import LinkError, NodeState

if TYPE_CHECKING:
    from otwatch.sensor.localstore import SensorStore
    from otwatch.sensor.node import SensorNode
    from otwatch.sensor.web.server import ConsoleServer

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
        console_port: Annotated[
            int | None,
            typer.Option(help="serve the sensor's own console (HTTPS) on this port", min=0, max=65535),
        ] = None,
        console_host: Annotated[
            str, typer.Option(help="address the sensor console listens on")
        ] = "127.0.0.1",
        network_root: Annotated[
            Path | None,
            typer.Option(help="apply network settings below this root (Debian layout; / on the appliance)"),
        ] = None,
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
        from otwatch.sensor.localstore import SensorStore
        from otwatch.sensor.trust import SensorLinkState

        state_dir = install_base / "state"
        if not NodeState(state_dir).exists():
            install_cli.out.print("[red]error:[/] not paired (run `otwatch sensor install` first)")
            raise typer.Exit(1)
        store = SensorStore(state_dir)
        link_state = SensorLinkState(state_dir, lambda: store.console_trust)
        store.on_trust_changed = link_state.trust_changed
        try:
            node = SensorNode(link_state, sources, report_every=report_every, longpoll=longpoll)
        except LinkError as exc:
            install_cli.out.print(f"[red]error:[/] {exc} (run `otwatch sensor install` first)")
            raise typer.Exit(1) from exc
        console = (
            _start_console(node, store, console_host, console_port, network_root)
            if console_port is not None
            else None
        )
        signal.signal(signal.SIGTERM, lambda *_: node.stop())
        try:
            node.run()
        except KeyboardInterrupt:
            node.stop()
        finally:
            if console is not None:
                console.stop()


def _start_console(
    node: SensorNode, store: SensorStore, host: str, port: int, network_root: Path | None
) -> ConsoleServer:
    """The sensor's own console on ``host:port`` (HTTPS); first start prints the local passwords once."""
    from otwatch.sensor.hostnet import DebianNetwork, HostNetwork, RecordOnly
    from otwatch.sensor.web import create_sensor_app
    from otwatch.sensor.web.server import ConsoleServer

    for role, password in store.ensure_users().items():
        install_cli.out.print(
            f"sensor console user [bold]{role.value}[/], password (shown once): [bold]{password}[/]"
        )
    store.ensure_self_signed([host] if host not in ("0.0.0.0", "::") else [])
    network: HostNetwork = DebianNetwork(network_root) if network_root is not None else RecordOnly()
    server = ConsoleServer(create_sensor_app(node, store, network=network), store, host, port).start()
    shown = f"[{host}]" if ":" in host else host
    install_cli.out.print(f"sensor console: https://{shown}:{server.port}/")
    return server


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
