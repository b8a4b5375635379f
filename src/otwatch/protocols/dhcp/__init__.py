"""DHCP (UDP 67/68, RFC 2131/2132): what a host calls itself and which software asks for an address.

Hand-written: one ``struct`` read of the fixed BOOTP header and a bounded walk of the options, on the
hot path of a sensor that sees every broadcast. Only the options that identify a host are kept:
message type (53), host name (12), client FQDN (81), vendor class (60), requested address (50),
server identifier (54), parameter request list (55, a fingerprint of the client's OS). Field names
follow Zeek's dhcp.log. Wire bytes never raise: a cut or out-of-spec packet gives a record with
``malformed`` set.
"""

from __future__ import annotations

import struct
from functools import partial
from socket import inet_ntoa
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import PerMessage
from otwatch.protocols.operations import Operation, tag

__all__ = ["SPEC", "detect", "dissect_packet", "identity_from"]

PROTOCOL: Final = "dhcp"
SERVER_PORT: Final = 67
MAGIC: Final = b"\x63\x82\x53\x63"
OPTIONS_AT: Final = 240
_FIXED: Final = struct.Struct("!BBBBIHH4s4s4s4s16s")  # op .. chaddr
MESSAGE_TYPES: Final = {
    1: "DISCOVER",
    2: "OFFER",
    3: "REQUEST",
    4: "DECLINE",
    5: "ACK",
    6: "NAK",
    7: "RELEASE",
    8: "INFORM",
    9: "FORCERENEW",
    10: "LEASEQUERY",
    11: "LEASEUNASSIGNED",
    12: "LEASEUNKNOWN",
    13: "LEASEACTIVE",
}
MAX_TEXT: Final = 255


def _text(raw: bytes) -> str:
    return raw[:MAX_TEXT].rstrip(b"\x00").decode("utf-8", "replace")


def dissect_packet(data: bytes) -> Record:
    """One BOOTP/DHCP datagram -> one record."""
    if len(data) < OPTIONS_AT:
        return Record(PROTOCOL, "unknown", {}, malformed="short dhcp packet")
    op, htype, hlen, _hops, xid, _secs, flags, ciaddr, yiaddr, _siaddr, giaddr, chaddr = _FIXED.unpack_from(
        data
    )
    direction: Any = "request" if op == 1 else "response" if op == 2 else "unknown"
    fields: dict[str, Any] = {"trans_id": xid}
    if htype == 1 and hlen == 6:
        fields["mac"] = chaddr[:6].hex(":")
    if ciaddr != b"\x00\x00\x00\x00":
        fields["client_addr"] = inet_ntoa(ciaddr)
    if yiaddr != b"\x00\x00\x00\x00":
        fields["assigned_addr"] = inet_ntoa(yiaddr)
    if giaddr != b"\x00\x00\x00\x00":
        fields["relay_addr"] = inet_ntoa(giaddr)
    fields["broadcast"] = bool(flags & 0x8000)
    record = Record(PROTOCOL, direction, fields)
    if op not in (1, 2):
        record.malformed = "bad bootp op"
        return record
    if data[236:240] == MAGIC:
        _options(data, fields, record)
    if "msg_type" not in fields:  # plain BOOTP (RFC 951), as PLC commissioning tools still use it
        fields["msg_type"] = "BOOTREQUEST" if op == 1 else "BOOTREPLY"
        if op == 2 and "assigned_addr" in fields:
            name = f" ({fields['host_name']})" if fields.get("host_name") else ""
            tag(fields, Operation.NETWORK_CONFIG,
                f"a BOOTP reply that sets the IP address of {fields.get('mac', 'a device')}{name} to "
                f"{fields['assigned_addr']}", by_server=True)  # fmt: skip
    return record


def _options(data: bytes, fields: dict[str, Any], record: Record) -> None:
    """The options that identify a host (bounded walk; a cut option marks the record malformed)."""
    pos, n = OPTIONS_AT, len(data)
    while pos < n:
        code = data[pos]
        if code == 0:
            pos += 1
            continue
        if code == 255:
            break
        if pos + 2 > n or pos + 2 + data[pos + 1] > n:
            record.malformed = "dhcp option runs past the end"
            break
        length = data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        pos += 2 + length
        if code == 53 and length == 1:
            fields["msg_type"] = MESSAGE_TYPES.get(value[0], str(value[0]))
        elif code == 12:
            fields["host_name"] = _text(value)
        elif code == 60:
            fields["vendor_class"] = _text(value)
        elif code == 50 and length == 4:
            fields["requested_addr"] = inet_ntoa(value)
        elif code == 54 and length == 4:
            fields["server_addr"] = inet_ntoa(value)
        elif code == 81 and length > 3:
            fields["client_fqdn"] = _fqdn(value[3:], value[0])
        elif code == 55:
            fields["params"] = list(value)
        elif code == 51 and length == 4:
            fields["lease_time"] = int.from_bytes(value, "big")
        elif code == 15:
            fields["domain"] = _text(value)
        elif code == 61 and length >= 2:
            fields["client_id"] = value.hex(":")


def _fqdn(raw: bytes, flags: int) -> str:
    """Option 81's name: canonical wire format when the E flag is set, else ASCII (deprecated)."""
    if not flags & 0x04:
        return _text(raw)
    labels: list[str] = []
    pos = 0
    while pos < len(raw) and raw[pos] and len(labels) < 64:
        length = raw[pos]
        labels.append(raw[pos + 1 : pos + 1 + length].decode("utf-8", "replace"))
        pos += 1 + length
    return ".".join(labels)


def detect(payload: bytes) -> bool:
    """DHCP's magic cookie, or a plain BOOTP message (300 bytes at least, Ethernet addresses)."""
    if len(payload) < OPTIONS_AT or payload[0] not in (1, 2):
        return False
    return payload[236:240] == MAGIC or (
        len(payload) >= 300 and payload[1:3] == b"\x01\x06" and payload[3] <= 16
    )


def identity_from(record: Record) -> Identity | None:
    """A client's own request (not relayed): its host name and the vendor class of its DHCP client."""
    fields = record.fields
    if record.direction != "request" or "relay_addr" in fields:
        return None
    name = fields.get("host_name") or (fields.get("client_fqdn") or "").split(".")[0] or None
    extra: dict[str, Any] = {}
    if fields.get("vendor_class"):
        extra["dhcp_vendor_class"] = fields["vendor_class"]
    if fields.get("client_fqdn"):
        extra["fqdn"] = fields["client_fqdn"]
    if fields.get("params"):
        extra["dhcp_params"] = ",".join(str(p) for p in fields["params"])
    if name is None and not extra:
        return None
    return Identity(protocol=PROTOCOL, name=name, extra=extra)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="udp",
    ports=(SERVER_PORT,),  # the client's 68 is left out so the server side is always the server
    detect=detect,
    dissector=partial(PerMessage, dissect_packet),
    identity_from=identity_from,
    ot=False,
)
