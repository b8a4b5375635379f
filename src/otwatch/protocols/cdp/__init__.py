"""CDP (Cisco Discovery Protocol, LLC/SNAP to 01:00:0c:cc:cc:cc): Cisco switches, routers and phones
announcing their name, platform, software version and addresses every 60 s.

Hand-written: a bounded walk of 2+2-byte TLVs after the SNAP header, no per-TLV objects. The frame has
no ethertype (an 802.3 length), so the sensor offers every LLC frame to :func:`detect`, which checks
the SNAP header (OUI 00:00:0c, protocol 0x2000). A neighbour with Router, Switch or Bridge
capabilities is a switch. Field names follow tshark's cdp. Wire bytes never raise.
"""

from __future__ import annotations

import re
from functools import partial
from socket import inet_ntoa
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage

__all__ = ["SPEC", "detect", "dissect_frame", "identity_from"]

PROTOCOL: Final = "cdp"
SNAP: Final = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00"
CAPABILITIES: Final = (
    (0x01, "Router"),
    (0x02, "Transparent Bridge"),
    (0x04, "Source Route Bridge"),
    (0x08, "Switch"),
    (0x10, "Host"),
    (0x20, "IGMP capable"),
    (0x40, "Repeater"),
    (0x80, "VoIP Phone"),
    (0x100, "Remotely Managed Device"),
)
SWITCHING: Final = 0x01 | 0x02 | 0x04 | 0x08
MAX_TLVS: Final = 64
MAX_ADDRESSES: Final = 8
_TEXT: Final = {0x0001: "device_id", 0x0003: "port_id", 0x0005: "software_version", 0x0006: "platform"}
_VERSION: Final = re.compile(r"Version ([^\s,]+)")


def _addresses(value: bytes) -> list[str]:
    """IPv4 entries of an Addresses TLV (NLPID 0xCC); others are skipped."""
    out: list[str] = []
    if len(value) < 4:
        return out
    count, pos = int.from_bytes(value[:4], "big"), 4
    for _ in range(min(count, MAX_ADDRESSES)):
        if pos + 2 > len(value):
            break
        plen = value[pos + 1]
        proto = value[pos + 2 : pos + 2 + plen]
        pos += 2 + plen
        if pos + 2 > len(value):
            break
        alen = int.from_bytes(value[pos : pos + 2], "big")
        addr = value[pos + 2 : pos + 2 + alen]
        pos += 2 + alen
        if proto == b"\xcc" and len(addr) == 4:
            out.append(inet_ntoa(addr))
    return out


def dissect_frame(data: bytes) -> Record:
    """One LLC frame (from the SNAP header on) -> one record."""
    fields: dict[str, Any] = {}
    record = Record(PROTOCOL, "unknown", fields)
    if len(data) < 12 or data[:8] != SNAP:
        record.malformed = "not a CDP SNAP frame"
        return record
    fields["version"] = data[8]
    fields["ttl"] = data[9]
    pos, n = 12, len(data)
    for _ in range(MAX_TLVS):
        if pos + 4 > n:
            break
        kind = int.from_bytes(data[pos : pos + 2], "big")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 4:
            if kind or length:  # zero padding after the last TLV is fine
                record.malformed = "CDP TLV length shorter than its header"
            break
        value = data[pos + 4 : pos + length]
        if len(value) < length - 4:
            record.malformed = "CDP TLV past the end"
            break
        pos += length
        if kind in _TEXT:
            fields[_TEXT[kind]] = value[:1024].rstrip(b"\x00").decode("utf-8", "replace")
        elif kind == 0x0002:
            fields["addresses"] = _addresses(value)
        elif kind == 0x0004 and len(value) == 4:
            caps = int.from_bytes(value, "big")
            fields["capabilities_bits"] = caps
            fields["capabilities"] = [name for bit, name in CAPABILITIES if caps & bit]
        elif kind == 0x000A and len(value) == 2:
            fields["native_vlan"] = int.from_bytes(value, "big")
        elif kind == 0x0016 and "mgmt_addresses" not in fields:
            fields["mgmt_addresses"] = _addresses(value)
    if record.malformed is None and "device_id" not in fields:
        record.malformed = "CDP frame without device id"
    return record


def detect(payload: bytes) -> bool:
    return payload[:8] == SNAP


def identity_from(record: Record) -> Identity | None:
    fields = record.fields
    if record.malformed:
        return None
    software = fields.get("software_version") or ""
    version = _VERSION.search(software)
    caps = fields.get("capabilities_bits", 0)
    extra: dict[str, Any] = {"cdp_software": software} if software else {}
    if fields.get("addresses"):
        extra["cdp_addresses"] = fields["addresses"]
    return Identity(
        protocol=PROTOCOL,
        vendor="Cisco" if "cisco" in (software + (fields.get("platform") or "")).lower() else None,
        model=fields.get("platform") or None,
        firmware=version.group(1) if version else None,
        name=fields.get("device_id") or None,
        device_type=DeviceType.SWITCH if caps & SWITCHING else None,
        extra=extra,
    )


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="eth",
    ports=(),  # LLC frames have no ethertype: chosen by detect()
    detect=detect,
    dissector=partial(PerMessage, dissect_frame),
    identity_from=identity_from,
    ot=False,
)
