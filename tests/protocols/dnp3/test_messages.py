"""DNP3 wire bytes: CRC, link frame, transport and application headers round-trip."""

from __future__ import annotations

import pytest

from otwatch.protocols.dnp3.codes import IIN, function_name, iin_names, link_function_name
from otwatch.protocols.dnp3.dissect import Dnp3Dissector
from otwatch.protocols.dnp3.messages import (
    AppHeader,
    Dnp3DecodeError,
    LinkFrame,
    TransportSegment,
    crc16,
    frame_size,
)
from otwatch.sensor.capture.decode import decode
from otwatch.sensor.capture.pcapfile import CaptureReader
from tests.sensor.replay import capture

# Link status request from master 1 to outstation 10, and its reply (CRCs as sent by real stacks).
LINK_STATUS_REQ = bytes.fromhex("056405c90a000100")
LINK_STATUS_RSP = bytes.fromhex("0564050b01000a00")


def test_crc_of_known_headers() -> None:
    # Standard check value of CRC-16/DNP over "123456789".
    assert crc16(b"123456789") == 0xEA82


@pytest.mark.parametrize("header", [LINK_STATUS_REQ, LINK_STATUS_RSP])
def test_link_only_frames_round_trip(header: bytes) -> None:
    wire = header + crc16(header).to_bytes(2, "little")
    frame = LinkFrame.decode(wire)
    assert frame.crc_ok and frame.user_data == b""
    assert frame.encode() == wire
    assert link_function_name(frame.control) in ("REQUEST_LINK_STATUS", "LINK_STATUS")


def test_user_data_is_split_in_crc_blocks() -> None:
    frame = LinkFrame(0xC4, 10, 1, bytes(range(40)))
    wire = frame.encode()
    assert len(wire) == frame_size(5 + 40) == 10 + 40 + 2 * 3
    assert LinkFrame.decode(wire) == frame
    corrupted = bytearray(wire)
    corrupted[12] ^= 0xFF
    assert LinkFrame.decode(bytes(corrupted)).crc_ok is False


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("c001 3c0206", AppHeader(1, seq=0, objects=bytes.fromhex("3c0206"))),
        ("c081 0200", AppHeader(0x81, seq=0, iin=0x0200)),
        ("f082 8000", AppHeader(0x82, con=True, uns=True, iin=int(IIN.DEVICE_RESTART))),
        ("c00d", AppHeader(0x0D)),
    ],
)
def test_application_headers(wire: str, expected: AppHeader) -> None:
    raw = bytes.fromhex(wire.replace(" ", ""))
    assert AppHeader.decode(raw) == expected
    assert expected.encode() == raw


def test_names() -> None:
    assert function_name(0x0D) == "COLD_RESTART"
    assert function_name(0x0E) == "WARM_RESTART"
    assert function_name(0x19) == "OPEN_FILE"
    assert function_name(0x82) == "UNSOLICITED_RESPONSE"
    assert function_name(0x77) == "unknown-119"
    assert iin_names(0x8201) == ["CLASS_1_EVENTS", "DEVICE_RESTART", "NO_FUNC_CODE_SUPPORT"]


def test_transport_segment() -> None:
    seg = TransportSegment.decode(bytes.fromhex("c5aabb"))
    assert (seg.fir, seg.fin, seg.seq, seg.data) == (True, True, 5, b"\xaa\xbb")
    assert seg.encode() == bytes.fromhex("c5aabb")
    with pytest.raises(Dnp3DecodeError):
        TransportSegment.decode(b"")


def test_every_frame_of_a_real_capture_round_trips() -> None:
    frames = 0
    for _ts, linktype, data in CaptureReader(capture("icsnpp-dnp3/testing/traces/dnp3_example.pcap")):
        pkt = decode(linktype, data)
        assert pkt is not None
        payload = bytes(pkt.payload)
        while payload[:2] == b"\x05\x64":
            size = frame_size(payload[2])
            frame = LinkFrame.decode(payload[:size])
            assert frame.crc_ok
            assert frame.encode() == payload[:size]
            payload = payload[size:]
            frames += 1
    assert frames > 800


def test_fragment_split_over_segments_and_frames() -> None:
    """A response spanning two link frames, fed one byte at a time, yields one record."""
    app = AppHeader(0x81, seq=3, iin=0, objects=bytes(range(256)) * 1)
    body = app.encode()
    first = TransportSegment(True, False, 7, body[:249]).encode()
    second = TransportSegment(False, True, 8, body[249:]).encode()
    wire = LinkFrame(0x44, 1, 10, first).encode() + LinkFrame(0x44, 1, 10, second).encode()
    dissector = Dnp3Dissector()
    records = [rec for b in wire for rec in dissector.feed(bytes((b,)), False)]
    assert len(records) == 1
    assert records[0].fields["fc_reply"] == "RESPONSE" and records[0].malformed is None
