"""``otwatch agent install | repair | run | uninstall``: the shared pairing commands plus the agent's run;
``msi-configure`` and ``service`` for the Windows installer (packaging/windows/)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from otwatch.agent import platform
from otwatch.agent.engine import BUILTIN_VERSION
from otwatch.wire import install_cli
from otwatch.wire.client import Credentials, LinkError, NodeState

if platform.is_windows():
    DEFAULT_BASE = Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "OTWatch" / "OT Agent"  # noqa: SIM112
else:
    DEFAULT_BASE = Path("/var/lib/otwatch-agent")

#: The seed's msiexec properties (000: "Install OT Agents Using CLI"); INSTALLBASE is the MSI's folder.
MSI_PROPERTIES = (
    "PAIRING_KEY",
    "ICP_ADDRESS",
    "ICP_USERNAME",
    "ICP_PASSWORD",
    "ICP_APIKEY",
    "ICP_FINGERPRINT",
)
LOCK_NAME = "agent.lock"

service_app = typer.Typer(help="The agent as a Windows service (sc.exe, pywin32).", no_args_is_help=True)


def credentials_from_properties(args: list[str]) -> Credentials:
    """``PAIRING_KEY=... ICP_ADDRESS=...`` (the installer's properties; empty ones are unset) ->
    Credentials. An unknown name is refused, so a typo in the installer is not silently ignored."""
    props: dict[str, str] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or name not in MSI_PROPERTIES:
            raise typer.BadParameter(
                f"expected one of {', '.join(MSI_PROPERTIES)} as NAME=VALUE, got {name!r}"
            )
        if value.strip():
            props[name] = value.strip()
    return Credentials(
        pairing_key=props.get("PAIRING_KEY"),
        address=props.get("ICP_ADDRESS"),
        fingerprint=props.get("ICP_FINGERPRINT"),
        username=props.get("ICP_USERNAME"),
        password=props.get("ICP_PASSWORD"),
        api_key=props.get("ICP_APIKEY"),
    )


def launcher_path() -> Path:
    """The installed launcher script (packaging/windows/otwatch-agent.py) when running from it."""
    return Path(sys.argv[0]).resolve()


def secure_state(state_dir: Path) -> None:
    """On Windows, close the state folder (the agent's private key) to SYSTEM and Administrators before
    pairing writes to it: there file modes are not used, and Program Files lets every user read."""
    if platform.is_windows():
        from otwatch.agent.platform import windows

        windows.secure_dir(state_dir)


class LockedNode:
    """An :class:`~otwatch.agent.node.AgentNode` that holds the installation's lock while it runs:
    one agent per installation, since a second one would scan and report twice."""

    def __init__(
        self, install_base: Path, port_map: dict[str, int] | None = None, longpoll: float = 25.0
    ) -> None:
        from otwatch.agent.node import AgentNode

        self.node = AgentNode(NodeState(install_base / "state"), port_map=port_map, longpoll=longpoll)
        self.lock = platform.file_lock(install_base / "state" / LOCK_NAME)

    def run(self) -> None:
        self.lock.acquire()
        try:
            self.node.run()
        finally:
            self.lock.release()

    def stop(self) -> None:
        self.node.stop()


def _run_node(install_base: Path, port_map: dict[str, int], longpoll: float) -> None:
    node = LockedNode(install_base, port_map, longpoll)
    signal.signal(signal.SIGTERM, lambda *_: node.stop())
    try:
        node.run()
    except KeyboardInterrupt:
        node.stop()


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to the agent's app once (``otwatch`` and ``python -m otwatch.agent``
    both ask)."""
    if getattr(app, "_lifecycle_registered", False):
        return
    app._lifecycle_registered = True  # type: ignore[attr-defined]
    install_cli.register(
        app, "agent", DEFAULT_BASE, engine_version=BUILTIN_VERSION, prepare_state=secure_state
    )
    app.add_typer(service_app, name="service")

    @app.command()
    def run(
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        port_map: Annotated[str, typer.Option(help="protocol=port overrides, e.g. modbus=5020")] = "",
        longpoll: Annotated[float, typer.Option(help="seconds a check-in waits for work")] = 25.0,
    ) -> None:
        """Keep the check-in loop with the console: configuration, Scan Now, Abort Scan, schedules, updates."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        pm = {k: int(v) for k, v in (p.split("=", 1) for p in port_map.split(",") if p)}
        try:
            _run_node(install_base, pm, longpoll)
        except LinkError as exc:
            install_cli.out.print(f"[red]error:[/] {exc} (run `otwatch agent install` first)")
            raise typer.Exit(1) from exc
        except platform.LockHeld as exc:
            install_cli.out.print(f"[red]error:[/] another agent runs from {install_base} ({exc})")
            raise typer.Exit(1) from exc

    @app.command("msi-configure")
    def msi_configure(
        properties: Annotated[
            list[str] | None,
            typer.Argument(help="the installer's properties: PAIRING_KEY=... ICP_ADDRESS=..."),
        ] = None,
        install_base: install_cli.InstallBase = DEFAULT_BASE,
    ) -> None:
        """Pair from the Windows installer's properties: install, or Repair when already paired.

        Empty properties are ignored; with none, a paired agent is left as it is."""
        creds = credentials_from_properties(list(properties or []))
        state = NodeState(install_base / "state")
        given = any((creds.pairing_key, creds.address, creds.username, creds.api_key, creds.fingerprint))
        if not given:
            if state.exists():
                install_cli.out.print("already paired; no pairing details given, nothing to do")
                return
            install_cli.out.print(
                "[red]error:[/] give PAIRING_KEY, or ICP_ADDRESS and ICP_FINGERPRINT with ICP_APIKEY or ICP_USERNAME/ICP_PASSWORD"
            )
            raise typer.Exit(2)
        install_cli.pair(
            "agent", install_base, creds, state.exists(), BUILTIN_VERSION, prepare_state=secure_state
        )

    @service_app.command("install")
    def service_install(
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        python: Annotated[str, typer.Option(help="python.exe that hosts the service")] = sys.executable,
        launcher: Annotated[
            Path | None, typer.Option(help="the launcher script (default: the one running)")
        ] = None,
        print_only: Annotated[
            bool, typer.Option("--print", help="print the sc.exe commands, run nothing")
        ] = False,
    ) -> None:
        """Register and start the agent as a Windows service (automatic start, restart on failure)."""
        from otwatch.agent.platform import winservice

        commands = winservice.install_commands(python, launcher or launcher_path(), install_base)
        _service_commands(commands, print_only, check_all=True)

    @service_app.command("remove")
    def service_remove(
        print_only: Annotated[
            bool, typer.Option("--print", help="print the sc.exe commands, run nothing")
        ] = False,
    ) -> None:
        """Stop and delete the agent's Windows service."""
        from otwatch.agent.platform import winservice

        _service_commands(winservice.remove_commands(), print_only, check_all=False)

    @service_app.command("run", hidden=True)
    def service_run(
        install_base: install_cli.InstallBase = DEFAULT_BASE,
        longpoll: Annotated[float, typer.Option(help="seconds a check-in waits for work")] = 25.0,
    ) -> None:
        """Started by the Service Control Manager: host the agent (pywin32)."""
        from otwatch.agent.platform import winservice

        if not platform.is_windows():
            install_cli.out.print(
                "[red]error:[/] `service run` is for the Windows Service Control Manager; use `otwatch agent run`"
            )
            raise typer.Exit(2)
        logging.basicConfig(
            filename=str(install_base / "state" / "agent.log"),
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        winservice.host_service(install_base, lambda base: LockedNode(base, longpoll=longpoll))


def _service_commands(commands: list[list[str]], print_only: bool, *, check_all: bool) -> None:
    from otwatch.agent.platform import winservice

    if print_only or not platform.is_windows():
        for args in commands:
            typer.echo(winservice.command_line(args))
        if not print_only:
            install_cli.out.print("[yellow]not on Windows: printed the sc.exe commands, ran nothing[/]")
        return
    failed = False
    for line, code, output in winservice.run_commands(commands, check_all=check_all):
        install_cli.out.print(f"{line} -> {code}{': ' + output if output else ''}", highlight=False)
        failed = failed or code != 0
    if failed and check_all:
        raise typer.Exit(1)
