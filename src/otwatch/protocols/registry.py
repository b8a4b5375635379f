"""The one explicit list of protocols. Adding a protocol = a new package + one line here."""

from __future__ import annotations

from otwatch.protocols import (
    ads,
    bacnet,
    c37118,
    cdp,
    dhcp,
    dnp3,
    dns,
    enip,
    ethercat,
    ge_srtp,
    hartip,
    http,
    iec104,
    lldp,
    modbus,
    nbns,
    opcua,
    profinet_dcp,
    s7comm,
    snmp,
    tls,
)
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
    opcua.SPEC,
    ads.SPEC,
    ads.SPEC_UDP,
    hartip.SPEC,
    hartip.SPEC_UDP,
    c37118.SPEC,
    c37118.SPEC_UDP,
    ethercat.SPEC,
    ge_srtp.SPEC,
    profinet_dcp.SPEC,
    dhcp.SPEC,
    dns.SPEC,
    dns.SPEC_MDNS,
    dns.SPEC_LLMNR,
    nbns.SPEC,
    http.SPEC,
    tls.SPEC,
    lldp.SPEC,
    cdp.SPEC,
)


def by_name(name: str) -> ProtocolSpec:
    for spec in PROTOCOLS:
        if spec.name == name:
            return spec
    raise KeyError(name)
