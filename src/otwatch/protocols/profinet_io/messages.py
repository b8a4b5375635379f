"""The DCE/RPC connectionless header (80 bytes) that carries every PROFINET IO CM message.

The integer fields and the first three fields of each UUID are in the byte order the data
representation (``drep``) names: little-endian when the high nibble of ``drep[0]`` is 1. The PNIO
blocks in the body are always big-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

HEADER_SIZE: Final = 80
RPC_VERSION: Final = 4


class RpcDecodeError(ValueError):
    """The bytes are not a connectionless DCE/RPC message."""


def _uuid(raw: bytes, little: bool) -> UUID:
    return UUID(bytes_le=raw) if little else UUID(bytes=raw)


def _uuid_bytes(value: UUID, little: bool) -> bytes:
    return value.bytes_le if little else value.bytes


@dataclass(slots=True)
class RpcHeader:
    ptype: int
    object: UUID
    interface: UUID
    activity: UUID
    opnum: int
    seqnum: int = 0
    fragnum: int = 0
    flags1: int = 0x20  # idempotent
    little: bool = True
    interface_version: int = 1
    body: bytes = field(default=b"", repr=False)

    def encode(self) -> bytes:
        e = "<" if self.little else ">"
        drep = bytes((0x10 if self.little else 0x00, 0, 0))
        head = bytes((RPC_VERSION, self.ptype, self.flags1, 0)) + drep + b"\x00"
        head += _uuid_bytes(self.object, self.little) + _uuid_bytes(self.interface, self.little)
        head += _uuid_bytes(self.activity, self.little)
        head += struct.pack(e + "IIIHHHHHBB", 0, self.interface_version, self.seqnum, self.opnum, 0xFFFF, 0xFFFF,
                            len(self.body), self.fragnum, 0, 0)  # fmt: skip
        return head + self.body

    @classmethod
    def decode(cls, buf: bytes) -> RpcHeader:
        if len(buf) < HEADER_SIZE or buf[0] != RPC_VERSION or buf[1] > 10:
            raise RpcDecodeError("not a connectionless DCE/RPC v4 header")
        little = buf[4] >> 4 == 1
        e = "<" if little else ">"
        _boot, version, seqnum, opnum, _ihint, _ahint, length, fragnum = struct.unpack_from(
            e + "IIIHHHHH", buf, 56
        )
        body = buf[HEADER_SIZE : HEADER_SIZE + length]
        if len(body) < length:
            raise RpcDecodeError("DCE/RPC fragment length runs past the datagram")
        return cls(
            ptype=buf[1],
            object=_uuid(buf[8:24], little),
            interface=_uuid(buf[24:40], little),
            activity=_uuid(buf[40:56], little),
            opnum=opnum,
            seqnum=seqnum,
            fragnum=fragnum,
            flags1=buf[2],
            little=little,
            interface_version=version,
            body=bytes(body),
        )
