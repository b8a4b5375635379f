"""LLDP (IEEE 802.1AB, ethertype 0x88CC): what switches, PLCs and hosts say about themselves to
their neighbours once every 30 s.

Hand-written: a bounded walk of 7+9-bit TLV headers over the frame, no per-TLV objects. The chassis
and port ids, system name and description, capabilities and management address are kept (field
names after tshark's lldp). A neighbour whose enabled capabilities include Bridge or Router (and not
"Station only") is a switch. The sensor calls this for non-IP frames (``transport="eth"``).
"""

from __future__ import annotations

from functools import partial
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage

__all__ = ["SPEC", "dissect_frame", "identity_from"]

PROTOCOL: Final = "lldp"
ETHERTYPE: Final = 0x88CC
CAPABILITIES: Final = (
    (0x0001, "Other"),
    (0x0002, "Repeater"),
    (0x0004, "Bridge"),
    (0x0008, "WLAN access point"),
    (0x0010, "Router"),
    (0x0020, "Telephone"),
    (0x0040, "DOCSIS cable device"),
    (0x0080, "Station only"),
)
SWITCHING: Final = 0x0004 | 0x0010
STATION_ONLY: Final = 0x0080
MAX_TLVS: Final = 64
_TEXT_TLVS: Final = {4: "port_desc", 5: "system_name", 6: "system_desc"}


def _text(raw: bytes) -> str:
    return raw[:512].rstrip(b"\x00").decode("utf-8", "replace")


def _id(subtype: int, raw: bytes) -> str:
    """A chassis or port id: MAC addresses as text (subtype 4 chassis / 3 port), else the string."""
    if len(raw) == 6 and subtype in (3, 4):
        return raw.hex(":")
    if subtype == 5 and raw[:1] == b"\x01" and len(raw) == 5:  # network address, IPv4
        return inet_ntoa(raw[1:5])
    return _text(raw)


def dissect_frame(data: bytes) -> Record:
    fields: dict[str, Any] = {}
    record = Record(PROTOCOL, "unknown", fields)
    pos, n = 0, len(data)
    for _ in range(MAX_TLVS):
        if pos + 2 > n:
            record.malformed = "lldp frame without End TLV"
            break
        head = (data[pos] << 8) | data[pos + 1]
        kind, length = head >> 9, head & 0x01FF
        value = data[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if kind == 0:
            break
        if len(value) < length:
            record.malformed = "lldp TLV past the end"
            break
        if kind == 1 and value:
            fields["chassis_id_subtype"] = value[0]
            fields["chassis_id"] = _id(value[0], value[1:])
        elif kind == 2 and value:
            fields["port_id_subtype"] = value[0]
            fields["port_id"] = _id(value[0] + 1 if value[0] == 3 else value[0], value[1:])
        elif kind == 3 and length == 2:
            fields["ttl"] = (value[0] << 8) | value[1]
        elif kind in _TEXT_TLVS:
            fields[_TEXT_TLVS[kind]] = _text(value)
        elif kind == 7 and length == 4:
            caps, enabled = (value[0] << 8) | value[1], (value[2] << 8) | value[3]
            fields["capabilities"] = [name for bit, name in CAPABILITIES if caps & bit]
            fields["enabled_capabilities"] = [name for bit, name in CAPABILITIES if enabled & bit]
            fields["enabled_bits"] = enabled
        elif kind == 8 and length >= 2 and "mgmt_addr" not in fields:
            alen, subtype = value[0], value[1]
            addr = value[2 : 1 + alen]
            if subtype == 1 and len(addr) == 4:
                fields["mgmt_addr"] = inet_ntoa(addr)
            elif subtype == 2 and len(addr) == 16:
                fields["mgmt_addr"] = inet_ntop(AF_INET6, addr)
    else:
        record.malformed = "too many lldp TLVs"
    if record.malformed is None and not {"chassis_id", "port_id", "ttl"} <= fields.keys():
        record.malformed = "lldp frame without chassis id, port id or TTL"
    return record


def detect(payload: bytes) -> bool:
    return len(payload) >= 2 and payload[0] >> 1 == 1  # first TLV is the chassis id


def identity_from(record: Record) -> Identity | None:
    fields = record.fields
    if record.malformed:
        return None
    enabled = fields.get("enabled_bits", 0)
    switch = bool(enabled & SWITCHING) and not enabled & STATION_ONLY
    extra = {k: fields[k] for k in ("system_desc", "chassis_id", "mgmt_addr", "capabilities") if k in fields}
    return Identity(
        protocol=PROTOCOL,
        name=fields.get("system_name") or None,
        device_type=DeviceType.SWITCH if switch else None,
        extra={f"lldp_{k}": v for k, v in extra.items()},
    )


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="eth",
    ports=(ETHERTYPE,),
    detect=detect,
    dissector=partial(PerMessage, dissect_frame),
    identity_from=identity_from,
    ot=False,
)
