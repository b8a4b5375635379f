"""``otwatch sensor install | repair | run | uninstall``: pair with a console and feed it."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from otwatch.ui.passwords import reveal_generated
from otwatch.wire import install_cli
from otwatch.wire.client import LinkError, NodeState

if TYPE_CHECKING:
    from otwatch.sensor.local.store import SensorStore
    from otwatch.sensor.node.managed import SensorNode
    from otwatch.sensor.web.server import ConsoleServer

DEFAULT_BASE = Path("/var/lib/otwatch-sensor")


def register(app: typer.Typer) -> None:
    install_cli.register(app, "sensor", DEFAULT_BASE, command="supervise")
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
        from otwatch.sensor.capture.sources import LiveInterface, PcapReplay
        from otwatch.sensor.node.managed import SensorNode

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
        from otwatch.sensor.local.store import SensorStore
        from otwatch.sensor.local.trust import SensorLinkState
        from otwatch.sensor.node.activation import last_activation
        from otwatch.wire.activation import ManagementMode

        state_dir = install_base / "state"
        connected = NodeState(state_dir).exists()
        activated = last_activation(NodeState(state_dir)) or {}
        if not connected and activated.get("mode") != ManagementMode.LOCALLY_MANAGED:
            install_cli.out.print(
                "[red]error:[/] not paired (run `otwatch sensor install` first); or activate it with "
                "the console's activation file: `otwatch sensor activate FILE`"
            )
            raise typer.Exit(1)
        store = SensorStore(state_dir)
        link_state = SensorLinkState(state_dir, lambda: store.console_trust, lambda: store.proxy_url)
        store.on_trust_changed = link_state.trust_changed
        try:
            node = SensorNode(link_state, sources, report_every=report_every, longpoll=longpoll)
        except LinkError as exc:
            install_cli.out.print(f"[red]error:[/] {exc} (run `otwatch sensor install` first)")
            raise typer.Exit(1) from exc
        node.ports.configure(*store.monitoring)  # SPAN port limits (Advanced Configurations > monitoring)
        node.attach_store(store)  # mail recipients; a locally managed sensor's own setting groups
        from otwatch.sensor.web.host import SensorHost

        SensorHost(node).apply_detection(store.detection)  # a locally managed sensor's own choice
        console = (
            _start_console(node, store, console_host, console_port, network_root)
            if console_port is not None
            else None
        )
        from otwatch.sensor.node.versions import RESTART_EXIT, VersionStore, VersionUpdater

        supervised = os.environ.get("OTWATCH_SUPERVISED") == "1"
        updater = VersionUpdater(VersionStore(install_base) if supervised else None, node.runtime, node.stop)
        updater.start()
        signal.signal(signal.SIGTERM, lambda *_: node.stop())
        try:
            node.run(connected)
        except KeyboardInterrupt:
            node.stop()
        finally:
            if console is not None:
                console.stop()
        if updater.restart_requested:
            raise typer.Exit(RESTART_EXIT)  # the supervisor starts the version just switched to


def _start_console(
    node: SensorNode, store: SensorStore, host: str, port: int, network_root: Path | None
) -> ConsoleServer:
    """The sensor's own console on ``host:port`` (HTTPS); first start prints the local passwords once."""
    from otwatch.sensor.local.hostnet import HostNetwork, RecordOnly, host_network
    from otwatch.sensor.web.app import create_sensor_app
    from otwatch.sensor.web.backup_page import BackupScheduler
    from otwatch.sensor.web.server import ConsoleServer

    for role, password in store.ensure_users().items():  # a terminal only, never the journal
        shown = reveal_generated(role.value, password, store.dir)
        install_cli.out.print(f"sensor console {shown}", highlight=False)
    store.ensure_self_signed([host] if host not in ("0.0.0.0", "::") else [])
    network: HostNetwork = host_network(network_root) if network_root is not None else RecordOnly()
    app = create_sensor_app(node, store, network=network)
    server = ConsoleServer(app, store, host, port).start()
    BackupScheduler(app.state.console).start()  # scheduled backups (System Settings > Backup & restore)
    shown = f"[{host}]" if ":" in host else host
    install_cli.out.print(f"sensor console: https://{shown}:{server.port}/")
    return server


def register_tools(app: typer.Typer) -> None:
    @app.command()
    def activate(
        file: Annotated[Path, typer.Argument(help="activation file downloaded from the management console")],
        install_base: install_cli.InstallBase = DEFAULT_BASE,
    ) -> None:
        """Subscription & Activation Mode from the command line: switch between locally managed and
        console-connected with the console's signed activation file."""
        from otwatch import __version__
        from otwatch.sensor.node.activation import activate as apply_activation
        from otwatch.wire.activation import ActivationError

        try:
            result = apply_activation(
                NodeState(install_base / "state"), file.read_bytes(), version=__version__
            )
        except (ActivationError, OSError) as exc:
            install_cli.out.print(f"[red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from exc
        install_cli.out.print(result.message, highlight=False)

    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def supervise(
        ctx: typer.Context,
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        health_timeout: Annotated[
            float, typer.Option(help="seconds a new version has to check in healthy before it is rolled back")
        ] = 120.0,
    ) -> None:
        """Run the sensor (`sensor run` with the remaining options) and take version updates: start
        the current version, restart into a new one, roll it back if it does not check in healthy."""
        from otwatch.sensor.node.versions import Supervisor, VersionStore

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        sup = Supervisor(
            VersionStore(install_base),
            ["--install-base", str(install_base), *ctx.args],
            health_timeout=health_timeout,
        )
        signal.signal(signal.SIGTERM, lambda *_: sup.stop())
        try:
            code = sup.run()
        except KeyboardInterrupt:
            sup.stop()
            code = 0
        raise typer.Exit(code)

    @app.command()
    def synth(
        output: Annotated[Path, typer.Option("-o", "--output", help="pcap file to write")],
        minutes: Annotated[int, typer.Option(min=1, max=1440, help="minutes of plant traffic")] = 10,
    ) -> None:
        """Write a generated OT capture: a small plant's polling traffic and, in its last minute, an incident."""
        from otwatch.sensor.capture.synth import demo_plant, write_capture

        count = write_capture(str(output), demo_plant(minutes).frames)
        install_cli.out.print(f"{count} packets written to {output}")

    @app.command()
    def secret(
        name: Annotated[str, typer.Argument(help="the secret's name (see the list below)")],
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        from_file: Annotated[
            Path | None, typer.Option(help="read the value from this file (a PEM certificate)")
        ] = None,
        clear: Annotated[bool, typer.Option(help="remove the secret")] = False,
    ) -> None:
        """Set one of this sensor's own secrets (snmp_community, snmp_v3_auth_key, snmp_v3_priv_key,
        ad_bind_password, ad_ca_certificate, mail_password): never pushed between sensors, never
        reported to the console. SNMP uses a new value within one report period, AD at the next sign-in.
        A mail or bind password is bound to the server in force at its first use: one the console
        pushes later gets nothing until it is set again (finding 34)."""
        from otwatch.sensor.config.syssettings import SECRETS, LocalSecrets

        if name not in SECRETS:
            install_cli.out.print(f"[red]error:[/] unknown secret {name!r} (known: {', '.join(SECRETS)})")
            raise typer.Exit(2)
        value: str | None = None
        if not clear:
            if from_file is not None:
                value = from_file.read_text(encoding="utf-8")
            else:
                value = typer.prompt(SECRETS[name], hide_input=True, confirmation_prompt=True)
        LocalSecrets(install_base / "state").set(name, value)
        install_cli.out.print(f"{name} {'removed' if clear else 'set'}")
