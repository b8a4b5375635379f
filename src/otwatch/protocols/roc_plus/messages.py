"""Emerson ROC Plus messages: the frame and the data blocks the sensor and the query read. Each class
``encode()``s (the agent's query, the test responder) and ``decode()``s (the sensor).

Hand-written with precompiled ``struct.Struct`` because it is the sensor's hot path. Layout (ROC Plus
Protocol Specifications Manual section 1.2, as parsed by CISA ICSNPP icsnpp-roc-plus): destination
unit | destination group | source unit | source group | opcode | data length (0-255) | data | CRC-16
(CRC-16/ARC: polynomial 0xA001 reflected, initial value 0, over every byte before it; low byte
first). Multi-byte values in the data are little-endian. There is no request/response bit: a reply
is the same opcode sent back with the addresses swapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct
from typing import Final, Self

from otwatch.protocols.crc import crc16 as crc16

HEADER: Final = Struct("<6B")  # destination unit, group, source unit, group, opcode, data length
CRC: Final = Struct("<H")
HEADER_SIZE: Final = HEADER.size
MIN_FRAME: Final = HEADER_SIZE + CRC.size
MAX_FRAME: Final = MIN_FRAME + 255
SYSTEM_CONFIG: Final = Struct("<BHBBBB11xB")  # opcode 6 reply up to the type of ROC
CLOCK: Final = Struct("<BBBBBH")  # second, minute, hour, day, month, year
POINT_RANGE: Final = Struct("<4B")  # point type, logical number, number of parameters, first parameter
FORWARD: Final = Struct("<12B")  # host, 4 destinations (unit, group), opcode, data count


class RocDecodeError(ValueError):
    """The bytes are not a valid ROC Plus message."""


@dataclass(slots=True)
class Address:
    unit: int = 0
    group: int = 0


@dataclass(slots=True)
class Frame:
    """One ROC Plus message. ``crc`` is the one on the wire after :meth:`decode` (``encode`` computes
    it when ``None``); ``crc_ok`` says whether it matched."""

    opcode: int
    destination: Address = field(default_factory=Address)
    source: Address = field(default_factory=Address)
    data: bytes = b""
    crc: int | None = None
    crc_ok: bool = True

    def encode(self) -> bytes:
        if len(self.data) > 255:
            raise ValueError(f"ROC Plus data is at most 255 bytes, not {len(self.data)}")
        d, s = self.destination, self.source
        head = HEADER.pack(d.unit, d.group, s.unit, s.group, self.opcode, len(self.data)) + self.data
        return head + CRC.pack(crc16(head) if self.crc is None else self.crc)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Self:
        """The frame at the start of ``data`` (extra bytes after it are ignored)."""
        size = frame_size(data)
        if size is None or len(data) < size:
            raise RocDecodeError(f"{len(data)} bytes, the ROC Plus frame needs {size or MIN_FRAME}")
        du, dg, su, sg, opcode, _length = HEADER.unpack_from(data)
        crc = CRC.unpack_from(data, size - 2)[0]
        return cls(opcode, Address(du, dg), Address(su, sg), bytes(data[HEADER_SIZE : size - 2]), crc,
                   crc == crc16(memoryview(data)[: size - 2]))  # fmt: skip


def frame_size(buf: bytes | bytearray | memoryview) -> int | None:
    """Whole size of the frame at ``buf``'s start, ``None`` until its data length byte has arrived."""
    return MIN_FRAME + buf[5] if len(buf) >= HEADER_SIZE else None


@dataclass(slots=True)
class SystemConfig:
    """Opcode 6 reply: system mode, port, security access mode, logical compatibility status, opcode 6
    revision, ROC subtype, 11 reserved bytes, type of ROC, then a logical-point count per point type
    (60 onwards: 78 of them in the original revision, 196 in the extended one)."""

    system_mode: int
    port: int
    security_access_mode: int
    compatibility_status: int
    opcode_revision: int
    subtype: int
    roc_type: int
    point_counts: bytes = b""

    def encode(self) -> bytes:
        count = 196 if self.opcode_revision else 78
        return SYSTEM_CONFIG.pack(self.system_mode, self.port, self.security_access_mode, self.compatibility_status,
                                  self.opcode_revision, self.subtype, self.roc_type) + self.point_counts.ljust(
            count, b"\x00")[:count]  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < SYSTEM_CONFIG.size:
            raise RocDecodeError(f"system configuration: {len(data)} bytes, need {SYSTEM_CONFIG.size}")
        mode, port, security, compat, revision, subtype, roc_type = SYSTEM_CONFIG.unpack_from(data)
        return cls(
            mode, port, security, compat, revision, subtype, roc_type, bytes(data[SYSTEM_CONFIG.size :])
        )


@dataclass(slots=True)
class Clock:
    """Opcode 7 reply (with the day of the week, 1 = Sunday) and opcode 8 request (without)."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    day_of_week: int | None = None

    def encode(self) -> bytes:
        raw = CLOCK.pack(self.second, self.minute, self.hour, self.day, self.month, self.year)
        return raw if self.day_of_week is None else raw + bytes((self.day_of_week,))

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < CLOCK.size:
            raise RocDecodeError(f"clock: {len(data)} bytes, need {CLOCK.size}")
        second, minute, hour, day, month, year = CLOCK.unpack_from(data)
        return cls(
            year, month, day, hour, minute, second, data[CLOCK.size] if len(data) > CLOCK.size else None
        )

    @property
    def text(self) -> str:
        return (f"{self.year:04d}-{self.month:02d}-{self.day:02d} "
                f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}")  # fmt: skip


@dataclass(slots=True)
class PointRange:
    """Opcodes 166 and 167: point type, logical number, number of parameters, first parameter (the
    parameter values follow in a 166 request and a 167 reply)."""

    point_type: int
    logical_number: int
    count: int
    first_parameter: int
    values: bytes = b""

    def encode(self) -> bytes:
        return (
            POINT_RANGE.pack(self.point_type, self.logical_number, self.count, self.first_parameter)
            + self.values
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < POINT_RANGE.size:
            raise RocDecodeError(f"point range: {len(data)} bytes, need {POINT_RANGE.size}")
        point_type, logical, count, first = POINT_RANGE.unpack_from(data)
        return cls(point_type, logical, count, first, bytes(data[POINT_RANGE.size :]))


def tlps(data: bytes) -> list[tuple[int, int, int]]:
    """Opcode 180 request: a count, then that many (point type, logical number, parameter) triples."""
    if not data:
        raise RocDecodeError("parameter request without its count")
    count = data[0]
    if len(data) < 1 + 3 * count:
        raise RocDecodeError(f"{count} parameters announced, {(len(data) - 1) // 3} present")
    return [(data[1 + 3 * i], data[2 + 3 * i], data[3 + 3 * i]) for i in range(count)]


def encode_tlps(items: list[tuple[int, int, int]]) -> bytes:
    return bytes((len(items),)) + b"".join(bytes(t) for t in items)
