"""ARP discovery on a real link: a network namespace joined by a veth pair (tests/netns.py).

The namespace's kernel answers ARP for its addresses, so discovery needs no peer process (the BACnet
broadcast test starts one). Packet sockets on the root-side veth record every ARP request and IPv4
packet the scanner puts on the link.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from otwatch.agent import discovery
from otwatch.agent.result import ScanStatus
from otwatch.agent.safety import ScanContext, ScanPolicy, Scope
from otwatch.agent.scan import Scanner
from otwatch.protocols import bacnet
from tests.netns import LinkSniffer, Netns, bacnet_device, free_subnets, missing_requirements

_MISSING = missing_requirements(("ip",))
pytestmark = [
    pytest.mark.network,
    pytest.mark.timeout(60),
    pytest.mark.skipif(_MISSING is not None, reason=f"namespace discovery test skipped: {_MISSING}"),
]

_ETH_P_ALL = 0x0003  # only "all protocols" taps see outgoing frames
_PACKET_OUTGOING = 4


class ArpSniffer:
    """(time, target address) of each ARP request leaving the root-side interface."""

    def __init__(self, interface: str) -> None:
        self.requests: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        self._sock.bind((interface, _ETH_P_ALL))
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, addr = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            is_arp_request = frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x01"
            if addr[2] == _PACKET_OUTGOING and len(frame) >= 42 and is_arp_request:
                self.requests.append((time.monotonic(), socket.inet_ntoa(frame[38:42])))

    def targets(self) -> list[str]:
        return [t for _, t in self.requests]

    def __enter__(self) -> ArpSniffer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # frames still in the socket's queue
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@dataclass(frozen=True)
class Link:
    ns: Netns
    devices: tuple[str, str]
    decoy: str  # answers ARP, on-link through a route, but outside the scanned /24
    mac: str  # the namespace side's MAC: every device address answers with it


@pytest.fixture(scope="module")
def link() -> Iterator[Link]:
    with Netns.create("otw-test") as ns:
        outside = free_subnets(1, avoid=(ns.subnet,))[0]
        ns.add_route(outside)
        devices = (ns.add_device(ns.host(10)), ns.add_device(ns.host(11)))
        decoy = ns.add_device(str(outside.network_address + 10))
        info = subprocess.run(
            ["ip", "-n", ns.name, "-j", "link", "show", ns.ns_if], capture_output=True, text=True, check=True
        )
        yield Link(ns, devices, decoy, json.loads(info.stdout)[0]["address"])


def _ctx(link: Link, **policy: object) -> ScanContext:
    p = ScanPolicy(networks=(str(link.ns.subnet),), exclusions=(link.ns.gateway,), **policy)  # type: ignore[arg-type]
    return ScanContext(p, Scope(p.networks, p.exclusions))


def test_arp_finds_on_link_hosts_with_one_request_each_and_no_ip(link: Link) -> None:
    ns = link.ns
    silent = (ns.host(12), ns.host(13))
    hosts = [*link.devices, *silent]
    ctx = _ctx(link)
    with ArpSniffer(ns.host_if) as arp, LinkSniffer(ns.host_if) as ip:
        live = asyncio.run(discovery.discover(ctx, hosts, use_arp=True, use_icmp=True))
    assert [(h.ip, h.method, h.mac) for h in live] == [(d, "arp", link.mac) for d in link.devices]
    assert sorted(arp.targets()) == sorted(hosts)  # one who-has per address, no retries
    assert dict(ip.sent) == {}  # on-link: silence to ARP is final, no ICMP or TCP probes follow
    assert ctx.token.open_count == 0


def test_arp_to_an_address_outside_the_scope_is_refused(link: Link) -> None:
    ns = link.ns
    ctx = _ctx(link)
    assert link.decoy not in ctx.scope
    (group,) = discovery.on_link_groups([link.decoy])  # reachable on the link, so ARP would find it
    notes: list[str] = []
    with ArpSniffer(ns.host_if) as arp:
        found = asyncio.run(
            discovery.arp_sweep(ctx, group.link, [link.devices[0], link.decoy], wait=0.5, notes=notes)
        )
    assert found == {link.devices[0]: link.mac}
    assert arp.targets() == [link.devices[0]]  # not one frame asked for the decoy
    assert any(link.decoy in n and "outside the configured networks" in n for n in notes)


def test_arp_keeps_the_whole_scan_rate(link: Link) -> None:
    ns = link.ns
    rate = 25.0
    hosts = [ns.host(n) for n in range(20, 32)]
    ctx = _ctx(link, rate_pps=rate)
    with ArpSniffer(ns.host_if) as arp:
        live = asyncio.run(discovery.discover(ctx, hosts, use_arp=True, use_icmp=False, probe_ports=[]))
    assert live == []
    times = [t for t, _ in arp.requests]
    assert len(times) == len(hosts)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / rate - 0.01  # the recorded frames, not the scan's duration


def test_without_arp_on_link_hosts_fall_back_to_icmp(link: Link) -> None:
    ctx = _ctx(link)
    hosts = [link.devices[0], link.ns.host(14)]
    live = asyncio.run(discovery.discover(ctx, hosts, use_arp=False, use_icmp=True, probe_ports=[]))
    assert [(h.ip, h.method) for h in live] == [(link.devices[0], "icmp")]
    assert live[0].mac == link.mac  # from the kernel's neighbour table this time


def test_routes_tell_on_link_from_gateway_targets(link: Link) -> None:
    routes = discovery.read_routes()
    on_link = discovery.route_for(link.devices[0], routes)
    assert on_link is not None and on_link.on_link and on_link.interface == link.ns.host_if
    assert on_link.network == ipaddress.IPv4Network(link.ns.subnet)
    groups = discovery.on_link_groups([*link.devices, "127.0.0.1"], routes)
    assert [(g.route.interface, g.hosts) for g in groups] == [(link.ns.host_if, list(link.devices))]
    assert groups[0].link.address == link.ns.gateway


def test_bacnet_who_is_is_one_broadcast_then_only_responders_are_asked(link: Link, tmp_path: Path) -> None:
    """PEERS.md: at most one broadcast per subnet per scan; hosts without BACnet get no datagram."""
    ns = link.ns
    controller, other = link.devices
    policy = ScanPolicy(networks=(str(ns.subnet),), exclusions=(ns.gateway,), response_timeout=1.0)
    scanner = Scanner(policy, ports=[], protocols=[bacnet.SPEC])
    with (
        bacnet_device(ns, controller, tmp_path, name="AHU-9", instance=909, properties={"modelName": "M9"}),
        LinkSniffer(ns.host_if) as ip,
    ):
        result = asyncio.run(scanner.run([controller, other]))
        time.sleep(0.2)
    assert result.status is ScanStatus.COMPLETED, result.error
    by_ip = {a.ip: a for a in result.assets}
    assert (by_ip[controller].protocols, by_ip[controller].model) == (["bacnet"], "M9")
    assert by_ip[other].protocols == []
    broadcast = str(ipaddress.IPv4Network(ns.subnet).broadcast_address)
    # one Who-Is broadcast, eight unicast ReadProperty to the device that answered, nothing to the other
    assert dict(ip.sent) == {broadcast: 1, controller: 8}
