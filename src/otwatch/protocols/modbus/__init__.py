"""Modbus/TCP: passive dissection, FC 43/14 identification, and the mapping of both to Identity."""

from __future__ import annotations

from otwatch.protocols.base import ProtocolSpec
from otwatch.protocols.modbus.codes import EXCEPTION_BIT, MODBUS_PORT, FunctionCode
from otwatch.protocols.modbus.dissect import ModbusDissector, identity_from
from otwatch.protocols.modbus.messages import MAX_PDU, MBAP
from otwatch.protocols.modbus.query import identify

__all__ = ["SPEC", "ModbusDissector", "detect", "identify", "identity_from"]

_KNOWN_CODES = frozenset(int(c) for c in FunctionCode)


def detect(payload: bytes) -> bool:
    """A first segment that starts with a plausible MBAP header and a known function code."""
    if len(payload) < 8:
        return False
    _tid, pid, length, _unit = MBAP.unpack_from(payload)
    return pid == 0 and 2 <= length <= MAX_PDU + 1 and (payload[7] & ~EXCEPTION_BIT) in _KNOWN_CODES


SPEC = ProtocolSpec(
    name="modbus",
    transport="tcp",
    ports=(MODBUS_PORT,),
    detect=detect,
    dissector=ModbusDissector,
    identity_from=identity_from,
    query=identify,
)
