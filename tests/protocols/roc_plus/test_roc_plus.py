"""Emerson ROC Plus: wire-byte tables (CRC-16/ARC), message round trips, the dissector on TCP streams
and UDP datagrams, engineering operations with their ATT&CK technique, identity from System
Configuration replies, strict detection, and the read-only query against the test ROC800
(tests/protocols/roc_plus/responder.py). No public capture of ROC Plus exists in the shared captures,
so every frame here is built with the package's encoders (and a few by hand)."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from otwatch.agent.safety import READ_ONLY_QUERIES
from otwatch.inventory.identity import DeviceType
from otwatch.protocols.base import QueryTarget, Record
from otwatch.protocols.operations import OPERATION_DETAIL_FIELD, OPERATION_FIELD, OPERATIONS, Operation
from otwatch.protocols.registry import PROTOCOLS
from otwatch.protocols.roc_plus import SPEC, SPEC_UDP, detect, identity_from
from otwatch.protocols.roc_plus.dissect import RocPlusDissector
from otwatch.protocols.roc_plus.messages import (
    Address,
    Clock,
    Frame,
    PointRange,
    RocDecodeError,
    SystemConfig,
    crc16,
    encode_tlps,
    tlps,
)
from otwatch.protocols.roc_plus.query import identify, request
from tests.protocols.roc_plus.responder import CONFIG, responder

ROC = Address(240, 240)
HOST = Address(3, 1)


def to_roc(opcode: int, data: bytes = b"") -> bytes:
    return Frame(opcode, ROC, HOST, data).encode()


def to_host(opcode: int, data: bytes = b"") -> bytes:
    return Frame(opcode, HOST, ROC, data).encode()


def test_crc16_arc() -> None:
    assert crc16(b"123456789") == 0xBB3D  # the CRC-16/ARC check value
    assert crc16(bytes((1, 2, 1, 0, 17, 3)) + b"MOC") == 0x1885  # a ROC login frame (abferm/roc test)


FRAMES = [
    # System Configuration request to station 240.240 from host 3.1, no data
    (Frame(6, ROC, HOST), "f0f003010600" "06c1"),
    # Read Real-time Clock reply: second, minute, hour, day, month, year (LE), day of week
    (Frame(7, HOST, ROC, Clock(2026, 12, 6, 20, 15, 0, 1).encode()), "0301f0f00708" "000f14060cea0701" "02da"),
    # Error Indicator: error 1 (invalid opcode) at offset 0
    (Frame(255, HOST, ROC, bytes((1, 0))), "0301f0f0ff02" "0100" "9474"),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "head"), FRAMES)
def test_frame_table(frame: Frame, head: str) -> None:  # head: the whole frame, CRC low byte first
    wire = frame.encode()
    assert wire.hex() == head
    assert int.from_bytes(wire[-2:], "little") == crc16(wire[:-2])
    decoded = Frame.decode(wire)
    assert decoded.crc_ok and decoded.crc == int.from_bytes(wire[-2:], "little")
    decoded.crc = None
    assert decoded == frame
    assert detect(wire)


def test_message_round_trips() -> None:
    assert SystemConfig.decode(CONFIG.encode()) == CONFIG
    assert len(CONFIG.encode()) == 19 + 196
    legacy = SystemConfig(1, 1, 0, 0, 0, 0, 4, bytes(78))
    assert len(legacy.encode()) == 19 + 78 and SystemConfig.decode(legacy.encode()) == legacy
    clock = Clock(2026, 1, 2, 3, 4, 5)
    assert Clock.decode(clock.encode()) == clock and clock.text == "2026-01-02 03:04:05"
    points = PointRange(91, 0, 2, 10, b"\x01\x02")
    assert PointRange.decode(points.encode()) == points
    assert tlps(encode_tlps([(91, 0, 10), (16, 1, 2)])) == [(91, 0, 10), (16, 1, 2)]
    for bad in (b"", b"\x02\x01\x02\x03"):
        with pytest.raises(RocDecodeError):
            tlps(bad)
    with pytest.raises(RocDecodeError):
        Frame.decode(bytes.fromhex("f0f00301060a"))  # ten data bytes announced, none present
    with pytest.raises(ValueError):
        Frame(181, data=bytes(256)).encode()


def _feed(dissector: RocPlusDissector, chunks: list[tuple[bytes, bool]]) -> list[Record]:
    return [r for data, from_client in chunks for r in dissector.feed(data, from_client)]


def test_tcp_stream_byte_by_byte_and_coalesced() -> None:
    stream = to_roc(6) + to_roc(7)
    replies = to_host(6, CONFIG.encode()) + to_host(7, Clock(2026, 12, 6, 20, 15, 0, 1).encode())
    one_by_one = _feed(RocPlusDissector(), [(bytes((b,)), True) for b in stream] + [(replies, False)])
    whole = _feed(RocPlusDissector(), [(stream, True), (replies[:100], False), (replies[100:], False)])
    assert [(r.direction, r.fields["opcode"]) for r in whole] == [
        ("request", 6),
        ("request", 7),
        ("response", 6),
        ("response", 7),
    ]
    assert [r.fields for r in one_by_one] == [r.fields for r in whole]
    config, clock = whole[2].fields, whole[3].fields
    assert config["roc_type_name"] == "ROC800 (809/827)" and config["system_mode_name"] == "Run"
    assert (
        config["port_number"] == 4000
        and config["opcode_revision"] == 1
        and config["roc_subtype_name"] == "Series 1"
    )
    assert clock["timestamp"] == "2026-12-06 20:15:00" and clock["day_of_week"] == 1
    assert all(r.malformed is None for r in whole)


def test_udp_datagram_with_two_messages_and_a_cut_one() -> None:
    dissector = SPEC_UDP.dissector()
    records = dissector.feed(to_roc(6) + to_roc(167, PointRange(91, 0, 3, 0).encode()), True)
    assert [r.fields["opcode"] for r in records] == [6, 167]
    assert records[1].fields["point_type"] == 91 and records[1].fields["num_parameters"] == 3
    cut = dissector.feed(to_roc(6)[:-1], True)
    assert len(cut) == 1 and cut[0].malformed
    assert dissector.feed(to_roc(6), True)[0].malformed is None  # the next datagram starts afresh


def test_malformed_only_when_certain() -> None:
    bad_crc = bytearray(to_roc(6))
    bad_crc[-1] ^= 0xFF
    [record] = RocPlusDissector().feed(bytes(bad_crc), True)
    assert record.malformed and "CRC" in record.malformed
    [error] = RocPlusDissector().feed(to_host(255, bytes((1, 4, 6, 2))), False)
    assert error.malformed is None
    assert error.fields["error_code"] == ["Invalid Opcode Request", "Received Too Few Data Bytes"]
    assert error.fields["error_offset"] == [4, 2]
    [odd] = RocPlusDissector().feed(to_host(255, b"\x01"), False)
    assert odd.malformed
    dissector = RocPlusDissector()
    broken, unknown = dissector.feed(bytes(bad_crc) + to_roc(6), True), dissector.feed(to_roc(2), True)
    assert len(broken) == 1 and broken[0].malformed  # the rest of that segment is dropped, not misread
    assert unknown[0].malformed is None and unknown[0].fields["opcode_name"] == "unknown-2"  # CRC right
    [short] = RocPlusDissector().feed(to_roc(8, b"\x00\x01"), True)
    assert short.malformed and OPERATION_FIELD not in short.fields


def _operation(records: list[Record]) -> tuple[Operation | None, str]:
    fields = records[-1].fields
    return fields.get(OPERATION_FIELD), fields.get(OPERATION_DETAIL_FIELD, "")


OPERATION_CASES = [
    (8, Clock(2030, 1, 1, 0, 0, 0).encode(), Operation.CLOCK_SET, "to 2030-01-01 00:00:00"),
    (11, bytes((3, 0, 2)) + b"\x01\x02", Operation.PARAMETER_WRITE, "of table 3"),
    (166, PointRange(16, 1, 1, 2, b"\x00\x00\x80\x3f").encode(), Operation.PARAMETER_WRITE, "point type 16 logical 1"),
    (181, bytes((1, 91, 0, 10, 7)), Operation.PARAMETER_WRITE, "TLP 91.0.10"),
    (17, b"LOI" + (1000).to_bytes(2, "little") + b"\x05", Operation.AUTHENTICATION, "Standard Login of operator 'LOI'"),
    (17, b"LOI" + bytes(2) + b"LOGOFF", None, ""),  # a logout
    (24, bytes((3, 1, 1, 2, 240, 240, 0, 0, 0, 0, 8, 7)) + Clock(2030, 1, 1, 0, 0, 0).encode(), Operation.CLOCK_SET,
     "by Store and Forward"),
    (24, bytes((3, 1, 1, 2, 240, 240, 0, 0, 0, 0, 6, 0)), None, ""),
    (203, bytes((6,)) + b"/flash/user".ljust(100, b"\x00") + b"prog.tar".ljust(25, b"\x00"), Operation.PROGRAM_DELETE,
     "delete of '/flash/user/prog.tar'"),
    (6, b"", None, ""),
    (7, b"", None, ""),
    (167, PointRange(91, 0, 3, 0).encode(), None, ""),
    (180, encode_tlps([(91, 0, 10)]), None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("opcode", "data", "operation", "detail"), OPERATION_CASES)
def test_operations(opcode: int, data: bytes, operation: Operation | None, detail: str) -> None:
    records = RocPlusDissector().feed(to_roc(opcode, data), True)
    assert records[-1].malformed is None
    got, text = _operation(records)
    assert got == operation
    assert detail in text
    if operation is not None:
        assert text.startswith("a ROC Plus ")
    # a reply of the same opcode never carries an operation
    assert OPERATION_FIELD not in RocPlusDissector().feed(to_host(opcode, b""), False)[0].fields


def test_operation_techniques() -> None:
    assert str(OPERATIONS[Operation.CLOCK_SET].technique) == "T0836 Modify Parameter"
    assert str(OPERATIONS[Operation.PARAMETER_WRITE].technique) == "T0836 Modify Parameter"
    assert str(OPERATIONS[Operation.AUTHENTICATION].technique) == "T0859 Valid Accounts"
    assert str(OPERATIONS[Operation.PROGRAM_DOWNLOAD].technique) == "T0843 Program Download"
    assert str(OPERATIONS[Operation.PROGRAM_DELETE].technique) == "T0889 Modify Program"


def test_file_write_names_the_file_it_opened() -> None:
    dissector = RocPlusDissector()
    opened = to_roc(203, bytes((1, 2)) + b"/flash/user".ljust(100, b"\x00") + b"prog.tar".ljust(25, b"\x00"))
    reply = to_host(203, bytes((1,)) + (7).to_bytes(4, "little"))
    chunk = b"\x7fELF" + bytes(12)
    # the command byte is not interpreted (its numbering is not public); the layout tells a write
    write = to_roc(203, bytes((3,)) + (7).to_bytes(4, "little") + (4096).to_bytes(4, "little") + bytes(4)
                   + bytes((len(chunk),)) + chunk)  # fmt: skip
    records = _feed(dissector, [(opened, True), (reply, False), (write, True)])
    assert records[0].fields["file_action"] == "open" and records[0].fields["file_name"] == "prog.tar"
    assert OPERATION_FIELD not in records[0].fields
    fields = records[2].fields
    assert fields["file_action"] == "write" and fields["file_descriptor"] == 7 and fields["file_size"] == 4096
    assert fields[OPERATION_FIELD] == Operation.PROGRAM_DOWNLOAD
    assert "write of '/flash/user/prog.tar' (16 bytes at offset 0)" in fields[OPERATION_DETAIL_FIELD]


def test_identity_from_system_configuration() -> None:
    [reply] = RocPlusDissector().feed(to_host(6, CONFIG.encode()), False)
    identity = identity_from(reply)
    assert identity is not None
    assert (identity.vendor, identity.model, identity.device_type, identity.state) == (
        "Emerson",
        "ROC800 (809/827)",
        DeviceType.RTU,
        "Run",
    )
    assert identity.extra["roc_address"] == "240.240"
    [dl8000] = RocPlusDissector().feed(to_host(6, SystemConfig(0, 1, 0, 0, 0, 0, 11).encode()), False)
    other = identity_from(dl8000)
    assert other is not None and other.model == "DL8000" and other.state == "Firmware Update"
    for record in RocPlusDissector().feed(to_roc(6) + to_roc(7), True):
        assert identity_from(record) is None


NOT_ROC = [
    b"",
    bytes.fromhex("000100000006010300000001"),  # Modbus/TCP read holding registers
    bytes.fromhex("056405c001000000e4c4"),  # DNP3 link layer
    bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102"),  # COTP connection request (S7)
    bytes(24) + bytes.fromhex("0000"),  # zeros (an ENIP NOP-like header)
    bytes.fromhex("630000000000000000000000000000000000000000000000"),  # ENIP List Identity
    bytes.fromhex("810b000c0120ffff00ff1008"),  # BACnet Who-Is
    bytes.fromhex("800002000000006300ef050100"),  # FINS Controller Data Read
    bytes.fromhex("f0f00301060006c2"),  # a ROC frame with its CRC off by one
    bytes.fromhex("f0f0030106"),  # cut before the length
    bytes.fromhex("f0f00301060a06c1"),  # length past the end
    bytes.fromhex("f0f0030105000631"),  # opcode 5 (right CRC) is not a ROC Plus opcode
    b"GET / HTTP/1.1\r\nHost: roc\r\n\r\n",
]


@pytest.mark.parametrize("payload", NOT_ROC)
def test_detect_is_strict(payload: bytes) -> None:
    assert not detect(payload)


def test_random_bytes_are_not_roc_plus() -> None:
    rng = random.Random(4000)
    claimed = [p for p in (rng.randbytes(rng.randint(8, 64)) for _ in range(20000)) if detect(p)]
    assert claimed == []


def test_no_other_protocol_claims_roc_plus_frames() -> None:
    samples = [to_roc(6), to_host(6, CONFIG.encode()), to_roc(181, bytes((1, 91, 0, 10, 7))), to_roc(7)]
    for spec in PROTOCOLS:
        if spec.name != "roc_plus" and spec.transport != "eth":  # layer-2 specs never see IP payloads
            assert not any(spec.detect(s) for s in samples), spec.name


def _identify(target: QueryTarget) -> object:
    return asyncio.run(identify(target))


def test_query_against_the_test_responder() -> None:
    assert "roc_plus" in READ_ONLY_QUERIES
    with responder() as (port, recorded):
        identity = _identify(QueryTarget("127.0.0.1", port))
        assert identity is not None and getattr(identity, "model", None) == "ROC800 (809/827)"
        assert [Frame.decode(r).opcode for r in recorded.requests] == [6]  # one request, the read-only one
        assert recorded.requests[0] == request(QueryTarget("127.0.0.1", port)).encode()
        # a station that is not there: the responder stays silent, the query gives up
        silent = QueryTarget("127.0.0.1", port, response_timeout=0.3, extra={"roc_unit": 1, "roc_group": 2})
        assert _identify(silent) is None


def test_query_gives_up_on_a_silent_host() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        target = QueryTarget("127.0.0.1", listener.getsockname()[1], response_timeout=0.2)
        assert _identify(target) is None


def test_specs() -> None:
    assert (SPEC.transport, SPEC.ports, SPEC_UDP.transport, SPEC_UDP.ports) == (
        "tcp",
        (4000,),
        "udp",
        (4000,),
    )
    assert SPEC.query is identify and SPEC_UDP.query is None
