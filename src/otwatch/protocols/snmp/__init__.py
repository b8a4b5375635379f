"""SNMP v1/v2c/v3 (UDP 161): passive decoding for the sensor, read-only identification for the agent.

An IT protocol (``ot=False``): switches, routers and Windows/Linux hosts on the plant network answer
it. The agent asks only with the credentials it was given; it never guesses communities.
"""

from __future__ import annotations

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.snmp import codes
from otwatch.protocols.snmp.dissect import SnmpDissector
from otwatch.protocols.snmp.messages import SnmpMessage, decode_message
from otwatch.protocols.snmp.query import identify, identity_from_system

__all__ = ["SPEC", "SnmpDissector", "SnmpMessage", "decode_message", "detect", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Content detection: a BER SEQUENCE that decodes as an SNMP message."""
    if len(payload) < 8 or payload[0] != codes.SEQUENCE:
        return False
    msg, _ = decode_message(payload)
    return msg is not None


def identity_from(record: Record) -> Identity | None:
    """Identity from a response carrying MIB-2 system group values (a manager's poll seen passively)."""
    if record.direction != "response":
        return None
    values = record.fields.get("values") or {}
    system = {name: values[oid] for oid, name in codes.SYSTEM_FIELDS.items() if oid in values}
    if not system:
        return None
    return identity_from_system(system, [])


SPEC = ProtocolSpec(
    name="snmp",
    transport="udp",
    ports=(161,),
    detect=detect,
    dissector=SnmpDissector,
    identity_from=identity_from,
    ot=False,
    query=identify,
)
