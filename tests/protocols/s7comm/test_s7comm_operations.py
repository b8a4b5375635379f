"""S7 engineering operations: password, copy RAM to ROM, stop/start, block download/upload/delete, clock.

The public step 7 / TIA captures of ``ot-ops`` and ICSNPP's snap7 trace, each checked against tshark's
reading of the same function, group, sub-function and PI service; the LED flash is no operation.
"""

from __future__ import annotations

import struct

import pytest

from otwatch.protocols.base import Record
from otwatch.protocols.operations import OPERATION_ALERT_FIELD, OPERATION_FIELD, Operation
from otwatch.protocols.s7comm import S7commDissector
from tests.sensor.replay import capture, replay, tshark_fields

OPS = "ot-ops"


def _s7_records(relative: str) -> list[tuple[int, Record]]:
    return [(r.frame, r.record) for r in replay(capture(relative)) if r.record.protocol == "s7comm"]


def _ops(relative: str) -> set[Operation]:
    return {
        Operation(r.fields[OPERATION_FIELD]) for _, r in _s7_records(relative) if OPERATION_FIELD in r.fields
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("s7__step7_s300_AuthPassword.pcapng", {Operation.AUTHENTICATION}),
        ("s7__step7_s300_copyRamToRom.pcapng", {Operation.PROGRAM_TO_ROM}),
        ("s7__tia_s300_flashLed.pcapng", set()),
        ("s7__S7-1511-opc-request-all-types.pcap", set()),
    ],
)
def test_ot_ops_captures(name: str, expected: set[Operation]) -> None:
    records = _s7_records(f"{OPS}/{name}")
    assert not [r.malformed for _, r in records if r.malformed]
    assert _ops(f"{OPS}/{name}") == expected


def test_flash_led_is_recognised_but_no_operation() -> None:
    records = [r for _, r in _s7_records(f"{OPS}/s7__tia_s300_flashLed.pcapng") if r.direction == "request"]
    assert records and all(r.fields.get("flash_led") for r in records)
    assert all(r.fields["subfunction_name"] == "Flash LED" for r in records)


def test_snap7_trace_operations() -> None:
    """ICSNPP's snap7 client trace: uploads, a clock set, a stop, copy RAM to ROM and a hot start."""
    records = _s7_records("icsnpp-s7comm/tests/traces/snap7.pcap")
    assert _ops("icsnpp-s7comm/tests/traces/snap7.pcap") == {
        Operation.PROGRAM_UPLOAD,
        Operation.CLOCK_SET,
        Operation.CONTROLLER_STOP,
        Operation.PROGRAM_TO_ROM,
        Operation.CONTROLLER_START,
    }
    (stop,) = [r for _, r in records if r.fields.get(OPERATION_FIELD) == Operation.CONTROLLER_STOP]
    assert stop.fields[OPERATION_ALERT_FIELD] == "S7_STOP"  # the long-standing specific alert


@pytest.mark.parametrize(
    "relative",
    [
        f"{OPS}/s7__step7_s300_AuthPassword.pcapng",
        f"{OPS}/s7__step7_s300_copyRamToRom.pcapng",
        f"{OPS}/s7__tia_s300_flashLed.pcapng",
        "icsnpp-s7comm/tests/traces/snap7.pcap",
    ],
)
def test_requests_agree_with_tshark(relative: str) -> None:
    """The multiset of job functions, user-data group/sub-function pairs and PI services of requests."""
    path = capture(relative)
    rows = tshark_fields(
        path,
        "s7comm.header.rosctr == 1 || (s7comm.header.rosctr == 7 && s7comm.param.userdata.type == 4)",
        [
            "s7comm.param.func",
            "s7comm.param.userdata.funcgroup",
            "s7comm.param.userdata.subfunc",
            "s7comm.param.pistart.servicename",
        ],
    )
    theirs = sorted(
        str(
            (
                int(func, 16) if func else None,
                int(group) if group else None,
                int(sub) if sub else None,
                pi or None,
            )
        )
        for _, func, group, sub, pi in rows
    )
    ours: list[tuple[int | None, int | None, int | None, str | None]] = []
    for _, r in _s7_records(relative):
        f = r.fields
        if r.direction != "request" or f.get("pdu") != "s7comm":
            continue
        if f["rosctr_code"] == 7:
            ours.append((None, int(f["function_code"], 16) & 0x0F, int(f["subfunction_code"], 16), None))
        else:
            ours.append(
                (
                    int(f["function_code"], 16),
                    None,
                    None,
                    f.get("pi_service"),
                )
            )
    assert ours and sorted(str(x) for x in ours) == theirs


# --- crafted jobs ---------------------------------------------------------------------------------


def _tpkt(s7: bytes) -> bytes:
    cotp = b"\x02\xf0\x80"
    return struct.pack(">BBH", 3, 0, 4 + len(cotp) + len(s7)) + cotp + s7


def _job(param: bytes, data: bytes = b"") -> bytes:
    return _tpkt(struct.pack(">BBHHHH", 0x32, 1, 0, 7, len(param), len(data)) + param + data)


def _pi(service: bytes, block: bytes = b"") -> bytes:
    return b"\x28" + bytes(7) + struct.pack(">H", len(block)) + block + bytes((len(service),)) + service


def _op(frame: bytes) -> Operation | None:
    (record,) = S7commDissector().feed(frame, True)
    assert record.malformed is None
    op = record.fields.get(OPERATION_FIELD)
    return None if op is None else Operation(op)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (_job(b"\x29" + bytes(5) + b"\x09P_PROGRAM"), Operation.CONTROLLER_STOP),
        (_job(_pi(b"P_PROGRAM")), Operation.CONTROLLER_START),
        (_job(_pi(b"_MODU")), Operation.PROGRAM_TO_ROM),
        (_job(_pi(b"_INSE", b"\x01\x000800001P")), Operation.PROGRAM_DOWNLOAD),
        (_job(_pi(b"_INS2", b"\x01\x000A00005P")), Operation.PROGRAM_DOWNLOAD),
        (_job(_pi(b"_DELE", b"\x01\x000C00012B")), Operation.PROGRAM_DELETE),
        (_job(b"\x1a\x00\x01\x00\x00\x00\x00\x00\x09_0800001P"), Operation.PROGRAM_DOWNLOAD),
        (_job(b"\x1d\x00\x00\x00\x00\x00\x00\x00\x09_0800001A"), Operation.PROGRAM_UPLOAD),
        (_job(_pi(b"_GARB")), None),
    ],
)
def test_crafted_jobs(frame: bytes, expected: Operation | None) -> None:
    assert _op(frame) == expected


def test_pi_blocks_are_named() -> None:
    (record,) = S7commDissector().feed(_job(_pi(b"_DELE", b"\x02\x000C00012B0A00005B")), True)
    assert record.fields["pi_blocks"] == ["Function 12", "Data Block 5"]
    assert "Function 12" in record.fields["operation_detail"]


def test_truncated_pi_parameters_do_not_raise() -> None:
    full = _pi(b"_INSE", b"\x03\x000800001P")
    for cut in range(1, len(full)):
        for record in S7commDissector().feed(_job(full[:cut]), True):
            assert isinstance(record, Record)
