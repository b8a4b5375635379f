"""HART-IP (TCP and UDP 5094): passive dissection of HART-IP sessions and the HART commands they
carry, read-only identification (command 0), and the mapping of both to Identity."""

from __future__ import annotations

from functools import partial

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.hartip.codes import HARTIP_PORT
from otwatch.protocols.hartip.dissect import HartIpDissector, detect, identity_from
from otwatch.protocols.hartip.query import identify

__all__ = ["SPEC", "SPEC_UDP", "HartIpDissector", "detect", "identity_from"]

SPEC = ProtocolSpec(
    name="hartip",
    transport="tcp",
    ports=(HARTIP_PORT,),
    detect=detect,
    dissector=HartIpDissector,
    identity_from=identity_from,
    query=identify,
)

SPEC_UDP = ProtocolSpec(
    name="hartip",
    transport="udp",
    ports=(HARTIP_PORT,),
    detect=detect,
    dissector=partial(HartIpDissector, datagrams=True),
    identity_from=identity_from,
)
