"""Modbus/TCP: passive dissection, FC 43/14 identification, and the mapping of both to Identity."""

from __future__ import annotations

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.modbus.codes import MODBUS_PORT
from otwatch.protocols.modbus.dissect import ModbusDissector, identity_from
from otwatch.protocols.modbus.messages import MAX_PDU
from otwatch.protocols.modbus.query import identify

__all__ = ["SPEC", "ModbusDissector", "detect", "identify", "identity_from"]


def detect(payload: bytes) -> bool:
    """Whole MBAP frames back to back: protocol id 0 and lengths that add up to the segment.

    The structure, not the function code, decides (a fuzzer's unknown codes on port 502 are still
    Modbus, and must surface as such); a frame continued in the next segment may end the payload.
    Other protocols that start with two zero bytes (MELSOFT, ...) fail the length chain.
    """
    n = len(payload)
    off = whole = 0
    while off + 8 <= n:
        if payload[off + 2] or payload[off + 3]:
            return False
        length = (payload[off + 4] << 8) | payload[off + 5]
        if not 2 <= length <= MAX_PDU + 1:
            return False
        off += 6 + length
        if off > n:
            break
        whole += 1
        if whole == 4:
            return True
    return whole > 0


SPEC = ProtocolSpec(
    name="modbus",
    transport="tcp",
    ports=(MODBUS_PORT,),
    detect=detect,
    dissector=ModbusDissector,
    identity_from=identity_from,
    query=identify,
)
