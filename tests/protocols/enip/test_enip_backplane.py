"""The CIP backplane as the asset's modules: Get_Attributes_All on each slot's Identity object through the
Connection Manager's Unconnected Send (route path: port 1, slot N), bounded.

Against real peers: a chassis of three cpppo EtherNet/IP servers (the controller in slot 0 routes slots 1
and 2 to two more cpppo processes through its UCMM "Route" table, as a ControlLogix routes to its
cards), and a plain cpppo adapter (which ignores the route and answers for itself). Statuses cpppo cannot
produce (an empty slot's 0x01/0x0204, the chassis end's 0x01/0x0312) come from a loopback responder
whose replies are built to the CIP specification (Vol. 1, 3-5.6 Unconnected Send)."""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from otwatch.protocols.base import QueryTarget
from otwatch.protocols.enip import codes
from otwatch.protocols.enip.messages import (
    CipRequest,
    CipResponse,
    CpfItem,
    Encapsulation,
    IdentityInfo,
    SendRRData,
    unconnected_send,
)
from otwatch.protocols.enip.messages import (
    Path as CipPath,
)
from otwatch.protocols.enip.query import MAX_SLOTS, identify
from tests.peers import Peer, free_port

pytestmark = pytest.mark.network

CHASSIS, SLOT1, SLOT2, PLAIN, SCRIPTED = "127.0.0.44", "127.0.0.45", "127.0.0.46", "127.0.0.48", "127.0.0.49"


def _cfg(vendor: int, dtype: int, product: int, major: int, minor: int, serial: int, name: str) -> str:
    # cpppo wants decimal integers (PEERS.md); the revision word is minor << 8 | major (little-endian)
    return (
        f"[Identity]\nVendor Number = {vendor}\nDevice Type = {dtype}\nProduct Code Number = {product}\n"
        f"Product Revision = {minor << 8 | major}\nSerial Number = {serial}\nProduct Name = {name}\nState = 3\n"
    )


def _cpppo(name: str, host: str, port: int, cfg: str, work: Path) -> Peer:
    d = work / name
    d.mkdir()
    (d / "peer.cfg").write_text(cfg)
    argv = [
        sys.executable,
        "-m",
        "cpppo.server.enip",
        "-c",
        "peer.cfg",
        "-a",
        f"{host}:{port}",
        "Tag=INT[10]",
    ]
    return Peer(name, host, port, "tcp", argv, d)


class Pace:
    """The scan's per-host limiter as the query sees it: counts the requests it is asked to pace."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self) -> None:
        self.requests += 1


@pytest.fixture
def chassis(tmp_path: Path) -> Iterator[int]:
    ports = [free_port(h) for h in (CHASSIS, SLOT1, SLOT2)]
    controller = _cfg(1, 14, 94, 20, 11, 0xDEADBEEF, "1756-L71/B LOGIX5571") + (
        '\n[UCMM]\nRoute Path = {"port": 1, "link": 0}\n'
        f'Route = {{"1/1": "{SLOT1}:{ports[1]}", "1/2": "{SLOT2}:{ports[2]}"}}\n'
    )
    with ExitStack() as stack:
        stack.enter_context(
            _cpppo("slot1", SLOT1, ports[1], _cfg(1, 12, 166, 5, 10, 0x01020304, "1756-EN2T/D"), tmp_path)
        ).start()
        stack.enter_context(
            _cpppo("slot2", SLOT2, ports[2], _cfg(1, 7, 11, 1, 3, 0x12345678, "1756-IB16/A DCIN"), tmp_path)
        ).start()
        stack.enter_context(_cpppo("chassis", CHASSIS, ports[0], controller, tmp_path)).start()
        yield ports[0]


def test_a_chassis_of_real_cpppo_servers(chassis: int) -> None:
    pace = Pace()
    identity = asyncio.run(identify(QueryTarget(CHASSIS, chassis, pace=pace)))
    assert identity is not None and identity.model == "1756-L71/B LOGIX5571"
    assert identity.modules == [
        {"slot": 0, "type": "Programmable Logic Controller", "name": "1756-L71/B LOGIX5571",
         "order_number": "1756-L71/B", "product_code": 94, "firmware": "20.11", "serial": "0xdeadbeef"},
        {"slot": 1, "type": "Communications Adapter", "name": "1756-EN2T/D", "order_number": "1756-EN2T/D",
         "product_code": 166, "firmware": "5.10", "serial": "0x01020304"},
        {"slot": 2, "type": "General Purpose Discrete I/O", "name": "1756-IB16/A DCIN",
         "order_number": "1756-IB16/A", "product_code": 11, "firmware": "1.3", "serial": "0x12345678"},
    ]  # fmt: skip
    # the connect, List Identity, Register Session, Get_Attributes_All, slots 0-3 (cpppo ends the session
    # at the unrouted slot 3) and the Unregister Session sent into it: every request paced, no slot beyond
    assert pace.requests == 1 + 3 + 4 + 1


def test_an_adapter_that_ignores_the_route_has_no_backplane(tmp_path: Path) -> None:
    port = free_port(PLAIN)
    with _cpppo("plain", PLAIN, port, _cfg(1, 12, 166, 5, 10, 0x0A0B0C0D, "1756-EN2T/D"), tmp_path).start():
        pace = Pace()
        identity = asyncio.run(identify(QueryTarget(PLAIN, port, pace=pace)))
    assert identity is not None and identity.model == "1756-EN2T/D" and identity.modules == []
    assert pace.requests == 1 + 3 + 2 + 1  # two slots told it answers for itself; then Unregister Session


def test_unconnected_send_encoding() -> None:
    """CIP Vol. 1, 3-5.6: service 0x52 to the Connection Manager (class 6, instance 1); priority/tick,
    timeout ticks, embedded size (UINT), embedded request, pad, route path size, reserved, port segment."""
    embedded = CipRequest(codes.SVC_GET_ATTRIBUTES_ALL, CipPath(class_id=1, instance_id=1))
    assert unconnected_send(embedded, 5).encode().hex(" ") == (
        "52 02 20 06 24 01 0a 02 06 00 01 02 20 01 24 01 01 00 01 05"
    )
    odd = CipRequest(0x0E, CipPath(class_id=1, instance_id=1), b"\x07")  # 7 bytes: one pad byte
    assert unconnected_send(odd, 3).encode().hex(" ") == (
        "52 02 20 06 24 01 0a 02 07 00 0e 02 20 01 24 01 07 00 01 00 01 03"
    )
    with pytest.raises(ValueError):
        unconnected_send(embedded, 300)


def _identity(serial: int, name: str, dtype: int = 7) -> bytes:
    return IdentityInfo(1, dtype, 11, 1, 3, 0x0060, serial, name, 3).encode_attributes()


async def _scripted_router(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slots: dict[int, bytes], seen: list[int]
) -> None:
    """A device answering by the specification: List Identity, Register Session, Get_Attributes_All,
    and per routed slot either the module's Get_Attributes_All reply or the Unconnected Send's error."""
    own = IdentityInfo(1, 14, 94, 20, 11, 0x0060, 0xDEADBEEF, "1756-L71/B LOGIX5571", 3)
    while True:
        try:
            head = await reader.readexactly(24)
            body = await reader.readexactly(int.from_bytes(head[2:4], "little"))
        except asyncio.IncompleteReadError:
            break
        msg = Encapsulation.decode(head + body)
        if msg.command == codes.CMD_LIST_IDENTITY:
            reply = Encapsulation(
                codes.CMD_LIST_IDENTITY, struct.pack("<H", 1) + own.encode_list_identity_item()
            )
        elif msg.command == codes.CMD_REGISTER_SESSION:
            reply = Encapsulation(codes.CMD_REGISTER_SESSION, msg.data, session=0x1234)
        elif msg.command == codes.CMD_UNREGISTER_SESSION:
            break
        else:
            request = CipRequest.decode(SendRRData.decode(msg.data).items[1].data)
            if request.service == codes.SVC_GET_ATTRIBUTES_ALL:
                answer = CipResponse(request.service, data=own.encode_attributes()).encode()
            else:  # Unconnected Send: the route path's last byte is the slot
                slot = request.data[-1]
                seen.append(slot)
                answer = slots.get(slot) or CipResponse(request.service, 0x01, [0x0204]).encode() + b"\x00"
            items = [CpfItem(codes.ITEM_NULL), CpfItem(codes.ITEM_UNCONNECTED_DATA, answer)]
            reply = Encapsulation(codes.CMD_SEND_RR_DATA, SendRRData(items).encode(), session=0x1234)
        writer.write(reply.encode())
        await writer.drain()
    writer.close()


def test_empty_slots_are_skipped_and_the_chassis_end_stops_the_walk() -> None:
    slots = {
        0: CipResponse(codes.SVC_GET_ATTRIBUTES_ALL, data=_identity(0xDEADBEEF, "1756-L71/B LOGIX5571", 14)).encode(),
        # 1, 2: empty (general status 0x01, extended 0x0204: Unconnected Send timed out; remaining path size)
        3: CipResponse(codes.SVC_GET_ATTRIBUTES_ALL, data=_identity(0x0BADF00D, "1756-OB16E/A DCOUT")).encode(),
        4: CipResponse(codes.SVC_UNCONNECTED_SEND, 0x01, [0x0312]).encode() + b"\x00",  # past the last slot
    }  # fmt: skip
    seen: list[int] = []

    async def run() -> tuple[object, int]:
        port = free_port(SCRIPTED)
        server = await asyncio.start_server(lambda r, w: _scripted_router(r, w, slots, seen), SCRIPTED, port)
        async with server:
            pace = Pace()
            identity = await identify(QueryTarget(SCRIPTED, port, pace=pace))
            return identity, pace.requests

    identity, requests = asyncio.run(run())
    assert seen == [0, 1, 2, 3, 4] and requests == 1 + 3 + 5 + 1  # connect ... Unregister Session
    assert [(m["slot"], m["name"]) for m in identity.modules] == [  # type: ignore[attr-defined]
        (0, "1756-L71/B LOGIX5571"), (3, "1756-OB16E/A DCOUT")
    ]  # fmt: skip

    # an adapter with no backplane port (0x01/0x0311): one request, no modules
    seen.clear()
    slots.clear()
    slots[0] = CipResponse(codes.SVC_UNCONNECTED_SEND, 0x01, [0x0311]).encode() + b"\x00"
    identity, requests = asyncio.run(run())
    assert seen == [0] and identity.modules == []  # type: ignore[attr-defined]
    assert MAX_SLOTS == 17  # the largest ControlLogix chassis: the walk's bound


def test_tshark_reads_the_routes_and_the_cards(chassis: int, tmp_path: Path) -> None:
    """The walk as it crossed the wire (recorded from the real exchange with the cpppo chassis), decoded
    by tshark's CIP dissector: Unconnected Sends to port 1, slots 0 to 3, and the three cards' names."""
    from otwatch.sensor.capture.pcapfile import write_pcap
    from otwatch.sensor.capture.synth import Net
    from tests.peers import recording_relay
    from tests.sensor.replay import tshark_fields

    async def run() -> list[tuple[bool, bytes]]:
        port = free_port(SCRIPTED)
        async with recording_relay(SCRIPTED, port, (CHASSIS, chassis)) as chunks:
            identity = await identify(QueryTarget(SCRIPTED, port))
        assert identity is not None and len(identity.modules) == 3
        return chunks

    net = Net()
    session = net.session(net.host("ews", "10.0.0.5"), net.host("plc", "10.0.0.10", 0x00000BC), 44818).open()
    for from_client, data in asyncio.run(run()):
        session.send(data, from_client)
    pcap = tmp_path / "chassis.pcap"
    pcap.write_bytes(write_pcap(net))
    routes = tshark_fields(pcap, "cip.port && tcp.dstport == 44818", ["cip.port", "cip.linkaddress.byte"])
    assert [(r[1], r[2]) for r in routes] == [("1", str(slot)) for slot in range(4)]
    names = tshark_fields(pcap, "cip.id.product_name", ["cip.id.product_name", "cip.id.serial_number"])
    assert [r[1] for r in names] == [
        "1756-L71/B LOGIX5571", "1756-L71/B LOGIX5571", "1756-EN2T/D", "1756-IB16/A DCIN"
    ]  # the controller's own Get_Attributes_All, then slots 0, 1 and 2  # fmt: skip
