"""``otwatch sensor analyze``: run the passive sensor once over capture files and print what it found.

``--learn FILE`` (repeatable) first builds a baseline from those files with learning on, then turns
learning off, so the analysed files are checked against it (Policy Violation alerts). Without
``--learn`` the whole analysis is the learning period, as on a freshly installed sensor. Output is a
set of tables (inventory, connections, protocols, alerts, statistics), or one JSON document with
``--json``. A truncated capture is analysed up to where it breaks, with a warning; a file that is not
a capture is reported and skipped (exit code 1).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.capture.pcapfile import PcapError
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.engines.malware import ThreatIntel
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.baseline import Baseline
from otwatch.sensor.tracking.forensics import Forensics

app = typer.Typer(
    help="Passive sensor: inventory, baseline and alerts from mirrored traffic or capture files.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _sensor() -> None:
    """Sensor commands."""


def parse_engine(text: str) -> Engine:
    wanted = text.lower().replace("-", "").replace("_", "").replace(" ", "")
    for engine in Engine:
        if engine.value.lower().replace(" ", "") == wanted:
            return engine
    raise typer.BadParameter(f"unknown engine {text!r}; one of: {', '.join(e.value for e in Engine)}")


def _advancer(progress: Progress | None, task: TaskID | None) -> Callable[[int], None] | None:
    if progress is None or task is None:
        return None

    def advance(n: int) -> None:
        progress.advance(task, n)

    return advance


def _run_files(sensor: Sensor, files: list[Path], progress: Progress | None, problems: list[str]) -> int:
    """Feed each file; a file that cannot be read is noted in ``problems`` (printed last, where it
    does not scroll away behind the tables) and the others still run. Returns the failures."""
    failed = 0
    for path in files:
        task = None
        if progress is not None:
            size = path.stat().st_size if path.exists() else 0
            task = progress.add_task(path.name, total=size or None)
        try:
            warnings = sensor.process_capture(path, _advancer(progress, task))
        except PcapError as exc:
            problems.append(f"[red]error:[/red] {exc}")
            failed += 1
            continue
        finally:
            if progress is not None and task is not None:
                progress.update(task, completed=progress.tasks[task].total or 0)
        for warning in warnings:
            problems.append(f"[yellow]warning:[/yellow] {warning}; analysed the packets before it")
    return failed


@app.command()
def analyze(
    files: Annotated[list[Path], typer.Argument(help="PCAP/PCAPNG files to analyse, in order.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON document instead of tables.")
    ] = False,
    learn: Annotated[
        list[Path] | None,
        typer.Option("--learn", help="Build the baseline from this file first (repeatable)."),
    ] = None,
    baseline_in: Annotated[
        Path | None, typer.Option("--baseline", help="Start from a saved baseline (learning off).")
    ] = None,
    baseline_out: Annotated[
        Path | None, typer.Option("--save-baseline", help="Write the baseline (JSON) after the run.")
    ] = None,
    pcap_dir: Annotated[
        Path | None, typer.Option("--pcap-dir", help="Write each alert's PCAP as alert-<id>.pcap here.")
    ] = None,
    disable: Annotated[
        list[str] | None, typer.Option("--disable-engine", help="Turn an engine off (repeatable).")
    ] = None,
    smart_it: Annotated[
        bool, typer.Option("--smart-it/--no-smart-it", help="Smart IT Learning (keep DNS/HTTP noise quiet).")
    ] = True,
    subnet: Annotated[
        list[str] | None, typer.Option("--subnet", help="A monitored subnet, e.g. 10.1.0.0/16 (repeatable).")
    ] = None,
    port_alias: Annotated[
        list[str] | None, typer.Option("--port-alias", help="PORT=NAME, e.g. 8080=historian (repeatable).")
    ] = None,
    intel: Annotated[
        Path | None, typer.Option("--threat-intel", help="Threat-intelligence package (JSON).")
    ] = None,
) -> None:
    """Analyse capture files: inventory, connections, protocol counts and alerts."""
    err = Console(stderr=True)
    try:
        settings = SensorSettings(
            smart_it_learning=smart_it,
            subnets=SensorSettings.parse_subnets(subnet or []),
            port_aliases=SensorSettings.parse_port_aliases(port_alias or []),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    for name in disable or []:
        settings.engines.discard(parse_engine(name))
    baseline = None
    if baseline_in is not None:
        try:
            baseline = Baseline.load(baseline_in)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            err.print(f"[red]error:[/red] cannot read baseline {baseline_in}: {exc}")
            raise typer.Exit(2) from None
        settings.learning = False
    threat_intel = None
    if intel is not None:
        try:
            threat_intel = ThreatIntel.load(intel)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            err.print(f"[red]error:[/red] cannot read threat-intelligence package {intel}: {exc}")
            raise typer.Exit(2) from None
    sensor = Sensor(settings, baseline=baseline, intel=threat_intel)
    show_progress = err.is_terminal
    progress = (
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        if show_progress
        else None
    )
    failed = 0
    problems: list[str] = []
    if progress is not None:
        progress.start()
    try:
        if learn:
            sensor.learning = True
            failed += _run_files(sensor, learn, progress, problems)
            sensor.finish()
            sensor.learning = False
        failed += _run_files(sensor, files, progress, problems)
        sensor.finish()
    finally:
        if progress is not None:
            progress.stop()
    if baseline_out is not None:
        sensor.baseline.save(baseline_out)
    if pcap_dir is not None:
        written = Forensics.save(sensor.alerts.alerts.values(), pcap_dir)
        err.print(f"wrote {len(written)} alert PCAP file(s) to {pcap_dir}")
    total = len(files) + len(learn or [])
    if failed == total:  # nothing could be read: no empty tables, the reasons and a failure
        for line in problems:
            err.print(line, highlight=False, soft_wrap=True)
        err.print(f"[red]nothing analysed:[/red] none of the {total} file(s) could be read")
        raise typer.Exit(1)
    report = sensor.report()
    if json_out:
        sys.stdout.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        out = Console()
        summary = report["summary"]
        out.print(
            f"[bold]{total - failed} of {total} file(s) analysed[/]: {summary['packets']} packets, "
            f"{_fmt_bytes(summary['bytes'])}, {len(report['assets'])} assets, {len(report['alerts'])} alerts"
            + (f" — [red]{failed} could not be read (see the end)[/]" if failed else ""),
            highlight=False,
            soft_wrap=True,
        )
        _print_tables(report, out)
    for line in problems:  # last, where they do not scroll away
        err.print(line, highlight=False, soft_wrap=True)
    if sensor.errors:
        err.print(f"[red]internal errors:[/red] {sensor.errors} (last: {sensor.last_error})")
    if failed:
        raise typer.Exit(1)


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _print_tables(report: dict[str, Any], out: Console) -> None:
    summary = report["summary"]
    assets = {a["id"]: a for a in report["assets"]}

    def name(asset_id: int | None) -> str:
        a = assets.get(asset_id) if asset_id is not None else None
        return "" if a is None else a["ip"] or a["mac"] or "?"

    ghosts = sum(1 for a in report["assets"] if a.get("ghost"))
    table = Table(
        title=f"Inventory — {len(report['assets'])} assets",
        caption=f"Ghost: {ghosts} addresses only ever probed, never answering (the console hides them)"
        if ghosts
        else None,
    )
    for col in ("ID", "IP", "MAC", "Vendor", "Model", "Firmware", "Serial", "Type", "Ghost", "Protocols"):
        table.add_column(col, overflow="fold")
    for a in report["assets"]:
        protocols = ", ".join(f"{p['protocol']} ({p['role']})" for p in a["protocols"])
        kind = a["device_type"] or ""
        if a.get("type_reason"):  # the sensor's own rule (inventory.asset.Asset.typed_by_behaviour)
            kind = f"{kind} — by behaviour: {a['type_reason']}"
        table.add_row(
            str(a["id"]),
            a["ip"] or "",
            a["mac"] or "",
            a["vendor"] or "",
            a["model"] or "",
            a["firmware"] or "",
            a["serial"] or "",
            escape(kind),
            "ghost" if a.get("ghost") else "",
            protocols,
        )
    out.print(table)
    table = Table(title=f"Connections — {len(report['connections'])}")
    for col in ("Client", "Server", "Protocol", "Port", "Flows", "Packets", "Bytes", "Messages"):
        table.add_column(col, overflow="fold")
    for c in sorted(report["connections"], key=lambda c: -c["bytes"]):
        table.add_row(
            name(c["client"]),
            name(c["server"]),
            c["protocol"],
            f"{c['transport']}/{c['port']}",
            str(c["flows"]),
            str(c["packets"]),
            _fmt_bytes(c["bytes"]),
            str(c["messages"]),
        )
    out.print(table)
    table = Table(title="Protocols")
    for col in ("Protocol", "Messages"):
        table.add_column(col)
    for protocol, count in report["protocols"].items():
        table.add_row(protocol, str(count))
    out.print(table)
    table = Table(title=f"Alerts — {len(report['alerts'])}")
    for col in ("ID", "Severity", "Engine", "Title", "Source", "Destination", "Count", "Description"):
        table.add_column(col, overflow="fold")
    for a in report["alerts"]:
        table.add_row(
            str(a["id"]),
            a["severity"],
            a["engine"],
            a["title"],
            a["source_label"] or "",
            a["destination_label"] or "",
            str(a["count"]),
            a["description"],
        )
    out.print(table)
    stats = report["statistics"]
    out.print(
        f"{summary['packets']} packets, {_fmt_bytes(summary['bytes'])}; "
        f"top OT protocols: "
        + (
            ", ".join(f"{p['protocol']} ({p['devices']} devices)" for p in stats["top_ot_protocols"])
            or "none"
        )
    )
    for hour in stats["traffic_per_hour"]:
        out.print(f"  {hour['hour']}: {hour['mbps']:.4f} Mbps")
    for warning in report["warnings"]:
        out.print(f"[yellow]warning:[/yellow] {warning}")
