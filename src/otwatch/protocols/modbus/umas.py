"""Schneider Electric UMAS: the engineering protocol of Modicon M340/M580 (Unity/EcoStruxure Control
Expert), carried in Modbus function 90 (0x5A) on the same TCP 502 connection as ordinary Modbus.

A request PDU is ``0x5A, session key (the reservation's pairing byte), UMAS function code, data``; the
answer is ``0x5A, session key, 0xFE (OK) or 0xFD (error), data``. Function codes and their meaning
follow the public analyses of the protocol (Digital Bond's modicon-info, Kaspersky ICS CERT's and
Armis' UMAS write-ups). Program transfer, start/stop and writes are tagged with their operation; the
reservation (0x10) that precedes programming is a field, each change that follows it is reported on
its own. Wire bytes never raise.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.protocols.operations import Operation, tag

FUNCTION: Final = 0x5A
RESPONSE_OK: Final = 0xFE
RESPONSE_ERROR: Final = 0xFD
READ_ID: Final = 0x02
TAKE_RESERVATION: Final = 0x10
RELEASE_RESERVATION: Final = 0x11

FUNCTION_NAMES: Final[dict[int, str]] = {
    0x01: "INIT_COMM",
    READ_ID: "READ_ID",
    0x03: "READ_PROJECT_INFO",
    0x04: "READ_PLC_INFO",
    0x06: "READ_CARD_INFO",
    0x0A: "REPEAT",
    TAKE_RESERVATION: "TAKE_PLC_RESERVATION",
    RELEASE_RESERVATION: "RELEASE_PLC_RESERVATION",
    0x12: "KEEP_ALIVE",
    0x20: "READ_MEMORY_BLOCK",
    0x22: "READ_VARIABLES",
    0x23: "WRITE_VARIABLES",
    0x24: "READ_COILS_REGISTERS",
    0x25: "WRITE_COILS_REGISTERS",
    0x30: "INITIALIZE_UPLOAD",
    0x31: "UPLOAD_BLOCK",
    0x32: "END_STRATEGY_UPLOAD",
    0x33: "INITIALIZE_DOWNLOAD",
    0x34: "DOWNLOAD_BLOCK",
    0x35: "END_STRATEGY_DOWNLOAD",
    0x39: "READ_ETH_MASTER_DATA",
    0x40: "START_PLC",
    0x41: "STOP_PLC",
    0x50: "MONITOR_PLC",
    0x58: "CHECK_PLC",
    0x70: "READ_IO_OBJECT",
    0x71: "WRITE_IO_OBJECT",
    0x73: "GET_STATUS_MODULE",
    RESPONSE_OK: "OK",
    RESPONSE_ERROR: "ERROR",
}

OPERATIONS: Final[dict[int, tuple[Operation, str]]] = {
    0x30: (Operation.PROGRAM_UPLOAD, "the start of a program upload"),
    0x31: (Operation.PROGRAM_UPLOAD, "a program upload block"),
    0x32: (Operation.PROGRAM_UPLOAD, "the end of a program upload"),
    0x33: (Operation.PROGRAM_DOWNLOAD, "the start of a program download"),
    0x34: (Operation.PROGRAM_DOWNLOAD, "a program download block"),
    0x35: (Operation.PROGRAM_DOWNLOAD, "the end of a program download"),
    0x40: (Operation.CONTROLLER_START, "a PLC start"),
    0x41: (Operation.CONTROLLER_STOP, "a PLC stop"),
    0x23: (Operation.PARAMETER_WRITE, "a write of PLC variables"),
    0x25: (Operation.PARAMETER_WRITE, "a write of PLC coils and registers"),
    0x71: (Operation.PARAMETER_WRITE, "a write of an I/O object"),
}

# READ_ID answer: the CPU model as a length-prefixed string at this PDU offset (modicon-info's reading).
_MODEL_AT: Final = 25


def function_name(code: int) -> str:
    return FUNCTION_NAMES.get(code, f"unknown-0x{code:02x}")


def request_fields(pdu: bytes, fields: dict[str, Any]) -> None:
    """Fields of a function-90 request, and its operation."""
    if len(pdu) < 3:
        fields["umas_malformed"] = True
        return
    code = pdu[2]
    fields["umas_session"] = pdu[1]
    fields["umas_code"] = code
    fields["umas_function"] = function_name(code)
    if code == TAKE_RESERVATION:
        fields["umas_reservation"] = "take"
    elif code == RELEASE_RESERVATION:
        fields["umas_reservation"] = "release"
    operation = OPERATIONS.get(code)
    if operation is not None:
        tag(fields, operation[0], f"a Schneider UMAS {fields['umas_function']} ({operation[1]})")


def response_fields(pdu: bytes, fields: dict[str, Any], request: dict[str, Any] | None) -> None:
    """Fields of a function-90 answer: its status, the request it answers, a READ_ID's CPU model."""
    if len(pdu) < 3:
        fields["umas_malformed"] = True
        return
    fields["umas_session"] = pdu[1]
    status = pdu[2]
    fields["umas_status"] = FUNCTION_NAMES.get(status, f"unknown-0x{status:02x}")
    if request is None or "umas_code" not in request:
        return
    fields["umas_code"] = request["umas_code"]
    fields["umas_function"] = request["umas_function"]
    if request["umas_code"] == READ_ID and status == RESPONSE_OK and len(pdu) > _MODEL_AT:
        size = pdu[_MODEL_AT]
        raw = pdu[_MODEL_AT + 1 : _MODEL_AT + 1 + size]
        if size and len(raw) == size and all(0x20 <= b < 0x7F for b in raw):
            fields["umas_cpu_model"] = raw.decode("ascii").strip()
