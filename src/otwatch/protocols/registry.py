"""The one explicit list of protocols. Adding a protocol = a new package + one line here."""

from __future__ import annotations

from otwatch.protocols import (
    ads,
    bacnet,
    bsap,
    c37118,
    cdp,
    dhcp,
    dnp3,
    dns,
    enip,
    ethercat,
    fins,
    ge_srtp,
    genisys,
    goose,
    hartip,
    http,
    iec104,
    lldp,
    melsec,
    mms,
    modbus,
    nbns,
    opcua,
    profinet_dcp,
    profinet_io,
    roc_plus,
    s7comm,
    snmp,
    sv,
    tls,
)
from otwatch.protocols.base import ProtocolSpec

PROTOCOLS: tuple[ProtocolSpec, ...] = (
    modbus.SPEC,
    dnp3.SPEC,
    dnp3.SPEC_UDP,
    iec104.SPEC,
    snmp.SPEC,
    mms.SPEC,
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
    melsec.SPEC,
    melsec.SPEC_UDP,
    melsec.SPEC_MELSOFT,
    melsec.SPEC_MELSOFT_UDP,
    fins.SPEC,
    fins.SPEC_TCP,
    roc_plus.SPEC,
    roc_plus.SPEC_UDP,
    bsap.SPEC,
    genisys.SPEC,
    profinet_dcp.SPEC,
    profinet_io.SPEC,
    goose.SPEC,
    sv.SPEC,
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
