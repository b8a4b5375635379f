"""The one explicit list of protocols. Adding a protocol = a new package + one line here."""

from __future__ import annotations

from otwatch.protocols import bacnet, dnp3, enip, iec104, modbus, s7comm, snmp
from otwatch.protocols.base import ProtocolSpec

PROTOCOLS: tuple[ProtocolSpec, ...] = (
    modbus.SPEC,
    dnp3.SPEC,
    dnp3.SPEC_UDP,
    iec104.SPEC,
    snmp.SPEC,
    s7comm.SPEC,
    enip.SPEC,
    enip.SPEC_UDP,
    bacnet.SPEC,
)


def by_name(name: str) -> ProtocolSpec:
    for spec in PROTOCOLS:
        if spec.name == name:
            return spec
    raise KeyError(name)
