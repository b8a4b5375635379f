"""Wire-byte tables: each message class decodes the bytes and encodes them back unchanged."""

from __future__ import annotations

import pytest

from otwatch.protocols.modbus.messages import (
    Diagnostics,
    ExceptionResponse,
    Frame,
    MaskWriteRegister,
    Message,
    ModbusDecodeError,
    ReadDeviceIdRequest,
    ReadDeviceIdResponse,
    ReadFifoRequest,
    ReadFifoResponse,
    ReadRequest,
    ReadResponse,
    ReadWriteMultipleRequest,
    WriteMultipleRequest,
    WriteMultipleResponse,
    WriteSingle,
    decode_pdu,
)

# (pdu hex, is_request, expected message) — PDUs from the Modbus Application Protocol v1.1b3 examples.
TABLE: list[tuple[str, bool, Message]] = [
    ("01001300 13".replace(" ", ""), True, ReadRequest(1, 19, 19)),
    ("0103cd6b05", False, ReadResponse(1, bytes.fromhex("cd6b05"))),
    ("03006b0003", True, ReadRequest(3, 107, 3)),
    ("0306022b00000064", False, ReadResponse(3, bytes.fromhex("022b00000064"))),
    ("0500acff00", True, WriteSingle(5, 172, 0xFF00)),
    ("0600010003", True, WriteSingle(6, 1, 3)),
    ("0f0013000a02cd01", True, WriteMultipleRequest(15, 19, [1, 0, 1, 1, 0, 0, 1, 1, 1, 0])),
    ("0f0013000a", False, WriteMultipleResponse(15, 19, 10)),
    ("100001000204000a0102", True, WriteMultipleRequest(16, 1, [10, 258])),
    ("1600040012 0025".replace(" ", ""), True, MaskWriteRegister(4, 0x12, 0x25)),
    (
        "170003000600 0e0003 06 00ff00ff00ff".replace(" ", ""),
        True,
        ReadWriteMultipleRequest(3, 6, 14, [255] * 3),
    ),
    ("1804de", True, ReadFifoRequest(1246)),
    ("1800060002 01b8 1284".replace(" ", ""), False, ReadFifoResponse([440, 4740])),
    ("080000a537", True, Diagnostics(0, bytes.fromhex("a537"))),
    ("8302", False, ExceptionResponse(3, 2)),
    ("2b0e0100", True, ReadDeviceIdRequest(1, 0)),
    (
        "2b0e01830000 03 0003414243 0102 3031 0203 312e30".replace(" ", ""),
        False,
        ReadDeviceIdResponse(1, 0x83, False, 0, {0: b"ABC", 1: b"01", 2: b"1.0"}),
    ),
]


@pytest.mark.parametrize(("pdu_hex", "is_request", "expected"), TABLE)
def test_decode_and_encode_round_trip(pdu_hex: str, is_request: bool, expected: Message) -> None:
    pdu = bytes.fromhex(pdu_hex)
    assert decode_pdu(pdu, is_request) == expected
    assert expected.encode() == pdu


def test_bit_values_and_coil_logic() -> None:
    assert ReadResponse(1, bytes.fromhex("cd6b05")).bits(19) == [
        1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1
    ]  # fmt: skip
    assert WriteSingle(5, 172, 0xFF00).logical_value == 1
    assert WriteSingle(5, 172, 0).logical_value == 0


def test_frame_round_trip_and_rejects() -> None:
    wire = bytes.fromhex("0001 0000 0006 11 03006b0003".replace(" ", ""))
    frame = Frame.decode(wire)
    assert (frame.tid, frame.unit, frame.function, frame.pdu) == (1, 0x11, 3, bytes.fromhex("03006b0003"))
    assert frame.encode() == wire
    with pytest.raises(ModbusDecodeError):
        Frame.decode(bytes.fromhex("0001 0001 0006 11 03006b0003".replace(" ", "")))  # protocol id 1
    with pytest.raises(ModbusDecodeError):
        Frame.decode(wire[:-1])


@pytest.mark.parametrize(
    ("pdu_hex", "is_request"),
    [
        ("03006b", True),
        ("0308022b", False),
        ("2b0e01830000 02 0003414243".replace(" ", ""), False),
        ("83", False),
    ],
)
def test_truncated_pdus_raise_decode_error(pdu_hex: str, is_request: bool) -> None:
    with pytest.raises(ModbusDecodeError):
        decode_pdu(bytes.fromhex(pdu_hex), is_request)
