"""DNP3 link frames, transport segments and application headers, each with encode() and decode().

The link layer interleaves a CRC after the 8-byte header and after every 16 bytes of user data;
:class:`LinkFrame` strips them (and records whether they were right) so the layers above see plain
bytes. ``decode`` raises :class:`Dnp3DecodeError` on out-of-spec bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct
from typing import Self

from otwatch.protocols.dnp3.codes import (
    APP_CON,
    APP_FIN,
    APP_FIR,
    APP_SEQ_MASK,
    APP_UNS,
    LINK_DIR,
    LINK_FUNC_MASK,
    LINK_PRM,
    START,
    TRANSPORT_FIN,
    TRANSPORT_FIR,
    TRANSPORT_SEQ_MASK,
    FunctionCode,
)

LINK_HEADER = Struct("<2sBBHH")  # start, length, control, destination, source
HEADER_SIZE = 10  # header + its CRC
BLOCK = 16
MIN_LENGTH = 5  # control + addresses, no user data
MAX_FRAME = 292


class Dnp3DecodeError(ValueError):
    """The bytes are not a valid DNP3 message of the expected kind."""


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """DNP3 CRC (polynomial 0x3D65, reflected, inverted)."""
    crc = 0
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return ~crc & 0xFFFF


def frame_size(length: int) -> int:
    """Bytes on the wire for a link frame whose length octet is ``length``."""
    user = length - MIN_LENGTH
    return HEADER_SIZE + user + 2 * ((user + BLOCK - 1) // BLOCK)


@dataclass(slots=True)
class LinkFrame:
    control: int
    destination: int
    source: int
    user_data: bytes = b""
    crc_ok: bool = True

    @property
    def function(self) -> int:
        return self.control & LINK_FUNC_MASK

    @property
    def from_master(self) -> bool:
        return bool(self.control & LINK_DIR)

    @property
    def primary(self) -> bool:
        return bool(self.control & LINK_PRM)

    def encode(self) -> bytes:
        header = LINK_HEADER.pack(
            START, MIN_LENGTH + len(self.user_data), self.control, self.destination, self.source
        )
        out = bytearray(header + crc16(header).to_bytes(2, "little"))
        for i in range(0, len(self.user_data), BLOCK):
            block = self.user_data[i : i + BLOCK]
            out += block + crc16(block).to_bytes(2, "little")
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Decode one complete frame at the start of ``data`` (see :func:`frame_size`)."""
        if len(data) < HEADER_SIZE:
            raise Dnp3DecodeError("short link header")
        start, length, control, dst, src = LINK_HEADER.unpack_from(data)
        if start != START or length < MIN_LENGTH:
            raise Dnp3DecodeError(f"bad link header (start {start.hex()}, length {length})")
        size = frame_size(length)
        if len(data) < size:
            raise Dnp3DecodeError(f"short link frame: {len(data)} of {size} bytes")
        ok = crc16(data[:8]) == int.from_bytes(data[8:10], "little")
        user = bytearray()
        pos, remaining = HEADER_SIZE, length - MIN_LENGTH
        while remaining > 0:
            n = min(BLOCK, remaining)
            block = data[pos : pos + n]
            ok = ok and crc16(block) == int.from_bytes(data[pos + n : pos + n + 2], "little")
            user += block
            pos += n + 2
            remaining -= n
        return cls(control, dst, src, bytes(user), ok)


@dataclass(slots=True)
class TransportSegment:
    fir: bool
    fin: bool
    seq: int
    data: bytes

    def encode(self) -> bytes:
        octet = (TRANSPORT_FIN if self.fin else 0) | (TRANSPORT_FIR if self.fir else 0) | self.seq
        return bytes((octet & 0xFF,)) + self.data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if not data:
            raise Dnp3DecodeError("empty transport segment")
        t = data[0]
        return cls(bool(t & TRANSPORT_FIR), bool(t & TRANSPORT_FIN), t & TRANSPORT_SEQ_MASK, bytes(data[1:]))


@dataclass(slots=True)
class AppHeader:
    """Application control, function code and, on responses, the internal indications."""

    function: int
    seq: int = 0
    fir: bool = True
    fin: bool = True
    con: bool = False
    uns: bool = False
    iin: int | None = None  # IIN1 << 8 | IIN2, responses only
    objects: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.function >= FunctionCode.RESPONSE

    def encode(self) -> bytes:
        ctrl = (
            (APP_FIR if self.fir else 0)
            | (APP_FIN if self.fin else 0)
            | (APP_CON if self.con else 0)
            | (APP_UNS if self.uns else 0)
            | (self.seq & APP_SEQ_MASK)
        )
        out = bytes((ctrl, self.function))
        if self.iin is not None:
            out += self.iin.to_bytes(2, "big")
        return out + self.objects

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 2:
            raise Dnp3DecodeError("short application header")
        ctrl, func = data[0], data[1]
        msg = cls(
            func,
            ctrl & APP_SEQ_MASK,
            bool(ctrl & APP_FIR),
            bool(ctrl & APP_FIN),
            bool(ctrl & APP_CON),
            bool(ctrl & APP_UNS),
        )
        body = 2
        if func >= FunctionCode.RESPONSE:
            if len(data) < 4:
                raise Dnp3DecodeError("short response header (no internal indications)")
            msg.iin = int.from_bytes(data[2:4], "big")
            body = 4
        msg.objects = bytes(data[body:])
        return msg
