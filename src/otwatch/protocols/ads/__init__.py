"""Beckhoff ADS/AMS (TCP 48898) and the TwinCAT UDP service (UDP 48899: discovery and AddRoute):
passive dissection, read-only identification, and the mapping of both to Identity."""

from __future__ import annotations

from functools import partial

from otwatch.protocols.ads.codes import ADS_TCP_PORT, ADS_UDP_PORT
from otwatch.protocols.ads.dissect import AdsDissector, detect, detect_udp, dissect_udp, identity_from
from otwatch.protocols.ads.query import identify, identify_udp
from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.framing import PerMessage

__all__ = ["SPEC", "SPEC_UDP", "AdsDissector", "detect", "detect_udp", "dissect_udp", "identity_from"]

SPEC = ProtocolSpec(
    name="ads",
    transport="tcp",
    ports=(ADS_TCP_PORT,),
    detect=detect,
    dissector=AdsDissector,
    identity_from=identity_from,
    query=identify,
)

SPEC_UDP = ProtocolSpec(
    name="ads",
    transport="udp",
    ports=(ADS_UDP_PORT,),
    detect=detect_udp,
    dissector=partial(PerMessage, dissect_udp),
    identity_from=identity_from,
    query=identify_udp,
)
