"""The shared reassembly loops of protocols/framing.py: TPKT (TCP/102) and length-framed messages."""

from __future__ import annotations

import struct

import pytest

from otwatch.protocols.base import Record
from otwatch.protocols.framing import LengthFramed, TpktStream

pytestmark = pytest.mark.fast


def tpkt(payload: bytes) -> bytes:
    return struct.pack(">BBH", 3, 0, 4 + len(payload)) + payload


def test_tpkt_frames_split_across_segments_come_out_whole_and_in_order() -> None:
    stream = TpktStream()
    wire = tpkt(b"\x02\xf0\x80AAAA") + tpkt(b"\x02\xf0\x80BB")
    out: list[bytes] = []
    for i in range(0, len(wire), 3):  # 3-byte segments: every frame boundary is cut
        tpdus, error = stream.feed(wire[i : i + 3])
        assert error is None
        out += tpdus
    assert out == [b"\x02\xf0\x80AAAA", b"\x02\xf0\x80BB"]


def test_a_stream_out_of_step_says_so_and_resumes_on_the_next_segment() -> None:
    stream = TpktStream()
    tpdus, error = stream.feed(tpkt(b"\x02\xf0\x80A") + b"GET / HTTP/1.1\r\n")
    assert tpdus == [b"\x02\xf0\x80A"] and error == "not a TPKT frame"
    assert stream.feed(tpkt(b"\x02\xf0\x80B")) == ([b"\x02\xf0\x80B"], None)


def test_a_frame_larger_than_the_buffer_is_dropped_with_a_reason() -> None:
    stream = TpktStream(max_buffer=64)
    tpdus, error = stream.feed(struct.pack(">BBH", 3, 0, 1000) + b"x" * 100)
    assert tpdus == [] and error == "TPKT frame too long"
    assert stream.feed(tpkt(b"\x02\xf0\x80C")) == ([b"\x02\xf0\x80C"], None)


class _Tlv(LengthFramed):
    """A toy protocol: 0xAA, then one length octet counting the whole message."""

    __slots__ = ()
    protocol = "toy"
    header_size = 2
    cut_short = "toy message cut short"

    def frame_size(self, data: bytes, pos: int, from_client: bool) -> int | Record:
        if data[pos] != 0xAA or data[pos + 1] < 2:
            return Record("toy", "request", {}, malformed="bad header")
        return data[pos + 1]

    def message(self, data: bytes, pos: int, size: int, from_client: bool) -> Record:
        return Record("toy", "request", {"body": data[pos + 2 : pos + size]})


def test_length_framed_stream_keeps_a_partial_message_for_the_next_segment() -> None:
    d = _Tlv()
    assert d.feed(b"\xaa\x04AB\xaa\x05C", True)[0].fields == {"body": b"AB"}
    (rec,) = d.feed(b"DE", True)
    assert rec.fields == {"body": b"CDE"}
    assert d.feed(b"\xaa", False) == []  # directions are framed apart


def test_length_framed_datagram_cut_short_is_malformed_and_bad_header_stops_framing() -> None:
    d = _Tlv(datagrams=True)
    recs = d.feed(b"\xaa\x03X\xaa\x09", True)
    assert [r.malformed for r in recs] == [None, "toy message cut short"]
    recs = d.feed(b"\xaa\x03Y\x00\x03Z", True)
    assert [r.malformed for r in recs] == [None, "bad header"]


def test_a_gap_drops_what_was_held() -> None:
    d = _Tlv()
    d.feed(b"\xaa\x05AB", True)
    d.gap(True)
    assert [r.fields for r in d.feed(b"\xaa\x03Z", True)] == [{"body": b"Z"}]
