"""A fixed fuzz budget for every registered dissector (protocols/registry.py), run in CI.

tests/sensor/test_fuzz.py covers the reader, decoder, flow table and four TCP dissectors with random
streams; this adds all nine dissectors, seeded with their own real traffic from the public captures
and then mutated (bytes replaced, inserted, cut, re-chunked), which reaches far deeper than random
bytes. ``feed``, ``detect`` and ``identity_from`` must never raise on wire bytes.

The budget comes from the Hypothesis profile (tests/conftest.py): "ci" (default) is derandomised,
so `make test` is repeatable; ``HYPOTHESIS_PROFILE=fuzz`` runs a long, random campaign.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.registry import PROTOCOLS
from otwatch.sensor.decode import decode
from otwatch.sensor.pcap import CaptureReader, PcapError
from tests.conftest import CAPTURES

IP_PROTO = {"tcp": 6, "udp": 17}
PER_SPEC = 200  # seed payloads kept per protocol
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _key(spec: ProtocolSpec) -> str:
    return f"{spec.name}/{spec.transport}"


@cache
def _seeds() -> dict[str, list[tuple[bytes, bool]]]:
    """(payload, from_client) of each protocol's packets in the public captures, by `_key`."""
    seeds: dict[str, list[tuple[bytes, bool]]] = {_key(s): [] for s in PROTOCOLS}
    for path in sorted(CAPTURES.rglob("*.pcap*")):
        try:
            packets = list(CaptureReader(path))
        except (PcapError, OSError):
            continue
        for p in packets:
            pkt = decode(p.linktype, p.data)
            if pkt is None or not pkt.payload:
                continue
            for spec in PROTOCOLS:
                if len(seeds[_key(spec)]) >= PER_SPEC or IP_PROTO.get(spec.transport) != pkt.proto:
                    continue
                if pkt.dst_port in spec.ports or pkt.src_port in spec.ports:
                    seeds[_key(spec)].append((bytes(pkt.payload), pkt.dst_port in spec.ports))
    return seeds


def _run(spec: ProtocolSpec, chunks: list[tuple[bytes, bool]]) -> None:
    dissector = spec.dissector()
    for data, from_client in chunks:
        spec.detect(data)
        for record in dissector.feed(data, from_client):
            spec.identity_from(record)


edits = st.lists(
    st.tuples(st.sampled_from(["set", "insert", "delete"]), st.integers(0, 4096), st.integers(0, 255)),
    max_size=6,
)


def _mutate(data: bytes, ops: list[tuple[str, int, int]], cut: int) -> bytes:
    out = bytearray(data)
    for op, pos, value in ops:
        i = pos % (len(out) + 1)
        if op == "insert":
            out[i:i] = bytes([value]) * (1 + value % 8)
        elif out and op == "set":
            out[i % len(out)] = value
        elif out:
            del out[i % len(out) : i % len(out) + 1 + value % 16]
    return bytes(out[: max(0, len(out) - cut)])


@pytest.mark.parametrize("spec", PROTOCOLS, ids=_key)
@FUZZ
@given(
    start=st.integers(0, PER_SPEC),
    ops=edits,
    cut=st.integers(0, 64),
    step=st.integers(1, 64),
    which=st.integers(0, 7),
)
def test_mutated_real_traffic(spec: ProtocolSpec, start: int, ops: list[tuple[str, int, int]], cut: int,
                              step: int, which: int) -> None:  # fmt: skip
    seeds = _seeds()[_key(spec)]
    if not seeds:
        pytest.skip(f"no {spec.name} traffic in the public captures")
    window = seeds[start % len(seeds) : start % len(seeds) + 12]
    chunks: list[tuple[bytes, bool]] = []
    for n, (payload, from_client) in enumerate(window):
        data = _mutate(payload, ops, cut) if n % 8 == which else payload  # one mutated message of a few
        chunks += [(data[i : i + step], from_client) for i in range(0, len(data), step)] or [
            (b"", from_client)
        ]
    _run(spec, chunks)


@pytest.mark.parametrize("spec", PROTOCOLS, ids=_key)
@FUZZ
@given(chunks=st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=12))
def test_random_streams(spec: ProtocolSpec, chunks: list[tuple[bytes, bool]]) -> None:
    _run(spec, chunks)


def test_the_ics_dissectors_have_seed_traffic() -> None:
    """The mutation test is only as good as its seeds (the others get random streams only)."""
    seeds = _seeds()
    ics = ["modbus/tcp", "dnp3/tcp", "iec104/tcp", "s7comm/tcp", "enip/tcp", "enip/udp", "bacnet/udp"]
    assert [k for k in ics if not seeds.get(k)] == []


#: inputs the fuzzing above once found to raise, kept as fixed regressions
FOUND = [
    ("s7comm", b"\x03\x00W x\xfb}\xbb"),  # COTP length byte pointing past the payload (IndexError)
]


@pytest.mark.parametrize(("name", "payload"), FOUND)
def test_inputs_fuzzing_found(name: str, payload: bytes) -> None:
    for spec in PROTOCOLS:
        if spec.name == name:
            _run(spec, [(payload, True), (payload, False)])
