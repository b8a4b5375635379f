"""Passive MELSOFT: the engineering protocol GX Works speaks to MELSEC CPUs (TCP 5002/5562, UDP
5001/5560), and the UDP search GX Works broadcasts to find CPUs.

Mitsubishi does not publish MELSOFT. The framing below is the one Nozomi Networks documented in
their Wireshark dissector (Black Hat MEA 2023, github.com/NozomiNetworks/blackhat23-melsoft)::

    Ethernet header (21 bytes)  0x57 request / 0xD7 response, sub-type | sequence | ... | network (9)
                                | station (10) | module I/O (11-12, LE) | ... | size (19-20, LE) of
                                everything that follows
    command header              type | ... | remaining size (byte 2: 22 in requests, 24 in replies)
                                | ... | reply status (bytes 4-5)
    command data                command code (2, big-endian) | packet reference (2, LE) | payload
    footer                      parameters (CRC32, authorisation token), inside ``size``

The search is one datagram each way: ``5A 00 00 <kind>`` and ``DA 00 00 <kind> ...``.

Operations are tagged only for commands named by that independent source: Remote Control Run,
Stop, Pause and Reset (the MC protocol's 0x1001-0x1006, with the same meaning), Username/Password
Login (authentication), User Information Registration (users and passwords written to the CPU),
Safety Run Mode Change, File Write (program download) and File Read of project files (upload).
The reply to Open Initial carries the CPU model name and code, laid out as in the MC protocol's
Read CPU Model reply (16 characters, then the code).

Hand-written for the sensor's hot path; never raises on wire bytes.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.protocols.base import Record
from otwatch.protocols.melsec.codes import (
    MELSOFT_FILE_READ,
    MELSOFT_FILE_WRITE,
    MELSOFT_OPEN_INITIAL,
    MELSOFT_OPERATIONS,
    MELSOFT_REQUEST,
    MELSOFT_RESPONSE,
    MELSOFT_SEARCH_REQUEST,
    MELSOFT_SEARCH_RESPONSE,
    is_program_file,
    melsoft_command_name,
)
from otwatch.protocols.melsec.dissect import CUT_FRAME_MIN, file_name
from otwatch.protocols.melsec.messages import model_text
from otwatch.protocols.operations import Operation, tag

PROTOCOL: Final = "melsoft"
HEADER: Final = 21
REQUEST_COMMAND_HEADER: Final = 0x16  # "remaining size" byte of a request's command header
RESPONSE_COMMAND_HEADER: Final = 0x18
MAX_SIZE: Final = 16384
MAX_BUFFER: Final = 2 * (HEADER + MAX_SIZE)
SEARCH_MAX: Final = 64
MAX_FILES: Final = 64
OPEN_FILE: Final = 0x1867  # returns the handle File Read/Write use (seen in GX Works3 traffic)
CLOSE_FILE: Final = 0x186A


class MelsoftError(ValueError):
    pass


def frame_size(buf: bytes | bytearray) -> int | None:
    """Size of the MELSOFT frame at the start of ``buf``; ``None`` while too few bytes are there.
    Raises :class:`MelsoftError` when the bytes are no MELSOFT frame."""
    if not buf:
        return None
    first = buf[0]
    if first in (MELSOFT_SEARCH_REQUEST, MELSOFT_SEARCH_RESPONSE):
        if len(buf) < 4:
            return None
        if buf[1] or buf[2]:
            raise MelsoftError("search frame: bytes 1-2 are not zero")
        return len(buf)  # one datagram
    if first not in (MELSOFT_REQUEST, MELSOFT_RESPONSE):
        raise MelsoftError(f"unknown MELSOFT frame type 0x{first:02X}")
    if len(buf) < HEADER + 4:
        return None
    if buf[1] >= 0x10 or buf[3] or buf[4]:
        raise MelsoftError("header bytes 1, 3, 4 out of range")
    expected = REQUEST_COMMAND_HEADER if first == MELSOFT_REQUEST else RESPONSE_COMMAND_HEADER
    if buf[HEADER + 2] != expected:
        raise MelsoftError(f"command header size {buf[HEADER + 2]}, expected {expected}")
    size = int.from_bytes(buf[19:21], "little")
    if not expected + 2 + 2 <= size <= MAX_SIZE:
        raise MelsoftError(f"size {size} out of range")
    return HEADER + size


def _detect(payload: bytes, search: bool) -> bool:
    if not payload:
        return False
    if payload[0] in (MELSOFT_SEARCH_REQUEST, MELSOFT_SEARCH_RESPONSE):
        if not search or payload[1:3] != b"\x00\x00":
            return False
        return len(payload) == 4 if payload[0] == MELSOFT_SEARCH_REQUEST else 4 <= len(payload) <= SEARCH_MAX
    pos, n = 0, len(payload)
    while pos < n:
        rest = payload[pos:]
        if rest[0] not in (MELSOFT_REQUEST, MELSOFT_RESPONSE):
            return False
        try:
            size = frame_size(rest)
        except MelsoftError:
            return False
        if size is None:
            return pos > 0
        if size > len(rest):
            return pos > 0 or len(rest) >= CUT_FRAME_MIN
        pos += size
    return True


def detect(payload: bytes) -> bool:
    """MELSOFT frames on TCP: type byte, header and command-header sizes that add up."""
    return _detect(payload, search=False)


def detect_udp(payload: bytes) -> bool:
    """MELSOFT frames on UDP, or GX Works' CPU search (exactly ``5A 00 00 xx`` / its reply)."""
    return _detect(payload, search=True)


class MelsoftDissector:
    """Frames per direction (the direction is read from the type byte); open files by handle."""

    __slots__ = ("_buf", "_files", "_opening", "_tagged")

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._opening: dict[int, str] = {}  # packet reference -> name being opened
        self._files: dict[int, str] = {}  # handle -> name
        self._tagged: set[tuple[int, int]] = set()  # (command, handle) already tagged

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        buf += data
        records: list[Record] = []
        while buf:
            try:
                size = frame_size(buf)
            except MelsoftError as exc:
                records.append(
                    Record(PROTOCOL, "request" if from_client else "response", {}, malformed=str(exc))
                )
                buf.clear()
                break
            if size is None or len(buf) < size:
                break
            frame = bytes(buf[:size])
            del buf[:size]
            records.append(self._message(frame))
        if len(buf) > MAX_BUFFER:
            buf.clear()
        return records

    def _message(self, frame: bytes) -> Record:
        first = frame[0]
        if first in (MELSOFT_SEARCH_REQUEST, MELSOFT_SEARCH_RESPONSE):
            request = first == MELSOFT_SEARCH_REQUEST
            fields: dict[str, Any] = {"frame": "search", "command": frame[3], "command_name": "CPU Search"}
            return Record(PROTOCOL, "request" if request else "response", fields)
        request = first == MELSOFT_REQUEST
        fields = {
            "frame": f"0x{first:02X}{frame[1]:02X}",
            "sequence": frame[2],
            "network": frame[9],
            "station": frame[10],
            "module_io": int.from_bytes(frame[11:13], "little"),
        }
        record = Record(PROTOCOL, "request" if request else "response", fields)
        start = HEADER + 2 + frame[HEADER + 2]
        if not request:
            fields["status"] = int.from_bytes(frame[HEADER + 4 : HEADER + 6], "big")
        if len(frame) < start + 4:
            record.malformed = "no command data"
            return record
        command = int.from_bytes(frame[start : start + 2], "big")
        reference = int.from_bytes(frame[start + 2 : start + 4], "little")
        fields["command"] = command
        fields["command_name"] = melsoft_command_name(command)
        fields["reference"] = reference
        data = frame[start + 4 :]
        if request:
            self._request(command, reference, data, fields)
        elif fields["status"] == 0:
            self._response(command, reference, data, fields)
        return record

    def _request(self, command: int, reference: int, data: bytes, fields: dict[str, Any]) -> None:
        what = f"a MELSOFT {melsoft_command_name(command)} (0x{command:04X})"
        handle: int | None = None
        name = None
        if command in (MELSOFT_FILE_READ, CLOSE_FILE) and len(data) >= 2:
            handle = int.from_bytes(data[0:2], "little")
        elif command == MELSOFT_FILE_WRITE and len(data) >= 4:
            handle = int.from_bytes(data[2:4], "little")
        else:
            name = file_name(data)
        if handle is not None:
            fields["file_handle"] = handle
            name = self._files.get(handle)
            if command == CLOSE_FILE:
                self._files.pop(handle, None)
                self._tagged = {t for t in self._tagged if t[1] != handle}
        if name is not None:
            fields["file_name"] = name
            what = f"{what} of '{name}'"
            if command == OPEN_FILE:
                if len(self._opening) >= MAX_FILES:
                    self._opening.clear()
                self._opening[reference] = name
        if command in (MELSOFT_FILE_READ, MELSOFT_FILE_WRITE) and handle is not None:
            if (command, handle) in self._tagged:
                return  # one operation per file opened, not one per block of it
            if len(self._tagged) >= MAX_FILES:
                self._tagged.clear()
            self._tagged.add((command, handle))
        if command == MELSOFT_FILE_READ and (name is None or is_program_file(name)):
            tag(fields, Operation.PROGRAM_UPLOAD, what)
        operation = MELSOFT_OPERATIONS.get(command)
        if operation is not None:
            tag(fields, operation, what)

    def _response(self, command: int, reference: int, data: bytes, fields: dict[str, Any]) -> None:
        if command == MELSOFT_OPEN_INITIAL and len(data) >= 20:
            raw = data[2:18]
            model = model_text(raw)
            if model and model.isprintable() and all(0x20 <= c < 0x7F for c in raw.rstrip(b"\x00 ")):
                fields["cpu_model"] = model
                fields["cpu_model_code"] = int.from_bytes(data[18:20], "little")
        elif command == OPEN_FILE and len(data) >= 4:
            name = self._opening.pop(reference, None)
            handle = int.from_bytes(data[2:4], "little")
            fields["file_handle"] = handle
            if name is not None:
                fields["file_name"] = name
                if len(self._files) >= MAX_FILES:
                    self._files.clear()
                self._files[handle] = name
                self._tagged = {t for t in self._tagged if t[1] != handle}
