"""SNMP BER codec and passive dissection: tables of wire bytes, real pysnmp output, fuzzing."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols import snmp
from otwatch.protocols.snmp import codes
from otwatch.protocols.snmp.dissect import SnmpDissector
from otwatch.protocols.snmp.messages import SnmpMessage, VarBind, decode_message, decode_oid, encode_oid
from tests.budget import examples

# v1 GetRequest, community "public", request-id 1, sysDescr.0 (hand-assembled, as Wireshark shows it)
GET_V1 = bytes.fromhex(
    "3026" "020100" "0406" "7075626c6963" "a019" "020101" "020100" "020100"
    "300e" "300c" "06082b06010201010100" "0500"
)  # fmt: skip


# v2c Response: sysDescr, sysObjectID, TimeTicks, sysName, sysServices, a MAC and an IpAddress
def _response_v2c() -> bytes:
    return SnmpMessage(
        version=1,
        community="plant",
        pdu_type=codes.RESPONSE,
        request_id=0x1234,
        varbinds=[
            VarBind(codes.SYS_DESCR, "Hirschmann RS20", "OctetString"),
            VarBind(codes.SYS_OBJECT_ID, "1.3.6.1.4.1.248.14.10.24", "ObjectIdentifier"),
            VarBind(codes.SYS_UPTIME, 100, "TimeTicks"),
            VarBind(codes.SYS_NAME, "cell3-sw1", "OctetString"),
            VarBind(codes.SYS_SERVICES, 2, "Integer"),
            VarBind(codes.IF_PHYS_ADDRESS + ".1", "0x00800a112233", "OctetString"),
            VarBind("1.3.6.1.2.1.4.20.1.1.10.0.0.1", "10.0.0.1", "IpAddress"),
        ],
    ).encode()


# v1 Trap: enterprise 1.3.6.1.4.1.4329, agent 10.0.0.5, coldStart(0), specific 0, time 5, no varbinds
TRAP_V1 = bytes.fromhex(
    "3027" "020100" "0406" "7075626c6963"
    "a41a" "0607" "2b06010401a169" "4004" "0a000005" "020100" "020100" "430105" "3000"
)  # fmt: skip
# v3 noAuthNoPriv GetRequest from user "ops", context "", sysName.0
GET_V3 = bytes.fromhex(
    "3044" "020103"
    "300f" "020201f4" "020300ffe3" "040104" "020103"
    "0413" "3011" "0400" "020100" "020100" "04036f7073" "0400" "0400"
    "3019" "0400" "0400" "a013" "020107" "020100" "020100" "3008" "3006" "06022b06" "0500"
)  # fmt: skip


def test_encode_matches_hand_assembled_bytes() -> None:
    msg = SnmpMessage(
        version=0,
        community="public",
        pdu_type=codes.GET_REQUEST,
        request_id=1,
        varbinds=[VarBind(codes.SYS_DESCR)],
    )
    assert msg.encode() == GET_V1


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (GET_V1, {"version": "1", "community": "public", "pdu_type": "get_request", "request_id": 1,
                  "oids": [codes.SYS_DESCR], "values": {}}),
        (TRAP_V1, {"version": "1", "pdu_type": "trap", "enterprise": "1.3.6.1.4.1.4329",
                   "agent_addr": "10.0.0.5", "generic_trap": 0, "specific_trap": 0, "oids": []}),
        (GET_V3, {"version": "3", "user_name": "ops", "pdu_type": "get_request", "request_id": 7,
                  "oids": ["1.3.6"]}),
    ],
)  # fmt: skip
def test_dissect_table(wire: bytes, expected: dict[str, object]) -> None:
    [record] = SnmpDissector().feed(wire, from_client=True)
    assert record.malformed is None
    assert {k: record.fields.get(k) for k in expected} == expected
    assert snmp.detect(wire)


def test_response_values_and_identity() -> None:
    wire = _response_v2c()
    [record] = SnmpDissector().feed(wire, from_client=False)
    assert record.direction == "response"
    assert record.fields["version"] == "2c" and record.fields["error_status"] == "noError"
    values = record.fields["values"]
    assert values[codes.SYS_DESCR] == "Hirschmann RS20"
    assert values[codes.SYS_OBJECT_ID] == "1.3.6.1.4.1.248.14.10.24"
    assert values[codes.SYS_UPTIME] == 100
    assert values[codes.IF_PHYS_ADDRESS + ".1"] == "0x00800a112233"
    assert values["1.3.6.1.2.1.4.20.1.1.10.0.0.1"] == "10.0.0.1"
    ident = snmp.identity_from(record)
    assert ident is not None
    assert (ident.vendor, ident.name, str(ident.device_type)) == ("Hirschmann", "cell3-sw1", "Switch")
    assert ident.extra["sys_descr"] == "Hirschmann RS20"
    assert snmp.identity_from(SnmpDissector().feed(GET_V1, True)[0]) is None  # requests carry no facts


def test_bulk_request_fields() -> None:
    wire = SnmpMessage(
        version=1, community="c", pdu_type=codes.GET_BULK_REQUEST, request_id=9, error_status=0,
        error_index=16, varbinds=[VarBind(codes.IF_DESCR)],
    ).encode()  # fmt: skip
    fields = SnmpDissector().feed(wire, True)[0].fields
    assert (fields["pdu_type"], fields["non_repeaters"], fields["max_repetitions"]) == (
        "get_bulk_request",
        0,
        16,
    )


@pytest.mark.parametrize(
    "oid", ["1.3.6.1.2.1.1.1.0", "1.3.6.1.4.1.311.21.13", "2.999.3", "0.0", "1.3.6.1.4.1.4294967295"]
)
def test_oid_round_trip(oid: str) -> None:
    assert decode_oid(encode_oid(oid)) == oid


@pytest.mark.parametrize(
    "wire",
    [b"", b"\x30", GET_V1[:-1], GET_V1[:20], b"\x30\x03\x02\x01\x02", b"\x30\x80" + GET_V1[2:],
     b"\x30\x84\xff\xff\xff\xff", GET_V1.replace(b"\xa0", b"\xaf"), b"\x04\x03abc"],
)  # fmt: skip
def test_malformed_bytes_give_a_reason_not_an_exception(wire: bytes) -> None:
    msg, error = decode_message(wire)
    assert msg is None and error
    records = SnmpDissector().feed(wire, True)
    assert all(r.malformed for r in records)
    assert not snmp.detect(wire)


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=200))
def test_decoder_never_raises(data: bytes) -> None:
    decode_message(data)
    SnmpDissector().feed(data, from_client=False)


@settings(max_examples=examples(200), deadline=None)
@given(st.binary(min_size=1, max_size=len(GET_V3)), st.integers(min_value=0, max_value=len(GET_V3) - 1))
def test_mutated_messages_never_raise(noise: bytes, at: int) -> None:
    for base in (GET_V1, TRAP_V1, GET_V3):
        mutated = base[:at] + noise + base[at + len(noise) :]
        decode_message(mutated)


@pytest.mark.network
def test_decodes_what_pysnmp_really_sends() -> None:
    """Capture a GETBULK that pysnmp puts on the wire to a local socket and dissect it."""
    from pysnmp.hlapi.v3arch import asyncio as hl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.3.40", 0))
        sink.settimeout(5)
        port = sink.getsockname()[1]

        async def send() -> None:
            engine = hl.SnmpEngine()
            try:
                target = await hl.UdpTransportTarget.create(("127.0.3.40", port), timeout=0.2, retries=0)
                await hl.bulk_cmd(engine, hl.CommunityData("opsview"), target, hl.ContextData(), 0, 8,
                                  hl.ObjectType(hl.ObjectIdentity(codes.IF_DESCR)), lookupMib=False)  # fmt: skip
            finally:
                engine.close_dispatcher()

        asyncio.run(send())
        wire, _ = sink.recvfrom(2048)
    [record] = SnmpDissector().feed(wire, True)
    assert record.malformed is None
    assert record.fields["version"] == "2c" and record.fields["community"] == "opsview"
    assert record.fields["pdu_type"] == "get_bulk_request" and record.fields["max_repetitions"] == 8
    assert record.fields["oids"] == [codes.IF_DESCR]
