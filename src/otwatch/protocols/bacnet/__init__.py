"""BACnet/IP (ASHRAE 135 Annex J) over UDP 47808: building automation controllers."""

from __future__ import annotations

from otwatch.inventory.identity import Identity
from otwatch.protocols.bacnet import codes
from otwatch.protocols.bacnet.dissect import BacnetDissector, identity_from_fields
from otwatch.protocols.bacnet.query import identify
from otwatch.protocols.base import ProtocolSpec, Record

__all__ = ["SPEC", "BacnetDissector", "detect", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Content detection: BVLC type 0x81, a known function, and NPDU version 1 where one follows."""
    if len(payload) < 4 or payload[0] != codes.BVLC_TYPE_BACNET_IP:
        return False
    function = payload[1]
    if function not in codes.BVLC_FUNCTION_NAMES:
        return False
    offset = codes.BVLC_NPDU_OFFSET.get(function)
    return offset is None or (len(payload) > offset + 1 and payload[offset] == codes.NPDU_VERSION)


def identity_from(record: Record) -> Identity | None:
    """Identity from I-Am and from ReadProperty answers about a device object."""
    return identity_from_fields(record.fields)


SPEC = ProtocolSpec(
    name="bacnet",
    transport="udp",
    ports=(codes.PORT,),
    detect=detect,
    dissector=BacnetDissector,
    identity_from=identity_from,
    query=identify,
)
