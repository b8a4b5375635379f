"""Siemens S7comm (and S7comm-plus detection) over ISO-on-TCP (TPKT/COTP), TCP port 102."""

from __future__ import annotations

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.s7comm import codes
from otwatch.protocols.s7comm.dissect import PROTOCOL_PLUS, S7commDissector, identity_from_fields
from otwatch.protocols.s7comm.query import identify

__all__ = ["SPEC", "S7commDissector", "detect", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Content detection: a TPKT header whose COTP PDU is CR/CC/DT (S7 on a non-standard port)."""
    if len(payload) < 7 or payload[0] != codes.TPKT_VERSION or payload[1] != 0:
        return False
    length = int.from_bytes(payload[2:4], "big")
    if length < 7 or payload[4] + 5 > length:
        return False
    pdu_type = payload[5] >> 4
    if pdu_type in (codes.COTP_CR, codes.COTP_CC):
        return True
    s7_at = 4 + payload[4] + 1  # after the COTP header, whose length byte comes from the wire
    if pdu_type == codes.COTP_DT and len(payload) > max(7, s7_at):
        return payload[s7_at] in (codes.S7_PROTOCOL_ID, codes.S7PLUS_PROTOCOL_ID)
    return False


def identity_from(record: Record) -> Identity | None:
    """Identity facts carried by SZL answers (module/component identification, CPU mode)."""
    if record.protocol == PROTOCOL_PLUS:
        return Identity(protocol=PROTOCOL_PLUS, vendor="Siemens", device_type=DeviceType.PLC)
    return identity_from_fields(record.fields)


SPEC = ProtocolSpec(
    name="s7comm",
    transport="tcp",
    ports=(102,),
    detect=detect,
    dissector=S7commDissector,
    identity_from=identity_from,
    query=identify,
)
