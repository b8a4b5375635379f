"""HART-IP messages: each class both ``encode()``s (what the agent sends) and ``decode()``s (what the
sensor reads). Integers are big-endian.

A HART-IP message is an 8-byte header (version, message type, message id, status, sequence number,
byte count of the whole message) and a body: the Session Initiate's master type and inactivity timer,
or a token-passing HART PDU (delimiter, 1- or 5-byte address, expansion bytes, command, byte count,
[response code, device status,] data, XOR check byte).

``decode`` raises :class:`HartDecodeError` on out-of-spec bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct
from typing import Final, Self

HEADER: Final = Struct(">BBBBHH")  # version, type, id, status, sequence, byte count
HEADER_SIZE: Final = HEADER.size
SESSION: Final = Struct(">BI")  # master type, inactivity close timer (ms)
MAX_MESSAGE: Final = 8 + 2048  # a HART PDU is at most 255 data bytes; audit logs are longer


class HartDecodeError(ValueError):
    """The bytes are not a valid HART-IP message of the expected kind."""


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise HartDecodeError(f"{what}: {len(data)} bytes, need {size}")


def checksum(data: bytes) -> int:
    """The HART check byte: XOR of every byte from the delimiter to the last data byte."""
    out = 0
    for b in data:
        out ^= b
    return out


def packed_ascii(data: bytes) -> str:
    """HART Packed ASCII: four 6-bit characters in three bytes (0x00-0x1F stand for '@'..'_')."""
    out = []
    for i in range(0, len(data) - len(data) % 3, 3):
        word = data[i] << 16 | data[i + 1] << 8 | data[i + 2]
        for shift in (18, 12, 6, 0):
            c = (word >> shift) & 0x3F
            out.append(chr(c + 0x40 if c < 0x20 else c))
    return "".join(out)


def pack_ascii(text: str) -> bytes:
    text = text.upper().ljust((len(text) + 3) // 4 * 4)
    out = bytearray()
    for i in range(0, len(text), 4):
        word = 0
        for ch in text[i : i + 4]:
            word = word << 6 | (ord(ch) & 0x3F)
        out += word.to_bytes(3, "big")
    return bytes(out)


@dataclass(slots=True)
class Header:
    version: int
    message_type: int
    message_id: int
    status: int
    sequence: int
    byte_count: int

    def encode(self) -> bytes:
        return HEADER.pack(
            self.version, self.message_type, self.message_id, self.status, self.sequence, self.byte_count
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, HEADER_SIZE, "hart-ip header")
        return cls(*HEADER.unpack_from(data))


def message(message_type: int, message_id: int, sequence: int, body: bytes, status: int = 0) -> bytes:
    """One HART-IP (version 1) message around ``body``."""
    return Header(1, message_type, message_id, status, sequence, HEADER_SIZE + len(body)).encode() + body


@dataclass(slots=True)
class SessionInitiate:
    master_type: int = 1  # 1 = primary master
    inactivity_timer: int = 60_000

    def encode(self) -> bytes:
        return SESSION.pack(self.master_type, self.inactivity_timer)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, SESSION.size, "session initiate")
        return cls(*SESSION.unpack_from(data))


@dataclass(slots=True)
class Pdu:
    """A token-passing HART PDU. ``address`` is 1 byte (polling address) or 5 bytes (unique address);
    replies (ACK) carry ``response_code`` and ``device_status`` before their data."""

    delimiter: int
    address: bytes
    command: int
    data: bytes = b""
    response_code: int | None = None
    device_status: int | None = None
    expansion: bytes = b""

    @property
    def frame_type(self) -> int:
        return self.delimiter & 0x07

    @property
    def long_address(self) -> bool:
        return bool(self.delimiter & 0x80)

    def encode(self) -> bytes:
        body = self.data
        if self.response_code is not None:
            body = bytes((self.response_code, self.device_status or 0)) + body
        head = (
            bytes((self.delimiter,)) + self.address + self.expansion + bytes((self.command & 0xFF, len(body)))
        )
        pdu = head + body
        return pdu + bytes((checksum(pdu),))

    @classmethod
    def request(cls, command: int, data: bytes = b"", address: bytes = b"\x80") -> Self:
        """STX to a polling address (1 byte; bit 7 set = primary master) or a unique address (5 bytes)."""
        return cls(0x82 if len(address) == 5 else 0x02, address, command, data)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, 1, "hart pdu")
        delimiter = data[0]
        if delimiter & 0x07 not in (1, 2, 6):
            raise HartDecodeError(f"delimiter 0x{delimiter:02x} is not STX, ACK or BACK")
        alen = 5 if delimiter & 0x80 else 1
        exp = (delimiter >> 5) & 0x03
        pos = 1 + alen + exp
        _need(data, pos + 2, "hart pdu header")
        command, count = data[pos], data[pos + 1]
        body_end = pos + 2 + count
        _need(data, body_end + 1, "hart pdu data and check byte")
        if checksum(data[:body_end]) != data[body_end]:
            raise HartDecodeError("hart pdu check byte does not match")
        body = bytes(data[pos + 2 : body_end])
        pdu = cls(delimiter, bytes(data[1 : 1 + alen]), command, body, expansion=bytes(data[1 + alen : pos]))
        if delimiter & 0x07 in (1, 6):
            _need(body, 2, "hart reply status")
            pdu.response_code, pdu.device_status, pdu.data = body[0], body[1], body[2:]
        return pdu


@dataclass(slots=True)
class UniqueIdentifier:
    """Command 0 reply data (HART 5 to 7): expanded device type, revisions, device id, manufacturer."""

    expanded_device_type: int
    universal_revision: int
    device_revision: int
    software_revision: int
    hardware_revision: int
    device_id: int
    manufacturer_id: int
    private_label: int | None = None
    device_profile: int | None = None
    config_change_counter: int | None = None

    def encode(self) -> bytes:
        out = bytearray((254,))
        out += self.expanded_device_type.to_bytes(2, "big")
        out += bytes((5, self.universal_revision, self.device_revision, self.software_revision))
        out += bytes((self.hardware_revision << 3, 0)) + self.device_id.to_bytes(3, "big")
        if self.universal_revision >= 7:
            out += bytes((5, 1)) + (self.config_change_counter or 0).to_bytes(2, "big") + b"\x00"
            out += self.manufacturer_id.to_bytes(2, "big")
            out += (self.private_label or self.manufacturer_id).to_bytes(2, "big")
            out += bytes((self.device_profile or 1,))
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, 12, "command 0 reply")
        universal = data[4]
        msg = cls(
            expanded_device_type=int.from_bytes(data[1:3], "big"),
            universal_revision=universal,
            device_revision=data[5],
            software_revision=data[6],
            hardware_revision=data[7] >> 3,
            device_id=int.from_bytes(data[9:12], "big"),
            manufacturer_id=data[1],  # HART 5/6: byte 1 is the manufacturer, byte 2 the device type
        )
        if universal >= 7 and len(data) >= 22:
            msg.config_change_counter = int.from_bytes(data[14:16], "big")
            msg.manufacturer_id = int.from_bytes(data[17:19], "big")
            msg.private_label = int.from_bytes(data[19:21], "big")
            msg.device_profile = data[21]
        return msg
