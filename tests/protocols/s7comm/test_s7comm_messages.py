"""S7comm wire bytes: encode/decode tables, and fuzzing that the dissector and decoders never raise."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols.s7comm import codes, detect
from otwatch.protocols.s7comm.dissect import S7commDissector
from otwatch.protocols.s7comm.messages import (
    DECODE_ERRORS,
    CotpConnect,
    CotpData,
    S7Pdu,
    SetupCommunication,
    SzlRequest,
    SzlResponse,
    UserDataParam,
    VarItem,
    VarRequest,
    tpkt_frame,
)
from tests.budget import examples

# (message, its wire bytes): what python-snap7 and real PG/PC software put on the wire.
TABLE = [
    (
        CotpConnect(called_tsap=CotpConnect.tsap_for(0, 2)),
        bytes.fromhex("11e00000000100c0010ac1020100c2020102"),
    ),
    (CotpData(b"\x32"), bytes.fromhex("02f08032")),
    (SetupCommunication(1, 1, 480), bytes.fromhex("f0000001000101e0")),
    (VarItem(codes.AREA_DB, 1, 2, 4), bytes.fromhex("120a10020004000184000010")),
    (
        VarRequest(codes.FUNC_READ_VAR, [VarItem(0x83, 0, 16, 1, 0x08)]),
        bytes.fromhex("0401120a100800010000830000 80".replace(" ", "")),
    ),
    (UserDataParam(0x44, 0x01, 0), bytes.fromhex("0001120411440100")),
    (
        UserDataParam(0x84, 0x01, 2, 0x12, 0xD5, 0, 0),
        bytes.fromhex("000112081284010 2d5000000".replace(" ", "")),
    ),
    (
        S7Pdu(codes.ROSCTR_ACK_DATA, 0x0100, b"\xf0", b"", 0, 0),
        bytes.fromhex("320300000100000100000000f0"),
    ),
]


@pytest.mark.parametrize(("message", "wire"), TABLE, ids=lambda v: type(v).__name__)
def test_encode_decode_round_trip(message: object, wire: bytes) -> None:
    assert message.encode() == wire  # type: ignore[attr-defined]
    assert type(message).decode(wire) == message  # type: ignore[attr-defined]


def test_szl_request_is_the_snap7_wire_form() -> None:
    pdu = SzlRequest(codes.SZL_CPU_MODE).encode_pdu(5)
    assert pdu == bytes.fromhex("3207000000050008000800011204114401 00ff09000404240000".replace(" ", ""))
    assert SzlRequest.decode(S7Pdu.decode(pdu).data[4:]) == SzlRequest(codes.SZL_CPU_MODE)


def test_szl_response_round_trip_and_identity_fields() -> None:
    order = (b"\x00\x01" + b"6ES7 315-2EH14-0AB0 ".ljust(20) + b"\x00\xc0\x00\x03\x00\x01").ljust(28, b"\x00")
    firmware = b"\x00\x07" + b" " * 20 + b"\x00\xc0\x56\x03\x02\x07"
    szl = SzlResponse(codes.SZL_MODULE_ID, 0, [order, firmware], 28)
    decoded = SzlResponse.decode(szl.encode())
    assert decoded == szl
    assert decoded.module_identification() == {
        "order_number": "6ES7 315-2EH14-0AB0",
        "module_version": "V3.0.1",
        "firmware": "V3.2.7",
    }
    mode = SzlResponse(codes.SZL_CPU_MODE, 0, [bytes.fromhex("5144ff04") + bytes(16)], 20)
    assert SzlResponse.decode(mode.encode()).cpu_mode() == "Stop"


def test_dissector_reassembles_tpkt_split_anywhere() -> None:
    pdu = S7Pdu(codes.ROSCTR_JOB, 7, SetupCommunication().encode()).encode()
    stream = tpkt_frame(CotpData(pdu).encode()) * 2
    for cut in range(1, len(stream)):
        dissector = S7commDissector()
        records = dissector.feed(stream[:cut], True) + dissector.feed(stream[cut:], True)
        assert [r.fields["function_name"] for r in records] == ["Setup Communication"] * 2
        assert all(r.malformed is None for r in records)


def test_detect() -> None:
    assert detect(tpkt_frame(CotpConnect().encode()))
    assert detect(tpkt_frame(CotpData(S7Pdu(1, 1).encode()).encode()))
    assert not detect(b"GET / HTTP/1.1\r\n\r\n")


SAMPLES = [
    tpkt_frame(CotpConnect().encode()),
    tpkt_frame(CotpData(SzlRequest(0x11).encode_pdu(1)).encode()),
    tpkt_frame(
        CotpData(
            VarRequest(4, [VarItem(0x84, 1, 0, 4)])
            .encode()
            .join((b"\x32\x01\x00\x00\x00\x01\x00\x0e\x00\x00", b""))
        ).encode()
    ),
]


@settings(max_examples=examples(300), deadline=None)
@given(chunks=st.lists(st.binary(max_size=80), max_size=6), from_client=st.booleans())
def test_dissector_never_raises_on_random_bytes(chunks: list[bytes], from_client: bool) -> None:
    dissector = S7commDissector()
    for chunk in chunks:
        dissector.feed(chunk, from_client)


@settings(max_examples=examples(500), deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 200),
)
def test_dissector_never_raises_on_mutated_frames(
    sample: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(sample)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    dissector = S7commDissector()
    dissector.feed(bytes(data[:cut]), True)
    dissector.feed(bytes(data[cut:]), False)


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=120))
def test_decoders_raise_only_decode_errors(data: bytes) -> None:
    for decode in (
        CotpConnect.decode,
        CotpData.decode,
        S7Pdu.decode,
        SetupCommunication.decode,
        VarRequest.decode,
        UserDataParam.decode,
        SzlResponse.decode,
    ):
        with contextlib.suppress(*DECODE_ERRORS):
            decode(data)
