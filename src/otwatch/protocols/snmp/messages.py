"""Minimal BER codec for SNMP v1/v2c messages (and the clear-text envelope of v3).

The passive sensor needs version, community, PDU type, request id and the varbinds of every
datagram; a full ASN.1 stack (pyasn1) would be both slow and a heavy dependency of ``protocols``.
:func:`decode_message` never raises: bad bytes come back as an error string.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from otwatch.protocols.snmp import codes

SnmpValue = int | str | None

_MAX_DEPTH_VARBINDS = 1024


class BerError(ValueError):
    """The bytes are not valid BER for an SNMP message."""


def _tlv(data: bytes, off: int, end: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the TLV at ``off``; definite lengths only (as SNMP uses)."""
    if off + 2 > end:
        raise BerError("truncated TLV header")
    tag = data[off]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tags are not used by SNMP")
    first = data[off + 1]
    pos = off + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4:
            raise BerError("indefinite or oversized length")
        if pos + n > end:
            raise BerError("truncated length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise BerError("value runs past the end of its container")
    return tag, pos, pos + length


def _expect(data: bytes, off: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _tlv(data, off, end)
    if got != tag:
        raise BerError(f"expected tag 0x{tag:02x}, got 0x{got:02x}")
    return start, stop


def _int(raw: bytes) -> int:
    if not raw or len(raw) > 9:
        raise BerError("bad INTEGER length")
    return int.from_bytes(raw, "big", signed=True)


def _uint(raw: bytes) -> int:
    if not raw or len(raw) > 9:
        raise BerError("bad unsigned length")
    return int.from_bytes(raw, "big", signed=False)


def decode_oid(raw: bytes) -> str:
    if not raw:
        raise BerError("empty OID")
    arcs: list[int] = []
    value = 0
    for i, b in enumerate(raw):
        value = (value << 7) | (b & 0x7F)
        if b & 0x80:
            if i == len(raw) - 1:
                raise BerError("OID ends inside an arc")
            continue
        if not arcs:
            first = min(value // 40, 2)
            arcs.extend((first, value - first * 40))
        else:
            arcs.append(value)
        value = 0
    return ".".join(map(str, arcs))


def encode_oid(oid: str) -> bytes:
    arcs = [int(a) for a in oid.strip(".").split(".")]
    if len(arcs) < 2:
        raise ValueError(f"OID needs two arcs: {oid}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _len(len(value)) + value


def _enc_int(v: int) -> bytes:
    return tlv(codes.INTEGER, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))


def text_or_hex(raw: bytes) -> str:
    """Printable text as is; anything else (MACs, binary) as ``0x``-prefixed hex."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    if all(c.isprintable() or c in "\r\n\t" for c in text):
        return text
    return "0x" + raw.hex()


@dataclass(slots=True)
class VarBind:
    oid: str
    value: SnmpValue = None
    type: str = "Null"


def _decode_value(tag: int, raw: bytes) -> SnmpValue:
    if tag == codes.INTEGER:
        return _int(raw)
    if tag in (codes.COUNTER32, codes.GAUGE32, codes.TIMETICKS, codes.COUNTER64):
        return _uint(raw)
    if tag == codes.OCTET_STRING or tag == codes.OPAQUE:
        return text_or_hex(raw)
    if tag == codes.OBJECT_IDENTIFIER:
        return decode_oid(raw)
    if tag == codes.IP_ADDRESS:
        if len(raw) != 4:
            raise BerError("IpAddress must be 4 bytes")
        return str(ipaddress.IPv4Address(raw))
    return None  # NULL, noSuchObject, noSuchInstance, endOfMibView, unknown application types


def _encode_value(vb: VarBind) -> bytes:
    if vb.value is None:
        tag = {v: k for k, v in codes.VALUE_TYPES.items()}.get(vb.type, codes.NULL)
        return tlv(tag, b"")
    if isinstance(vb.value, int):
        if vb.type == "Integer":
            return _enc_int(vb.value)
        tag = {v: k for k, v in codes.VALUE_TYPES.items()}[vb.type]
        return tlv(tag, vb.value.to_bytes(max(1, (vb.value.bit_length() + 8) // 8), "big"))
    if vb.type == "ObjectIdentifier":
        return tlv(codes.OBJECT_IDENTIFIER, encode_oid(vb.value))
    if vb.type == "IpAddress":
        return tlv(codes.IP_ADDRESS, ipaddress.IPv4Address(vb.value).packed)
    raw = bytes.fromhex(vb.value[2:]) if vb.value.startswith("0x") else vb.value.encode()
    return tlv(codes.OCTET_STRING, raw)


@dataclass(slots=True)
class SnmpMessage:
    """One SNMP datagram. For v1/v2c all fields are filled; for v3 only the clear-text envelope
    (and the PDU when the message is not encrypted)."""

    version: int
    community: str | None = None
    pdu_type: int | None = None
    request_id: int | None = None
    error_status: int = 0  # non-repeaters in a GetBulk request
    error_index: int = 0  # max-repetitions in a GetBulk request
    varbinds: list[VarBind] = field(default_factory=list)
    # SNMPv1 trap
    enterprise: str | None = None
    agent_addr: str | None = None
    generic_trap: int | None = None
    specific_trap: int | None = None
    # SNMPv3 envelope
    msg_id: int | None = None
    user_name: str | None = None
    encrypted: bool = False
    context_name: str | None = None

    @property
    def version_name(self) -> str:
        return codes.VERSIONS.get(self.version, str(self.version))

    @property
    def pdu_name(self) -> str | None:
        return None if self.pdu_type is None else codes.PDU_NAMES.get(self.pdu_type, f"0x{self.pdu_type:02x}")

    def encode(self) -> bytes:
        """v1/v2c wire bytes (used by tests and by anything that must emit a PDU without pysnmp)."""
        if self.version not in (0, 1) or self.pdu_type is None or self.pdu_type == codes.TRAP_V1:
            raise ValueError("encode supports v1/v2c non-trap PDUs only")
        vbs = b"".join(
            tlv(codes.SEQUENCE, tlv(codes.OBJECT_IDENTIFIER, encode_oid(vb.oid)) + _encode_value(vb))
            for vb in self.varbinds
        )
        pdu = (
            _enc_int(self.request_id or 0)
            + _enc_int(self.error_status)
            + _enc_int(self.error_index)
            + tlv(codes.SEQUENCE, vbs)
        )
        body = (
            _enc_int(self.version)
            + tlv(codes.OCTET_STRING, (self.community or "").encode())
            + tlv(self.pdu_type, pdu)
        )
        return tlv(codes.SEQUENCE, body)

    @classmethod
    def decode(cls, data: bytes) -> SnmpMessage:
        """Parse one datagram; raises :class:`BerError` (see :func:`decode_message` for no-raise)."""
        start, end = _expect(data, 0, len(data), codes.SEQUENCE)
        s, e = _expect(data, start, end, codes.INTEGER)
        version = _int(data[s:e])
        if version == 3:
            return _decode_v3(data, e, end)
        if version not in (0, 1):
            raise BerError(f"unknown SNMP version {version}")
        cs, ce = _expect(data, e, end, codes.OCTET_STRING)
        msg = cls(version=version, community=data[cs:ce].decode("latin-1"))
        _decode_pdu(msg, data, ce, end)
        return msg


def _decode_varbinds(msg: SnmpMessage, data: bytes, off: int, end: int) -> None:
    s, e = _expect(data, off, end, codes.SEQUENCE)
    pos = s
    while pos < e:
        if len(msg.varbinds) >= _MAX_DEPTH_VARBINDS:
            raise BerError("too many varbinds")
        vs, ve = _expect(data, pos, e, codes.SEQUENCE)
        os_, oe = _expect(data, vs, ve, codes.OBJECT_IDENTIFIER)
        tag, xs, xe = _tlv(data, oe, ve)
        msg.varbinds.append(
            VarBind(
                decode_oid(data[os_:oe]),
                _decode_value(tag, data[xs:xe]),
                codes.VALUE_TYPES.get(tag, f"0x{tag:02x}"),
            )
        )
        pos = ve


def _decode_pdu(msg: SnmpMessage, data: bytes, off: int, end: int) -> None:
    tag, s, e = _tlv(data, off, end)
    if tag not in codes.PDU_NAMES:
        raise BerError(f"unknown PDU tag 0x{tag:02x}")
    msg.pdu_type = tag
    if tag == codes.TRAP_V1:
        a, b = _expect(data, s, e, codes.OBJECT_IDENTIFIER)
        msg.enterprise = decode_oid(data[a:b])
        a2, b2 = _expect(data, b, e, codes.IP_ADDRESS)
        msg.agent_addr = str(_decode_value(codes.IP_ADDRESS, data[a2:b2]))
        a3, b3 = _expect(data, b2, e, codes.INTEGER)
        msg.generic_trap = _int(data[a3:b3])
        a4, b4 = _expect(data, b3, e, codes.INTEGER)
        msg.specific_trap = _int(data[a4:b4])
        _t, _a5, b5 = _tlv(data, b4, e)  # time-stamp
        _decode_varbinds(msg, data, b5, e)
        return
    a, b = _expect(data, s, e, codes.INTEGER)
    msg.request_id = _int(data[a:b])
    a, b2 = _expect(data, b, e, codes.INTEGER)
    msg.error_status = _int(data[a:b2])
    a, b3 = _expect(data, b2, e, codes.INTEGER)
    msg.error_index = _int(data[a:b3])
    _decode_varbinds(msg, data, b3, e)


def _decode_v3(data: bytes, off: int, end: int) -> SnmpMessage:
    msg = SnmpMessage(version=3)
    gs, ge = _expect(data, off, end, codes.SEQUENCE)  # msgGlobalData
    a, b = _expect(data, gs, ge, codes.INTEGER)
    msg.msg_id = _int(data[a:b])
    _a, b = _expect(data, b, ge, codes.INTEGER)  # msgMaxSize
    fs, fe = _expect(data, b, ge, codes.OCTET_STRING)
    flags = data[fs] if fe > fs else 0
    msg.encrypted = bool(flags & 0x02)
    ps, pe = _expect(data, ge, end, codes.OCTET_STRING)  # msgSecurityParameters (USM, BER inside)
    if pe > ps:
        us, ue = _expect(data, ps, pe, codes.SEQUENCE)
        pos = us
        for _ in range(3):  # engine id, boots, time
            _t, _s, pos = _tlv(data, pos, ue)
        ns, ne = _expect(data, pos, ue, codes.OCTET_STRING)
        msg.user_name = data[ns:ne].decode("latin-1")
    if msg.encrypted:
        return msg
    ss, se = _expect(data, pe, end, codes.SEQUENCE)  # ScopedPDU
    _t, _s, pos = _tlv(data, ss, se)  # contextEngineID
    cs, ce = _expect(data, pos, se, codes.OCTET_STRING)
    msg.context_name = data[cs:ce].decode("latin-1")
    _decode_pdu(msg, data, ce, se)
    return msg


def decode_message(data: bytes) -> tuple[SnmpMessage | None, str | None]:
    """(message, None) or (None, why it is malformed). Never raises on wire bytes."""
    try:
        return SnmpMessage.decode(data), None
    except (BerError, ValueError, IndexError) as exc:
        return None, str(exc) or type(exc).__name__
