"""The capture reader against dpkt on every public capture, synthesized format variants, and damage."""

from __future__ import annotations

import struct
from pathlib import Path

import dpkt
import pytest

from otwatch.sensor.capture.pcapfile import CaptureReader, Packet, PcapError
from tests.sensor.replay import CAPTURES, capture

MODBUS = "icsnpp-modbus/testing/traces/modbus_example.pcap"


def _all_captures() -> list[Path]:
    return sorted(p for p in CAPTURES.rglob("*.pcap*") if p.is_file())


def _dpkt_packets(path: Path) -> list[tuple[float, bytes]]:
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader(fh)
        return [(float(ts), bytes(buf)) for ts, buf in reader]


def test_every_public_capture_matches_dpkt() -> None:
    paths = _all_captures()
    if not paths:
        pytest.skip(f"public captures are absent (expected {CAPTURES})")
    for path in paths:
        reader = CaptureReader(path)
        ours = list(reader)
        theirs = _dpkt_packets(path)
        if reader.warnings:  # a capture cut short: we drop its partial last record, dpkt yields it
            assert len(reader.warnings) == 1 and "truncated packet" in reader.warnings[0], path
            assert len(theirs) == len(ours) + 1 and len(theirs[-1][1]) < 262_144, path
            theirs = theirs[:-1]
        assert [p.data for p in ours] == [d for _, d in theirs], path
        assert all(abs(p.ts - t) < 1e-5 for p, (t, _) in zip(ours, theirs, strict=True)), path


def _write_pcap(packets: list[Packet], endian: str, nano: bool, linktype: int = 1) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = bytearray(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
    for p in packets:
        sec = int(p.ts)
        frac = round((p.ts - sec) * (1e9 if nano else 1e6))
        out += struct.pack(endian + "IIII", sec, frac, len(p.data), len(p.data)) + p.data
    return bytes(out)


@pytest.fixture(scope="module")
def real_packets() -> list[Packet]:
    return list(CaptureReader(capture(MODBUS)))


@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", False), ("<", True), (">", True)])
def test_pcap_byte_orders_and_resolutions(real_packets: list[Packet], endian: str, nano: bool) -> None:
    reader = CaptureReader(_write_pcap(real_packets, endian, nano))
    got = list(reader)
    assert reader.format == "pcap" and reader.linktype == 1 and not reader.warnings
    assert [p.data for p in got] == [p.data for p in real_packets]
    assert all(abs(a.ts - b.ts) < 2e-6 for a, b in zip(got, real_packets, strict=True))


def _block(endian: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def _shb(endian: str) -> bytes:
    return _block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(endian: str, linktype: int, tsresol: int | None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts = struct.pack(endian + "HH", 9, 1) + bytes((tsresol, 0, 0, 0)) + struct.pack(endian + "HH", 0, 0)
    return _block(endian, 1, struct.pack(endian + "HHI", linktype, 0, 0) + opts)


def _epb(endian: str, ifid: int, ticks: int, data: bytes) -> bytes:
    head = struct.pack(endian + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return _block(endian, 6, head + data)


def test_pcapng_sections_interfaces_and_block_kinds(real_packets: list[Packet]) -> None:
    eth, raw_ip = real_packets[3].data, real_packets[3].data[14:]
    section1 = (
        _shb("<")
        + _idb("<", 1, None)  # microseconds (default)
        + _idb("<", 101, 9)  # raw IP, nanoseconds
        + _epb("<", 0, 1_700_000_000_250_000, eth)
        + _block("<", 4, b"\x00" * 8)  # name resolution block: no packets, skipped
        + _epb("<", 1, 1_700_000_001_500_000_000, raw_ip)
        + _block("<", 3, struct.pack("<I", len(eth)) + eth)  # simple packet block: interface 0
    )
    section2 = _shb(">") + _idb(">", 1, 0x80 | 10) + _epb(">", 0, 3 * 1024, eth)  # big endian, 2^-10 s
    reader = CaptureReader(section1 + section2)
    got = list(reader)
    assert reader.format == "pcapng" and not reader.warnings
    assert [(p.linktype, p.data) for p in got] == [(1, eth), (101, raw_ip), (1, eth), (1, eth)]
    assert got[0].ts == pytest.approx(1_700_000_000.25)
    assert got[1].ts == pytest.approx(1_700_000_001.5)
    assert got[2].ts == got[1].ts  # a simple packet block has no timestamp of its own
    assert got[3].ts == pytest.approx(3.0)


def test_truncated_pcap_keeps_earlier_packets_and_warns(real_packets: list[Packet]) -> None:
    whole = capture(MODBUS).read_bytes()
    offsets = []  # start offset of each record
    pos = 24
    for p in real_packets:
        offsets.append(pos)
        pos += 16 + len(p.data)
    cut = offsets[40] + 16 + len(real_packets[40].data) // 2  # in the middle of packet 41's bytes
    reader = CaptureReader(whole[:cut])
    got = list(reader)
    assert [p.data for p in got] == [p.data for p in real_packets[:40]]
    assert len(reader.warnings) == 1
    assert f"byte offset {offsets[40]}" in reader.warnings[0] and "truncated" in reader.warnings[0]
    # Cut inside a record header too.
    reader = CaptureReader(whole[: offsets[10] + 5])
    assert len(list(reader)) == 10 and f"byte offset {offsets[10]}" in reader.warnings[0]


def test_truncated_pcapng_keeps_earlier_packets_and_warns() -> None:
    data = capture("iti/hart__hart_ip.pcap").read_bytes()
    complete = list(CaptureReader(data))
    reader = CaptureReader(data[: len(data) - 30])
    got = list(reader)
    assert got == complete[: len(got)] and len(got) == len(complete) - 1
    assert len(reader.warnings) == 1 and "truncated block at byte offset" in reader.warnings[0]


def test_corrupt_length_stops_with_warning(real_packets: list[Packet]) -> None:
    data = bytearray(_write_pcap(real_packets[:3], "<", False))
    second = 24 + 16 + len(real_packets[0].data)
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)
    reader = CaptureReader(bytes(data))
    assert len(list(reader)) == 1
    assert f"corrupt record at byte offset {second}" in reader.warnings[0]


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\xd4\xc3",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\xd4\xc3\xb2\xa1\x02\x00",
        b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00ABCD",
    ],
)
def test_garbage_raises_one_clear_error(garbage: bytes) -> None:
    with pytest.raises(PcapError):
        list(CaptureReader(garbage))


def test_missing_file_is_a_pcap_error(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match="cannot open"):
        CaptureReader(tmp_path / "nope.pcap")
