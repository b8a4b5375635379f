"""BACnet/IP wire bytes: encode/decode tables, and fuzzing that the dissector and decoders never raise."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols.bacnet import codes, detect
from otwatch.protocols.bacnet.dissect import BacnetDissector, dissect_datagram
from otwatch.protocols.bacnet.messages import (
    DECODE_ERRORS,
    Apdu,
    BacnetError,
    Bvlc,
    IAm,
    Npdu,
    ReadProperty,
    ReadPropertyAck,
    WhoIs,
    encode_character_string,
    read_tag,
)
from tests.budget import examples

TABLE = [
    (WhoIs(), b""),
    (WhoIs(108, 108), bytes.fromhex("096c196c")),
    (IAm(599, 1024, 0, 999), bytes.fromhex("c4020002572204009100" + "2203e7")),
    (ReadProperty(codes.OBJECT_DEVICE, 599, codes.PROP_MODEL_NAME), bytes.fromhex("0c020002571946")),
    (ReadProperty(0, 1, 85, 3), bytes.fromhex("0c00000001195529 03".replace(" ", ""))),
    (BacnetError(5, 26), bytes.fromhex("9105911a")),
    (Apdu(codes.PDU_UNCONFIRMED_REQUEST, codes.SVC_WHO_IS), bytes.fromhex("1008")),
    (Apdu(codes.PDU_CONFIRMED_REQUEST, 12, 7, b"\x0c"), bytes.fromhex("0005070c0c")),
    (Apdu(codes.PDU_SIMPLE_ACK, 15, 3), bytes.fromhex("20030f")),
    (Apdu(codes.PDU_REJECT, invoke_id=1, reason=9), bytes.fromhex("600109")),
    (Npdu(b"\x10\x08"), bytes.fromhex("01001008")),
    (
        Npdu(b"", dnet=5, dadr=b"\x0a", hop_count=255, network_message=0),
        bytes.fromhex("01a0000501 0aff00".replace(" ", "")),
    ),
    (Bvlc(codes.BVLC_ORIGINAL_UNICAST, b"\x01\x00\x10\x08"), bytes.fromhex("810a000801001008")),
]


@pytest.mark.parametrize(("message", "wire"), TABLE, ids=lambda v: type(v).__name__)
def test_encode_decode_round_trip(message: object, wire: bytes) -> None:
    assert message.encode() == wire  # type: ignore[attr-defined]
    assert type(message).decode(wire) == message  # type: ignore[attr-defined]


def test_read_property_ack_values() -> None:
    ack = ReadPropertyAck(
        codes.OBJECT_DEVICE, 599, codes.PROP_OBJECT_NAME, raw_value=encode_character_string("AHU-1")
    )
    wire = ack.encode()
    assert wire.hex() == "0c02000257194d" + "3e" + "75060041485 52d31".replace(" ", "") + "3f"
    decoded = ReadPropertyAck.decode(wire)
    assert (decoded.values, decoded.raw_value) == (["AHU-1"], ack.raw_value)


def test_i_am_datagram_fields() -> None:
    wire = Bvlc(
        codes.BVLC_ORIGINAL_BROADCAST,
        Npdu(Apdu(1, 0, payload=IAm(721, 480, 3, 15).encode()).encode()).encode(),
    )
    record = dissect_datagram(wire.encode())
    assert record.malformed is None
    assert {
        k: record.fields[k] for k in ("pdu_service", "device_id_number", "max_apdu", "segmentation", "vendor")
    } == {
        "pdu_service": "i_am",
        "device_id_number": 721,
        "max_apdu": 480,
        "segmentation": "no-segmentation",
        "vendor": "Cornell University",
    }


def test_extended_tag_lengths() -> None:
    long_name = encode_character_string("x" * 300)
    tag = read_tag(long_name, 0)
    assert (tag.number, tag.lvt, tag.start) == (codes.TAG_CHARACTER_STRING, 301, 4)


def test_detect() -> None:
    assert detect(bytes.fromhex("810b000c0120ffff00ff1008"))
    assert not detect(bytes.fromhex("810a0008020010 08".replace(" ", "")))  # NPDU version 2
    assert not detect(b"\x45\x00\x00\x1c")


SAMPLES = [
    bytes.fromhex("810b000c0120ffff00ff1008"),
    Bvlc(
        10,
        Npdu(
            Apdu(
                3, 12, 1, ReadPropertyAck(8, 1, 77, raw_value=encode_character_string("a")).encode()
            ).encode()
        ).encode(),
    ).encode(),
    Bvlc(10, Npdu(Apdu(1, 0, payload=IAm(1, 1476, 0, 8).encode()).encode()).encode()).encode(),
    Bvlc(10, Npdu(Apdu(5, 12, 3, BacnetError(2, 32).encode()).encode()).encode()).encode(),
]


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=120))
def test_dissector_never_raises_on_random_bytes(data: bytes) -> None:
    BacnetDissector().feed(data, True)
    BacnetDissector().feed(b"\x81\x0a" + data, True)


@settings(max_examples=examples(500), deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    flips=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), max_size=6),
)
def test_dissector_never_raises_on_mutated_datagrams(sample: bytes, flips: list[tuple[int, int]]) -> None:
    data = bytearray(sample)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    BacnetDissector().feed(bytes(data), False)


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=80))
def test_decoders_raise_only_decode_errors(data: bytes) -> None:
    for decode in (
        Bvlc.decode,
        Npdu.decode,
        Apdu.decode,
        WhoIs.decode,
        IAm.decode,
        ReadProperty.decode,
        ReadPropertyAck.decode,
        BacnetError.decode,
    ):
        with contextlib.suppress(*DECODE_ERRORS):
            decode(data)
