"""Omron FINS over UDP 9600 and FINS/TCP 9600: passive dissection, Controller Data Read query."""

from __future__ import annotations

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.fins.codes import FINS_PORT
from otwatch.protocols.fins.dissect import FinsDissector, detect, identity_from
from otwatch.protocols.fins.query import identify

__all__ = ["SPEC", "SPEC_TCP", "FinsDissector", "detect", "identify", "identity_from"]

SPEC = ProtocolSpec(
    name="fins",
    transport="udp",
    ports=(FINS_PORT,),
    detect=detect,
    dissector=FinsDissector,
    identity_from=identity_from,
    query=identify,
)
SPEC_TCP = ProtocolSpec(
    name="fins",
    transport="tcp",
    ports=(FINS_PORT,),
    detect=detect,
    dissector=FinsDissector,
    identity_from=identity_from,
)
