"""EtherNet/IP wire bytes: encode/decode tables, and fuzzing that the dissector and decoders never raise."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols.enip import codes, detect
from otwatch.protocols.enip.dissect import EnipDissector
from otwatch.protocols.enip.messages import (
    DECODE_ERRORS,
    CipRequest,
    CipResponse,
    Encapsulation,
    IdentityInfo,
    Path,
    SendRRData,
    decode_cpf,
    list_identity_request,
    register_session_request,
    split_multiple_service,
    unconnected_request,
)
from tests.budget import examples

IDENTITY = IdentityInfo(1, 12, 58, 4, 3, 0x0030, 0x00524D8E, "1756-ENBT/A", 3, 1, "10.1.1.164", 44818)
TABLE = [
    (Encapsulation(codes.CMD_LIST_IDENTITY), bytes.fromhex("6300" + "0000" + "00" * 20)),
    (CipRequest(0x01, Path(1, 1)), bytes.fromhex("010220012401")),
    (CipRequest(0x0E, Path(0x01, 1, 7)), bytes.fromhex("0e03200124013007")),
    (CipRequest(0x4C, Path(0x300, 2)), bytes.fromhex("4c032100000324 02".replace(" ", ""))),
    (CipResponse(0x01, 0, [], b"\x01\x00"), bytes.fromhex("810000000100")),
    (CipResponse(0x54, 0x01, [0x0100]), bytes.fromhex("d40001010001")),
]


@pytest.mark.parametrize(("message", "wire"), TABLE, ids=lambda v: type(v).__name__)
def test_encode_decode_round_trip(message: object, wire: bytes) -> None:
    assert message.encode() == wire  # type: ignore[attr-defined]
    assert type(message).decode(wire) == message  # type: ignore[attr-defined]


def test_agent_requests_are_exactly_these_bytes() -> None:
    assert list_identity_request() == bytes.fromhex(
        "6300000000000000000000000000000000000000000000 00".replace(" ", "")
    )
    assert register_session_request() == bytes.fromhex("65000400" + "00" * 20 + "01000000")
    sent = unconnected_request(0x11223344, CipRequest(codes.SVC_GET_ATTRIBUTES_ALL, Path(1, 1)))
    assert (
        sent.hex()
        == (
            "6f001600"
            "44332211"
            "00000000" + "00" * 8 + "00000000"  # header: Send RR Data, session
            "00000000"
            "0000"
            "0200"
            "00000000"
            "b2000600"
            "010220012401"  # CPF: null address, unconnected
        )
    )
    body = SendRRData.decode(Encapsulation.decode(sent).data)
    assert CipRequest.decode(body.items[1].data).service == codes.SVC_GET_ATTRIBUTES_ALL


def test_list_identity_item_round_trip() -> None:
    item = decode_cpf(b"\x01\x00" + IDENTITY.encode_list_identity_item())[0]
    assert IdentityInfo.decode_list_identity_item(item.data) == IDENTITY
    attrs = IDENTITY.encode_attributes()
    assert IdentityInfo.decode_attributes(attrs).product_name == "1756-ENBT/A"


def test_multiple_service_packet_split() -> None:
    inner = [CipRequest(0x0E, Path(1, 1, 1)).encode(), CipRequest(0x0E, Path(1, 1, 7)).encode()]
    data = b"\x02\x00\x06\x00" + (6 + len(inner[0])).to_bytes(2, "little") + b"".join(inner)
    assert split_multiple_service(data) == inner


def test_detect() -> None:
    assert detect(list_identity_request())
    assert not detect(b"\x00" * 24)  # NOP is too weak a signal
    assert not detect(b"HTTP/1.1 200 OK\r\n\r\n....")


SAMPLES = [
    list_identity_request(),
    unconnected_request(
        1, CipRequest(0x0A, Path(2, 1), b"\x01\x00\x04\x00" + CipRequest(1, Path(1, 1)).encode())
    ),
    Encapsulation(codes.CMD_LIST_IDENTITY, b"\x01\x00" + IDENTITY.encode_list_identity_item()).encode(),
]


@settings(max_examples=examples(300), deadline=None)
@given(chunks=st.lists(st.binary(max_size=80), max_size=6), datagrams=st.booleans())
def test_dissector_never_raises_on_random_bytes(chunks: list[bytes], datagrams: bool) -> None:
    dissector = EnipDissector(datagrams=datagrams)
    for chunk in chunks:
        dissector.feed(chunk, True)


@settings(max_examples=examples(500), deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    flips=st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 120),
    datagrams=st.booleans(),
)
def test_dissector_never_raises_on_mutated_messages(
    sample: bytes, flips: list[tuple[int, int]], cut: int, datagrams: bool
) -> None:
    data = bytearray(sample)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    dissector = EnipDissector(datagrams=datagrams)
    dissector.feed(bytes(data[:cut]), True)
    dissector.feed(bytes(data[cut:]), False)


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=100))
def test_decoders_raise_only_decode_errors(data: bytes) -> None:
    decoders = (
        Encapsulation.decode,
        CipRequest.decode,
        CipResponse.decode,
        Path.decode,
        SendRRData.decode,
        decode_cpf,
        split_multiple_service,
        IdentityInfo.decode_attributes,
        IdentityInfo.decode_list_identity_item,
    )
    for decode in decoders:
        with contextlib.suppress(*DECODE_ERRORS):
            decode(data)


def test_path_skips_port_segments_before_the_logical_address() -> None:
    # backplane port 1, slot 0 (Unconnected Send route), then class 0x6B instance 1; and a 4-byte IP link
    assert Path.decode(bytes.fromhex("0100206b2401")) == Path(0x6B, 1)
    assert Path.decode(bytes.fromhex("1204c0a80001206b2401")) == Path(0x6B, 1)
    assert Path.decode(bytes.fromhex("91054d79546167002001")) == Path(1, symbol="MyTag")
