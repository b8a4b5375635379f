"""Genisys messages: header byte, station (server) address, address/data pairs, CRC, terminator. The
class ``encode()``s (tests) and ``decode()``s (the sensor).

Hand-written because it is the sensor's hot path. Layout (ICSNPP icsnpp-genisys): a header byte
0xF1-0xFE, then the escaped content up to the terminator 0xF6: the station address, address/data
byte pairs, and the CRC-16/MODBUS of header, address and pairs, low byte first. Every content byte of
0xF0 or above (CRC bytes included) is sent as 0xF0 followed by its low nibble, so 0xF6 only ever ends
a message. Acknowledge Client (0xF1) and a Poll (0xFB) of the address alone carry no CRC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Self

from otwatch.protocols.crc import crc16_modbus
from otwatch.protocols.genisys.codes import (
    ACKNOWLEDGE_CLIENT,
    ESCAPE,
    HEADER_MAX,
    HEADER_MIN,
    POLL,
    TERMINATOR,
)

MAX_MESSAGE: Final = 1024


class GenisysDecodeError(ValueError):
    """The bytes are not a valid Genisys message."""


def escape(data: bytes) -> bytes:
    if max(data, default=0) < ESCAPE:
        return data
    out = bytearray()
    for byte in data:
        if byte >= ESCAPE:
            out += bytes((ESCAPE, byte & 0x0F))
        else:
            out.append(byte)
    return bytes(out)


def unescape(data: bytes | bytearray) -> bytes:
    if max(data, default=0) < ESCAPE:  # the common case: nothing escaped (max() runs in C)
        return bytes(data)
    out = bytearray()
    pending = False
    for byte in data:
        if pending:
            if byte > 0x0F:
                raise GenisysDecodeError(f"escape followed by 0x{byte:02X}")
            out.append(ESCAPE | byte)
            pending = False
        elif byte == ESCAPE:
            pending = True
        elif byte > ESCAPE:
            raise GenisysDecodeError(f"unescaped 0x{byte:02X} inside a message")
        else:
            out.append(byte)
    if pending:
        raise GenisysDecodeError("message ends in an escape")
    return bytes(out)


@dataclass(slots=True)
class Message:
    """One Genisys message. ``crc`` is the one on the wire after :meth:`decode` (``None`` when the
    message carries none); ``encode`` computes it."""

    header: int
    station: int
    pairs: list[tuple[int, int]] = field(default_factory=list)
    crc: int | None = None
    crc_ok: bool = True
    trailing: bytes = b""  # an odd byte after the last pair
    checked: bool = True  # a Poll may go without a CRC; Acknowledge Client never has one
    computed: int | None = None  # the CRC of the decoded bytes, when the message carries one

    @property
    def has_crc(self) -> bool:
        return has_crc(self.header, self.checked)

    def body(self) -> bytes:
        return bytes((self.station,)) + b"".join(bytes(p) for p in self.pairs) + self.trailing

    def encode(self) -> bytes:
        content = self.body()
        if self.has_crc:
            crc = crc16_modbus(bytes((self.header,)) + content) if self.crc is None else self.crc
            content += crc.to_bytes(2, "little")
        return bytes((self.header,)) + escape(content) + bytes((TERMINATOR,))

    @classmethod
    def decode(cls, data: bytes | bytearray) -> Self:
        """The message that is the whole of ``data`` (header to terminator)."""
        if len(data) < 3 or not HEADER_MIN <= data[0] <= HEADER_MAX or data[0] == TERMINATOR:
            raise GenisysDecodeError("no Genisys header")
        if data[-1] != TERMINATOR:
            raise GenisysDecodeError("no terminator")
        header = data[0]
        content = unescape(data[1:-1])
        if not content:
            raise GenisysDecodeError("no station address")
        crc: int | None = None
        computed: int | None = None
        if has_crc(header, len(content) >= 3):
            if len(content) < 3:
                raise GenisysDecodeError(f"{len(content)} content bytes, the address and CRC need 3")
            crc = int.from_bytes(content[-2:], "little")
            content = content[:-2]
            computed = crc16_modbus(bytes((header,)) + content)
        body = content[1:]
        pairs = [(body[i], body[i + 1]) for i in range(0, len(body) - 1, 2)]
        return cls(header, content[0], pairs, crc, crc == computed, bytes(body[len(body) & ~1 :]), crc is not None,
                   computed)  # fmt: skip


def has_crc(header: int, poll_checked: bool) -> bool:
    """Every message but Acknowledge Client and a Poll of the station address alone has a CRC
    (ICSNPP: a Poll whose content is the address and more is read as address and CRC)."""
    return header != ACKNOWLEDGE_CLIENT and (header != POLL or poll_checked)
