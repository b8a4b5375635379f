"""IEC 60870-5-104 APDUs (APCI plus optional ASDU) with encode() and decode().

Uses the 104 profile's fixed sizes: 2-octet cause of transmission (with originator address),
2-octet common address, 3-octet information object address. ``decode`` raises
:class:`Iec104DecodeError` on out-of-spec bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from otwatch.protocols.iec104.codes import MAX_APDU_LENGTH, START, ApciType

ASDU_HEADER = 6  # type id, variable structure qualifier, cause (2), common address (2)
IOA_SIZE = 3


class Iec104DecodeError(ValueError):
    """The bytes are not a valid IEC 104 APDU."""


@dataclass(slots=True)
class Asdu:
    type_id: int
    cause: int
    common_address: int
    ioa: int | None = None  # address of the first information object
    num_objects: int = 1
    sequence: bool = False  # SQ: objects at consecutive addresses after one IOA
    negative: bool = False
    test: bool = False
    originator: int = 0
    information: bytes = b""  # first object's elements and the rest, after the first IOA

    def encode(self) -> bytes:
        vsq = (0x80 if self.sequence else 0) | (self.num_objects & 0x7F)
        cot = (0x80 if self.test else 0) | (0x40 if self.negative else 0) | (self.cause & 0x3F)
        out = bytes((self.type_id, vsq, cot, self.originator)) + self.common_address.to_bytes(2, "little")
        if self.ioa is not None:
            out += self.ioa.to_bytes(IOA_SIZE, "little")
        return out + self.information

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < ASDU_HEADER:
            raise Iec104DecodeError(f"short asdu header: {len(data)} bytes")
        type_id, vsq, cot, orig = data[0], data[1], data[2], data[3]
        msg = cls(
            type_id=type_id,
            cause=cot & 0x3F,
            common_address=int.from_bytes(data[4:6], "little"),
            num_objects=vsq & 0x7F,
            sequence=bool(vsq & 0x80),
            negative=bool(cot & 0x40),
            test=bool(cot & 0x80),
            originator=orig,
        )
        if msg.num_objects:
            if len(data) < ASDU_HEADER + IOA_SIZE:
                raise Iec104DecodeError("asdu announces objects but has no object address")
            msg.ioa = int.from_bytes(data[ASDU_HEADER : ASDU_HEADER + IOA_SIZE], "little")
            msg.information = bytes(data[ASDU_HEADER + IOA_SIZE :])
        return msg


@dataclass(slots=True)
class Apdu:
    """One APDU. I-format carries an ASDU and both sequence numbers; S only ``recv_seq``; U a function."""

    apci_type: ApciType
    send_seq: int = 0
    recv_seq: int = 0
    u_function: int = 0  # first control octet of a U frame (STARTDT/STOPDT/TESTFR act/con)
    asdu: Asdu | None = None

    def encode(self) -> bytes:
        if self.apci_type == ApciType.I:
            ctrl = (self.send_seq << 1).to_bytes(2, "little") + (self.recv_seq << 1).to_bytes(2, "little")
        elif self.apci_type == ApciType.S:
            ctrl = b"\x01\x00" + (self.recv_seq << 1).to_bytes(2, "little")
        else:
            ctrl = bytes((self.u_function | 0x03, 0, 0, 0))
        body = ctrl + (self.asdu.encode() if self.asdu is not None else b"")
        return bytes((START, len(body))) + body

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Decode one complete APDU (start octet, length, control octets, ASDU)."""
        if len(data) < 6 or data[0] != START:
            raise Iec104DecodeError("short apdu or missing start octet")
        length = data[1]
        if not 4 <= length <= MAX_APDU_LENGTH or len(data) < 2 + length:
            raise Iec104DecodeError(f"bad apdu length {length}")
        c1 = data[2]
        if c1 & 0x01 == 0:
            msg = cls(
                ApciType.I,
                send_seq=int.from_bytes(data[2:4], "little") >> 1,
                recv_seq=int.from_bytes(data[4:6], "little") >> 1,
            )
            msg.asdu = Asdu.decode(bytes(data[6 : 2 + length]))
            return msg
        if length != 4:
            raise Iec104DecodeError(f"{'S' if c1 & 0x03 == 0x01 else 'U'}-format apdu with length {length}")
        if c1 & 0x03 == 0x01:
            return cls(ApciType.S, recv_seq=int.from_bytes(data[4:6], "little") >> 1)
        return cls(ApciType.U, u_function=c1)
