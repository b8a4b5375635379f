"""TLS handshakes: the ClientHello's server name (SNI), ALPN and versions; the ServerHello's version
and cipher suite.

Hand-written and bounded: each direction keeps at most the first handshake record (16 KiB + header),
reads the hello with ``struct`` offsets and then ignores the rest of the flow: everything after the
hellos is encrypted anyway. Field names follow Zeek's ssl.log (``server_name``, ``version``,
``cipher``, ``next_protocol``). An IT protocol (``ot=False``), found by content on any port (OPC UA
over HTTPS on 4843, HTTPS management pages of switches and PLCs).
"""

from __future__ import annotations

import struct
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.framing import FirstMessage

__all__ = ["SPEC", "TlsDissector", "detect", "dissect_hello", "identity_from"]

PROTOCOL: Final = "tls"
MAX_RECORD: Final = 16 * 1024 + 5
_RECORD: Final = struct.Struct("!BHH")
VERSIONS: Final = {0x0300: "SSLv3", 0x0301: "TLSv10", 0x0302: "TLSv11", 0x0303: "TLSv12", 0x0304: "TLSv13"}
#: Cipher suites commonly negotiated; others are shown in hex.
CIPHERS: Final = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
}


def version_name(v: int) -> str:
    return VERSIONS.get(v, f"0x{v:04x}")


def _u16(data: bytes, pos: int) -> int:
    if pos + 2 > len(data):
        raise IndexError("past the end")
    return (data[pos] << 8) | data[pos + 1]


def dissect_hello(body: bytes, from_client: bool) -> Record:
    """One handshake message (type byte first) -> a record; only Client/ServerHello are read."""
    fields: dict[str, Any] = {}
    record = Record(PROTOCOL, "request" if from_client else "response", fields)
    kind = body[0] if body else -1
    if kind not in (1, 2):
        record.malformed = "first handshake message is not a hello"
        return record
    try:
        end = min(len(body), 4 + int.from_bytes(body[1:4], "big"))
        legacy = _u16(body, 4)
        pos = 6 + 32
        pos += 1 + body[pos]  # session id
        if kind == 1:
            fields["client_version"] = version_name(legacy)
            pos += 2 + _u16(body, pos)  # cipher suites
            pos += 1 + body[pos]  # compression methods
        else:
            fields["version"] = version_name(legacy)
            cipher = _u16(body, pos)
            fields["cipher"] = CIPHERS.get(cipher, f"0x{cipher:04x}")
            pos += 3
        if pos + 2 <= end:
            ext_end = min(end, pos + 2 + _u16(body, pos))
            pos += 2
            while pos + 4 <= ext_end:
                etype, elen = _u16(body, pos), _u16(body, pos + 2)
                data = body[pos + 4 : min(pos + 4 + elen, ext_end)]
                pos += 4 + elen
                if etype == 0 and len(data) > 5 and data[2] == 0:  # server_name list, host_name entry
                    size = _u16(data, 3)
                    fields["server_name"] = data[5 : 5 + size][:255].decode("ascii", "replace")
                elif etype == 16 and len(data) > 3:  # ALPN protocol list
                    names: list[str] = []
                    p = 2
                    while p < len(data) and len(names) < 8:
                        names.append(data[p + 1 : p + 1 + data[p]].decode("ascii", "replace"))
                        p += 1 + data[p]
                    fields["next_protocol" if kind == 2 else "alpn"] = names[0] if kind == 2 else names
                elif etype == 43 and kind == 2 and len(data) == 2:  # supported_versions: the chosen one
                    fields["version"] = version_name(_u16(data, 0))
                elif etype == 43 and kind == 1 and data:
                    offered = [_u16(data, 1 + i) for i in range(0, min(data[0], len(data) - 1), 2)]
                    fields["versions"] = [version_name(v) for v in offered if v & 0x0F0F != 0x0A0A]
    except IndexError:
        record.malformed = "truncated hello"
    return record


class TlsDissector(FirstMessage):
    """The first handshake record of each direction; the rest of the flow is skipped."""

    __slots__ = ()
    limit = MAX_RECORD

    def complete(self, buf: bytes, from_client: bool, full: bool) -> list[Record] | None:
        if len(buf) < 5:
            return None
        ctype, version, length = _RECORD.unpack_from(buf)
        if ctype != 22 or version >> 8 != 3:
            if ctype == 21 or (ctype == 23 and not from_client):
                return []  # an alert or data before a hello: a flow joined late, not out of spec
            return [
                Record(
                    PROTOCOL, "request" if from_client else "response", {}, malformed="not a TLS handshake"
                )
            ]
        if len(buf) < 5 + length and not full:
            return None
        return [dissect_hello(buf[5 : 5 + length], from_client)]


def detect(payload: bytes) -> bool:
    """A handshake record (type 22, version 3.x) whose first message is a Client or Server hello."""
    return (
        len(payload) >= 6
        and payload[0] == 22
        and payload[1] == 3
        and payload[2] <= 4
        and payload[5] in (1, 2)
    )


def identity_from(record: Record) -> Identity | None:
    """The server names a client asks for (SNI), kept as an extra of the client."""
    name = record.fields.get("server_name")
    if record.direction != "request" or not name:
        return None
    return Identity(protocol=PROTOCOL, extra={"tls_sni": name})


SPEC = ProtocolSpec(
    name=PROTOCOL,
    transport="tcp",
    ports=(443,),
    detect=detect,
    dissector=TlsDissector,
    identity_from=identity_from,
    ot=False,
)
