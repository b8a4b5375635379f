"""BSAP (Bristol Standard Asynchronous/Synchronous Protocol) over UDP 1234/1235: BSAP/IP (OpenBSI) and
BSAP serial frames carried over IP. Passive only: RDB reads and writes with their signal names,
engineering operations (RDB writes, flash download, RDB extension reset / clock / node address), and
the Emerson (Bristol) RTU behind an RDB answer. No active query: BSAP has no documented read-only
identification request."""

from __future__ import annotations

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.bsap.codes import BSAP_PORTS
from otwatch.protocols.bsap.dissect import BsapDissector, detect, identity_from

__all__ = ["SPEC", "BsapDissector", "detect", "identity_from"]

SPEC = ProtocolSpec(
    name="bsap",
    transport="udp",
    ports=BSAP_PORTS,
    detect=detect,
    dissector=BsapDissector,
    identity_from=identity_from,
)
