"""Hypothesis: random and mutated wire bytes never raise out of the reader, decoder, flow table,
detectors or dissectors (a sensor on a hostile network must not crash on one bad packet)."""

from __future__ import annotations

import contextlib
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.protocols import dnp3, iec104, modbus
from otwatch.protocols.base import ProtocolSpec
from otwatch.sensor.capture.decode import decode
from otwatch.sensor.capture.pcapfile import CaptureReader, PcapError
from otwatch.sensor.tracking.flows import FlowTable
from tests.budget import examples
from tests.sensor.replay import CAPTURES

SPECS: tuple[ProtocolSpec, ...] = (modbus.SPEC, dnp3.SPEC, dnp3.SPEC_UDP, iec104.SPEC)
LINKTYPES = (0, 1, 12, 101, 108, 113, 228, 229, 276)
FAST = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _real(name: str) -> bytes:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"public capture {path} is absent")
    return path.read_bytes()


@cache
def _frames() -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    for name in (
        "icsnpp-modbus/testing/traces/modbus_example.pcap",
        "iti/dnp3__select_operate_and_responses.pcap",
        "iti/IEC60870-5-104__TestDissectIec104.pcap",
    ):
        frames += [(p.linktype, p.data) for p in CaptureReader(_real(name))]
    return frames


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        if out:
            out[pos % len(out)] = value
    return bytes(out[: max(0, len(out) - cut)])


@FAST
@given(st.binary(max_size=512))
def test_reader_on_random_bytes(data: bytes) -> None:
    for prefix in (b"", b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a"):
        with contextlib.suppress(PcapError):
            list(CaptureReader(prefix + data))


@FAST
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8), st.integers(0, 4000))
def test_reader_on_mutated_captures(edits: list[tuple[int, int]], cut: int) -> None:
    for name in ("icsnpp-modbus/testing/traces/modbus_example.pcap", "iti/hart__hart_ip.pcap"):
        data = _mutate(_real(name), [(24 + p, v) for p, v in edits], cut)
        try:
            reader = CaptureReader(data)
            list(reader)
        except PcapError:
            pass


@FAST
@given(st.sampled_from(LINKTYPES), st.binary(max_size=200))
def test_decode_random_frames(linktype: int, data: bytes) -> None:
    decode(linktype, data)
    FlowTable(SPECS).process(0.0, linktype, data)


@FAST
@given(st.integers(0, 10**4), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
       st.integers(0, 60))  # fmt: skip
def test_decode_and_flows_on_mutated_real_frames(index: int, edits: list[tuple[int, int]], cut: int) -> None:
    frames = _frames()
    table = FlowTable(SPECS)
    for linktype, data in frames[index % len(frames) : index % len(frames) + 20]:
        mutated = _mutate(data, edits, cut)
        decode(linktype, mutated)
        table.process(0.0, linktype, mutated)


@FAST
@given(st.sampled_from(SPECS), st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=12))
def test_dissectors_and_detectors_on_random_streams(
    spec: ProtocolSpec, chunks: list[tuple[bytes, bool]]
) -> None:
    dissector = spec.dissector()
    for data, from_client in chunks:
        spec.detect(data)
        for record in dissector.feed(data, from_client):
            spec.identity_from(record)


@FAST
@given(st.sampled_from(SPECS), st.integers(0, 10**4), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)),
       max_size=4), st.integers(1, 40))  # fmt: skip
def test_dissectors_on_mutated_real_payloads(
    spec: ProtocolSpec, start: int, edits: list[tuple[int, int]], step: int
) -> None:
    frames = _frames()
    dissector = spec.dissector()
    for linktype, data in frames[start % len(frames) : start % len(frames) + 30]:
        pkt = decode(linktype, data)
        if pkt is None or not pkt.payload:
            continue
        payload = _mutate(bytes(pkt.payload), edits, 0)
        for i in range(0, len(payload), step):
            for record in dissector.feed(payload[i : i + step], pkt.dst_port == spec.ports[0]):
                spec.identity_from(record)
