"""Passive MC protocol / SLMP: 3E and 4E frames, binary and ASCII, over TCP or UDP -> one Record per
request or response.

Hand-written for the sensor's hot path (no parser library): frames are cut by their data-length
field, the direction is read from the subheader (0x50/0x54 request, 0xD0/0xD4 response), so a flow
joined mid-stream or with the roles guessed wrongly still reads right. Replies carry their request's
command (4E: matched by serial number; 3E: in order, as the protocol answers one request at a time).
Never raises on wire bytes: a frame that is out of spec becomes a record with ``malformed`` set and
the direction's buffer is dropped.

Operations (operations.py): Remote Run/Stop/Pause/Reset/Latch Clear, device and buffer-memory
writes, password unlock (authentication) and lock, new/write/delete file, and reads of program
files (the file named at Open File, remembered by its file pointer).
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.melsec.codes import (
    CLOSE_FILE,
    COMMANDS,
    DELETE_FILE,
    NEW_FILE,
    OPEN_FILE,
    OPERATIONS,
    READ_CPU_MODEL,
    READ_DEVICE,
    READ_FILE,
    VENDOR,
    WRITE_BLOCK,
    WRITE_DEVICE,
    WRITE_FILE,
    WRITE_RANDOM,
    command_name,
    end_code_name,
    is_program_file,
)
from otwatch.protocols.melsec.messages import (
    MAX_LENGTH,
    CpuModel,
    DeviceRange,
    MelsecDecodeError,
    Request,
    Response,
    frame_info,
)
from otwatch.protocols.operations import Operation, tag

PROTOCOL: Final = "melsec"
MAX_BUFFER: Final = 2 * (MAX_LENGTH + 26)
MAX_PENDING: Final = 64
MAX_FILES: Final = 64
#: a first segment that ends inside a frame this long is a frame cut by TCP, not a false match
CUT_FRAME_MIN: Final = 256

_UTF16_TEXT = re.compile(rb"(?:[\x21-\x7e]\x00){3,}")
_ASCII_TEXT = re.compile(rb"[\x21-\x7e]{3,}")


def file_name(data: bytes) -> str | None:
    """The file named in a file command's data: UTF-16 (iQ-R) or ASCII (Q/L) text with a dot or a
    backslash in it, wherever the command puts it (after a password, mode, drive and length)."""
    for match in _UTF16_TEXT.finditer(data):
        text = match.group().decode("utf-16-le")
        if "." in text or "\\" in text:
            return text
    for match in _ASCII_TEXT.finditer(data):
        text = match.group().decode("ascii")
        if "." in text:
            return text
    return None


def detect(payload: bytes) -> bool:
    """Whole MC protocol frames (or one cut by the segment's end): a known subheader, lengths that
    add up, and for requests a command the SLMP reference defines."""
    pos, n = 0, len(payload)
    while pos < n:
        rest = payload[pos:]
        try:
            info = frame_info(rest)
        except MelsecDecodeError:
            return False
        if info is None:
            return pos > 0
        if info.size > len(rest):
            return pos > 0 or len(rest) >= CUT_FRAME_MIN
        if info.request:
            try:
                request = Request.decode(rest[: info.size])
            except MelsecDecodeError:
                return False
            if request.command not in COMMANDS:
                return False
        pos += info.size
    return n > 0


class MelsecDissector:
    """Frames per direction; pending requests for replies; open files by file pointer."""

    __slots__ = ("_buf", "_files", "_opening", "_pending")

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._pending: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._files: dict[int, str] = {}  # file pointer -> file name, from Open File replies
        self._opening: dict[int | None, str] = {}  # 4E serial (None for 3E) -> file name being opened

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        buf += data
        records: list[Record] = []
        while buf:
            try:
                info = frame_info(buf)
            except MelsecDecodeError as exc:
                records.append(
                    Record(PROTOCOL, "request" if from_client else "response", {}, malformed=str(exc))
                )
                buf.clear()
                break
            if info is None or len(buf) < info.size:
                break
            frame = bytes(buf[: info.size])
            del buf[: info.size]
            records.append(self._request(frame) if info.request else self._response(frame))
        if len(buf) > MAX_BUFFER:
            buf.clear()
        return records

    # -- requests ----------------------------------------------------------------------------------
    def _request(self, frame: bytes) -> Record:
        try:
            msg = Request.decode(frame)
        except MelsecDecodeError as exc:
            return Record(PROTOCOL, "request", {}, malformed=str(exc))
        fields = _common(msg.frame, msg.ascii, msg.serial, msg.route.network, msg.route.station,
                         msg.route.module_io, msg.route.multidrop)  # fmt: skip
        fields["timer"] = msg.timer
        fields["command"] = msg.command
        fields["command_name"] = command_name(msg.command)
        fields["subcommand"] = msg.subcommand
        record = Record(PROTOCOL, "request", fields)
        try:
            self._request_fields(msg, fields)
        except MelsecDecodeError as exc:
            record.malformed = str(exc)
        if msg.serial is None:  # 3E: the client waits for each reply, so only the latest is open
            self._pending = deque((f for f in self._pending if "serial" in f), maxlen=MAX_PENDING)
        self._pending.append(fields)
        return record

    def _request_fields(self, msg: Request, fields: dict[str, Any]) -> None:
        command = msg.command
        what = f"an SLMP {command_name(command)} (0x{command:04X})"
        if command in (READ_DEVICE, WRITE_DEVICE):
            rng = DeviceRange.decode(msg.data, msg.subcommand, msg.ascii)
            fields["device"] = rng.device
            if rng.code is not None:
                fields["device_code"] = rng.code
            fields["head_device_number"] = rng.head
            fields["points"] = rng.points
            fields["head_device"] = rng.text
            fields["bit_units"] = bool(msg.subcommand & 1)
            what = f"{what} of {rng.points} point(s) from {rng.text}"
        elif command == WRITE_RANDOM and not msg.ascii and msg.data:
            if msg.subcommand & 1:
                fields["points"] = msg.data[0]
            elif len(msg.data) >= 2:
                fields["word_points"], fields["dword_points"] = msg.data[0], msg.data[1]
        elif command == WRITE_BLOCK and not msg.ascii and len(msg.data) >= 2:
            fields["word_blocks"], fields["bit_blocks"] = msg.data[0], msg.data[1]
        elif command in (OPEN_FILE, NEW_FILE, DELETE_FILE) or 0x1810 <= command <= 0x1826:
            name = file_name(msg.data)
            if name is not None:
                fields["file_name"] = name
                what = f"{what} of '{name}'"
                if command == OPEN_FILE:
                    self._remember_open(msg.serial, name)
        elif command in (READ_FILE, WRITE_FILE, CLOSE_FILE) and not msg.ascii and len(msg.data) >= 2:
            pointer = int.from_bytes(msg.data[0:2], "little")
            fields["file_pointer"] = pointer
            name = self._files.get(pointer)
            if name is not None:
                fields["file_name"] = name
                what = f"{what} of '{name}'"
            if command == CLOSE_FILE:
                self._files.pop(pointer, None)
            elif command == READ_FILE and name is not None and is_program_file(name):
                tag(fields, Operation.PROGRAM_UPLOAD, what)
        operation = OPERATIONS.get(command)
        if operation is not None:
            tag(fields, operation, what)

    def _remember_open(self, serial: int | None, name: str) -> None:
        if len(self._opening) >= MAX_FILES:
            self._opening.clear()
        self._opening[serial] = name

    # -- responses ---------------------------------------------------------------------------------
    def _response(self, frame: bytes) -> Record:
        try:
            msg = Response.decode(frame)
        except MelsecDecodeError as exc:
            return Record(PROTOCOL, "response", {}, malformed=str(exc))
        fields = _common(msg.frame, msg.ascii, msg.serial, msg.route.network, msg.route.station,
                         msg.route.module_io, msg.route.multidrop)  # fmt: skip
        fields["end_code"] = msg.end_code
        fields["end_code_name"] = end_code_name(msg.end_code)
        record = Record(PROTOCOL, "response", fields)
        request = self._match(msg.serial)
        if request is None:
            return record
        command = request["command"]
        fields["matched"] = True
        fields["command"] = command
        fields["command_name"] = request["command_name"]
        for key in ("device", "head_device", "points", "file_name"):
            if key in request:
                fields[key] = request[key]
        if msg.end_code != 0:
            return record
        try:
            if command == READ_CPU_MODEL:
                model = CpuModel.decode(msg.data, msg.ascii)
                fields["cpu_model"] = model.name
                fields["cpu_model_code"] = model.code
            elif command == OPEN_FILE and not msg.ascii and len(msg.data) >= 2:
                pointer = int.from_bytes(msg.data[0:2], "little")
                fields["file_pointer"] = pointer
                name = self._opening.pop(msg.serial, None)
                if name is not None:
                    if len(self._files) >= MAX_FILES:
                        self._files.clear()
                    self._files[pointer] = name
        except MelsecDecodeError as exc:
            record.malformed = str(exc)
        return record

    def _match(self, serial: int | None) -> dict[str, Any] | None:
        pending = self._pending
        if serial is None:
            for i, request in enumerate(pending):
                if "serial" not in request:
                    del pending[i]
                    return request
            return None
        for i, request in enumerate(pending):
            if request.get("serial") == serial:
                del pending[i]
                return request
        return None


def _common(frame: str, ascii: bool, serial: int | None, network: int, station: int, module_io: int,
            multidrop: int) -> dict[str, Any]:  # fmt: skip
    fields: dict[str, Any] = {
        "frame": frame,
        "encoding": "ascii" if ascii else "binary",
        "network": network,
        "station": station,
        "module_io": module_io,
        "multidrop": multidrop,
    }
    if serial is not None:
        fields["serial"] = serial
    return fields


def identity_from(record: Record) -> Identity | None:
    """Vendor and CPU model from a Read CPU Model reply (the sensor's record or the agent's), or
    from MELSOFT's Open Initial reply, which carries the same model name and code."""
    model = record.fields.get("cpu_model")
    if not model:
        return None
    code = record.fields.get("cpu_model_code")
    extra: dict[str, Any] = {}
    if isinstance(code, int):
        extra["model_code"] = f"0x{code:04X}"
    return Identity(
        protocol=record.protocol,
        vendor=VENDOR,
        model=model,
        product_code=code if isinstance(code, int) else None,
        device_type=DeviceType.PLC,
        extra=extra,
    )
