"""Genisys (TCP 10001): the office-to-wayside code-line protocol of railway signalling (Union Switch &
Signal / Hitachi Rail field code units). Passive only: polls, controls, indications and their
address/data pairs, CRC-checked; the code unit that answers with indications is kept as an RTU. No
active query: every Genisys request is a poll or a control that the field unit acts on."""

from __future__ import annotations

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.genisys.codes import GENISYS_PORT
from otwatch.protocols.genisys.dissect import GenisysDissector, detect, identity_from

__all__ = ["SPEC", "GenisysDissector", "detect", "identity_from"]

SPEC = ProtocolSpec(
    name="genisys",
    transport="tcp",
    ports=(GENISYS_PORT,),
    detect=detect,
    dissector=GenisysDissector,
    identity_from=identity_from,
)
