"""MC protocol / SLMP messages (3E and 4E frames, binary and ASCII): each class both ``encode()``s
(what the agent sends, what the test responder answers) and ``decode()``s (what the sensor reads).

Frame layout (SLMP Reference Manual SH-080956ENG, "message format"), binary, little-endian::

    3E request   50 00 | network | station | module I/O (2) | multidrop | length (2) | timer (2) | command (2) | subcommand (2) | data
    3E response  D0 00 | network | station | module I/O (2) | multidrop | length (2) | end code (2) | data
    4E           54 00 / D4 00 | serial (2) | 00 00 | then as 3E

``length`` counts the bytes after itself. The ASCII code carries the same fields as upper-case
hexadecimal text, most significant digit first (``5000`` ``00`` ``FF`` ``03FF`` ``00`` ``0018`` ...),
so every binary byte becomes two characters and the header grows from 9 to 18 characters.

``decode`` raises :class:`MelsecDecodeError` on out-of-spec bytes; the dissector turns that into a
malformed record, the query into "no answer".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct
from typing import Self

from otwatch.protocols.melsec.codes import (
    DEVICE_CODES,
    HEX_DEVICES,
    SUBHEADER_3E_REQUEST,
    SUBHEADER_3E_RESPONSE,
    SUBHEADER_4E_REQUEST,
    SUBHEADER_4E_RESPONSE,
)

ROUTE = Struct("<BBHBH")  # network, station, module I/O, multidrop station, data length
REQUEST_HEAD = Struct("<HHH")  # monitoring timer, command, subcommand
SERIAL = Struct("<HH")  # 4E serial number, fixed 0
CPU_MODEL_SIZE = 16
MAX_LENGTH = 8192  # a data length past this is not SLMP (the largest frames are ~4 KiB file writes)
#: (binary, 3E) header bytes before the data-length field's end, per frame type and code
HEADER_SIZE = {("3E", False): 9, ("4E", False): 13, ("3E", True): 18, ("4E", True): 26}
_DEVICE_CODES_BY_NAME = {name: code for code, name in DEVICE_CODES.items()}
_SUBHEADERS = {
    SUBHEADER_3E_REQUEST: ("3E", True),
    SUBHEADER_3E_RESPONSE: ("3E", False),
    SUBHEADER_4E_REQUEST: ("4E", True),
    SUBHEADER_4E_RESPONSE: ("4E", False),
}
_ASCII_SUBHEADERS = {f"{k:04X}".encode(): v for k, v in _SUBHEADERS.items()}
_HEX = frozenset(b"0123456789ABCDEFabcdef")


class MelsecDecodeError(ValueError):
    """The bytes are not a valid MC protocol message of the expected kind."""


def _hex(data: bytes | bytearray, start: int, size: int) -> int:
    text = bytes(data[start : start + size])
    if len(text) != size or not all(c in _HEX for c in text):
        raise MelsecDecodeError(f"not hexadecimal text at {start}: {text!r}")
    return int(text, 16)


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request goes: network, station, the module's start I/O number, multidrop station.
    The defaults address the CPU the Ethernet port belongs to ("own station")."""

    network: int = 0
    station: int = 0xFF
    module_io: int = 0x03FF
    multidrop: int = 0


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What the first bytes of a buffer say: frame type, code, direction and whole size."""

    frame: str  # "3E" or "4E"
    ascii: bool
    request: bool
    size: int  # bytes of the whole message


def frame_info(buf: bytes | bytearray) -> FrameInfo | None:
    """The frame at the start of ``buf``; ``None`` while too few bytes are there to tell its size.
    Raises :class:`MelsecDecodeError` when the start is no MC protocol frame."""
    if len(buf) < 2:
        return None
    kind = _SUBHEADERS.get(int.from_bytes(buf[0:2], "big"))
    if kind is not None:
        frame, request = kind
        head = HEADER_SIZE[(frame, False)]
        if len(buf) < head:
            return None
        if frame == "4E" and buf[4:6] != b"\x00\x00":
            raise MelsecDecodeError("4E frame: bytes 4-5 are not zero")
        length = int.from_bytes(buf[head - 2 : head], "little")
        minimum = 6 if request else 2
        ascii_code = False
    else:
        if len(buf) < 4:
            return None
        akind = _ASCII_SUBHEADERS.get(bytes(buf[0:4]).upper())
        if akind is None:
            raise MelsecDecodeError(f"unknown subheader {bytes(buf[0:4]).hex()}")
        frame, request = akind
        head = HEADER_SIZE[(frame, True)]
        if len(buf) < head:
            return None
        if frame == "4E" and bytes(buf[8:12]) != b"0000":
            raise MelsecDecodeError("4E frame: characters 8-11 are not zero")
        length = _hex(buf, head - 4, 4)
        minimum = 12 if request else 4
        ascii_code = True
    if not minimum <= length <= MAX_LENGTH:
        raise MelsecDecodeError(f"data length {length} out of range")
    return FrameInfo(frame, ascii_code, request, head + length)


@dataclass(slots=True)
class Request:
    """One MC protocol request. ``data`` is what follows the subcommand, in the message's code
    (raw bytes in binary, hexadecimal text in ASCII)."""

    command: int
    subcommand: int = 0
    data: bytes = b""
    route: Route = field(default_factory=Route)
    timer: int = 4  # units of 250 ms
    serial: int | None = None  # set: a 4E frame
    ascii: bool = False

    @property
    def frame(self) -> str:
        return "3E" if self.serial is None else "4E"

    def encode(self) -> bytes:
        r = self.route
        if self.ascii:
            body = f"{self.timer:04X}{self.command:04X}{self.subcommand:04X}".encode() + self.data
            head = b"5000" if self.serial is None else f"5400{self.serial:04X}0000".encode()
            route = f"{r.network:02X}{r.station:02X}{r.module_io:04X}{r.multidrop:02X}{len(body):04X}"
            return head + route.encode() + body
        body = REQUEST_HEAD.pack(self.timer, self.command, self.subcommand) + self.data
        head = b"\x50\x00" if self.serial is None else b"\x54\x00" + SERIAL.pack(self.serial, 0)
        return head + ROUTE.pack(r.network, r.station, r.module_io, r.multidrop, len(body)) + body

    @classmethod
    def decode(cls, data: bytes) -> Self:
        info = frame_info(data)
        if info is None or len(data) < info.size:
            raise MelsecDecodeError(f"request: {len(data)} bytes, frame incomplete")
        if not info.request:
            raise MelsecDecodeError("a response subheader where a request was expected")
        route, serial, pos = _route(data, info)
        end = info.size
        if info.ascii:
            timer, command, sub = _hex(data, pos, 4), _hex(data, pos + 4, 4), _hex(data, pos + 8, 4)
            return cls(command, sub, bytes(data[pos + 12 : end]), route, timer, serial, True)
        timer, command, sub = REQUEST_HEAD.unpack_from(data, pos)
        return cls(command, sub, bytes(data[pos + 6 : end]), route, timer, serial, False)


@dataclass(slots=True)
class Response:
    """One MC protocol response: end code (0 = normal) and the data that follows it."""

    end_code: int = 0
    data: bytes = b""
    route: Route = field(default_factory=Route)
    serial: int | None = None
    ascii: bool = False

    @property
    def frame(self) -> str:
        return "3E" if self.serial is None else "4E"

    def encode(self) -> bytes:
        r = self.route
        if self.ascii:
            body = f"{self.end_code:04X}".encode() + self.data
            head = b"D000" if self.serial is None else f"D400{self.serial:04X}0000".encode()
            route = f"{r.network:02X}{r.station:02X}{r.module_io:04X}{r.multidrop:02X}{len(body):04X}"
            return head + route.encode() + body
        body = self.end_code.to_bytes(2, "little") + self.data
        head = b"\xd0\x00" if self.serial is None else b"\xd4\x00" + SERIAL.pack(self.serial, 0)
        return head + ROUTE.pack(r.network, r.station, r.module_io, r.multidrop, len(body)) + body

    @classmethod
    def decode(cls, data: bytes) -> Self:
        info = frame_info(data)
        if info is None or len(data) < info.size:
            raise MelsecDecodeError(f"response: {len(data)} bytes, frame incomplete")
        if info.request:
            raise MelsecDecodeError("a request subheader where a response was expected")
        route, serial, pos = _route(data, info)
        if info.ascii:
            return cls(_hex(data, pos, 4), bytes(data[pos + 4 : info.size]), route, serial, True)
        return cls(
            int.from_bytes(data[pos : pos + 2], "little"), bytes(data[pos + 2 : info.size]), route, serial
        )


def _route(data: bytes, info: FrameInfo) -> tuple[Route, int | None, int]:
    """The route, the 4E serial (else None) and where the fields after the length start."""
    if info.ascii:
        pos = 4
        serial = None
        if info.frame == "4E":
            serial = _hex(data, 4, 4)
            pos = 12
        route = Route(
            _hex(data, pos, 2), _hex(data, pos + 2, 2), _hex(data, pos + 4, 4), _hex(data, pos + 8, 2)
        )
        return route, serial, pos + 14
    pos = 2
    serial = None
    if info.frame == "4E":
        serial = SERIAL.unpack_from(data, 2)[0]
        pos = 6
    network, station, module_io, multidrop, _length = ROUTE.unpack_from(data, pos)
    return Route(network, station, module_io, multidrop), serial, pos + ROUTE.size


def decode(data: bytes) -> Request | Response:
    """One whole frame, request or response by its subheader."""
    info = frame_info(data)
    if info is None:
        raise MelsecDecodeError(f"{len(data)} bytes: too short for an MC protocol frame")
    return Request.decode(data) if info.request else Response.decode(data)


# -- request and response data ------------------------------------------------------------------------


def extended_device(subcommand: int) -> bool:
    """iQ-R/iQ-F device specification (4-byte number, 2-byte code; 4+8 characters in ASCII)."""
    return bool(subcommand & 0x0002)


@dataclass(slots=True)
class DeviceRange:
    """Head device and number of points of a batch read or write (0x0401 / 0x1401)."""

    device: str  # "D", "M", "X" ... or "unknown-0xNN"
    head: int
    points: int
    code: int | None = None  # binary device code

    @property
    def text(self) -> str:
        """As GX Works writes it: ``D100``, ``X1F`` (X/Y/B/W... in hexadecimal)."""
        number = f"{self.head:X}" if self.device in HEX_DEVICES else str(self.head)
        return f"{self.device}{number}"

    def encode(self, subcommand: int = 0, ascii: bool = False) -> bytes:
        ext = extended_device(subcommand)
        if ascii:
            width = 8 if ext else 6
            name = self.device.ljust(4 if ext else 2, "*")
            number = f"{self.head:0{width}X}" if self.device in HEX_DEVICES else f"{self.head:0{width}d}"
            return f"{name}{number}{self.points:04X}".encode()
        code = self.code if self.code is not None else _DEVICE_CODES_BY_NAME[self.device]
        if ext:
            return (
                self.head.to_bytes(4, "little")
                + code.to_bytes(2, "little")
                + self.points.to_bytes(2, "little")
            )
        return self.head.to_bytes(3, "little") + bytes((code,)) + self.points.to_bytes(2, "little")

    @classmethod
    def decode(cls, data: bytes, subcommand: int, ascii: bool = False) -> Self:
        ext = extended_device(subcommand)
        if ascii:
            name_size, number_size = (4, 8) if ext else (2, 6)
            need = name_size + number_size + 4
            if len(data) < need:
                raise MelsecDecodeError(f"device range: {len(data)} characters, need {need}")
            name = bytes(data[:name_size]).rstrip(b"*").decode("ascii", "replace").upper()
            digits = bytes(data[name_size : name_size + number_size])
            try:
                head = int(digits, 16 if name in HEX_DEVICES else 10)
            except ValueError:
                raise MelsecDecodeError(f"device number {digits!r} is not a number") from None
            points = _hex(data, name_size + number_size, 4)
            return cls(name, head, points)
        if ext:
            if len(data) < 8:
                raise MelsecDecodeError(f"device range: {len(data)} bytes, need 8")
            head = int.from_bytes(data[0:4], "little")
            code = int.from_bytes(data[4:6], "little")
            points = int.from_bytes(data[6:8], "little")
        else:
            if len(data) < 6:
                raise MelsecDecodeError(f"device range: {len(data)} bytes, need 6")
            head = int.from_bytes(data[0:3], "little")
            code = data[3]
            points = int.from_bytes(data[4:6], "little")
        return cls(DEVICE_CODES.get(code, f"unknown-0x{code:02X}"), head, points, code)


@dataclass(slots=True)
class CpuModel:
    """Read CPU Model (0x0101) reply data: model name (16 characters, space padded) and model code."""

    name: str
    code: int

    def encode(self, ascii: bool = False) -> bytes:
        name = self.name.encode("ascii").ljust(CPU_MODEL_SIZE, b" ")[:CPU_MODEL_SIZE]
        if ascii:
            return name + f"{self.code:04X}".encode()
        return name + self.code.to_bytes(2, "little")

    @classmethod
    def decode(cls, data: bytes, ascii: bool = False) -> Self:
        need = CPU_MODEL_SIZE + (4 if ascii else 2)
        if len(data) < need:
            raise MelsecDecodeError(f"cpu model: {len(data)} bytes, need {need}")
        name = model_text(data[:CPU_MODEL_SIZE])
        code = _hex(data, CPU_MODEL_SIZE, 4) if ascii else int.from_bytes(data[16:18], "little")
        return cls(name, code)


def model_text(raw: bytes) -> str:
    """A model name field: ASCII, padded with spaces or NULs."""
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()
