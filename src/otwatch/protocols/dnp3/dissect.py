"""Passive DNP3 over TCP or UDP: link frames -> transport reassembly -> one Record per application
fragment, plus one per link-only frame (link status, reset, ack) since those reveal polling and probes.

Works byte-by-byte across segments: a direction buffers until a whole link frame is present, skips
garbage up to the next 0x05 0x64 start, and reassembles transport segments per (source,
destination) pair. Never raises on wire bytes.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from otwatch.protocols.base import Record
from otwatch.protocols.dnp3.codes import (
    CONTROL_CODES,
    LINK_DIR,
    LINK_PRM,
    START,
    function_name,
    iin_names,
    link_function_name,
)
from otwatch.protocols.dnp3.messages import (
    HEADER_SIZE,
    MAX_FRAME,
    MIN_LENGTH,
    AppHeader,
    Dnp3DecodeError,
    LinkFrame,
    TransportSegment,
    frame_size,
)
from otwatch.protocols.operations import Operation, tag

PROTOCOL = "dnp3"
MAX_FRAGMENT = 64 * 1024  # application fragment cap; real devices use 2048 to 4096
MAX_ASSEMBLIES = 16


class _Assembly:
    __slots__ = ("data", "next_seq")

    def __init__(self, seq: int, data: bytes) -> None:
        self.data = bytearray(data)
        self.next_seq = (seq + 1) & 0x3F


class Dnp3Dissector:
    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._assembly: dict[tuple[int, int], _Assembly] = {}

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()
        self._assembly.clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        """Datagram or stream bytes; each complete link frame is processed as it becomes available."""
        buf = self._buf[from_client]
        buf += data
        records: list[Record] = []
        while len(buf) >= HEADER_SIZE:
            if buf[:2] != START:
                skip = buf.find(START, 1)
                dropped = len(buf) if skip < 0 else skip
                records.append(
                    Record(PROTOCOL, _dir(from_client), {}, malformed=f"{dropped} bytes before link start")
                )
                if skip < 0:
                    buf[:] = buf[-1:] if buf[-1:] == START[:1] else b""
                    break
                del buf[:skip]
                continue
            length = buf[2]
            if length < MIN_LENGTH:
                records.append(Record(PROTOCOL, _dir(from_client), {}, malformed=f"link length {length}"))
                del buf[:2]
                continue
            size = frame_size(length)
            if len(buf) < size:
                break
            raw = bytes(buf[:size])
            del buf[:size]
            records.extend(self._frame(raw, from_client))
        if len(buf) > 4 * MAX_FRAME:
            buf.clear()
        return records

    def _frame(self, raw: bytes, from_client: bool) -> list[Record]:
        try:
            frame = LinkFrame.decode(raw)
        except Dnp3DecodeError as exc:
            return [Record(PROTOCOL, _dir(from_client), {}, malformed=str(exc))]
        link: dict[str, Any] = {
            "source": frame.source,
            "destination": frame.destination,
            "link_function": link_function_name(frame.control),
            "link_dir": bool(frame.control & LINK_DIR),
            "link_primary": bool(frame.control & LINK_PRM),
        }
        if not frame.crc_ok:
            return [Record(PROTOCOL, _dir(from_client), link, malformed="link crc mismatch")]
        if not frame.user_data:
            return [Record(PROTOCOL, _dir(from_client), link)]
        try:
            seg = TransportSegment.decode(frame.user_data)
        except Dnp3DecodeError as exc:
            return [Record(PROTOCOL, _dir(from_client), link, malformed=str(exc))]
        key = (frame.source, frame.destination)
        if seg.fir:
            if len(self._assembly) >= MAX_ASSEMBLIES and key not in self._assembly:
                self._assembly.pop(next(iter(self._assembly)))
            asm = self._assembly[key] = _Assembly(seg.seq, seg.data)
        else:
            current = self._assembly.get(key)
            if current is None or current.next_seq != seg.seq:
                self._assembly.pop(key, None)
                return [
                    Record(PROTOCOL, _dir(from_client), link, malformed="transport segment out of sequence")
                ]
            asm = current
            asm.data += seg.data
            asm.next_seq = (seg.seq + 1) & 0x3F
            if len(asm.data) > MAX_FRAGMENT:
                self._assembly.pop(key, None)
                return [Record(PROTOCOL, _dir(from_client), link, malformed="application fragment too large")]
        if not seg.fin:
            return []
        self._assembly.pop(key, None)
        return [self._application(bytes(asm.data), link, from_client)]

    def _application(self, fragment: bytes, link: dict[str, Any], from_client: bool) -> Record:
        fields = dict(link)
        try:
            app = AppHeader.decode(fragment)
        except Dnp3DecodeError as exc:
            return Record(PROTOCOL, _dir(from_client), fields, malformed=str(exc))
        name = function_name(app.function)
        fields.update(
            {
                "func": name,
                "func_code": app.function,
                "app_seq": app.seq,
                "fir": app.fir,
                "fin": app.fin,
                "con": app.con,
                "uns": app.uns,
            }
        )
        direction: Literal["request", "response"]
        if app.is_response:
            fields["fc_reply"] = name
            fields["iin"] = app.iin
            fields["iin_flags"] = iin_names(app.iin or 0)
            direction = "response"
        else:
            fields["fc_request"] = name
            fields["is_control"] = app.function in CONTROL_CODES
            direction = "request"
            operation = OPERATION_CODES.get(app.function)
            if operation is not None:
                tag(fields, operation, f"DNP3 {name}")
        if len(app.objects) >= 3:
            fields["object_group"], fields["object_variation"] = app.objects[0], app.objects[1]
        return Record(PROTOCOL, direction, fields)


#: Application function codes that restart, start or stop the outstation or its application.
OPERATION_CODES: Final[dict[int, Operation]] = {
    13: Operation.CONTROLLER_RESET,  # cold restart
    14: Operation.CONTROLLER_RESET,  # warm restart
    17: Operation.CONTROLLER_START,  # start application
    18: Operation.CONTROLLER_STOP,  # stop application
}


def _dir(from_client: bool) -> Literal["request", "response"]:
    return "request" if from_client else "response"
