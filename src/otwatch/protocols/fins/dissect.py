"""Passive Omron FINS over UDP (one FINS frame per datagram) and FINS/TCP ("FINS" envelope framing).

Hand-written for the sensor's hot path. The direction comes from the ICF response bit; replies carry
their command by service id (SID). Never raises on wire bytes. Operations (operations.py): run, stop,
reset, program area read/write/clear, program protect/unprotect, memory/parameter area writes, fill
and transfer, forced set/reset, clock write, file write/delete/format and program file transfer.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.fins.codes import (
    COMMANDS,
    CONTROLLER_DATA_READ,
    MEMORY_AREAS,
    OPERATIONS,
    TCP_COMMANDS,
    TCP_FRAME,
    TCP_MAGIC,
    VENDOR,
    command_name,
    response_name,
)
from otwatch.protocols.fins.messages import (
    HEADER,
    ControllerData,
    FinsDecodeError,
    Frame,
    TcpFrame,
    is_header,
)
from otwatch.protocols.operations import tag

PROTOCOL: Final = "fins"
MAX_BUFFER: Final = 16384
MAX_PENDING: Final = 64


def detect(payload: bytes) -> bool:
    """FINS/TCP (magic, sane length, known command) or a FINS frame with a known command."""
    if payload[:4] == TCP_MAGIC:
        try:
            size = TcpFrame.size(payload)
        except FinsDecodeError:
            return False
        return size is not None and int.from_bytes(payload[8:12], "big") in TCP_COMMANDS
    if not is_header(payload):
        return False
    command = int.from_bytes(payload[10:12], "big")
    if payload[0] & 0x40:  # a response: command and a two-byte end code
        return command in COMMANDS and len(payload) >= HEADER.size + 2
    return command in COMMANDS


class FinsDissector:
    __slots__ = ("_buf", "_pending")

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._pending: dict[int, dict[str, Any]] = {}

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        if not buf and data[:4] != TCP_MAGIC:
            return [self._fins(data, from_client)] if data else []  # UDP: one frame per datagram
        buf += data
        records: list[Record] = []
        while buf:
            try:
                size = TcpFrame.size(buf)
            except FinsDecodeError as exc:
                records.append(
                    Record(PROTOCOL, "request" if from_client else "response", {}, malformed=str(exc))
                )
                buf.clear()
                break
            if size is None or len(buf) < size:
                break
            frame = TcpFrame.decode(bytes(buf[:size]))
            del buf[:size]
            if frame.command == TCP_FRAME:
                record = self._fins(frame.data, from_client)
            else:
                record = Record(PROTOCOL, "request" if from_client else "response", {})
            record.fields["tcp_command"] = frame.command
            record.fields["tcp_command_name"] = TCP_COMMANDS.get(frame.command, f"unknown-{frame.command}")
            if frame.error_code:
                record.fields["tcp_error_code"] = frame.error_code
            records.append(record)
        if len(buf) > MAX_BUFFER:
            buf.clear()
        return records

    def _fins(self, data: bytes, from_client: bool) -> Record:
        try:
            frame = Frame.decode(data)
        except FinsDecodeError as exc:
            return Record(PROTOCOL, "request" if from_client else "response", {}, malformed=str(exc))
        d, s = frame.destination, frame.source
        fields: dict[str, Any] = {
            "icf": frame.icf,
            "gct": frame.gct,
            "dna": d.network,
            "da1": d.node,
            "da2": d.unit,
            "sna": s.network,
            "sa1": s.node,
            "sa2": s.unit,
            "sid": frame.sid,
            "command": frame.command,
            "command_name": command_name(frame.command),
        }
        record = Record(PROTOCOL, "response" if frame.response else "request", fields)
        if not frame.response:
            self._request(frame, fields)
            return record
        fields["response_code"] = frame.end_code
        fields["response_name"] = response_name(frame.end_code >> 8)
        request = self._pending.pop(frame.sid, None)
        if request is not None and request["command"] == frame.command:
            fields["matched"] = True
            for key in ("memory_area", "address", "items"):
                if key in request:
                    fields[key] = request[key]
        if frame.command == CONTROLLER_DATA_READ and frame.end_code & 0x7F3F == 0:
            try:
                info = ControllerData.decode(frame.data)
            except FinsDecodeError as exc:
                record.malformed = str(exc)
            else:
                fields["controller_model"] = info.model
                fields["controller_version"] = info.version
        return record

    def _request(self, frame: Frame, fields: dict[str, Any]) -> None:
        data = frame.data
        what = f"a FINS {command_name(frame.command)} (0x{frame.command:04X})"
        if frame.command in (0x0101, 0x0102, 0x0103) and len(data) >= 6:
            area = data[0]
            fields["memory_area"] = MEMORY_AREAS.get(area, f"0x{area:02X}")
            fields["address"] = int.from_bytes(data[1:3], "big")
            fields["bit"] = data[3]
            fields["items"] = int.from_bytes(data[4:6], "big")
            what = f"{what} of {fields['items']} item(s) at {fields['memory_area']} {fields['address']}"
        elif frame.command in (0x0306, 0x0307, 0x0308) and len(data) >= 2:
            fields["program_number"] = int.from_bytes(data[0:2], "big")
        operation = OPERATIONS.get(frame.command)
        if operation is not None:
            tag(fields, operation, what)
        if not frame.icf or not frame.icf & 0x01:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[frame.sid] = fields


def identity_from(record: Record) -> Identity | None:
    """Vendor, model and version from a Controller Data Read reply (sensor or agent)."""
    model = record.fields.get("controller_model")
    if not model:
        return None
    return Identity(
        protocol="fins",
        vendor=VENDOR,
        model=model,
        firmware=record.fields.get("controller_version") or None,
        device_type=DeviceType.PLC,
    )
