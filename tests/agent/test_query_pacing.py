"""Per-host pacing and connection reuse on the wire, for a device that speaks every queried protocol.

One scanned address (127.0.4.10) fronts five real peers (pymodbus, python-snap7, cpppo, bacpypes3,
snmpsim) through recording proxies: every TCP connection the scan opens and every chunk or datagram it
sends to that address is timestamped by the proxy. The scan runs with ``per_host_pps=5`` so that a
query that kept its own 10/s spacing instead of the scan's per-host limiter is caught too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from otwatch.agent.result import ScanResult, ScanStatus
from otwatch.agent.safety import ScanPolicy
from otwatch.agent.scan import Scanner
from tests.peers import Peer, free_port, modbus_peer, s7_peer, snmpsim_peer, switch_records

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]

DEVICE = "127.0.4.10"  # the scanned address: only the proxies listen here
UPSTREAM = "127.0.4.110"  # the real peers, outside the scanned network
PER_HOST_PPS = 5.0
TOLERANCE_S = 0.02  # scheduling jitter between the limiter's grant and the proxy's timestamp
COMMUNITY = "pacing"
MODBUS_IDENTITY = {"VendorName": "Acme", "ProductCode": "P1", "MajorMinorRevision": "1.0"}
ENIP_CFG = "[Identity]\nVendor Number = 1\nProduct Name = 1756-L61/B LOGIX5561\nSerial Number = 7\n"
BACNET_SCRIPT = textwrap.dedent(
    """
    import asyncio
    from bacpypes3.argparse import SimpleArgumentParser
    from bacpypes3.app import Application

    async def main():
        app = Application.from_args(SimpleArgumentParser().parse_args())
        app.device_object.modelName = "OTW-AHU"
        await asyncio.Future()

    asyncio.run(main())
    """
)


@dataclass
class Wire:
    """What reached the scanned address: (time, what) per request, and TCP connection counts."""

    events: list[tuple[float, str]] = field(default_factory=list)
    accepted: dict[int, int] = field(default_factory=dict)  # proxy port -> connections
    closed_by_scanner: dict[int, int] = field(default_factory=dict)  # ... ended by the scanner's FIN
    current: int = 0
    max_concurrent: int = 0


class TcpRecorder:
    """Forwards one port of DEVICE to a peer; records the connect and each chunk the scanner sends."""

    def __init__(self, wire: Wire, port: int, upstream: tuple[str, int]) -> None:
        self.wire, self.port, self.upstream = wire, port, upstream
        self.server: asyncio.Server | None = None
        wire.accepted[port] = wire.closed_by_scanner[port] = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, DEVICE, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        w = self.wire
        w.events.append((time.monotonic(), f"tcp/{self.port} connect"))
        w.accepted[self.port] += 1
        w.current += 1
        w.max_concurrent = max(w.max_concurrent, w.current)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def back() -> None:
            with contextlib.suppress(OSError):
                while data := await up_reader.read(65536):
                    writer.write(data)
                    await writer.drain()

        pump = asyncio.create_task(back())
        try:
            while data := await reader.read(65536):
                w.events.append((time.monotonic(), f"tcp/{self.port} {len(data)} bytes"))
                up_writer.write(data)
                await up_writer.drain()
            w.closed_by_scanner[self.port] += 1
        except OSError:
            pass
        finally:
            w.current -= 1
            pump.cancel()
            up_writer.close()
            writer.close()


class UdpRecorder(asyncio.DatagramProtocol):
    """Forwards one UDP port of DEVICE to a peer; records each datagram the scanner sends."""

    def __init__(self, wire: Wire, port: int, upstream: tuple[str, int]) -> None:
        self.wire, self.port, self.upstream = wire, port, upstream
        self.transport: asyncio.DatagramTransport | None = None
        self.links: dict[Any, asyncio.DatagramTransport] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.wire.events.append((time.monotonic(), f"udp/{self.port} {len(data)} bytes"))
        link = self.links.get(addr)
        if link is not None:
            link.sendto(data)
        else:
            asyncio.get_running_loop().create_task(self._open(addr, data))

    async def _open(self, client: Any, first: bytes) -> None:
        outer = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                if outer.transport is not None:
                    outer.transport.sendto(data, client)

        link, _ = await asyncio.get_running_loop().create_datagram_endpoint(Back, remote_addr=self.upstream)
        self.links[client] = link
        link.sendto(first)

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        if self.transport is not None:
            self.transport.close()


@dataclass(frozen=True)
class Ports:
    modbus: int
    s7: int
    enip: int
    bacnet: int
    snmp: int


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ports]:
    work: Path = tmp_path_factory.mktemp("pacing")
    p = Ports(
        free_port(UPSTREAM), free_port(UPSTREAM), free_port(UPSTREAM), free_port(UPSTREAM, "udp"),
        free_port(UPSTREAM, "udp"),
    )  # fmt: skip
    (work / "enip.cfg").write_text(ENIP_CFG)
    enip_argv = [sys.executable, "-m", "cpppo.server.enip", "-c", "enip.cfg", "-a", f"{UPSTREAM}:{p.enip}",
                 "Tag=INT[10]"]  # fmt: skip
    bacnet_argv = [sys.executable, "-c", BACNET_SCRIPT, "--name", "AHU-7", "--instance", "707",
                   "--address", f"{UPSTREAM}/24:{p.bacnet}"]  # fmt: skip
    records = switch_records("Hirschmann RSP", "sw-7", [("Port 1", "00:80:63:00:00:01")], own_ip=DEVICE,
                             own_if_index=1)  # fmt: skip
    with (
        modbus_peer(UPSTREAM, p.modbus, MODBUS_IDENTITY, work),
        s7_peer(UPSTREAM, p.s7, work),
        Peer("enip", UPSTREAM, p.enip, "tcp", enip_argv, work) as enip,
        Peer("bacnet", UPSTREAM, p.bacnet, "udp", bacnet_argv, work) as bacnet,
        snmpsim_peer(UPSTREAM, p.snmp, COMMUNITY, records, work),
    ):
        enip.start()
        bacnet.start()
        yield p


@pytest.fixture(scope="module")
def scanned(upstream: Ports) -> tuple[ScanResult, Wire, Ports]:
    wire = Wire()
    front = Ports(
        free_port(DEVICE),
        free_port(DEVICE),
        free_port(DEVICE),
        free_port(DEVICE, "udp"),
        free_port(DEVICE, "udp"),
    )

    async def main() -> ScanResult:
        tcp = [
            TcpRecorder(wire, front.modbus, (UPSTREAM, upstream.modbus)),
            TcpRecorder(wire, front.s7, (UPSTREAM, upstream.s7)),
            TcpRecorder(wire, front.enip, (UPSTREAM, upstream.enip)),
        ]
        for rec in tcp:
            await rec.start()
        loop = asyncio.get_running_loop()
        udp = []
        for port, up in ((front.bacnet, upstream.bacnet), (front.snmp, upstream.snmp)):
            _, proto = await loop.create_datagram_endpoint(
                lambda port=port, up=up: UdpRecorder(wire, port, (UPSTREAM, up)), local_addr=(DEVICE, port)
            )
            udp.append(proto)
        try:
            scanner = Scanner(
                ScanPolicy(networks=("127.0.4.8/29",), per_host_pps=PER_HOST_PPS, response_timeout=1.0),
                ports=[front.modbus, front.s7, front.enip],
                port_map={
                    "modbus": front.modbus,
                    "s7comm": front.s7,
                    "enip": front.enip,
                    "bacnet": front.bacnet,
                    "snmp": front.snmp,
                },
                credentials={"snmp": {"community": COMMUNITY}},
                use_icmp=False,
            )
            result = await scanner.run([DEVICE])
            await asyncio.sleep(0.3)  # the last FINs
            return result
        finally:
            for rec in tcp:
                await rec.stop()
            for proto in udp:
                proto.close()

    return asyncio.run(asyncio.wait_for(main(), 100)), wire, front


def test_every_protocol_identified_through_the_proxies(scanned: tuple[ScanResult, Wire, Ports]) -> None:
    result, _, _ = scanned
    assert result.status is ScanStatus.COMPLETED, result.error
    (asset,) = result.assets
    assert sorted(asset.protocols) == ["bacnet", "enip", "modbus", "s7comm", "snmp"], result.notes


def test_no_two_requests_to_one_host_closer_than_its_rate(scanned: tuple[ScanResult, Wire, Ports]) -> None:
    _, wire, front = scanned
    events = sorted(wire.events)
    assert len(events) >= 20  # connects, S7 / EtherNet/IP / BACnet / SNMP exchanges all went through
    gaps = [(b[0] - a[0], a[1], b[1]) for a, b in itertools.pairwise(events)]
    too_close = [g for g in gaps if g[0] < 1 / PER_HOST_PPS - TOLERANCE_S]
    assert too_close == [], f"requests closer than 1/{PER_HOST_PPS} s: {too_close[:5]}"
    # BACnet's nine requests (Who-Is + eight ReadProperty) were all paced, not just the first
    bacnet = [e for e in events if e[1].startswith(f"udp/{front.bacnet} ")]
    assert len(bacnet) == 9


def test_one_tcp_connection_per_protocol_port_reused_for_its_query(
    scanned: tuple[ScanResult, Wire, Ports],
) -> None:
    result, wire, front = scanned
    # The query's connect is the port check: one connection per port, never two at once, each ended
    # by the scanner's FIN.
    assert wire.accepted == {front.modbus: 1, front.s7: 1, front.enip: 1}
    assert wire.closed_by_scanner == wire.accepted
    assert wire.max_concurrent == 1
    (asset,) = result.assets
    assert asset.open_ports == sorted([front.modbus, front.s7, front.enip])
