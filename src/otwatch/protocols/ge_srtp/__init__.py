"""GE SRTP (Service Request Transport Protocol, TCP 18245): GE Fanuc / Emerson Series 90 and PACSystems
PLCs and the Proficy engineering tools that program them.

Each message is a 56-byte mailbox (little-endian) whose bytes 4-5 give the length of a text buffer that
follows it: packet type at 0, sequence number at 2, mailbox sequence number at 30, mailbox type at 31
(0xC0 initial request, 0x80 initial request with text buffer, 0xD4 completion ACK, 0x94 completion ACK
with text buffer, 0xD1 error NACK), the service request code at 42 in requests; every ACK carries
"piggyback" status at 50-55 whose PLC status word has the PLC state in its top four bits. Replies are
matched to their request by the two sequence numbers. Hand-written (one 56-byte read per message).

In GE's words a *store* writes to the PLC and a *load* reads from it: program stores are
PROGRAM_DOWNLOAD, loads PROGRAM_UPLOAD, Set PLC State a MODE_CHANGE, Set PLC Time/Date a CLOCK_SET,
memory writes PARAMETER_WRITE, programmer logon and privilege changes AUTHENTICATION. Wire bytes never
raise.
"""

from __future__ import annotations

from struct import Struct
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.operations import Operation, tag

__all__ = ["SPEC", "SrtpDissector", "detect", "identity_from", "mailbox"]

PROTOCOL: Final = "ge_srtp"
PORT: Final = 18245
MAILBOX: Final = 56
MAX_TEXT: Final = 65535
MBOX_TYPES: Final = {
    0x80: "Initial Request with Text Buffer",
    0x94: "Completion ACK with Text Buffer",
    0xC0: "Initial Request",
    0xD1: "Error NACK",
    0xD4: "Completion ACK",
}
REQUESTS: Final = frozenset({0x80, 0xC0})
SERVICES: Final = {
    0x00: "PLC Short Status Request",
    0x01: "PLC Long Status Request",
    0x03: "Return Control Program Name",
    0x04: "Read System Memory",
    0x05: "Read Task Memory",
    0x06: "Read Program Block Memory",
    0x07: "Write System Memory",
    0x08: "Write Task Memory",
    0x09: "Write Program Block Memory",
    0x0F: "Write System Memory Symbolic Variable",
    0x10: "Write Task Memory Symbolic Variable",
    0x11: "Write Program Block Memory Symbolic Variable",
    0x20: "Programmer Logon",
    0x21: "Change PLC CPU Privilege Level",
    0x22: "Set PLC CPU Controller ID",
    0x23: "Set PLC State",
    0x24: "Set PLC Time/Date",
    0x25: "Return PLC Time/Date",
    0x28: "Store Program Block",
    0x2A: "Program Block Program Store",
    0x2B: "Program Block Load",
    0x2C: "Program Block Program Load",
    0x2E: "Delete Program Block",
    0x35: "Clear All PLC Memory",
    0x37: "Clear Logic Memory",
    0x38: "Return Fault Table",
    0x39: "Clear Fault Table",
    0x3D: "Store Block",
    0x3E: "Load Block",
    0x3F: "Program Store",
    0x40: "Program Load",
    0x41: "Program Change",
    0x43: "Return Controller Type and ID Information",
    0x47: "Lock/Unlock OEM",
    0x4F: "Session Control",
    0x52: "Store OS Extension",
    0x53: "Load OS Extension",
    0x5A: "Program Store Extended",
    0x5B: "Program Load Extended",
}
OPERATIONS: Final[dict[int, Operation]] = {
    **dict.fromkeys((0x07, 0x08, 0x09, 0x0F, 0x10, 0x11), Operation.PARAMETER_WRITE),
    **dict.fromkeys((0x28, 0x2A, 0x3D, 0x3F, 0x41, 0x5A), Operation.PROGRAM_DOWNLOAD),
    **dict.fromkeys((0x2B, 0x2C, 0x3E, 0x40, 0x5B), Operation.PROGRAM_UPLOAD),
    **dict.fromkeys((0x2E, 0x35, 0x37), Operation.PROGRAM_DELETE),
    **dict.fromkeys((0x20, 0x21), Operation.AUTHENTICATION),
    0x22: Operation.NETWORK_CONFIG,
    0x23: Operation.MODE_CHANGE,
    0x24: Operation.CLOCK_SET,
    0x47: Operation.PROTECTION_CHANGE,
    0x52: Operation.FIRMWARE_UPDATE,
}
PLC_STATES: Final = {
    0: "Run I/O enabled",
    1: "Run I/O disabled",
    2: "Stop I/O disabled",
    3: "CPU stop faulted",
    4: "CPU halted",
    5: "CPU suspended",
    6: "Stop I/O enabled",
}
MAX_PENDING: Final = 64
_HEAD: Final = Struct("<BxHH")  # packet type, sequence number, text length
_PIGGYBACK: Final = Struct("<bBHH")  # control program, privilege level, last sweep, PLC status word


def service_name(code: int) -> str:
    return SERVICES.get(code, f"Service request 0x{code:02x}")


class SrtpDissector:
    """Per-direction framing: a 56-byte mailbox plus the text buffer its bytes 4-5 announce."""

    __slots__ = ("_buf", "_pending")

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._pending: dict[tuple[int, int], int] = {}  # (sequence, mailbox sequence) -> service

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        buf += data
        records: list[Record] = []
        while len(buf) >= MAILBOX:
            text_len = buf[4] | buf[5] << 8
            if len(buf) < MAILBOX + text_len:
                break
            records.append(self._message(bytes(buf[: MAILBOX + text_len]), from_client))
            del buf[: MAILBOX + text_len]
        return records

    def _message(self, msg: bytes, from_client: bool) -> Record:
        ptype, seq, text_len = _HEAD.unpack_from(msg)
        mtype = msg[31]
        fields: dict[str, Any] = {
            "packet_type": ptype,
            "seq_num": seq,
            "text_length": text_len,
            "mbox_seq_num": msg[30],
            "mbox_type": mtype,
        }
        record = Record(PROTOCOL, "request" if from_client else "response", fields)
        if ptype in (0, 1) and not any(msg[6:MAILBOX]):  # the all-zero initialisation handshake
            fields["mbox_type_name"] = "Initialisation"
            return record
        if mtype not in MBOX_TYPES:
            if ptype in (2, 3):
                record.malformed = f"unknown SRTP mailbox type 0x{mtype:02x}"
            return record
        fields["mbox_type_name"] = MBOX_TYPES[mtype]
        key = (seq, msg[30])
        if mtype in REQUESTS:
            record.direction = "request"
            service = msg[42]
            fields["svc_req_code"] = service
            fields["service"] = service_name(service)
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[key] = service
            operation = OPERATIONS.get(service)
            if operation is not None:
                tag(fields, operation, f"a GE SRTP {service_name(service)} request")
            return record
        record.direction = "response"
        code = self._pending.pop(key, -1)
        if code >= 0:
            fields["svc_req_code"] = code
            fields["service"] = service_name(code)
        if mtype == 0xD1:
            fields["major_error_status"], fields["minor_error_status"] = msg[42], msg[43]
            return record
        fields["status_code"] = msg[42]
        program, privilege, sweep, status = _PIGGYBACK.unpack_from(msg, 50)
        fields.update(control_program_num=program, privilege_level=privilege, last_sweep=sweep)
        fields["plc_status_word"] = status
        state = status >> 12
        fields["plc_state"] = PLC_STATES.get(state, str(state))
        fields["run_switch"] = "Run" if status & 0x0100 else "Stop"
        fields["programmer_attached"] = bool(status & 0x0040)
        fields["oem_protection"] = bool(status & 0x0200)
        if code == 0x03 and text_len:  # Return Control Program Name
            name = msg[MAILBOX : MAILBOX + text_len].split(b"\x00", 1)[0].decode("latin-1").strip()
            if name:
                fields["program_name"] = name
        return record


def identity_from(record: Record) -> Identity | None:
    """Every completion ACK's piggyback status gives the PLC state; a program name reply its program."""
    fields = record.fields
    if record.direction != "response" or record.malformed or "plc_state" not in fields:
        return None
    extra: dict[str, Any] = {"oem_protection": fields["oem_protection"], "run_switch": fields["run_switch"]}
    if "program_name" in fields:
        extra["program_name"] = fields["program_name"]
    return Identity(
        protocol=PROTOCOL, vendor="GE", device_type=DeviceType.PLC, state=fields["plc_state"], extra=extra
    )


def detect(payload: bytes) -> bool:
    """A 56-byte mailbox: the all-zero initialisation, or packet type 2/3 with a known mailbox type and a
    text length that is consistent with the segment."""
    if len(payload) < MAILBOX:
        return False
    if payload[0] in (0, 1) and not any(payload[1:MAILBOX]):
        return len(payload) == MAILBOX
    text_len = payload[4] | payload[5] << 8
    return (
        payload[0] in (2, 3)
        and payload[31] in MBOX_TYPES
        and len(payload) <= MAILBOX + text_len + MAILBOX * 8
    )


def mailbox(
    ptype: int, seq: int, mtype: int, code: int = 0, text: bytes = b"", status: int = 0, mseq: int = 0
) -> bytes:
    """One message's wire bytes (tests and synthetic traffic); ``status`` is the piggyback PLC status word."""
    out = bytearray(MAILBOX)
    out[0] = ptype
    out[2:4] = seq.to_bytes(2, "little")
    out[4:6] = len(text).to_bytes(2, "little")
    out[30], out[31], out[42] = mseq, mtype, code
    out[36:40] = bytes((0x10, 0x0E, 0, 0))
    if mtype in (0xD4, 0x94):
        out[54:56] = status.to_bytes(2, "little")
    return bytes(out) + text


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="tcp",
    ports=(PORT,),
    detect=detect,
    dissector=SrtpDissector,
    identity_from=identity_from,
)
