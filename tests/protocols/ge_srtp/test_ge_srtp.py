"""GE SRTP: crafted messages in the mailbox layout (Wireshark's ge_srtp dissector gives the offsets),
framing with text buffers, request/reply matching, operations, PLC state, detect."""

from __future__ import annotations

import pytest

from otwatch.protocols.ge_srtp import SPEC, SrtpDissector, detect, identity_from, mailbox
from otwatch.protocols.operations import OPERATION_FIELD, Operation

INIT = bytes(56)
RUN_STATUS = 0x0100  # state 0 (Run I/O enabled), run switch on
STOP_STATUS = 0x2040  # state 2 (Stop I/O disabled), programmer attached


def test_layout() -> None:
    msg = mailbox(2, 7, 0xC0, 0x04, mseq=3)
    assert len(msg) == 56 and msg[0] == 2 and msg[2:4] == b"\x07\x00" and msg[30:32] == b"\x03\xc0"
    assert msg[42] == 0x04 and msg[4:6] == b"\x00\x00"
    with_text = mailbox(3, 7, 0x94, text=b"PUMPS\x00\x00\x00")
    assert with_text[4:6] == b"\x08\x00" and len(with_text) == 64


def test_initialisation_and_status_exchange() -> None:
    d = SrtpDissector()
    out = d.feed(INIT, True) + d.feed(b"\x01" + bytes(55), False)
    assert [r.fields["mbox_type_name"] for r in out] == ["Initialisation", "Initialisation"]
    request = d.feed(mailbox(2, 1, 0xC0, 0x00, mseq=1), True)[0]
    assert request.fields["service"] == "PLC Short Status Request" and OPERATION_FIELD not in request.fields
    reply = d.feed(mailbox(3, 1, 0xD4, status=RUN_STATUS, mseq=1), False)[0]
    assert reply.direction == "response" and reply.fields["service"] == "PLC Short Status Request"
    assert reply.fields["plc_state"] == "Run I/O enabled" and reply.fields["run_switch"] == "Run"
    identity = identity_from(reply)
    assert identity is not None and identity.vendor == "GE" and identity.state == "Run I/O enabled"


def test_program_name_reply_split_across_segments() -> None:
    d = SrtpDissector()
    d.feed(mailbox(2, 2, 0xC0, 0x03, mseq=2), True)
    reply = mailbox(3, 2, 0x94, text=b"BOILERS\x00", status=STOP_STATUS, mseq=2)
    records = d.feed(reply[:56], False) + d.feed(reply[56:], False)  # GE sends the text in its own segment
    (record,) = records
    assert record.fields["program_name"] == "BOILERS" and record.fields["plc_state"] == "Stop I/O disabled"
    identity = identity_from(record)
    assert identity is not None and identity.extra["program_name"] == "BOILERS"


@pytest.mark.parametrize(
    ("code", "operation"),
    [
        (0x07, Operation.PARAMETER_WRITE),
        (0x23, Operation.MODE_CHANGE),
        (0x24, Operation.CLOCK_SET),
        (0x3F, Operation.PROGRAM_DOWNLOAD),  # a store writes to the PLC
        (0x40, Operation.PROGRAM_UPLOAD),  # a load reads from it
        (0x2E, Operation.PROGRAM_DELETE),
        (0x35, Operation.PROGRAM_DELETE),
        (0x21, Operation.AUTHENTICATION),
        (0x47, Operation.PROTECTION_CHANGE),
        (0x04, None),
        (0x38, None),
    ],
)
def test_operations(code: int, operation: Operation | None) -> None:
    mtype = 0x80 if code == 0x07 else 0xC0
    text = b"\x01\x02" if mtype == 0x80 else b""
    (record,) = SrtpDissector().feed(mailbox(2, 9, mtype, code, text=text), True)
    assert record.fields.get(OPERATION_FIELD) == operation


def test_error_nack_and_unknown_mailbox_type() -> None:
    d = SrtpDissector()
    d.feed(mailbox(2, 4, 0xC0, 0x23), True)
    nack = bytearray(mailbox(3, 4, 0xD1))
    nack[42], nack[43] = 2, 0xF0  # insufficient privilege, only valid in stop mode
    (record,) = d.feed(bytes(nack), False)
    assert (record.fields["major_error_status"], record.fields["minor_error_status"]) == (2, 0xF0)
    assert record.fields["service"] == "Set PLC State" and identity_from(record) is None
    (odd,) = SrtpDissector().feed(mailbox(2, 1, 0x55), True)
    assert odd.malformed == "unknown SRTP mailbox type 0x55"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (INIT, True),
        (mailbox(2, 1, 0xC0, 0x00), True),
        (mailbox(3, 1, 0x94, text=b"X" * 8), True),
        (mailbox(2, 1, 0x55), False),
        (mailbox(7, 1, 0xC0), False),
        (INIT[:40], False),
        (bytes.fromhex("000100000006010300000001") + bytes(50), False),  # Modbus/TCP
    ],
)
def test_detect(payload: bytes, expected: bool) -> None:
    assert detect(payload) is expected
    assert SPEC.ports == (18245,)
