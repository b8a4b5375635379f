"""Schneider UMAS inside Modbus function 90: function names, operations, READ_ID identity, robustness,
and ordinary Modbus on the same connection dissected as before."""

from __future__ import annotations

import random
import struct

import pytest

from otwatch.protocols.base import Record
from otwatch.protocols.modbus import ModbusDissector, identity_from
from otwatch.protocols.operations import OPERATION_FIELD, Operation


def _mbap(tid: int, pdu: bytes, unit: int = 0) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def _umas(code: int, data: bytes = b"", session: int = 0) -> bytes:
    return bytes((0x5A, session, code)) + data


def _request(pdu: bytes, dissector: ModbusDissector | None = None, tid: int = 1) -> Record:
    (record,) = (dissector or ModbusDissector()).feed(_mbap(tid, pdu), True)
    return record


@pytest.mark.parametrize(
    ("code", "name", "operation"),
    [
        (0x01, "INIT_COMM", None),
        (0x02, "READ_ID", None),
        (0x03, "READ_PROJECT_INFO", None),
        (0x04, "READ_PLC_INFO", None),
        (0x10, "TAKE_PLC_RESERVATION", None),
        (0x11, "RELEASE_PLC_RESERVATION", None),
        (0x12, "KEEP_ALIVE", None),
        (0x20, "READ_MEMORY_BLOCK", None),
        (0x22, "READ_VARIABLES", None),
        (0x23, "WRITE_VARIABLES", Operation.PARAMETER_WRITE),
        (0x24, "READ_COILS_REGISTERS", None),
        (0x25, "WRITE_COILS_REGISTERS", Operation.PARAMETER_WRITE),
        (0x30, "INITIALIZE_UPLOAD", Operation.PROGRAM_UPLOAD),
        (0x31, "UPLOAD_BLOCK", Operation.PROGRAM_UPLOAD),
        (0x32, "END_STRATEGY_UPLOAD", Operation.PROGRAM_UPLOAD),
        (0x33, "INITIALIZE_DOWNLOAD", Operation.PROGRAM_DOWNLOAD),
        (0x34, "DOWNLOAD_BLOCK", Operation.PROGRAM_DOWNLOAD),
        (0x35, "END_STRATEGY_DOWNLOAD", Operation.PROGRAM_DOWNLOAD),
        (0x39, "READ_ETH_MASTER_DATA", None),
        (0x40, "START_PLC", Operation.CONTROLLER_START),
        (0x41, "STOP_PLC", Operation.CONTROLLER_STOP),
        (0x50, "MONITOR_PLC", None),
        (0x58, "CHECK_PLC", None),
        (0x70, "READ_IO_OBJECT", None),
        (0x71, "WRITE_IO_OBJECT", Operation.PARAMETER_WRITE),
        (0x73, "GET_STATUS_MODULE", None),
        (0x99, "unknown-0x99", None),
    ],
)
def test_umas_functions(code: int, name: str, operation: Operation | None) -> None:
    record = _request(_umas(code, b"\x00\x01", session=0x8F))
    assert record.malformed is None and record.direction == "request"
    assert record.fields["func_code"] == 90
    assert (record.fields["umas_code"], record.fields["umas_function"], record.fields["umas_session"]) == (
        code,
        name,
        0x8F,
    )
    assert record.fields.get(OPERATION_FIELD) == operation


def test_reservation_is_a_field() -> None:
    assert _request(_umas(0x10, b"\x00" * 4)).fields["umas_reservation"] == "take"
    assert _request(_umas(0x11)).fields["umas_reservation"] == "release"


def test_response_pairs_with_request_and_read_id_names_the_cpu() -> None:
    dissector = ModbusDissector()
    _request(_umas(0x02), dissector, tid=7)
    model = b"BMX P34 2000"
    body = bytes(22) + bytes((len(model),)) + model + b"\x00" * 4
    (answer,) = dissector.feed(_mbap(7, bytes((0x5A, 0x00, 0xFE)) + body), False)
    assert answer.direction == "response" and answer.malformed is None
    assert (answer.fields["umas_status"], answer.fields["umas_function"]) == ("OK", "READ_ID")
    assert answer.fields["umas_cpu_model"] == "BMX P34 2000"
    identity = identity_from(answer)
    assert identity is not None and (identity.vendor, identity.model) == (
        "Schneider Electric",
        "BMX P34 2000",
    )
    _request(_umas(0x41), dissector, tid=8)
    (error,) = dissector.feed(_mbap(8, bytes((0x5A, 0x00, 0xFD, 0x81))), False)
    assert (error.fields["umas_status"], error.fields["umas_function"]) == ("ERROR", "STOP_PLC")
    assert OPERATION_FIELD not in error.fields  # answers carry no operation


def test_ordinary_modbus_on_the_same_connection_is_unchanged() -> None:
    dissector = ModbusDissector()
    _request(_umas(0x12), dissector, tid=1)
    (read,) = dissector.feed(_mbap(2, b"\x03\x00\x64\x00\x02", unit=1), True)
    assert (read.fields["func"], read.fields["address"], read.fields["quantity"]) == (
        "READ_HOLDING_REGISTERS",
        100,
        2,
    )
    assert "umas_code" not in read.fields


def test_short_and_random_umas_never_raise() -> None:
    rng = random.Random(90)
    for size in range(0, 4):
        record = _request(bytes((0x5A,)) + bytes(size))
        assert isinstance(record, Record)
    dissector = ModbusDissector()
    for tid in range(400):
        pdu = bytes((0x5A,)) + rng.randbytes(rng.randrange(0, 40))
        for record in dissector.feed(_mbap(tid, pdu), bool(tid & 1)):
            assert isinstance(record, Record)
