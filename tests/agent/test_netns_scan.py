"""The whole scan pipeline over a real /24: a network namespace with a Modbus PLC and an S7 CPU on
their standard ports, scanned from the root namespace through a veth pair (tests/netns.py).

Besides the identities, it proves the scope rule on the wire: a decoy PLC routed into the same
namespace but outside the configured /24 is asked for by the targets and receives not one packet.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otwatch.agent.result import ScanResult, ScanStatus
from otwatch.agent.safety import ScanPolicy
from otwatch.agent.scan import Scanner
from tests.netns import LinkSniffer, Netns, free_subnets, missing_requirements, modbus_device, s7_device

_MISSING = missing_requirements(("ip",))
pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(60),
    pytest.mark.skipif(_MISSING is not None, reason=f"namespace scan test skipped: {_MISSING}"),
]

SCAN_BUDGET_S = 50.0  # the whole test stays under 60 s
MODBUS_IDENTITY = {
    "VendorName": "Schneider Electric",
    "ProductCode": "BMXP342020",
    "MajorMinorRevision": "v3.20",
    "ProductName": "Modicon M340",
    "ModelName": "BMX P34 2020",
}


@dataclass(frozen=True)
class Plant:
    ns: Netns
    modbus: str
    s7: str
    decoy: str  # a Modbus PLC outside the scanned /24


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plant]:
    work: Path = tmp_path_factory.mktemp("netns")
    with Netns.create("otw-test") as ns:
        outside = free_subnets(1, avoid=(ns.subnet,))[0]
        ns.add_route(outside)
        plant = Plant(
            ns,
            ns.add_device(ns.host(10)),
            ns.add_device(ns.host(11)),
            ns.add_device(str(outside.network_address + 10)),
        )
        with (
            modbus_device(ns, plant.modbus, MODBUS_IDENTITY, work),
            s7_device(ns, plant.s7, work),
            modbus_device(ns, plant.decoy, MODBUS_IDENTITY, work),
        ):
            yield plant


@pytest.fixture(scope="module")
def scanned(plant: Plant) -> tuple[ScanResult, LinkSniffer]:
    ns = plant.ns
    # The per-device limits are the safe defaults; only shorter response timeouts and more hosts in
    # flight keep the 251 silent addresses of the /24 within the test's time budget.
    policy = ScanPolicy(
        networks=(str(ns.subnet),),
        exclusions=(ns.gateway,),  # the root namespace's own address on the link
        response_timeout=1.0,
        max_hosts_in_flight=64,
    )
    scanner = Scanner(policy, ports=[502, 102, 44818, 80], use_icmp=True)
    with LinkSniffer(ns.host_if) as sniffer:
        result = asyncio.run(asyncio.wait_for(scanner.run([str(ns.subnet), plant.decoy]), SCAN_BUDGET_S))
    return result, sniffer


def test_scan_of_the_namespace_identifies_both_plcs(
    plant: Plant, scanned: tuple[ScanResult, LinkSniffer]
) -> None:
    result, _ = scanned
    assert result.status is ScanStatus.COMPLETED, result.error
    assert result.hosts_scanned == 253  # the /24's hosts minus the excluded gateway
    assert result.duration_s < SCAN_BUDGET_S
    by_ip = {a.ip: a for a in result.assets}
    assert set(by_ip) == {plant.modbus, plant.s7}

    plc = by_ip[plant.modbus]
    assert (plc.vendor, plc.model, plc.firmware, plc.name) == (
        "Schneider Electric",
        "BMX P34 2020",
        "v3.20",
        "Modicon M340",
    )
    assert plc.identities[0]["extra"]["product_code"] == "BMXP342020"
    # On-link: found by ARP (one who-has per address), not by ICMP or TCP probes
    assert (plc.open_ports, plc.protocols, plc.discovered_by) == ([502], ["modbus"], "arp")

    cpu = by_ip[plant.s7]
    assert (cpu.vendor, cpu.model, cpu.serial, cpu.name, cpu.device_type, cpu.state) == (
        "Siemens",
        "CPU 315-2 PN/DP",
        "S C-C2UR28922012",
        "SNAP7-SERVER",
        "PLC",
        "Stop",  # SZL 0x0424 as the peer answers it, not snap7's fixed "Run"
    )
    assert cpu.identities[0]["extra"]["order_number"] == "6ES7 315-2EH14-0AB0"
    assert (cpu.open_ports, cpu.protocols, cpu.discovered_by) == ([102], ["s7comm"], "arp")
    assert plc.mac is not None and plc.mac == cpu.mac  # both addresses live on the namespace's veth


def test_nothing_left_the_scanned_network(plant: Plant, scanned: tuple[ScanResult, LinkSniffer]) -> None:
    result, sniffer = scanned
    assert f"{plant.decoy}/32" in result.refused
    assert any(plant.decoy in note and "outside the configured networks" in note for note in result.notes)
    subnet = plant.ns.subnet
    outside = {ip: n for ip, n in sniffer.sent.items() if ipaddress.IPv4Address(ip) not in subnet}
    assert outside == {}  # in particular the decoy PLC received nothing
    assert sniffer.sent[plant.modbus] > 0 and sniffer.sent[plant.s7] > 0  # the sniffer did see the scan
