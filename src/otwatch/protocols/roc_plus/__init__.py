"""Emerson ROC Plus (TCP and UDP 4000): ROC800-Series, FloBoss and DL8000 flow computers and RTUs.
Passive dissection with CRC-checked framing, engineering operations (clock set, parameter and table
writes, logins, file writes and deletes), identity from System Configuration replies, and a
read-only System Configuration query."""

from __future__ import annotations

from functools import partial

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.roc_plus.codes import ROC_PLUS_PORT
from otwatch.protocols.roc_plus.dissect import RocPlusDissector, detect, identity_from
from otwatch.protocols.roc_plus.query import identify

__all__ = ["SPEC", "SPEC_UDP", "RocPlusDissector", "detect", "identify", "identity_from"]

SPEC = ProtocolSpec(
    name="roc_plus",
    transport="tcp",
    ports=(ROC_PLUS_PORT,),
    detect=detect,
    dissector=RocPlusDissector,
    identity_from=identity_from,
    query=identify,
)
SPEC_UDP = ProtocolSpec(
    name="roc_plus",
    transport="udp",
    ports=(ROC_PLUS_PORT,),
    detect=detect,
    dissector=partial(RocPlusDissector, datagrams=True),
    identity_from=identity_from,
)
