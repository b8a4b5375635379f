"""``install | repair | uninstall`` for any node kind — parity with the seed's msiexec parameters.

PAIRING_KEY=..., or ICP_ADDRESS + ICP_USERNAME + ICP_PASSWORD + ICP_FINGERPRINT, or ICP_ADDRESS +
ICP_APIKEY + ICP_FINGERPRINT, and INSTALLBASE. The same values can come from the environment
(``OTWATCH_PAIRING_KEY`` ...), so secrets need not appear on a command line. The agent and the
sensor each add their own ``run`` next to these commands.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from otwatch import __version__
from otwatch.wire.client import ConsoleLink, Credentials, LinkError, NodeState, enroll
from otwatch.wire.messages import NodeKind
from otwatch.wire.pairing import PairingKeyError
from otwatch.wire.pki import SHA1_WARNING, PinError, is_sha1

out = Console(stderr=True, soft_wrap=True)  # no hard wraps: paths and ids stay copyable

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
        help="ICP_FINGERPRINT: console certificate SHA-256 (SHA-1 accepted, with a warning)",
        envvar="OTWATCH_ICP_FINGERPRINT",
    ),
]

InstallBase = Annotated[
    Path,
    typer.Option("--install-base", help="installation folder (INSTALLBASE)", envvar="OTWATCH_INSTALL_BASE"),
]

UNIT = """[Unit]
Description=OTWatch {kind}
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={exe} {kind} {command} --install-base {base}{extra}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


def pair(
    kind: NodeKind,
    base: Path,
    creds: Credentials,
    repair: bool,
    engine_version: str,
    unit_extra: str = "",
    command: str = "run",
    prepare_state: Callable[[Path], None] | None = None,
) -> None:
    """Enrol (or re-enrol) with the console. ``prepare_state`` runs on the state folder before any key
    is written there (Windows: its ACL, which keeps the key private where file modes do not)."""
    state = NodeState(base / "state")
    if state.exists() and not repair:
        out.print(f"[red]error:[/] already installed in {base}; use `otwatch {kind} repair` to pair it again")
        raise typer.Exit(1)
    if prepare_state is not None:
        prepare_state(base / "state")
    if creds.fingerprint and not creds.pairing_key and is_sha1(creds.fingerprint):
        out.print(f"[yellow]{SHA1_WARNING}[/]", highlight=False)
    try:
        ident, resp = enroll(
            state, kind, creds, version=__version__, engine_version=engine_version, repair=repair
        )
    except (ValueError, PairingKeyError, PinError, LinkError) as exc:
        out.print(f"[red]pairing failed:[/] {exc}")
        raise typer.Exit(2) from exc
    out.print(f"paired with {ident.address} as {kind} {ident.node_id}: [bold]{resp.status}[/]")
    if sys.platform == "win32":  # a Windows service instead (`otwatch agent service install`, or the MSI)
        return
    unit = base / f"otwatch-{kind}.service"
    exe = shutil.which("otwatch") or f"{sys.executable} -m otwatch"
    unit.write_text(UNIT.format(kind=kind, exe=exe, command=command, base=base, extra=unit_extra))
    out.print(
        f"systemd unit written to {unit} (copy to /etc/systemd/system and `systemctl enable --now otwatch-{kind}`)"
    )


def uninstall(kind: NodeKind, base: Path) -> None:
    state = NodeState(base / "state")
    if not state.exists():
        out.print(f"nothing installed in {base}")
        return
    try:
        with ConsoleLink(state) as link:
            link.goodbye("uninstalled")
    except LinkError as exc:
        out.print(f"[yellow]warning:[/] could not tell the console ({exc}); removing local state anyway")
    shutil.rmtree(base / "state", ignore_errors=True)
    (base / f"otwatch-{kind}.service").unlink(missing_ok=True)
    out.print("uninstalled")


def register(
    app: typer.Typer,
    kind: NodeKind,
    default_base: Path,
    engine_version: str = "",
    command: str = "run",
    prepare_state: Callable[[Path], None] | None = None,
) -> None:
    """Add install / repair / uninstall to a part's CLI. ``command`` is what the systemd unit runs
    (the sensor runs under ``supervise``, which is what takes version updates and rolls them back);
    ``prepare_state`` secures the state folder before pairing (:func:`pair`)."""

    @app.command()
    def install(
        install_base: InstallBase = default_base,
        pairing_key: PairingKeyOpt = None,
        icp_address: Address = None,
        icp_username: Username = None,
        icp_password: Password = None,
        icp_apikey: ApiKey = None,
        icp_fingerprint: Fingerprint = None,
    ) -> None:
        """Pair this machine with a console (it appears there as Pending Approval, or approved if Auto-Approve is on)."""
        creds = Credentials(pairing_key, icp_address, icp_fingerprint, icp_username, icp_password, icp_apikey)
        pair(kind, install_base, creds, False, engine_version, command=command, prepare_state=prepare_state)

    @app.command()
    def repair(
        install_base: InstallBase = default_base,
        pairing_key: PairingKeyOpt = None,
        icp_address: Address = None,
        icp_username: Username = None,
        icp_password: Password = None,
        icp_apikey: ApiKey = None,
        icp_fingerprint: Fingerprint = None,
    ) -> None:
        """Pair the same installation again (keeps its identity and history in the console)."""
        creds = Credentials(pairing_key, icp_address, icp_fingerprint, icp_username, icp_password, icp_apikey)
        pair(kind, install_base, creds, True, engine_version, command=command, prepare_state=prepare_state)

    @app.command("uninstall")
    def uninstall_cmd(install_base: InstallBase = default_base) -> None:
        """Tell the console goodbye (it shows this node Disconnected) and remove local state."""
        uninstall(kind, install_base)
