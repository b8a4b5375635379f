"""NetBIOS name service (UDP 137, RFC 1002): the names Windows hosts, HMIs and engineering stations
register on the plant LAN and answer node-status queries with.

DNS-shaped (header and compressed names are read with :mod:`otwatch.protocols.dns.dissect`), but
names are "first-level encoded" 32-character labels carrying 15 characters and a suffix byte
(0x00 workstation, 0x20 file server, 0x1C domain controllers ...), and node-status answers (type
NBSTAT) list the responder's own names. A registration or refresh is sent by the host that owns the
name, and a node-status answer describes its sender, so both fill the sender's name; plain name
query answers may come from a WINS server and are not used. Wire bytes never raise.
"""

from __future__ import annotations

import struct
from functools import partial
from socket import inet_ntoa
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.dns.dissect import HEADER, MAX_RECORDS, DnsError, read_name
from otwatch.protocols.framing import PerMessage

__all__ = ["SPEC", "decode_name", "detect", "dissect_packet", "identity_from"]

PROTOCOL: Final = "nbns"
PORT: Final = 137
OPCODES: Final = {0: "query", 5: "registration", 6: "release", 7: "wack", 8: "refresh", 9: "refresh"}
TYPE_NB: Final = 0x20
TYPE_NBSTAT: Final = 0x21
_RR: Final = struct.Struct("!HHIH")
HOST_SUFFIXES: Final = (0x00, 0x20)


def decode_name(label: str) -> tuple[str, int] | None:
    """A first-level encoded label -> (name, suffix); None when it is not one."""
    if len(label) < 32:
        return None
    raw = bytearray()
    for i in range(0, 32, 2):
        hi, lo = ord(label[i]) - 0x41, ord(label[i + 1]) - 0x41
        if not (0 <= hi < 16 and 0 <= lo < 16):
            return None
        raw.append(hi << 4 | lo)
    return raw[:15].decode("latin-1").rstrip(" \x00"), raw[15]


def dissect_packet(data: bytes) -> Record:
    if len(data) < 12:
        return Record(PROTOCOL, "unknown", {}, malformed="short nbns header")
    ident, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    opcode = (flags >> 11) & 0x0F
    fields: dict[str, Any] = {
        "trans_id": ident,
        "opcode": opcode,
        "opcode_name": OPCODES.get(opcode, str(opcode)),
        "rcode": flags & 0x0F,
        "broadcast": bool(flags & 0x0010),
    }
    record = Record(PROTOCOL, "response" if flags & 0x8000 else "request", fields)
    pos = 12
    try:
        for index in range(min(qd, MAX_RECORDS)):
            label, pos = read_name(data, pos)
            pos += 4
            decoded = decode_name(label.split(".")[0])
            if index == 0 and decoded is not None:
                fields["name"], fields["suffix"] = decoded
        for index in range(min(an + ns + ar, MAX_RECORDS)):
            label, pos = read_name(data, pos)
            rtype, _rclass, _ttl, rdlength = _RR.unpack_from(data, pos)
            pos += 10
            rdata = data[pos : pos + rdlength]
            if len(rdata) < rdlength:
                raise DnsError("record data past the end")
            pos += rdlength
            decoded = decode_name(label.split(".")[0])
            if decoded is not None and "name" not in fields:
                fields["name"], fields["suffix"] = decoded
            if rtype == TYPE_NB and len(rdata) >= 6:
                fields["group"] = bool(rdata[0] & 0x80)
                fields["addresses"] = [
                    inet_ntoa(rdata[i + 2 : i + 6]) for i in range(0, min(len(rdata), 48) - 5, 6)
                ]
            elif rtype == TYPE_NBSTAT and rdata and index < an:
                names = []
                for i in range(min(rdata[0], 32)):
                    entry = rdata[1 + 18 * i : 19 + 18 * i]
                    if len(entry) < 18:
                        break
                    names.append(
                        {
                            "name": entry[:15].decode("latin-1").rstrip(" "),
                            "suffix": entry[15],
                            "group": bool(entry[16] & 0x80),
                        }
                    )
                fields["node_names"] = names
    except (DnsError, IndexError, struct.error) as exc:
        record.malformed = f"nbns: {exc}" if isinstance(exc, DnsError) else "nbns: record past the end"
    return record


def detect(payload: bytes) -> bool:
    """A header with a question or answer whose first name is a 32-character encoded NetBIOS name."""
    return (
        len(payload) >= 50
        and payload[12] == 0x20
        and decode_name(payload[13:45].decode("latin-1")) is not None
    )


def identity_from(record: Record) -> Identity | None:
    """The sender's own name: from a registration/refresh it sends, or its node-status answer."""
    fields = record.fields
    if record.malformed:
        return None
    if record.direction == "request" and fields["opcode"] in (5, 8, 9):
        if fields.get("suffix") in HOST_SUFFIXES and not fields.get("group") and fields.get("name"):
            return Identity(protocol=PROTOCOL, name=fields["name"])
        return None
    names: list[dict[str, Any]] = fields.get("node_names") or []
    if record.direction != "response" or not names:
        return None
    host = next((n["name"] for n in names if n["suffix"] == 0 and not n["group"]), None)
    group = next((n["name"] for n in names if n["suffix"] == 0 and n["group"]), None)
    return Identity(protocol=PROTOCOL, name=host, extra={"netbios_workgroup": group} if group else {})


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="udp",
    ports=(PORT,),
    detect=detect,
    dissector=partial(PerMessage, dissect_packet),
    identity_from=identity_from,
    ot=False,
)
