"""DNP3 over TCP/UDP: passive dissection and an opt-in link-status check (off by default)."""

from __future__ import annotations

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.dnp3.codes import DNP3_PORT, START
from otwatch.protocols.dnp3.dissect import Dnp3Dissector
from otwatch.protocols.dnp3.messages import HEADER_SIZE, crc16
from otwatch.protocols.dnp3.query import identify

__all__ = ["SPEC", "SPEC_UDP", "Dnp3Dissector", "detect", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Start octets, a valid length and a matching header CRC: near-certain with 16 bits of CRC."""
    if len(payload) < HEADER_SIZE or payload[:2] != START or payload[2] < 5:
        return False
    return crc16(payload[:8]) == int.from_bytes(payload[8:10], "little")


def identity_from(record: Record) -> Identity | None:
    """A response (or link status) tells that its source address is a DNP3 outstation."""
    fields = record.fields
    if record.malformed or "source" not in fields:
        return None
    if fields.get("fc_reply") or fields.get("link_function") == "LINK_STATUS":
        return Identity(protocol="dnp3", extra={"dnp3_address": fields["source"]})
    return None


SPEC = ProtocolSpec(
    name="dnp3",
    transport="tcp",
    ports=(DNP3_PORT,),
    detect=detect,
    dissector=Dnp3Dissector,
    identity_from=identity_from,
    query=identify,
)

# DNP3 also runs over UDP 20000; same dissector, one datagram at a time. No query over UDP.
SPEC_UDP = ProtocolSpec(
    name="dnp3",
    transport="udp",
    ports=(DNP3_PORT,),
    detect=detect,
    dissector=Dnp3Dissector,
    identity_from=identity_from,
)
