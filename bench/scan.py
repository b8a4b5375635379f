"""Active-scan benchmark: OTWatch's agent beside nmap's ICS scripts on the same simulated devices.

    sudo .venv/bin/python -m bench.scan [--json] [--keep] [--nmap-pn] [--agent-ports]

A network namespace (``otw-bench-<pid>``, a veth pair to the root namespace, a free /24 of
10.203.0.0/16) holds five real protocol peers, one address each: a Modbus/TCP PLC (pymodbus), an S7 CPU
(python-snap7 answering SZL 0x0424), an EtherNet/IP adapter (cpppo), a BACnet/IP controller
(bacpypes3) and an SNMP switch (snmpsim). Both scanners are given the whole /24 (minus the root side's
own address) in the same run, one after the other:

* OTWatch: the agent's ``Scanner`` in this process with the default, safe ``ScanPolicy``, the SNMP
  community configured, and the same five ports nmap is given (``--agent-ports``: the agent's own
  default list of 30 TCP/UDP ports instead);
* nmap: ``-sT -sU -p T:502,102,44818,U:161,47808`` with ``modbus-discover,s7-info,enip-info,
  bacnet-info,snmp-sysdescr`` and the same community (``creds.snmp``); its own host discovery (ARP on
  the link, as root) unless ``--nmap-pn``.

tshark records the root-side veth during each run; packets, TCP connections (SYN without ACK), the
most connections open at once and the busiest second are counted per device. Each scanner's identity
fields are compared with what the peers were configured to say. The namespace and every process in it
are removed in ``finally`` (also on Ctrl-C and SIGTERM); ``--keep`` keeps only the captures, nmap's XML
and the peers' logs, in a directory that is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from tests.netns import (
    Netns,
    NetnsPeer,
    bacnet_device,
    enip_device,
    missing_requirements,
    modbus_device,
    s7_device,
    snmp_device,
)
from tests.peers import switch_records

from otwatch.agent.result import Asset, ScanResult
from otwatch.agent.safety import ScanPolicy
from otwatch.agent.scan import Scanner

TCP_PORTS = (502, 102, 44818)
UDP_PORTS = (161, 47808)
NMAP_SCRIPTS = ("modbus-discover", "s7-info", "enip-info", "bacnet-info", "snmp-sysdescr")
COMMUNITY = "plantro"  # not "public": neither scanner may guess it, both are told
SCANNERS = ("nmap", "otwatch")
TOOLS = ("ip", "nmap", "tshark")
SETTLE_S = 1.5  # capture this long after a scan ends, for its closing FIN/ACKs


# --- what the devices are configured to say ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Want:
    """A configured identity value: found when any of ``any_of`` (an int compares with the numbers in
    the reported text, a str is a case-insensitive substring) or all of ``all_of`` appear."""

    any_of: tuple[int | str, ...] = ()
    all_of: tuple[str, ...] = ()

    def shown(self) -> str:
        return " + ".join(self.all_of) if self.all_of else " | ".join(map(str, self.any_of))

    def matches(self, text: str | None) -> bool:
        if not text:
            return False
        low = text.casefold()
        if self.all_of:
            return all(s.casefold() in low for s in self.all_of)
        numbers = {int(n, 16 if n.startswith("0x") else 10) for n in re.findall(r"0x[0-9a-f]+|\d+", low)}
        return any(v in numbers if isinstance(v, int) else v.casefold() in low for v in self.any_of)


def _w(*values: int | str) -> Want:
    return Want(any_of=values)


MODBUS_IDENTITY = {
    "VendorName": "Schneider Electric",
    "ProductCode": "BMXP342020",
    "MajorMinorRevision": "v3.20",
    "ProductName": "Modicon M340",
    "ModelName": "BMX P34 2020",
}
# cpppo wants decimal integers (PEERS.md). Revision 2836 = 0x0B14: 20.11; serial 3735928559 = 0xdeadbeef.
ENIP_IDENTITY: dict[str, int | str] = {
    "Vendor Number": 1,
    "Device Type": 14,
    "Product Code Number": 54,
    "Product Revision": 2836,
    "Serial Number": 3735928559,
    "Product Name": "1756-L61/B LOGIX5561",
    "State": 3,
}
BACNET_PROPERTIES = {"modelName": "OTW-AHU-Controller", "firmwareRevision": "4.2.1"}
SWITCH_IFACES = [("Port 1/1", "00:80:63:0a:0b:01"), ("Port 1/2", "00:80:63:0a:0b:02")]
SWITCH_DESCR = "Hirschmann RSP35 Rail Switch SW 08.7"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    kind: str
    label: str
    host_number: int  # address = the /24's n-th
    expected: Mapping[str, Want]


DEVICES: tuple[DeviceSpec, ...] = (
    DeviceSpec(
        "modbus",
        "Modbus/TCP PLC (pymodbus)",
        10,
        {
            "vendor": _w("Schneider Electric"),
            "product_code": _w("BMXP342020"),
            "firmware": _w("v3.20"),
            "model": _w("BMX P34 2020"),
            "name": _w("Modicon M340"),
        },
    ),
    DeviceSpec(
        "s7comm",
        "Siemens S7 CPU (python-snap7)",
        11,
        {
            "model": _w("CPU 315-2 PN/DP"),
            "order_number": _w("6ES7 315-2EH14-0AB0"),
            "firmware": _w("V3.3.0"),
            "serial": _w("S C-C2UR28922012"),
            "name": _w("SNAP7-SERVER"),
            "state": _w("Stop"),
        },
    ),
    DeviceSpec(
        "enip",
        "EtherNet/IP adapter (cpppo)",
        12,
        {
            "vendor": _w("Rockwell Automation/Allen-Bradley"),
            "vendor_id": _w(1),
            "device_type": _w("PLC", "Programmable Logic Controller"),
            "model": _w("1756-L61/B LOGIX5561"),
            "product_code": _w(54),
            "firmware": _w("20.11"),
            "serial": _w("0xdeadbeef"),
            "state": _w(3, "Operational"),
        },
    ),
    DeviceSpec(
        "bacnet",
        "BACnet/IP controller (bacpypes3)",
        13,
        {
            "vendor": _w("BACpypes"),
            "vendor_id": _w(999),
            "instance": _w(599),
            "name": _w("AHU-1"),
            "model": _w(BACNET_PROPERTIES["modelName"]),
            "firmware": _w(BACNET_PROPERTIES["firmwareRevision"]),
        },
    ),
    DeviceSpec(
        "snmp",
        "SNMP switch (snmpsim)",
        14,
        {
            "sys_descr": _w(SWITCH_DESCR),
            "vendor": _w("Hirschmann"),
            "name": _w("cell7-sw1"),
            "interfaces": Want(all_of=tuple(s for pair in SWITCH_IFACES for s in pair)),
        },
    ),
)


@contextlib.contextmanager
def start_device(spec: DeviceSpec, ns: Netns, ip: str, workdir: Path) -> Iterator[NetnsPeer]:
    match spec.kind:
        case "modbus":
            cm = modbus_device(ns, ip, MODBUS_IDENTITY, workdir)
        case "s7comm":
            cm = s7_device(ns, ip, workdir)
        case "enip":
            cm = enip_device(ns, ip, ENIP_IDENTITY, workdir)
        case "bacnet":
            cm = bacnet_device(ns, ip, workdir, name="AHU-1", instance=599, properties=BACNET_PROPERTIES)
        case "snmp":
            records = switch_records(SWITCH_DESCR, "cell7-sw1", SWITCH_IFACES, own_ip=ip, own_if_index=2)
            cm = snmp_device(ns, ip, COMMUNITY, records, workdir)
        case _:
            raise ValueError(spec.kind)
    with cm as peer:
        yield peer


# --- identity fields as each scanner reports them -----------------------------------------------------


def otwatch_fields(asset: Asset) -> dict[str, str]:
    """The asset's fields under the bench's names; protocol extras fill what the asset has no column
    for (S7 order number and module version, BACnet instance, SNMP sysDescr and interfaces)."""
    extra: dict[str, Any] = {}
    for ident in asset.identities:
        for key, value in ident.get("extra", {}).items():
            extra.setdefault(key, value)
    out: dict[str, str] = {}
    for name in ("vendor", "vendor_id", "model", "product_code", "firmware", "serial", "name", "state"):
        if (value := getattr(asset, name)) is not None:
            out[name] = str(value)
    if asset.device_type:
        out["device_type"] = asset.device_type
    for name, key in (
        ("product_code", "product_code"),
        ("firmware", "module_version"),
        ("order_number", "order_number"),
        ("instance", "device_instance"),
        ("sys_descr", "sys_descr"),
    ):
        if name not in out and extra.get(key) is not None:
            out[name] = str(extra[key])
    if extra.get("interfaces"):
        out["interfaces"] = "; ".join(f"{i.get('descr')} {i.get('mac')}" for i in extra["interfaces"])
    return out


#: nmap script output keys -> the bench's field names. "" is a script's whole output when it has no
#: structured elements. A text feeding several fields is credited only with what it contains.
NMAP_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "modbus-discover": {
        "Slave ID data": ("vendor", "product_code", "firmware", "model", "name"),
        "Device identification": ("vendor", "product_code", "firmware", "model", "name"),
    },
    "s7-info": {
        "Module": ("order_number",),
        "Basic Hardware": ("order_number",),
        "Version": ("firmware",),
        "System Name": ("name",),
        "Module Type": ("model",),
        "Serial Number": ("serial",),
    },
    "enip-info": {
        "type": ("device_type",),
        "vendor": ("vendor", "vendor_id"),
        "productName": ("model",),
        "serialNumber": ("serial",),
        "productCode": ("product_code",),
        "revision": ("firmware",),
        "state": ("state",),
    },
    "bacnet-info": {
        "Vendor ID": ("vendor_id",),
        "Vendor Name": ("vendor",),
        "Object-identifier": ("instance",),
        "Firmware": ("firmware",),
        "Object Name": ("name",),
        "Model Name": ("model",),
    },
    "snmp-sysdescr": {"": ("sys_descr", "vendor", "model")},
}


@dataclass(slots=True)
class NmapHost:
    fields: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, str] = field(default_factory=dict)  # script id -> raw output
    open_ports: list[str] = field(default_factory=list)


def parse_nmap(xml_text: str) -> dict[str, NmapHost]:
    """Per IPv4 address: open ports, raw script outputs and the bench's fields from ``-oX``."""
    hosts: dict[str, NmapHost] = {}
    root = ET.fromstring(xml_text)
    for host in root.iter("host"):
        addr = next((a.get("addr") for a in host.iter("address") if a.get("addrtype") == "ipv4"), None)
        if addr is None:
            continue
        nh = hosts.setdefault(addr, NmapHost())
        for port in host.iter("port"):
            state = port.find("state")
            if state is not None and state.get("state") == "open":
                nh.open_ports.append(f"{port.get('portid')}/{port.get('protocol')}")
            for script in port.iter("script"):
                sid = script.get("id", "")
                nh.scripts[sid] = (script.get("output") or "").strip()
                keys = NMAP_KEYS.get(sid, {})
                texts: dict[str, str] = {}
                for elem in script.iter("elem"):
                    if elem.get("key") in keys and elem.text:
                        texts[elem.get("key", "")] = elem.text.strip()
                if not list(script.iter("elem")) and "" in keys:
                    texts[""] = nh.scripts[sid]
                for key, text in texts.items():
                    for name in keys[key]:
                        nh.fields[name] = f"{nh.fields[name]} | {text}" if name in nh.fields else text
    return hosts


# --- traffic --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Traffic:
    """What one scanner sent one device (and got back), from the capture."""

    packets_to: int = 0
    packets_from: int = 0
    arp_requests: int = 0
    tcp_connections: int = 0  # SYN without ACK
    max_open: int = 0  # connections open at once (SYN until the first FIN or RST)
    left_open: int = 0  # connections without FIN or RST when the capture ended
    peak_pps: int = 0  # most packets sent to the device within one second
    sends: int = 0  # packets that ask something: SYN, TCP payload, UDP, ICMP (not bare ACK/FIN/RST)
    peak_sends_per_s: int = 0  # the policy's per-host rate is about these


@dataclass(slots=True)
class Capture:
    """tshark on one interface into a file, from ``start`` until ``stop``."""

    interface: str
    path: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> Capture:
        err = self.path.with_suffix(".log")
        with err.open("wb") as log:
            self.proc = subprocess.Popen(
                ["tshark", "-i", self.interface, "-w", str(self.path), "-q"],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tshark exited: {err.read_text(errors='replace')}")
            if "Capturing on" in err.read_text(errors="replace"):
                time.sleep(0.3)
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tshark did not start capturing on {self.interface} within {timeout} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


_FIELDS = (
    "frame.time_relative",
    "ip.src",
    "ip.dst",
    "tcp.stream",
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.fin",
    "tcp.flags.reset",
    "arp.opcode",
    "arp.dst.proto_ipv4",
    "ip.proto",
    "tcp.len",
)


def _flag(value: str) -> bool:
    return value in ("1", "True", "true")


def _in_last_second(window: deque[float], now: float) -> int:
    """Add ``now`` to the window and return how many times fall within (now - 1 s, now]."""
    window.append(now)
    while window and window[0] <= now - 1.0:
        window.popleft()
    return len(window)


def count_traffic(
    pcap: Path, scanner_ip: str, devices: list[str]
) -> tuple[dict[str, Traffic], dict[str, int]]:
    """Per-device traffic and whole-scan totals (packets sent, addresses probed) from a capture."""
    argv = ["tshark", "-r", str(pcap), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for name in _FIELDS:
        argv += ["-e", name]
    lines = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout.splitlines()
    per = {d: Traffic() for d in devices}
    sent_times: dict[str, deque[float]] = defaultdict(deque)
    send_times: dict[str, deque[float]] = defaultdict(deque)
    stream_dst: dict[str, str] = {}
    open_streams: dict[str, set[str]] = defaultdict(set)
    totals: Counter[str] = Counter()
    probed: set[str] = set()
    arped: set[str] = set()
    for line in lines:
        cols = (line.split("\t") + [""] * len(_FIELDS))[: len(_FIELDS)]
        t_rel, src, dst, stream, syn, ack, fin, rst, arp_op, arp_dst, proto, tcp_len = cols
        if arp_op == "1" and arp_dst:
            totals["arp_requests"] += 1
            arped.add(arp_dst)
            if arp_dst in per:
                per[arp_dst].arp_requests += 1
            continue
        if not src:
            continue
        if src == scanner_ip:
            totals["packets_sent"] += 1
            probed.add(dst)
        if dst in per and src == scanner_ip:
            tr = per[dst]
            tr.packets_to += 1
            now = float(t_rel)
            tr.peak_pps = max(tr.peak_pps, _in_last_second(sent_times[dst], now))
            if proto in ("1", "17") or _flag(syn) or (tcp_len not in ("", "0")):
                tr.sends += 1
                tr.peak_sends_per_s = max(tr.peak_sends_per_s, _in_last_second(send_times[dst], now))
            if stream and _flag(syn) and not _flag(ack):
                tr.tcp_connections += 1
                stream_dst[stream] = dst
                open_streams[dst].add(stream)
                tr.max_open = max(tr.max_open, len(open_streams[dst]))
        elif src in per and dst == scanner_ip:
            per[src].packets_from += 1
        if stream in stream_dst and (_flag(fin) or _flag(rst)):
            open_streams[stream_dst[stream]].discard(stream)
    for dev, streams in open_streams.items():
        per[dev].left_open = len(streams)
    totals["addresses_probed"] = len(probed)
    totals["addresses_arp_probed"] = len(arped)
    return per, dict(totals)


# --- the two scanners -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    scanner: str
    duration_s: float
    argv: list[str]
    fields: dict[str, dict[str, str]]  # device ip -> bench field -> reported text
    traffic: dict[str, Traffic] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_otwatch(ns: Netns, devices: list[str], agent_ports: bool) -> Run:
    policy = ScanPolicy(networks=(str(ns.subnet),), exclusions=(ns.gateway,))  # the safe defaults
    options: dict[str, Any] = {"credentials": {"snmp": {"community": COMMUNITY}}}
    if not agent_ports:
        options["ports"] = [*TCP_PORTS, *UDP_PORTS]
    scanner = Scanner(policy, **options)
    started = time.monotonic()
    result: ScanResult = asyncio.run(scanner.run([str(ns.subnet)]))
    duration = time.monotonic() - started
    if result.error:
        raise RuntimeError(f"OTWatch scan {result.status}: {result.error}")
    argv = [
        f"Scanner(ScanPolicy(networks=({str(ns.subnet)!r},), exclusions=({ns.gateway!r},)), "
        f"ports={'DEFAULT_PORTS' if agent_ports else list(options['ports'])}, "
        f"credentials={{'snmp': {{'community': {COMMUNITY!r}}}}}).run([{str(ns.subnet)!r}])"
    ]
    fields = {a.ip: otwatch_fields(a) for a in result.assets}
    extra = sorted(set(fields) - set(devices))
    notes = [n for n in result.notes if not n.endswith("query skipped: disabled by the scan policy")]
    if extra:
        notes.append(f"assets besides the devices: {', '.join(extra)}")
    return Run("otwatch", duration, argv, fields, notes=notes)


def run_nmap(ns: Netns, workdir: Path, skip_discovery: bool) -> Run:
    xml_path = workdir / "nmap.xml"
    argv = [
        "nmap",
        "-n",
        "-sT",
        "-sU",
        "-p",
        "T:" + ",".join(map(str, TCP_PORTS)) + ",U:" + ",".join(map(str, UDP_PORTS)),
        "--script",
        ",".join(NMAP_SCRIPTS),
        "--script-args",
        f"creds.snmp=:{COMMUNITY}",
        "--exclude",
        ns.gateway,
        "-oX",
        str(xml_path),
        *(["-Pn"] if skip_discovery else []),
        str(ns.subnet),
    ]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    duration = time.monotonic() - started
    if proc.returncode != 0 or not xml_path.exists():
        raise RuntimeError(f"nmap failed ({proc.returncode}): {proc.stderr.strip()}")
    hosts = parse_nmap(xml_path.read_text())
    notes = [
        f"{ip}: {sid}: {out}" for ip, h in hosts.items() for sid, out in h.scripts.items() if "ERROR" in out
    ]
    return Run("nmap", duration, argv, {ip: h.fields for ip, h in hosts.items()}, notes=notes)


def captured(ns: Netns, workdir: Path, name: str, devices: list[str], fn: Callable[[], Run]) -> Run:
    """Run one scanner with the neighbour cache flushed and tshark on the root-side veth."""
    subprocess.run(["ip", "neigh", "flush", "dev", ns.host_if], check=False, capture_output=True)
    capture = Capture(ns.host_if, workdir / f"{name}.pcapng").start()
    try:
        run = fn()
        time.sleep(SETTLE_S)
    finally:
        capture.stop()
    run.traffic, run.totals = count_traffic(capture.path, ns.gateway, devices)
    return run


# --- report ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class DeviceReport:
    ip: str
    kind: str
    label: str
    expected: dict[str, str]
    reported: dict[str, dict[str, str | None]]  # scanner -> field -> text (None: not reported)
    found: dict[str, list[str]]  # scanner -> fields whose configured value it reported
    traffic: dict[str, dict[str, int]]


def build_report(ns: Netns, runs: dict[str, Run]) -> dict[str, Any]:
    devices: list[DeviceReport] = []
    for spec in DEVICES:
        ip = ns.host(spec.host_number)
        reported: dict[str, dict[str, str | None]] = {}
        found: dict[str, list[str]] = {}
        for name, run in runs.items():
            got = run.fields.get(ip, {})
            reported[name] = {f: got.get(f) for f in spec.expected}
            found[name] = [f for f, want in spec.expected.items() if want.matches(got.get(f))]
        devices.append(
            DeviceReport(
                ip,
                spec.kind,
                spec.label,
                {f: w.shown() for f, w in spec.expected.items()},
                reported,
                found,
                {name: asdict(run.traffic[ip]) for name, run in runs.items()},
            )
        )
    n = len(devices)

    def mean(scanner: str, key: str) -> float:
        return round(sum(d.traffic[scanner][key] for d in devices) / n, 2)

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if b else None

    summary = {
        name: {
            "duration_s": round(run.duration_s, 2),
            "fields_found": sum(len(d.found[name]) for d in devices),
            "tcp_connections_per_device": mean(name, "tcp_connections"),
            "packets_per_device": mean(name, "packets_to") + mean(name, "packets_from"),
            "max_open_per_device": max(d.traffic[name]["max_open"] for d in devices),
            "peak_pps_per_device": max(d.traffic[name]["peak_pps"] for d in devices),
            "peak_sends_per_s_per_device": max(d.traffic[name]["peak_sends_per_s"] for d in devices),
            "left_open": sum(d.traffic[name]["left_open"] for d in devices),
            **run.totals,
        }
        for name, run in runs.items()
    }
    ours, theirs = summary["otwatch"], summary["nmap"]
    return {
        "namespace": ns.name,
        "subnet": str(ns.subnet),
        "scanner_ip": ns.gateway,
        "fields_total": sum(len(s.expected) for s in DEVICES),
        "scans": {
            name: {"argv": run.argv, "notes": run.notes, **summary[name]} for name, run in runs.items()
        },
        "devices": [asdict(d) for d in devices],
        "ratios": {
            "tcp_connections_per_device_otwatch_over_nmap": ratio(
                ours["tcp_connections_per_device"], theirs["tcp_connections_per_device"]
            ),
            "packets_per_device_otwatch_over_nmap": ratio(
                ours["packets_per_device"], theirs["packets_per_device"]
            ),
            "time_otwatch_over_nmap": ratio(ours["duration_s"], theirs["duration_s"]),
            "fields_otwatch_over_nmap": ratio(ours["fields_found"], theirs["fields_found"]),
        },
        "fields_only_otwatch": {
            d.ip: sorted(set(d.found["otwatch"]) - set(d.found["nmap"])) for d in devices
        },
        "fields_only_nmap": {d.ip: sorted(set(d.found["nmap"]) - set(d.found["otwatch"])) for d in devices},
    }


def _cell(text: str | None, ok: bool) -> str:
    if text is None:
        return "[red]✗[/red] —"
    text = " ".join(text.split())
    short = text if len(text) <= 30 else text[:27] + "..."
    return f"[green]✓[/green] {short}" if ok else f"[yellow]≠[/yellow] {short}"


def print_report(report: dict[str, Any], console: Console) -> None:
    for d in report["devices"]:
        table = Table(title=f"{d['ip']}  {d['label']}", title_justify="left")
        for col in ("field", "configured", "nmap", "OTWatch"):
            table.add_column(col, overflow="fold")
        for f, expected in d["expected"].items():
            table.add_row(
                f,
                expected,
                *(_cell(d["reported"][s][f], f in d["found"][s]) for s in ("nmap", "otwatch")),
            )
        console.print(table, highlight=False)

    traffic = Table(title="Per device (captured on the root-side veth)", title_justify="left")
    for col in (
        "device",
        "scanner",
        "fields",
        "pkts →",
        "pkts ←",
        "TCP conns",
        "max open",
        "peak pkts/s",
        "peak sends/s",
    ):
        traffic.add_column(col, justify="left" if col in ("device", "scanner") else "right")
    for d in report["devices"]:
        for s, label in (("nmap", "nmap"), ("otwatch", "OTWatch")):
            t = d["traffic"][s]
            traffic.add_row(
                f"{d['ip']} {d['kind']}" if s == "nmap" else "",
                label,
                f"{len(d['found'][s])}/{len(d['expected'])}",
                str(t["packets_to"]),
                str(t["packets_from"]),
                str(t["tcp_connections"]),
                str(t["max_open"]),
                str(t["peak_pps"]),
                str(t["peak_sends_per_s"]),
                end_section=s == "otwatch",
            )
    console.print(traffic)

    scans = Table(
        title=f"Whole scan of {report['subnet']} (scanner {report['scanner_ip']})", title_justify="left"
    )
    for col in ("", "nmap", "OTWatch"):
        scans.add_column(col, justify="right" if col else "left")
    rows = (
        ("scan time (s)", "duration_s"),
        (f"identity fields found (of {report['fields_total']})", "fields_found"),
        ("TCP connections per device", "tcp_connections_per_device"),
        ("packets per device (both ways)", "packets_per_device"),
        ("most connections open at once to a device", "max_open_per_device"),
        ("busiest second to one device (pkts)", "peak_pps_per_device"),
        ("busiest second to one device (sends)", "peak_sends_per_s_per_device"),
        ("connections left open", "left_open"),
        ("packets sent (all addresses)", "packets_sent"),
        ("ARP requests", "arp_requests"),
        ("addresses sent IP packets", "addresses_probed"),
        ("addresses ARP-resolved or tried", "addresses_arp_probed"),
    )
    for label, key in rows:
        values = [report["scans"][s].get(key, 0) for s in ("nmap", "otwatch")]
        scans.add_row(label, *(f"{v:.1f}" if isinstance(v, float) else str(v) for v in values))
    console.print(scans)

    r = report["ratios"]
    console.print(
        "Ratios OTWatch / nmap: "
        f"TCP connections per device {r['tcp_connections_per_device_otwatch_over_nmap']}, "
        f"packets per device {r['packets_per_device_otwatch_over_nmap']}, "
        f"scan time {r['time_otwatch_over_nmap']}, identity fields {r['fields_otwatch_over_nmap']}",
        highlight=False,
    )
    only = {ip: f for ip, f in report["fields_only_otwatch"].items() if f}
    console.print(f"Only OTWatch found: {only or 'nothing'}", highlight=False)
    only = {ip: f for ip, f in report["fields_only_nmap"].items() if f}
    console.print(f"Only nmap found: {only or 'nothing'}", highlight=False)
    for s in ("nmap", "otwatch"):
        for note in report["scans"][s]["notes"]:
            console.print(f"[dim]{s} note:[/dim] {note}", highlight=False)


# --- main -----------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace, err: Console) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="otw-bench-"))
    try:
        with Netns.create("otw-bench") as ns, contextlib.ExitStack() as peers:
            ips = [ns.add_device(ns.host(d.host_number)) for d in DEVICES]
            err.print(f"namespace {ns.name}: {ns.subnet} on {ns.host_if}; starting {len(DEVICES)} devices")
            for spec, ip in zip(DEVICES, ips, strict=True):
                peers.enter_context(start_device(spec, ns, ip, workdir))
            runs: dict[str, Run] = {}
            err.print("OTWatch scanning (safe default policy) ...")
            runs["otwatch"] = captured(
                ns, workdir, "otwatch", ips, lambda: run_otwatch(ns, ips, args.agent_ports)
            )
            err.print(f"nmap scanning ({'-Pn' if args.nmap_pn else 'ARP discovery'}) ...")
            runs["nmap"] = captured(ns, workdir, "nmap", ips, lambda: run_nmap(ns, workdir, args.nmap_pn))
            report = build_report(ns, {s: runs[s] for s in SCANNERS})
        if args.keep:
            report["artifacts"] = str(workdir)
        return report
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the report as JSON only")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep captures, nmap XML and peer logs (the namespace and processes are always removed)",
    )
    parser.add_argument("--nmap-pn", action="store_true", help="give nmap -Pn (no host discovery)")
    parser.add_argument(
        "--agent-ports", action="store_true", help="OTWatch checks its default port list, not nmap's five"
    )
    args = parser.parse_args(argv)
    err = Console(stderr=True)
    if problem := missing_requirements(TOOLS):
        err.print(f"[red]bench.scan:[/red] {problem}", highlight=False)
        return 2
    # Ctrl-C and SIGTERM unwind as KeyboardInterrupt through every ``finally`` (also when the shell
    # started us with SIGINT ignored, as it does for background jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        report = bench(args, err)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]: namespace and peers removed")
        return 130
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        out = Console()
        if not out.is_terminal:
            out = Console(width=120)  # rich's 80 columns squash the tables in a log
        print_report(report, out)
        if "artifacts" in report:
            err.print(f"captures, nmap XML and peer logs kept in {report['artifacts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
