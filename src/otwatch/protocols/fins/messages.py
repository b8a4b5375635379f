"""Omron FINS messages: the 10-byte FINS header, command and response, and the FINS/TCP envelope.
Each class ``encode()``s (the agent's query, the test responder) and ``decode()``s (the sensor).

FINS header (W227 section 3): ICF (bit 7 gateway, bit 6 response, bit 0 no reply wanted) | RSV (0)
| GCT (gateway count, 2 or 7) | DNA DA1 DA2 (destination network, node, unit) | SNA SA1 SA2 (source)
| SID (service id), then MRC SRC (command), then in responses MRES SRES (end code) and data.
FINS/TCP (W421): "FINS" | length (4, counting from the command) | command (4) | error code (4) | data.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct
from typing import Self

from otwatch.protocols.fins.codes import TCP_MAGIC

HEADER = Struct(">BBBBBBBBBBH")  # ICF RSV GCT DNA DA1 DA2 SNA SA1 SA2 SID, command
TCP_HEADER = Struct(">4sIII")  # magic, length, command, error code
ICF_RESPONSE = 0x40
ICF_GATEWAY = 0x80
ICF_NO_REPLY = 0x01
MODEL_SIZE = 20
MAX_TCP_LENGTH = 4096


class FinsDecodeError(ValueError):
    """The bytes are not a valid FINS message."""


@dataclass(slots=True)
class Address:
    network: int = 0
    node: int = 0
    unit: int = 0


@dataclass(slots=True)
class Frame:
    """One FINS command or response (``response`` from the ICF bit)."""

    command: int
    destination: Address
    source: Address
    sid: int = 0
    response: bool = False
    end_code: int = 0  # MRES << 8 | SRES, responses only
    data: bytes = b""
    icf: int | None = None
    gct: int = 2

    def encode(self) -> bytes:
        icf = self.icf if self.icf is not None else ICF_GATEWAY | (ICF_RESPONSE if self.response else 0)
        d, s = self.destination, self.source
        head = HEADER.pack(icf, 0, self.gct, d.network, d.node, d.unit, s.network, s.node, s.unit, self.sid,
                           self.command)  # fmt: skip
        if self.response:
            head += self.end_code.to_bytes(2, "big")
        return head + self.data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < HEADER.size:
            raise FinsDecodeError(f"{len(data)} bytes, a FINS header needs {HEADER.size}")
        icf, rsv, gct, dna, da1, da2, sna, sa1, sa2, sid, command = HEADER.unpack_from(data)
        if rsv != 0 or icf & 0x3E:
            raise FinsDecodeError(f"ICF 0x{icf:02X} / RSV 0x{rsv:02X} out of spec")
        response = bool(icf & ICF_RESPONSE)
        body = data[HEADER.size :]
        end_code = 0
        if response:
            if len(body) < 2:
                raise FinsDecodeError("response without its end code")
            end_code = int.from_bytes(body[0:2], "big")
            body = body[2:]
        return cls(command, Address(dna, da1, da2), Address(sna, sa1, sa2), sid, response, end_code, bytes(body),
                   icf, gct)  # fmt: skip


def is_header(data: bytes) -> bool:
    """Plausible FINS header: ICF with only defined bits, RSV zero, gateway count below 8."""
    return len(data) >= HEADER.size and not data[0] & 0x3E and data[1] == 0 and data[2] <= 7


@dataclass(slots=True)
class TcpFrame:
    command: int
    data: bytes = b""
    error_code: int = 0

    def encode(self) -> bytes:
        return TCP_HEADER.pack(TCP_MAGIC, len(self.data) + 8, self.command, self.error_code) + self.data

    @classmethod
    def size(cls, buf: bytes | bytearray) -> int | None:
        """Whole size of the FINS/TCP frame at ``buf``'s start; ``None`` while incomplete."""
        if len(buf) < 8:
            return None
        if bytes(buf[0:4]) != TCP_MAGIC:
            raise FinsDecodeError("no FINS/TCP magic")
        length = int.from_bytes(buf[4:8], "big")
        if not 8 <= length <= MAX_TCP_LENGTH:
            raise FinsDecodeError(f"FINS/TCP length {length} out of range")
        return 8 + length

    @classmethod
    def decode(cls, data: bytes) -> Self:
        size = cls.size(data)
        if size is None or len(data) < size:
            raise FinsDecodeError("FINS/TCP frame incomplete")
        _magic, _length, command, error = TCP_HEADER.unpack_from(data)
        return cls(command, bytes(data[TCP_HEADER.size : size]), error)


@dataclass(slots=True)
class ControllerData:
    """Controller Data Read (0x0501) reply: model and version (20 characters each, space padded)."""

    model: str
    version: str

    def encode(self) -> bytes:
        return self.model.encode().ljust(MODEL_SIZE, b" ") + self.version.encode().ljust(MODEL_SIZE, b" ")

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 2 * MODEL_SIZE:
            raise FinsDecodeError(f"controller data: {len(data)} bytes, need {2 * MODEL_SIZE}")
        return cls(_text(data[:MODEL_SIZE]), _text(data[MODEL_SIZE : 2 * MODEL_SIZE]))


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()
