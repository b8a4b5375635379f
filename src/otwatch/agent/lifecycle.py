"""``otwatch agent install | repair | run | uninstall`` — parity with the seed's msiexec parameters.

PAIRING_KEY=..., or ICP_ADDRESS + ICP_USERNAME + ICP_PASSWORD + ICP_FINGERPRINT, or ICP_ADDRESS +
ICP_APIKEY + ICP_FINGERPRINT, and INSTALLBASE. The same values can come from the environment
(``OTWATCH_PAIRING_KEY`` ...), so secrets need not appear on a command line.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from otwatch import __version__
from otwatch.wire.client import ConsoleLink, Credentials, LinkError, NodeState, enroll
from otwatch.wire.pairing import PairingKeyError
from otwatch.wire.pki import PinError

out = Console(stderr=True)
DEFAULT_BASE = Path("/var/lib/otwatch-agent")

InstallBase = Annotated[
    Path,
    typer.Option("--install-base", help="installation folder (INSTALLBASE)", envvar="OTWATCH_INSTALL_BASE"),
]
PairingKeyOpt = Annotated[
    str | None,
    typer.Option("--pairing-key", help="PAIRING_KEY from the console", envvar="OTWATCH_PAIRING_KEY"),
]
Address = Annotated[
    str | None,
    typer.Option("--icp-address", help="ICP_ADDRESS: console IP/host[:port]", envvar="OTWATCH_ICP_ADDRESS"),
]
Username = Annotated[
    str | None, typer.Option("--icp-username", help="ICP_USERNAME", envvar="OTWATCH_ICP_USERNAME")
]
Password = Annotated[
    str | None, typer.Option("--icp-password", help="ICP_PASSWORD", envvar="OTWATCH_ICP_PASSWORD")
]
ApiKey = Annotated[str | None, typer.Option("--icp-apikey", help="ICP_APIKEY", envvar="OTWATCH_ICP_APIKEY")]
Fingerprint = Annotated[
    str | None,
    typer.Option(
        "--icp-fingerprint",
        help="ICP_FINGERPRINT: console certificate SHA-256",
        envvar="OTWATCH_ICP_FINGERPRINT",
    ),
]

UNIT = """[Unit]
Description=OTWatch active-query agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={exe} agent run --install-base {base}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


def _pair(base: Path, creds: Credentials, repair: bool) -> None:
    state = NodeState(base / "state")
    if state.exists() and not repair:
        out.print(f"[red]error:[/] already installed in {base}; use `otwatch agent repair` to pair it again")
        raise typer.Exit(1)
    try:
        ident, resp = enroll(
            state, "agent", creds, version=__version__, engine_version="1.0.0", repair=repair
        )
    except (ValueError, PairingKeyError, PinError, LinkError) as exc:
        out.print(f"[red]pairing failed:[/] {exc}")
        raise typer.Exit(2) from exc
    unit = base / "otwatch-agent.service"
    exe = shutil.which("otwatch") or f"{sys.executable} -m otwatch"
    unit.write_text(UNIT.format(exe=exe, base=base))
    out.print(f"paired with {ident.address} as agent {ident.node_id}: [bold]{resp.status}[/]")
    out.print(
        f"systemd unit written to {unit} (copy to /etc/systemd/system and `systemctl enable --now otwatch-agent`)"
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def install(
        install_base: InstallBase = DEFAULT_BASE,
        pairing_key: PairingKeyOpt = None,
        icp_address: Address = None,
        icp_username: Username = None,
        icp_password: Password = None,
        icp_apikey: ApiKey = None,
        icp_fingerprint: Fingerprint = None,
    ) -> None:
        """Pair this machine with a console (it appears there as Pending Approval or Pending Configuration)."""
        creds = Credentials(pairing_key, icp_address, icp_fingerprint, icp_username, icp_password, icp_apikey)
        _pair(install_base, creds, repair=False)

    @app.command()
    def repair(
        install_base: InstallBase = DEFAULT_BASE,
        pairing_key: PairingKeyOpt = None,
        icp_address: Address = None,
        icp_username: Username = None,
        icp_password: Password = None,
        icp_apikey: ApiKey = None,
        icp_fingerprint: Fingerprint = None,
    ) -> None:
        """Pair the same installation again (keeps its identity and history in the console)."""
        creds = Credentials(pairing_key, icp_address, icp_fingerprint, icp_username, icp_password, icp_apikey)
        _pair(install_base, creds, repair=True)

    @app.command()
    def run(
        install_base: InstallBase = DEFAULT_BASE,
        port_map: Annotated[str, typer.Option(help="protocol=port overrides, e.g. modbus=5020")] = "",
        longpoll: Annotated[float, typer.Option(help="seconds a check-in waits for work")] = 25.0,
    ) -> None:
        """Keep the check-in loop with the console: configuration, Scan Now, Abort Scan, schedules."""
        from otwatch.agent.node import AgentNode

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        pm = dict((k, int(v)) for k, v in (p.split("=", 1) for p in port_map.split(",") if p))
        try:
            node = AgentNode(NodeState(install_base / "state"), port_map=pm, longpoll=longpoll)
        except LinkError as exc:
            out.print(f"[red]error:[/] {exc} (run `otwatch agent install` first)")
            raise typer.Exit(1) from exc
        signal.signal(signal.SIGTERM, lambda *_: node.stop())
        try:
            node.run()
        except KeyboardInterrupt:
            node.stop()

    @app.command()
    def uninstall(install_base: InstallBase = DEFAULT_BASE) -> None:
        """Tell the console goodbye (the agent turns Disconnected there) and remove local state."""
        state = NodeState(install_base / "state")
        if not state.exists():
            out.print(f"nothing installed in {install_base}")
            return
        try:
            with ConsoleLink(state) as link:
                link.goodbye("uninstalled")
        except LinkError as exc:
            out.print(f"[yellow]warning:[/] could not tell the console ({exc}); removing local state anyway")
        shutil.rmtree(install_base / "state", ignore_errors=True)
        (install_base / "otwatch-agent.service").unlink(missing_ok=True)
        out.print("uninstalled")
