"""IEC 61850-9-2 Sampled Values (ethertype 0x88BA): merging units publishing measurements.

One record per frame: APPID, the number of ASDUs and the first ASDU's svID, smpCnt, confRev and
smpSynch (tshark's ``sv`` fields); the publisher is a merging unit (an IED). Hand-written on the
bounded BER reader (SV runs at 4,000 frames a second per stream); wire bytes never raise. No query.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols import ber
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.ber import APPLICATION, CONTEXT, UNIVERSAL
from otwatch.protocols.framing import PerMessage

__all__ = ["SPEC", "Asdu", "SvPdu", "detect", "dissect_frame", "identity_from"]

PROTOCOL: Final = "sv"
ETHERTYPE: Final = 0x88BA
HEADER: Final = struct.Struct(">HHHH")  # APPID, length, reserved 1, reserved 2
MAX_ASDUS: Final = 16


@dataclass(slots=True)
class Asdu:
    sv_id: str
    smp_cnt: int
    conf_rev: int
    smp_synch: int = 0
    sample: bytes = b""

    def encode(self) -> bytes:
        body = ber.ctx(0, self.sv_id.encode("latin-1")) + ber.ctx(2, self.smp_cnt.to_bytes(2, "big"))
        body += ber.ctx(3, self.conf_rev.to_bytes(4, "big")) + ber.ctx(5, bytes((self.smp_synch,)))
        return ber.tlv(UNIVERSAL, 16, body + ber.ctx(7, self.sample), True)


@dataclass(slots=True)
class SvPdu:
    appid: int
    asdus: list[Asdu] = field(default_factory=list)

    def encode(self) -> bytes:
        seq = ber.ctx(2, b"".join(a.encode() for a in self.asdus), True)
        pdu = ber.tlv(APPLICATION, 0, ber.ctx(0, ber.encode_unsigned(len(self.asdus))) + seq, True)
        return HEADER.pack(self.appid, HEADER.size + len(pdu), 0, 0) + pdu

    @classmethod
    def decode(cls, buf: bytes) -> SvPdu:
        appid, length, _, _ = HEADER.unpack_from(buf)
        top = ber.read(buf, HEADER.size, min(max(length, HEADER.size), len(buf)))
        if top is None or top.tag != (APPLICATION, 0):
            raise ValueError("not a savPdu")
        msg = cls(appid)
        seq = ber.find(buf, top, CONTEXT, 2)
        if seq is None:
            raise ValueError("savPdu without seqASDU")
        for asdu in ber.children(buf, seq, MAX_ASDUS):
            entry = Asdu("", 0, 0)
            for part in ber.children(buf, asdu, 16):
                if part.number == 0:
                    entry.sv_id = ber.text(buf, part)
                elif part.number == 2:
                    entry.smp_cnt = ber.unsigned(buf, part) or 0
                elif part.number == 3:
                    entry.conf_rev = ber.unsigned(buf, part) or 0
                elif part.number == 5:
                    entry.smp_synch = ber.unsigned(buf, part) or 0
            msg.asdus.append(entry)
        return msg


def dissect_frame(data: bytes) -> Record:
    try:
        msg = SvPdu.decode(data)
    except (ValueError, IndexError, struct.error) as exc:
        return Record(PROTOCOL, "response", {}, malformed=str(exc) or "short SV frame")
    fields: dict[str, Any] = {"appid": msg.appid, "no_asdu": len(msg.asdus)}
    if msg.asdus:
        first = msg.asdus[0]
        fields.update(sv_id=first.sv_id, smp_cnt=first.smp_cnt, conf_rev=first.conf_rev)
        fields["smp_synch"] = first.smp_synch
        fields["sv_ids"] = sorted({a.sv_id for a in msg.asdus})
    return Record(PROTOCOL, "response", fields)


def detect(payload: bytes) -> bool:
    return len(payload) > HEADER.size + 2 and payload[HEADER.size] == 0x60


def identity_from(record: Record) -> Identity | None:
    """The publisher: a merging unit, with the svIDs it publishes."""
    if record.malformed or not record.fields.get("sv_id"):
        return None
    return Identity(protocol=PROTOCOL, device_type=DeviceType.IED, extra={"sv_ids": record.fields["sv_ids"]})


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="eth",
    ports=(ETHERTYPE,),
    detect=detect,
    dissector=partial(PerMessage, dissect_frame),
    identity_from=identity_from,
)
