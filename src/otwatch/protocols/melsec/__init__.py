"""Mitsubishi MELSEC: the MC protocol / SLMP (3E and 4E frames, binary and ASCII, TCP and UDP) with
its read-only CPU model query, and MELSOFT, GX Works' engineering protocol, recognised by content."""

from __future__ import annotations

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.melsec import melsoft
from otwatch.protocols.melsec.codes import MC_PORTS, MELSOFT_TCP_PORTS, MELSOFT_UDP_PORTS
from otwatch.protocols.melsec.dissect import MelsecDissector, detect, identity_from
from otwatch.protocols.melsec.melsoft import MelsoftDissector
from otwatch.protocols.melsec.query import identify

__all__ = ["SPEC", "SPEC_MELSOFT", "SPEC_MELSOFT_UDP", "SPEC_UDP", "MelsecDissector", "MelsoftDissector",
           "detect", "identify", "identity_from"]  # fmt: skip

SPEC = ProtocolSpec(
    name="melsec",
    transport="tcp",
    ports=MC_PORTS,
    detect=detect,
    dissector=MelsecDissector,
    identity_from=identity_from,
    query=identify,
)
SPEC_UDP = ProtocolSpec(
    name="melsec",
    transport="udp",
    ports=MC_PORTS,
    detect=detect,
    dissector=MelsecDissector,
    identity_from=identity_from,
)
SPEC_MELSOFT = ProtocolSpec(
    name="melsoft",
    transport="tcp",
    ports=MELSOFT_TCP_PORTS,
    detect=melsoft.detect,
    dissector=MelsoftDissector,
    identity_from=identity_from,
)
SPEC_MELSOFT_UDP = ProtocolSpec(
    name="melsoft",
    transport="udp",
    ports=MELSOFT_UDP_PORTS,
    detect=melsoft.detect_udp,
    dissector=MelsoftDissector,
    identity_from=identity_from,
)
