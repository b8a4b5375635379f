"""Omron FINS: wire-byte tables, tshark agreement on the public capture, operations, the Controller
Data Read query against a test PLC, and that test PLC against the ``fins`` client library (PyPI)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from otwatch.protocols.base import QueryTarget
from otwatch.protocols.fins import SPEC, SPEC_TCP, detect
from otwatch.protocols.fins.dissect import FinsDissector
from otwatch.protocols.fins.messages import Address, ControllerData, FinsDecodeError, Frame, TcpFrame
from otwatch.protocols.fins.query import identify
from otwatch.protocols.modbus import detect as modbus_detect
from otwatch.protocols.operations import Operation
from tests.sensor.replay import capture, replay, tshark_fields

OMRON = "iti/omron__omron_test.pcap"

FRAMES = [
    # Controller Data Read from node 0x63 to node 0 (nmap omron-info over UDP)
    (Frame(0x0501, Address(0, 0, 0), Address(0, 0x63, 0), 0xEF, data=b"\x00", icf=0x80), "800002000000006300ef050100"),
    # Memory Area Write DM 100, 1 word
    (Frame(0x0102, Address(0, 1, 0), Address(0, 2, 0), 1, data=bytes.fromhex("8200640000010007"), icf=0x80),
     "80000200010000020001010282006400000100 07".replace(" ", "")),
    # Stop, response normal
    (Frame(0x0402, Address(0, 2, 0), Address(0, 1, 0), 3, response=True, icf=0xC0), "c0000200020000010003040200 00".replace(" ", "")),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "wire"), FRAMES)
def test_frame_table(frame: Frame, wire: str) -> None:
    assert frame.encode().hex() == wire
    assert Frame.decode(bytes.fromhex(wire)) == frame
    assert detect(bytes.fromhex(wire))


def test_tcp_envelope_and_strict_detection() -> None:
    hello = TcpFrame(0, b"\x00\x00\x00\x00")
    assert hello.encode().hex() == "46494e530000000c000000000000000000000000"
    assert SPEC_TCP.detect(hello.encode())
    assert TcpFrame.decode(hello.encode()) == hello
    for junk in (
        b"",
        b"FINS\x00\x00\x00\x01",
        bytes.fromhex("000100000006010300000001"),
        b"\x80\x01\x02" + bytes(9),
    ):
        assert not detect(junk)
    assert not modbus_detect(FRAMES[0][0].encode())
    with pytest.raises(FinsDecodeError):
        Frame.decode(b"\x80\x00")


def test_agrees_with_tshark_field_for_field() -> None:
    path = capture(OMRON)
    ours = {
        r.frame: r.record
        for r in replay(path)
        if r.record.protocol == "fins" and "command" in r.record.fields
    }
    rows = tshark_fields(path, "omron.command", ["omron.icf", "omron.dna", "omron.da1", "omron.da2", "omron.sna",
                                                  "omron.sa1", "omron.sa2", "omron.sid", "omron.command",
                                                  "omron.response.code", "omron.controller.model",
                                                  "omron.controller.version"])  # fmt: skip
    assert len(rows) == 4 and set(ours) == {int(r[0]) for r in rows}
    for row in rows:
        f = ours[int(row[0])].fields
        header = [
            f["icf"],
            f["dna"],
            f["da1"],
            f["da2"],
            f["sna"],
            f["sa1"],
            f["sa2"],
            f["sid"],
            f["command"],
        ]
        assert header == [int(v, 16) for v in row[1:10]]
        if row[10]:
            assert f["response_code"] == int(row[10], 16)
            assert (f["controller_model"], f["controller_version"]) == (row[11], row[12])
            identity = SPEC.identity_from(ours[int(row[0])])
            assert identity is not None and (identity.vendor, identity.model) == ("OMRON", "CP1L-EL20DR-D")


def test_operations_are_tagged() -> None:
    d = FinsDissector()
    expect = {
        0x0401: Operation.CONTROLLER_START,
        0x0402: Operation.CONTROLLER_STOP,
        0x0306: Operation.PROGRAM_UPLOAD,
        0x0307: Operation.PROGRAM_DOWNLOAD,
        0x0308: Operation.PROGRAM_DELETE,
        0x0102: Operation.PARAMETER_WRITE,
        0x0202: Operation.PARAMETER_WRITE,
        0x0702: Operation.CLOCK_SET,
        0x2301: Operation.PARAMETER_WRITE,
        0x2302: Operation.PARAMETER_WRITE,
    }
    for sid, (command, operation) in enumerate(expect.items()):
        (record,) = d.feed(Frame(command, Address(0, 1), Address(0, 2), sid, data=bytes(8)).encode(), True)
        assert record.fields["operation"] == operation, hex(command)
    for command in (0x0101, 0x0501, 0x0601, 0x0701):
        (record,) = d.feed(Frame(command, Address(0, 1), Address(0, 2), 99, data=bytes(6)).encode(), True)
        assert "operation" not in record.fields
    (write,) = d.feed(
        Frame(0x0102, Address(), Address(), 1, data=bytes.fromhex("8200640000010007")).encode(), True
    )
    assert (write.fields["memory_area"], write.fields["address"], write.fields["items"]) == ("DM", 100, 1)
    # FINS/TCP, split over segments
    t = FinsDissector()
    wire = TcpFrame(2, Frame(0x0402, Address(), Address(), 5).encode()).encode()
    records = t.feed(wire[:7], True) + t.feed(wire[7:], True)
    assert (
        records[0].fields["operation"] == Operation.CONTROLLER_STOP and records[0].fields["tcp_command"] == 2
    )


class _Plc:
    """A test PLC on UDP: Controller Data Read answers a model; every other command "normal"."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.sent: list[bytes] = []
        self._stop = False

    def serve(self) -> None:
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.received.append(data)
            req = Frame.decode(data)
            body = b""
            if req.command == 0x0501:
                body = ControllerData("CJ2M-CPU33", "02.01").encode() + bytes(52)
            elif req.command == 0x0101:
                body = bytes(2 * int.from_bytes(req.data[4:6], "big"))
            reply = Frame(req.command, req.source, req.destination, req.sid, True, 0, body).encode()
            self.sent.append(reply)
            self.sock.sendto(reply, addr)

    @contextmanager
    def running(self) -> Iterator[_Plc]:
        thread = threading.Thread(target=self.serve, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop = True
            thread.join()
            self.sock.close()


def test_query_reads_controller_data() -> None:
    with _Plc().running() as plc:
        identity = asyncio.run(identify(QueryTarget("127.0.0.1", plc.port)))
    assert identity is not None
    assert (identity.vendor, identity.model, identity.firmware) == ("OMRON", "CJ2M-CPU33", "02.01")
    assert [Frame.decode(f).command for f in plc.received] == [0x0501]


def test_query_gives_none_without_answer() -> None:
    free = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert asyncio.run(identify(QueryTarget("127.0.0.1", port, response_timeout=0.2))) is None


def test_fins_library_client_against_test_plc_and_dissector() -> None:
    fins_udp = pytest.importorskip("fins.udp")
    out: dict[str, Any] = {}
    with _Plc().running() as plc:
        client = fins_udp.UDPFinsConnection()
        client.connect("127.0.0.1", port=plc.port, bind_port=0)
        client.dest_node_add, client.srce_node_add = 1, 25
        areas = fins_udp.FinsPLCMemoryAreas()
        out["data"] = client.cpu_unit_data_read()
        client.memory_area_read(areas.DATA_MEMORY_WORD, b"\x00\x64\x00", 2)
        client.memory_area_write(areas.DATA_MEMORY_WORD, b"\x00\x64\x00", b"\x00\x07", 1)
        client.change_to_program_mode()
        client.change_to_run_mode()
        del client
    assert ControllerData.decode(Frame.decode(out["data"]).data).model == "CJ2M-CPU33"
    d = FinsDissector()
    records = []
    for sent, answer in zip(plc.received, plc.sent, strict=True):
        assert detect(sent) and detect(answer)
        records += d.feed(sent, True) + d.feed(answer, False)
    assert [r.malformed for r in records] == [None] * len(records)
    requests = [r.fields for r in records if r.direction == "request"]
    assert [f["command_name"] for f in requests] == ["Controller Data Read", "Memory Area Read", "Memory Area Write",
                                                      "Stop", "Run"]  # fmt: skip
    assert {(f["da1"], f["sa1"]) for f in requests} == {(1, 25)}
    assert (requests[1]["memory_area"], requests[1]["address"], requests[1]["items"]) == ("DM", 100, 2)
    assert [f.get("operation") for f in requests] == [None, None, Operation.PARAMETER_WRITE,
                                                      Operation.CONTROLLER_STOP, Operation.CONTROLLER_START]  # fmt: skip
    assert records[1].fields["controller_model"] == "CJ2M-CPU33"
