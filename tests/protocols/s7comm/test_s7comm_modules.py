"""An S7 CPU's backplane as the asset's modules: the CPU from SZL 0x0011/0x001C and the rack's modules from
the module status list (SZL W#16#xy91), parsed from records built to the manual's layout and read from a
real python-snap7 server extended to answer them (snap7 itself answers no module list)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from otwatch.protocols.base import QueryTarget
from otwatch.protocols.s7comm.messages import SzlResponse
from otwatch.protocols.s7comm.query import identify, modules
from tests.peers import Peer, free_port, recording_relay, s7_peer

pytestmark = pytest.mark.network

HOST = "127.0.0.47"
# (adr1, adr2, logadr, eastat): rack 0 of an S7-300: CPU in slot 2, a DI card (data id B4: input) in 4,
# a DO card (B5: output) in 5, a configured but missing AI card in 6, a CP (FF) in 7, a DI with a
# diagnostic error in 8; and a DP slave (master system 1, station 3) in slot 1 of its station.
RACK = [
    (0x0000, 0x0200, 2047, 0xFF02),
    (0x0000, 0x0400, 0, 0xB402),
    (0x0000, 0x0500, 4, 0xB502),
    (0x0000, 0x0600, 272, 0xB404),
    (0x0000, 0x0700, 256, 0xFF02),
    (0x0000, 0x0800, 8, 0xB403),
    (0x0103, 0x0100, 512, 0xB402),
]
EXPECTED = [
    {"rack": 0, "slot": 2, "type": "CPU", "address": "2047", "status": "OK", "name": "CPU 315-2 PN/DP",
     "order_number": "6ES7 315-2EH14-0AB0", "firmware": "V3.2.6", "hardware": "V1.0.0", "serial": "S C-C2UR28922012"},
    {"rack": 0, "slot": 4, "type": "Input module", "address": "I0", "status": "OK"},
    {"rack": 0, "slot": 5, "type": "Output module", "address": "Q4", "status": "OK"},
    {"rack": 0, "slot": 6, "type": "Input module", "address": "I272", "status": "Not available"},
    {"rack": 0, "slot": 7, "type": "DP interface", "address": "256", "status": "OK"},
    {"rack": 0, "slot": 8, "type": "Input module", "address": "I8", "status": "Error"},
    {"station": "DP 1/3", "slot": 1, "type": "Input module", "address": "I512", "status": "OK"},
]  # fmt: skip


def _records(rack: list[tuple[int, int, int, int]]) -> bytes:
    body = b"".join(struct.pack(">8H", a1, a2, log, 0, 0, 0, st, 0x10) for a1, a2, log, st in rack)
    return struct.pack(">HHHH", 0x0D91, 0, 16, len(rack)) + body


def test_module_status_records() -> None:
    listed = SzlResponse.decode(_records(RACK)).module_status()
    assert [m["slot"] for m in listed] == [2, 4, 5, 6, 7, 8, 1]
    assert listed[-1]["station"] == "DP 1/3" and "rack" not in listed[-1]
    pn = SzlResponse.decode(_records([(0x8000 | (2 << 11) | 17, 0x0301, 100, 0xB40A)])).module_status()
    assert pn == [{"station": "PROFINET IO 102/17", "slot": 3, "submodule": 1, "type": "Input module",
                   "address": "I100", "status": "Disabled"}]  # fmt: skip
    # a CPU that lists nothing: the CPU alone, when it told anything of itself
    assert modules({"order_number": "6ES7 214-1AG40-0XB0"}, 0, 1, []) == [
        {"rack": 0, "slot": 1, "type": "CPU", "order_number": "6ES7 214-1AG40-0XB0"}
    ]
    assert modules({}, 0, 2, []) == []


@pytest.fixture(params=[0x0D91, 0x0091], ids=["rack-list", "all-modules-list"])
def rack_cpu(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Peer]:
    port = free_port(HOST)
    rack = {
        "order_number": "6ES7 315-2EH14-0AB0", "hardware": [1, 0, 0], "firmware": [3, 2, 6],
        "szl": request.param, "modules": RACK,
    }  # fmt: skip
    with s7_peer(HOST, port, tmp_path, rack=rack) as peer:
        yield peer


def test_identify_reads_the_rack(rack_cpu: Peer) -> None:
    identity = asyncio.run(identify(QueryTarget(rack_cpu.host, rack_cpu.port)))
    assert identity is not None
    assert identity.modules == EXPECTED
    assert identity.firmware == "V3.2.6"  # the firmware record (index 7) a real CPU answers


async def _recorded(peer: Peer) -> tuple[list[dict[str, object]], list[tuple[bool, bytes]]]:
    """identify() through a loopback relay that records every segment each way; returns the modules
    it read and the segments."""
    port = free_port(HOST)
    async with recording_relay(HOST, port, (peer.host, peer.port)) as chunks:
        identity = await identify(QueryTarget(HOST, port))
    assert identity is not None and len(identity.modules) == len(EXPECTED)
    return identity.modules, chunks


def test_tshark_reads_the_same_module_list(tmp_path: Path) -> None:
    """The module status list as it crossed the wire (recorded from the real exchange with the snap7
    peer), decoded by tshark's S7comm dissector: the same slots, addresses and states as ours."""
    from otwatch.sensor.capture.pcapfile import write_pcap
    from otwatch.sensor.capture.synth import Net
    from tests.sensor.replay import tshark_fields

    rack = {"order_number": "6ES7 315-2EH14-0AB0", "hardware": [1, 0, 0], "firmware": [3, 2, 6],
            "szl": 0x0D91, "modules": RACK}  # fmt: skip
    with s7_peer("127.0.0.50", free_port("127.0.0.50"), tmp_path / "peer", rack=rack) as peer:
        ours, chunks = asyncio.run(_recorded(peer))
    net = Net()
    session = net.session(net.host("ews", "10.0.0.5"), net.host("plc", "10.0.0.10"), 102).open()
    for from_client, data in chunks:
        session.send(data, from_client)
    pcap = tmp_path / "rack.pcap"
    pcap.write_bytes(write_pcap(net))
    rows = tshark_fields(
        pcap,
        "s7comm.szl.0091.0000.adr2",
        ["s7comm.szl.0091.0000.adr1", "s7comm.szl.0091.0000.adr2", "s7comm.szl.0091.0000.logadr",
         "s7comm.szl.0091.0000.eastat"],
    )  # fmt: skip
    assert len(rows) == 1, rows
    _, adr1, adr2, logadr, eastat = rows[0]
    theirs = list(zip(adr1.split(","), adr2.split(","), logadr.split(","), eastat.split(","), strict=True))
    assert [(int(a1, 16), int(a2, 16), int(log), int(st, 16)) for a1, a2, log, st in theirs] == RACK
    # ours, read by identify() from the same bytes: slot and address per record, in the wire's order
    # (the CPU's row merges its record's address with what 0x0011/0x001C told)
    wire = [(int(a2, 16) >> 8, int(log), int(st, 16) >> 8) for _, a2, log, st in theirs]
    prefix = {0xB4: "I", 0xB5: "Q", 0xFF: ""}
    assert sorted((m["slot"], m["address"]) for m in ours) == sorted(
        (slot, f"{prefix[kind]}{log}") for slot, log, kind in wire
    )
