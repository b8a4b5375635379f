"""DNS wire format (RFC 1035) as used by DNS, mDNS (RFC 6762) and LLMNR (RFC 4795).

Hand-written for the hot path: the 12-byte header with one ``struct`` read, names decoded with a
bounded number of compression jumps, and at most :data:`MAX_RECORDS` resource records read per
section. Only what the inventory and an analyst use is kept (names, types, addresses, TTLs). Field
names follow Zeek's dns.log (``trans_id``, ``query``, ``qtype``/``qtype_name``, ``rcode``/``rcode_name``,
``answers``, ``TTLs``). Wire bytes never raise: a cut or looping name gives ``malformed``.
"""

from __future__ import annotations

import struct
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any, Final, Literal

from otwatch.protocols.base import Record

HEADER: Final = struct.Struct("!HHHHHH")
_RR: Final = struct.Struct("!HHIH")  # type, class, ttl, rdlength
_QTAIL: Final = struct.Struct("!HH")
MAX_RECORDS: Final = 32
MAX_JUMPS: Final = 16
MAX_NAME: Final = 255
TYPE_NAMES: Final[dict[int, str]] = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    32: "NB",
    33: "SRV",
    41: "OPT",
    47: "NSEC",
    65: "HTTPS",
    255: "*",
}
RCODE_NAMES: Final = ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED")


class DnsError(ValueError):
    pass


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` and the offset after it (after the first pointer when compressed)."""
    labels: list[str] = []
    end = -1
    jumps = total = 0
    n = len(data)
    while True:
        if pos >= n:
            raise DnsError("name runs past the end")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 1 >= n:
                raise DnsError("cut compression pointer")
            jumps += 1
            if jumps > MAX_JUMPS:
                raise DnsError("compression loop")
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        if length & 0xC0:
            raise DnsError("reserved label type")
        total += length + 1
        if total > MAX_NAME or pos + 1 + length > n:
            raise DnsError("label too long or past the end")
        labels.append(data[pos + 1 : pos + 1 + length].decode("utf-8", "replace"))
        pos += 1 + length
    return ".".join(labels), (end if end >= 0 else pos)


def rdata_text(data: bytes, rtype: int, start: int, length: int) -> str | None:
    """An answer's data as text, for the types that carry names or addresses."""
    if rtype == 1 and length == 4:
        return inet_ntoa(data[start : start + 4])
    if rtype == 28 and length == 16:
        return inet_ntop(AF_INET6, data[start : start + 16])
    if rtype in (2, 5, 12):
        return read_name(data, start)[0]
    if rtype == 33 and length > 6:
        port = int.from_bytes(data[start + 4 : start + 6], "big")
        return f"{read_name(data, start + 6)[0]}:{port}"
    if rtype == 16:
        parts: list[str] = []
        pos, end = start, start + length
        while pos < end and len(parts) < 16:
            size = data[pos]
            parts.append(data[pos + 1 : min(pos + 1 + size, end)].decode("utf-8", "replace"))
            pos += 1 + size
        return " ".join(parts)
    return None


def dissect_message(data: bytes, protocol: str) -> Record:
    """One DNS-format message -> one record."""
    if len(data) < 12:
        return Record(protocol, "unknown", {}, malformed="short dns header")
    ident, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    qr = flags >> 15
    direction: Literal["request", "response"] = "response" if qr else "request"
    rcode = flags & 0x0F
    fields: dict[str, Any] = {
        "trans_id": ident,
        "opcode": (flags >> 11) & 0x0F,
        "rcode": rcode,
        "rcode_name": RCODE_NAMES[rcode] if rcode < len(RCODE_NAMES) else str(rcode),
        "AA": bool(flags & 0x0400),
        "TC": bool(flags & 0x0200),
        "RD": bool(flags & 0x0100),
        "RA": bool(flags & 0x0080),
    }
    record = Record(protocol, direction, fields)
    pos = 12
    try:
        questions: list[tuple[str, int]] = []
        for _ in range(min(qd, MAX_RECORDS)):
            name, pos = read_name(data, pos)
            qtype, _qclass = _QTAIL.unpack_from(data, pos)
            pos += 4
            questions.append((name, qtype))
        if questions:
            fields["query"], qtype = questions[0]
            fields["qtype"] = qtype
            fields["qtype_name"] = TYPE_NAMES.get(qtype, str(qtype))
            if len(questions) > 1:
                fields["queries"] = [q for q, _t in questions]
        if qd > MAX_RECORDS:
            return record  # bounded: the rest is not read
        answers: list[dict[str, Any]] = []
        for index in range(min(an + ns + ar, MAX_RECORDS)):
            name, pos = read_name(data, pos)
            rtype, _rclass, ttl, rdlength = _RR.unpack_from(data, pos)
            pos += 10
            if pos + rdlength > len(data):
                raise DnsError("record data past the end")
            if index < an or rtype in (1, 28, 32):
                answer: dict[str, Any] = {"name": name, "type": TYPE_NAMES.get(rtype, str(rtype)), "ttl": ttl}
                text = rdata_text(data, rtype, pos, rdlength)
                if text is not None:
                    answer["data"] = text
                answer["section"] = (
                    "answer" if index < an else "authority" if index < an + ns else "additional"
                )
                answers.append(answer)
            pos += rdlength
        if answers:
            fields["answers"] = answers
    except (DnsError, IndexError, struct.error) as exc:
        record.malformed = f"dns: {exc}" if isinstance(exc, DnsError) else "dns: record past the end"
    return record


def plausible(payload: bytes) -> bool:
    """Content detection: a header with sane counts and a question that decodes."""
    if len(payload) < 17:
        return False
    _ident, flags, qd, an, ns, ar = HEADER.unpack_from(payload)
    if (
        not 1 <= qd <= 4
        or an > 64
        or ns > 64
        or ar > 64
        or (flags >> 11) & 0x0F not in (0, 4, 5)
        or flags & 0x40
    ):
        return False
    try:
        _name, pos = read_name(payload, 12)
    except DnsError:
        return False
    return pos + 4 <= len(payload)
