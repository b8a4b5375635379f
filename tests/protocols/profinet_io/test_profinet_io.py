"""PROFINET IO CM (DCE/RPC on UDP 34964): crafted Connect, Write, Read Implicit of I&M0 and Control
datagrams, read by our dissector and by tshark (pn_io / dcerpc) from the same pcap; the EtherNet/IP
dissector no longer claims them."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from uuid import UUID

import pytest

from otwatch.protocols import enip, profinet_io
from otwatch.protocols.base import Record
from otwatch.protocols.operations import OPERATION_FIELD, Operation
from otwatch.protocols.profinet_io import codes, dissect_datagram
from otwatch.protocols.profinet_io.messages import RpcHeader
from otwatch.sensor.capture.pcapfile import write_pcap
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import tshark_fields

DEVICE = UUID("dea00001-6c97-11d1-8271-00a02442df7d")
AR = UUID("12345678-1234-1234-1234-123456789abc")
ACTIVITY = UUID("0f0e0d0c-0b0a-0908-0706-050403020100")
OBJECT = UUID("dea00000-6c97-11d1-8271-000100020003")


def _block(btype: int, content: bytes) -> bytes:
    return struct.pack(">HHBB", btype, len(content) + 2, 1, 0) + content


def _rw_header(btype: int, index: int, length: int, slot: int = 1, subslot: int = 1) -> bytes:
    content = struct.pack(">H16sIHH2sHI", 1, AR.bytes, 0, slot, subslot, b"\x00\x00", index, length)
    pad = 64 - 6 - len(content)
    return _block(btype, content + bytes(pad))


def _request_body(blocks: bytes) -> bytes:
    return struct.pack("<IIIII", 1024, len(blocks), 1024, 0, len(blocks)) + blocks


def _response_body(blocks: bytes) -> bytes:
    return bytes(4) + struct.pack("<IIII", len(blocks), len(blocks), 0, len(blocks)) + blocks


def _rpc(ptype: int, opnum: int, body: bytes, little: bool = True) -> bytes:
    return RpcHeader(ptype, OBJECT, DEVICE, ACTIVITY, opnum, seqnum=3, little=little, body=body).encode()


WRITE = _rpc(0, codes.OP_WRITE, _request_body(_rw_header(0x0008, 0x8020, 4) + b"\x00\x01\x02\x03"))
READ_IM0 = _rpc(0, codes.OP_READ_IMPLICIT, _request_body(_rw_header(0x0009, 0xAFF0, 4096)))
IM0 = _block(
    0x0020,
    struct.pack(
        ">H20s16sH4sHHHHH",
        0x002A,
        b"6ES7 151-3BA23-0AB0 ",
        b"S C-X4U421302009",
        3,
        b"V\x03\x00\x01",
        0,
        0xF600,
        0x0203,
        0x0101,
        0x001E,
    ),
)
READ_ANSWER = _rpc(2, codes.OP_READ_IMPLICIT, _response_body(_rw_header(0x8009, 0xAFF0, len(IM0)) + IM0))
STATION = b"plc-controller-1"
AR_REQ = _block(
    0x0101,
    struct.pack(
        ">H16sH6s16sIHHH",
        6,
        AR.bytes,
        1,
        b"\x00\x0e\x8c\x01\x02\x03",
        OBJECT.bytes,
        0x131,
        100,
        0x8892,
        len(STATION),
    )
    + STATION,
)
CONNECT = _rpc(0, codes.OP_CONNECT, _request_body(AR_REQ))
CONTROL = _rpc(0, codes.OP_CONTROL, _request_body(_block(0x0110, bytes(26))), little=False)


def test_write_is_a_parameter_write() -> None:
    record = dissect_datagram(WRITE)
    assert record.malformed is None and record.direction == "request"
    f = record.fields
    assert (f["interface"], f["operation_name"], f["index"], f["slot"], f["subslot"]) == (
        "PNIO Device", "Write", "0x8020", 1, "0x0001",
    )  # fmt: skip
    assert f[OPERATION_FIELD] == Operation.PARAMETER_WRITE


def test_read_implicit_of_im0_gives_the_identity() -> None:
    request = dissect_datagram(READ_IM0)
    assert (request.fields["operation_name"], request.fields["index_name"]) == ("Read Implicit", "I&M0")
    assert OPERATION_FIELD not in request.fields
    answer = dissect_datagram(READ_ANSWER)
    assert answer.direction == "response"
    identity = profinet_io.identity_from(answer)
    assert identity is not None
    assert (identity.vendor, identity.vendor_id, identity.model, identity.serial, identity.firmware) == (
        "Siemens", 0x2A, "6ES7 151-3BA23-0AB0", "S C-X4U421302009", "V3.0.1",
    )  # fmt: skip


def test_connect_and_control() -> None:
    connect = dissect_datagram(CONNECT).fields
    assert (connect["operation_name"], connect["block_type"]) == ("Connect", "ARBlockReq")
    assert connect["cm_initiator_station_name"] == "plc-controller-1" and connect["ar_uuid"] == str(AR)
    control = dissect_datagram(CONTROL).fields  # big-endian data representation
    assert (control["operation_name"], control["block_type"]) == ("Control", "IODControlReq (Prm End)")


def test_detection_by_content_and_enip_does_not_claim_dce_rpc() -> None:
    for frame in (WRITE, READ_IM0, READ_ANSWER, CONNECT, CONTROL):
        assert profinet_io.detect(frame)
        assert not enip.detect(frame) and not enip.detect_udp(frame)
    assert not profinet_io.detect(b"\x04\x00" + bytes(100))  # a v4 header of an unknown interface
    assert not profinet_io.detect(b"\x6f\x00" + bytes(40))


def test_random_and_truncated_datagrams_never_raise() -> None:
    rng = random.Random(34964)
    for frame in (WRITE, READ_ANSWER, CONNECT):
        for cut in range(len(frame)):
            assert isinstance(dissect_datagram(frame[:cut]), Record)
        for _ in range(200):
            mutated = bytearray(frame)
            for _ in range(4):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            assert isinstance(dissect_datagram(bytes(mutated)), Record)


def _pcap(path: Path, frames: list[tuple[bytes, bool]]) -> None:
    def udp(payload: bytes, to_device: bool) -> bytes:
        sport, dport = (49152, 34964) if to_device else (34964, 49152)
        src, dst = (
            (b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")
            if to_device
            else (b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01")
        )
        udp_h = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, src, dst)
        macs = (
            (b"\x00\x0e\x8c\x00\x00\x02" + b"\x00\x1b\x1b\x00\x00\x01")
            if to_device
            else (b"\x00\x1b\x1b\x00\x00\x01" + b"\x00\x0e\x8c\x00\x00\x02")
        )
        return macs + b"\x08\x00" + ip + udp_h + payload

    path.write_bytes(write_pcap((1_700_000_000.0 + i, 1, udp(p, d)) for i, (p, d) in enumerate(frames)))


FRAMES = [(CONNECT, True), (WRITE, True), (CONTROL, True), (READ_IM0, True), (READ_ANSWER, False)]


def test_tshark_reads_the_same_operations(tmp_path: Path) -> None:
    path = tmp_path / "pnio.pcap"
    _pcap(path, FRAMES)
    rows = tshark_fields(path, "dcerpc", ["dcerpc.pkt_type", "dcerpc.opnum", "pn_io.index"])
    theirs = [(int(t), int(o), int(i, 16) if i else None) for _, t, o, i in rows]
    ours = []
    for payload, _ in FRAMES:
        f = dissect_datagram(payload).fields
        index = int(f["index"], 16) if "index" in f else None
        ours.append((0 if f["packet_type"] == "Request" else 2, f["opnum"], index))
    assert theirs == ours


def test_sensor_raises_parameter_write_and_no_malformed(tmp_path: Path) -> None:
    path = tmp_path / "pnio.pcap"
    _pcap(path, FRAMES)
    sensor = Sensor()
    sensor.process_capture(path)
    sensor.finish()
    alerts = {a.type.code: a for a in sensor.alerts.alerts.values()}
    assert alerts["PARAMETER_WRITE"].protocol == "profinet_io"
    assert alerts["PARAMETER_WRITE"].type.technique is not None
    assert alerts["PARAMETER_WRITE"].type.technique.id == "T0836"
    assert "MALFORMED_PACKET" not in alerts
    device = [a for a in sensor.report()["assets"] if a["ip"] == "10.0.0.2"]
    assert device and device[0]["model"] == "6ES7 151-3BA23-0AB0"


@pytest.mark.parametrize("frame", [WRITE, READ_ANSWER])
def test_header_round_trip(frame: bytes) -> None:
    assert RpcHeader.decode(frame).encode() == frame
