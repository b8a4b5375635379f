"""Hypothesis: random and mutated wire bytes never raise out of the new dissectors and detectors
(OPC UA, PROFINET DCP, DHCP, DNS/mDNS/LLMNR, HTTP, TLS, LLDP), nor out of the sensor's layer-2 hook."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.protocols import cdp, dhcp, dns, http, lldp, nbns, opcua, profinet_dcp, tls
from otwatch.protocols.base import ProtocolSpec
from otwatch.sensor.capture import synth
from otwatch.sensor.pipeline.sensor import Sensor
from tests.budget import examples
from tests.sensor.pipeline.test_fuzz import _mutate

SPECS: tuple[ProtocolSpec, ...] = (
    opcua.SPEC, profinet_dcp.SPEC, dhcp.SPEC, dns.SPEC, dns.SPEC_MDNS, dns.SPEC_LLMNR, http.SPEC, tls.SPEC,
    lldp.SPEC, cdp.SPEC, nbns.SPEC,
)  # fmt: skip
FAST = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _seeds() -> dict[str, list[bytes]]:
    """Well-formed payloads per protocol, to mutate (random bytes rarely get past the first check)."""
    hello = b"HELF" + (40).to_bytes(4, "little") + bytes(20) + (12).to_bytes(4, "little") + b"opc.tcp://x:"
    mac = synth.mac(1)
    return {
        "opcua": [
            hello,
            b"MSGF"
            + (40).to_bytes(4, "little")
            + bytes(8)
            + bytes.fromhex("01000000")
            + b"\x01\x00\x77\x02"
            + bytes(20),
        ],
        "profinet_dcp": [
            synth.dcp_identify_response(mac, mac, "io-1", "ET 200SP", 42, 1, 1, "10.0.0.1")[14:]
        ],
        "dhcp": [synth.dhcp_message(1, mac, 3, hostname="h", vendor_class="v", requested="10.0.0.2")],
        "dns": [synth.dns_query("a.b.local"), synth.dns_answer("a.b.local", ["10.0.0.1", "10.0.0.2"])],
        "mdns": [synth.dns_answer("plc.local", ["10.0.0.1"])],
        "llmnr": [synth.dns_answer("plc", ["10.0.0.1"])],
        "http": [synth.http_request("h"), synth.http_response("s")],
        "tls": [synth.tls_client_hello("a.example"), synth.tls_server_hello()],
        "lldp": [synth.lldp_frame(mac, "sw", "desc")[14:]],
        "cdp": [synth.cdp_frame(mac, "sw", "cisco X", "Cisco IOS, Version 1.2", "10.0.0.1")[14:]],
        "nbns": [
            synth.nbns_registration("HMI", "10.0.0.2"),
            synth.nbns_node_status([("HMI", 0, False)], mac),
        ],
    }


@FAST
@given(st.sampled_from(SPECS), st.lists(st.tuples(st.binary(max_size=300), st.booleans()), max_size=12))
def test_random_streams(spec: ProtocolSpec, chunks: list[tuple[bytes, bool]]) -> None:
    d = spec.dissector()
    for data, from_client in chunks:
        spec.detect(data)
        for record in d.feed(data, from_client):
            spec.identity_from(record)


@FAST
@given(
    st.sampled_from(SPECS),
    st.integers(0, 10),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(0, 60),
    st.integers(1, 64),
)
def test_mutated_payloads(
    spec: ProtocolSpec, index: int, edits: list[tuple[int, int]], cut: int, step: int
) -> None:
    seeds = _seeds()[spec.name]
    data = _mutate(seeds[index % len(seeds)], edits, cut)
    spec.detect(data)
    d = spec.dissector()
    for start in range(0, len(data), step):  # any segmentation
        for record in d.feed(data[start : start + step], bool(index & 1)):
            spec.identity_from(record)


@FAST
@given(
    st.sampled_from([0x88CC, 0x8892, 0]),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    st.integers(0, 60),
)
def test_layer2_hook_never_fails(ethertype: int, edits: list[tuple[int, int]], cut: int) -> None:
    mac = synth.mac(7)
    if ethertype == 0x88CC:
        frame = synth.lldp_frame(mac, "sw", "desc")
    elif ethertype == 0x8892:
        frame = synth.dcp_identify_response(mac, synth.mac(8), "io", "t", 42, 1, 1, "10.0.0.1")
    else:
        frame = synth.cdp_frame(mac, "sw", "cisco X", "Cisco IOS, Version 1.2", "10.0.0.1")
    sensor = Sensor()
    sensor.process(1.0, 1, frame[:14] + _mutate(frame[14:], edits, cut))
    assert sensor.errors == 0, sensor.last_error
