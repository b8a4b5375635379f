"""The dissector's in-place register reads (FC 3/4) give what the general decode path gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from otwatch.protocols.base import Record
from otwatch.protocols.modbus.dissect import (
    EXCEPTION_BIT,
    ModbusDissector,
    _request_fields,
    _response_fields,
    decode_pdu,
    function_name,
)
from otwatch.protocols.modbus.messages import ModbusDecodeError
from tests.budget import examples


def general(tid: int, unit: int, pdu: bytes, is_request: bool, request: dict[str, Any] | None) -> Record:
    """The general path, spelled out: decode_pdu and the *_fields helpers, request matching as feed does."""
    code = pdu[0]
    fields: dict[str, Any] = {
        "tid": tid,
        "unit": unit,
        "func": function_name(code),
        "func_code": code & ~EXCEPTION_BIT,
    }
    record = Record("modbus", "request" if is_request else "response", fields)
    try:
        msg = decode_pdu(pdu, is_request)
    except ModbusDecodeError as exc:
        record.malformed = str(exc)
        msg = None
    if is_request:
        _request_fields(fields, msg, pdu)
        return record
    if request is not None and request["func_code"] == fields["func_code"]:
        fields["matched"] = True
        for key in ("address", "quantity", "read_start_address", "read_quantity"):
            if key in request:
                fields.setdefault(key, request[key])
    _response_fields(fields, msg, pdu)
    return record


@settings(max_examples=examples(400))
@given(st.sampled_from([3, 4, 0x83, 16]), st.binary(max_size=12), st.binary(max_size=40), st.integers(0, 255))
def test_register_reads_match_the_general_path(
    code: int, request_body: bytes, response_body: bytes, unit: int
) -> None:
    dissector = ModbusDissector()
    request_pdu = bytes((code & 0x7F,)) + request_body
    response_pdu = bytes((code,)) + response_body
    got_request = dissector._message(7, unit, request_pdu, True)
    want_request = general(7, unit, request_pdu, True, None)
    assert got_request == want_request
    got_response = dissector._message(7, unit, response_pdu, False)
    assert got_response == general(7, unit, response_pdu, False, want_request.fields)
