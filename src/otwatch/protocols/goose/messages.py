"""IEC 61850-8-1 GOOSE frames (ethertype 0x88B8): the common header and the goosePdu.

Hand-written on :mod:`otwatch.protocols.ber` (a substation bus carries thousands of GOOSE frames a
second). :class:`GoosePdu` encodes (test frames, crafted attacks in tests) and decodes (the sensor);
``decode`` raises ``ValueError`` on out-of-spec bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from otwatch.protocols import ber
from otwatch.protocols.ber import APPLICATION, CONTEXT

ETHERTYPE: Final = 0x88B8
#: APPID, length (from the APPID on), reserved 1 (bit 15: simulation, IEC 61850-8-1 Ed. 2), reserved 2.
HEADER: Final = struct.Struct(">HHHH")
SIMULATION_BIT: Final = 0x8000

Buffer = bytes | bytearray | memoryview


def utc_time(raw: bytes) -> str | None:
    """IEC 61850 UtcTime (seconds, 24-bit fraction, quality) as ISO 8601 with microseconds."""
    if len(raw) != 8:
        return None
    micros = (int.from_bytes(raw[4:7], "big") * 1_000_000) >> 24  # truncated, as tshark shows it
    when = datetime.fromtimestamp(int.from_bytes(raw[:4], "big"), UTC) + timedelta(microseconds=micros)
    return when.isoformat(timespec="microseconds")


def encode_utc_time(seconds: float, quality: int = 0x0A) -> bytes:
    whole = int(seconds)
    fraction = int((seconds - whole) * (1 << 24)) & 0xFFFFFF
    return whole.to_bytes(4, "big") + fraction.to_bytes(3, "big") + bytes((quality,))


@dataclass(slots=True)
class GoosePdu:
    """One GOOSE message (header and goosePdu; the dataset values are kept as raw BER)."""

    appid: int
    gocb_ref: str
    time_allowed_to_live: int  # milliseconds
    dat_set: str
    go_id: str | None = None
    t: bytes = bytes(8)
    st_num: int = 1
    sq_num: int = 0
    simulation: bool = False  # "test" in Ed. 1
    conf_rev: int = 1
    nds_com: bool = False
    num_dat_set_entries: int = 0
    all_data: bytes = b""
    reserved1: int = 0

    def encode(self) -> bytes:
        """The frame from the APPID on (what follows the ethertype)."""
        body = ber.ctx(0, self.gocb_ref.encode("latin-1"))
        body += ber.ctx(1, ber.encode_unsigned(self.time_allowed_to_live))
        body += ber.ctx(2, self.dat_set.encode("latin-1"))
        if self.go_id is not None:
            body += ber.ctx(3, self.go_id.encode("latin-1"))
        body += ber.ctx(4, self.t)
        body += ber.ctx(5, ber.encode_unsigned(self.st_num)) + ber.ctx(6, ber.encode_unsigned(self.sq_num))
        body += ber.ctx(7, b"\xff" if self.simulation else b"\x00")
        body += ber.ctx(8, ber.encode_unsigned(self.conf_rev))
        body += ber.ctx(9, b"\xff" if self.nds_com else b"\x00")
        body += ber.ctx(10, ber.encode_unsigned(self.num_dat_set_entries))
        body += ber.ctx(11, self.all_data, True)
        pdu = ber.tlv(APPLICATION, 1, body, True)
        return HEADER.pack(self.appid, HEADER.size + len(pdu), self.reserved1, 0) + pdu

    @classmethod
    def decode(cls, buf: Buffer) -> GoosePdu:
        appid, length, reserved1, _ = HEADER.unpack_from(buf)
        if length < HEADER.size + 2:
            raise ValueError("GOOSE length shorter than its header")
        end = min(length, len(buf))
        top = ber.read(buf, HEADER.size, end)
        if top is None or top.tag != (APPLICATION, 1):
            raise ValueError("not a goosePdu")
        msg = cls(appid, "", 0, "", reserved1=reserved1)
        seen = 0
        for part in ber.children(buf, top, 16):
            if part.cls != CONTEXT:
                continue
            seen |= 1 << part.number
            n = part.number
            if n == 0:
                msg.gocb_ref = ber.text(buf, part)
            elif n == 1:
                msg.time_allowed_to_live = ber.unsigned(buf, part) or 0
            elif n == 2:
                msg.dat_set = ber.text(buf, part)
            elif n == 3:
                msg.go_id = ber.text(buf, part)
            elif n == 4:
                msg.t = bytes(buf[part.start : part.end])
            elif n == 5:
                msg.st_num = ber.unsigned(buf, part) or 0
            elif n == 6:
                msg.sq_num = ber.unsigned(buf, part) or 0
            elif n == 7:
                msg.simulation = bool(ber.boolean(buf, part))
            elif n == 8:
                msg.conf_rev = ber.unsigned(buf, part) or 0
            elif n == 9:
                msg.nds_com = bool(ber.boolean(buf, part))
            elif n == 10:
                msg.num_dat_set_entries = ber.unsigned(buf, part) or 0
            elif n == 11:
                msg.all_data = bytes(buf[part.start : part.end])
        missing = [name for bit, name in _MANDATORY if not seen & (1 << bit)]
        if missing:
            raise ValueError(f"goosePdu without {', '.join(missing)}")
        return msg


_MANDATORY: Final = ((0, "gocbRef"), (1, "timeAllowedtoLive"), (5, "stNum"), (6, "sqNum"))
