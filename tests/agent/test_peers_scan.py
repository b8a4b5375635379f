"""Discovery, ports check and the whole pipeline against real protocol peers on 127.0.3.x."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otwatch.agent import discovery, ports
from otwatch.agent.result import ScanPhase, ScanProgress, ScanStatus
from otwatch.agent.safety import ScanContext, ScanPolicy, Scope
from otwatch.agent.scan import Scanner
from otwatch.protocols import registry
from tests.peers import free_port, modbus_peer, s7_peer, snmpsim_peer, switch_records

pytestmark = pytest.mark.network

MODBUS_HOST, S7_HOST, SNMP_HOST, EMPTY_HOST = "127.0.3.11", "127.0.3.12", "127.0.3.13", "127.0.3.14"
MODBUS_IDENTITY = {
    "VendorName": "Schneider Electric",
    "ProductCode": "BMX P34 2020",
    "MajorMinorRevision": "v3.20",
    "ProductName": "Modicon M340",
    "ModelName": "BMX P34 2020",
}
SWITCH_MACS = ["00:80:63:0a:0b:01", "00:80:63:0a:0b:02"]


@dataclass(frozen=True)
class Peers:
    modbus: int
    s7: int
    snmp: int

    @property
    def port_map(self) -> dict[str, int]:
        return {"modbus": self.modbus, "s7comm": self.s7, "snmp": self.snmp}


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    work = tmp_path_factory.mktemp("peers")
    p = Peers(free_port(MODBUS_HOST), free_port(S7_HOST), free_port(SNMP_HOST, "udp"))
    records = switch_records(
        "Hirschmann RSP35 Rail Switch SW 08.7",
        "cell7-sw1",
        [("Port 1/1", SWITCH_MACS[0]), ("Port 1/2", SWITCH_MACS[1])],
        own_ip=SNMP_HOST,
        own_if_index=2,
    )
    with (
        modbus_peer(MODBUS_HOST, p.modbus, MODBUS_IDENTITY, work),
        s7_peer(S7_HOST, p.s7, work),
        snmpsim_peer(SNMP_HOST, p.snmp, "plantro", records, work),
    ):
        yield p


def test_discovery_and_ports_on_loopback_peers(peers: Peers) -> None:
    policy = ScanPolicy(networks=("127.0.3.8/29",))
    ctx = ScanContext(policy, Scope(policy.networks))
    notes: list[str] = []

    async def main() -> dict[str, list[int]]:
        hosts = [MODBUS_HOST, S7_HOST, EMPTY_HOST]
        live = await discovery.discover(
            ctx, hosts, probe_ports=[peers.modbus, peers.s7], use_icmp=False, notes=notes
        )
        assert [h.ip for h in live] == hosts  # a refused connect proves a host alive too
        assert {h.ip: h.method for h in live} == {
            MODBUS_HOST: "tcp-open",
            S7_HOST: "tcp-refused",  # the modbus port probed first is closed there
            EMPTY_HOST: "tcp-refused",
        }
        found = {}
        for h in hosts:
            async with ctx.exclusive(h):
                found[h] = await ports.check_ports(ctx, h, [peers.modbus, peers.s7, 47808, 161])
        return found

    found = asyncio.run(main())
    assert found == {MODBUS_HOST: [peers.modbus], S7_HOST: [peers.s7], EMPTY_HOST: []}
    assert ctx.token.open_count == 0


def test_icmp_discovery_when_permitted() -> None:
    if not discovery.icmp_permitted():
        pytest.skip("raw sockets need root or CAP_NET_RAW")
    policy = ScanPolicy(networks=("127.0.3.8/29",))
    ctx = ScanContext(policy, Scope(policy.networks))
    live = asyncio.run(discovery.discover(ctx, [EMPTY_HOST], probe_ports=[], use_icmp=True))
    assert [(h.ip, h.method) for h in live] == [(EMPTY_HOST, "icmp")]


def test_scan_identifies_real_peers(peers: Peers) -> None:
    events: list[ScanProgress] = []
    scanner = Scanner(
        ScanPolicy(networks=("127.0.3.8/29",), response_timeout=1.0),
        ports=[peers.modbus, peers.s7, 80],
        port_map=peers.port_map,
        credentials={"snmp": {"community": "plantro"}},
        on_progress=events.append,
    )
    result = asyncio.run(scanner.run([MODBUS_HOST, S7_HOST, SNMP_HOST]))
    assert result.status is ScanStatus.COMPLETED, result.error
    by_ip = {a.ip: a for a in result.assets}
    plc = by_ip[MODBUS_HOST]
    assert (plc.vendor, plc.firmware, plc.name) == ("Schneider Electric", "v3.20", "Modicon M340")
    assert plc.model == "BMX P34 2020"
    assert plc.device_type == "PLC"  # a Modbus server, though the port map moved it off 502
    assert plc.open_ports == [peers.modbus]
    assert "modbus" in plc.protocols
    s7 = by_ip[S7_HOST]
    assert s7.open_ports == [peers.s7]
    if "s7comm" in {s.name for s in registry.PROTOCOLS}:
        assert s7.vendor == "Siemens" and "s7comm" in s7.protocols
    switch = by_ip[SNMP_HOST]
    assert (switch.name, switch.vendor, switch.device_type) == ("cell7-sw1", "Hirschmann", "Switch")
    assert switch.mac == SWITCH_MACS[1]  # the interface that carries the scanned address
    assert switch.protocols == ["snmp"]
    assert {e.phase for e in events} == set(ScanPhase)
    assert result.duration_s > 0


def test_one_shot_cli_scan_prints_assets_as_json(peers: Peers, tmp_path: Path) -> None:
    pm = ",".join(f"{k}={v}" for k, v in peers.port_map.items())
    cmd = [
        sys.executable,
        "-c",
        "from otwatch.agent.cli import app; app()",
        "scan",
        MODBUS_HOST,
        f"{SNMP_HOST}/32",
        "--ports",
        f"{peers.modbus},80",
        "--port-map",
        pm,
        "--snmp-community",
        "plantro",
        "--rate",
        "50",
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assets = {a["ip"]: a for a in json.loads(proc.stdout)}
    assert set(assets) == {MODBUS_HOST, SNMP_HOST}
    plc, switch = assets[MODBUS_HOST], assets[SNMP_HOST]
    for field in ("ip", "mac", "vendor", "model", "firmware", "serial", "device_type", "open_ports", "protocols",
                  "state", "modules"):  # fmt: skip
        assert field in plc
    assert plc["vendor"] == "Schneider Electric" and plc["open_ports"] == [peers.modbus]
    assert switch["name"] == "cell7-sw1" and switch["mac"] == SWITCH_MACS[1]
    assert switch["identities"][0]["extra"]["interfaces"] == [
        {"index": 1, "descr": "Port 1/1", "mac": SWITCH_MACS[0]},
        {"index": 2, "descr": "Port 1/2", "mac": SWITCH_MACS[1]},
    ]


def test_cli_refuses_a_target_outside_its_networks(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "from otwatch.agent.cli import app; app()", "scan", "10.20.30.40",
           "--network", "127.0.3.8/29", "--json"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == []
    assert "outside the configured networks" in proc.stderr
