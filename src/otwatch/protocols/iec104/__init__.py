"""IEC 60870-5-104 (telecontrol over TCP 2404): passive dissection only; no safe active query exists."""

from __future__ import annotations

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.iec104.codes import IEC104_PORT, MAX_APDU_LENGTH, START, UFunction
from otwatch.protocols.iec104.dissect import Iec104Dissector

__all__ = ["SPEC", "Iec104Dissector", "detect", "identity_from"]

_U_FUNCTIONS = frozenset(int(f) for f in UFunction)


def detect(payload: bytes) -> bool:
    """A start octet, a sane length, and control octets valid for their format."""
    if len(payload) < 6 or payload[0] != START or not 4 <= payload[1] <= MAX_APDU_LENGTH:
        return False
    c1 = payload[2]
    if c1 & 0x03 == 0x03:
        return payload[1] == 4 and c1 in _U_FUNCTIONS and payload[3:6] == b"\x00\x00\x00"
    if c1 & 0x03 == 0x01:
        return payload[1] == 4 and c1 == 0x01 and payload[3] == 0
    return payload[1] >= 10  # I-format: 4 control octets + at least an ASDU header and IOA


def identity_from(record: Record) -> Identity | None:
    """An outstation's common address is the only identity 104 carries on the wire."""
    fields = record.fields
    if record.malformed or record.direction != "response" or "common_address" not in fields:
        return None
    return Identity(protocol="iec104", extra={"common_address": fields["common_address"]})


SPEC = ProtocolSpec(
    name="iec104",
    transport="tcp",
    ports=(IEC104_PORT,),
    detect=detect,
    dissector=Iec104Dissector,
    identity_from=identity_from,
)
