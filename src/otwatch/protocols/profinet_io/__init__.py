"""PROFINET IO context management: connectionless DCE/RPC on UDP 34964 (IEC 61158-6-10).

Recognised by content (a DCE/RPC v4 header whose interface is one of PNIO's, or the endpoint
mapper's), not only by port, so it is never taken for another protocol. No active query: reading
I&M0 needs an application relation or the implicit read, which the agent's safety rules keep out.
"""

from __future__ import annotations

from functools import partial

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage
from otwatch.protocols.profinet_io import codes
from otwatch.protocols.profinet_io.dissect import PROTOCOL, dissect_datagram, identity_from_fields
from otwatch.protocols.profinet_io.messages import RpcDecodeError, RpcHeader

__all__ = ["SPEC", "detect", "dissect_datagram", "identity_from"]


def detect(payload: bytes) -> bool:
    try:
        header = RpcHeader.decode(payload)
    except RpcDecodeError:
        return False
    return header.interface in codes.INTERFACES


def identity_from(record: Record) -> Identity | None:
    return identity_from_fields(record.fields)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="udp",
    ports=(codes.PORT,),
    detect=detect,
    dissector=partial(PerMessage, dissect_datagram),
    identity_from=identity_from,
)
