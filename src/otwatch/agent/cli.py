"""``otwatch agent scan``: run the agent's scan pipeline once, locally, without a console.

The scope of a one-shot scan is the targets themselves (or ``--network``), minus ``--exclude``; the
safety policy is the same as a managed agent's. Ctrl-C aborts like the console's Abort Scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from otwatch.agent.result import ScanPhase, ScanProgress, ScanResult, ScanStatus
from otwatch.agent.safety import ScanPolicy
from otwatch.agent.scan import Scanner

app = typer.Typer(
    help="OT Agent: active, read-only discovery and identification of OT and IT assets.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _agent() -> None:
    """OT Agent commands."""


def parse_ports(text: str) -> list[int]:
    """``502,102,8000-8002`` -> ports; raises ``typer.BadParameter`` on anything else."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise typer.BadParameter(f"not a port or range: {part!r}") from None
        if not 0 < first <= last < 65536 or last - first > 1024:
            raise typer.BadParameter(f"port range out of bounds: {part!r}")
        out.extend(range(first, last + 1))
    return out


def parse_port_map(text: str) -> dict[str, int]:
    """``modbus=5020,s7comm=1102`` -> ``{"modbus": 5020, "s7comm": 1102}``."""
    result: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, port = part.partition("=")
        if not sep or not name.strip() or not port.strip().isdigit() or not 0 < int(port) < 65536:
            raise typer.BadParameter(f"expected NAME=PORT, got {part!r}")
        result[name.strip()] = int(port)
    return result


def _table(result: ScanResult) -> Table:
    """Assets as a table; columns nobody has a value for are left out so narrow terminals cope."""
    rows = [
        {
            "IP": a.ip,
            "MAC": a.mac or "",
            "Vendor": a.vendor or "",
            "Model": a.model or "",
            "Firmware": a.firmware or "",
            "Name": a.name or "",
            "Type": a.device_type or "",
            "State": a.state or "",
            "Open ports": ",".join(map(str, a.open_ports)),
            "Protocols": ",".join(a.protocols),
        }
        for a in result.assets
    ]
    table = Table(title=f"{len(result.assets)} assets — {result.status} in {result.duration_s:.1f} s")
    columns = [c for c in (rows[0] if rows else {"IP": ""}) if c == "IP" or any(r[c] for r in rows)]
    for col in columns:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(r[c] for c in columns))
    return table


class _ProgressView:
    """One rich progress bar per phase, driven by the scanner's progress events."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[ScanPhase, TaskID] = {}

    def __call__(self, event: ScanProgress) -> None:
        task = self.tasks.get(event.phase)
        if task is None:
            task = self.tasks[event.phase] = self.progress.add_task(str(event.phase), total=event.total or 1)
        self.progress.update(task, completed=event.done if event.total else 1, total=event.total or 1)


async def _run(scanner: Scanner, targets: list[str]) -> ScanResult:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, scanner.abort)
        loop.add_signal_handler(signal.SIGTERM, scanner.abort)
    try:
        return await scanner.run(targets)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)


@app.command()
def scan(
    targets: Annotated[list[str], typer.Argument(help="CIDRs or addresses to scan, e.g. 10.1.2.0/24.")],
    ports: Annotated[
        str | None, typer.Option("--ports", help="TCP ports to check: 502,102,8000-8010.")
    ] = None,
    rate: Annotated[float, typer.Option("--rate", min=0.1, max=1000, help="Whole-scan packets/s.")] = 100.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the assets as JSON.")] = False,
    port_map: Annotated[
        str | None, typer.Option("--port-map", help="Protocol ports moved: modbus=5020,s7comm=1102.")
    ] = None,
    snmp_community: Annotated[
        str | None, typer.Option("--snmp-community", help="Run SNMP IT queries with this community.")
    ] = None,
    snmp_version: Annotated[str, typer.Option("--snmp-version", help="1 or 2c.")] = "2c",
    network: Annotated[
        list[str] | None, typer.Option("--network", help="Allowed networks (default: the targets).")
    ] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Addresses never to touch.")] = None,
    icmp: Annotated[bool, typer.Option("--icmp/--no-icmp", help="ICMP discovery when permitted.")] = True,
) -> None:
    """Discover, port-check, fingerprint and query the targets once; print the assets."""
    if snmp_version not in ("1", "2c"):
        raise typer.BadParameter("--snmp-version must be 1 or 2c")
    policy = ScanPolicy(networks=tuple(network or targets), exclusions=tuple(exclude or ()), rate_pps=rate)
    options: dict[str, Any] = {
        "port_map": parse_port_map(port_map) if port_map else {},
        "credentials": {"snmp": {"community": snmp_community, "version": snmp_version}}
        if snmp_community
        else {},
        "use_icmp": None if icmp else False,
    }
    if ports:
        options["ports"] = parse_ports(ports)
    err = Console(stderr=True)
    if as_json:
        result = asyncio.run(_run(Scanner(policy, **options), list(targets)))
        print(json.dumps([a.as_dict() for a in result.assets], indent=2))
    else:
        columns = (
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, transient=False) as progress:
            scanner = Scanner(policy, on_progress=_ProgressView(progress), **options)
            result = asyncio.run(_run(scanner, list(targets)))
        Console().print(_table(result))
    for note in result.notes:
        err.print(f"[dim]note:[/dim] {note}", highlight=False)
    if result.status is not ScanStatus.COMPLETED:
        err.print(f"[red]scan {result.status}:[/red] {result.error}", highlight=False)
        sys.exit(1)
