"""IEEE C37.118.2 synchrophasor (TCP 4712, UDP 4713): PMU and PDC streams, their configuration
(station names, IDCODEs, channels, data rate) and commands. No active query: a PDC's command frames
switch transmission, which a scanner must not do."""

from __future__ import annotations

from functools import partial

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.c37118.codes import TCP_PORT, UDP_PORT
from otwatch.protocols.c37118.dissect import C37118Dissector, detect, dissect_frame, identity_from

__all__ = ["SPEC", "SPEC_UDP", "C37118Dissector", "detect", "dissect_frame", "identity_from"]

SPEC = ProtocolSpec(
    name="c37118",
    transport="tcp",
    ports=(TCP_PORT,),
    detect=detect,
    dissector=C37118Dissector,
    identity_from=identity_from,
)

SPEC_UDP = ProtocolSpec(
    name="c37118",
    transport="udp",
    ports=(UDP_PORT,),
    detect=detect,
    dissector=partial(C37118Dissector, datagrams=True),
    identity_from=identity_from,
)
