"""ISO session (ISO 8327), presentation (ISO 8823), ACSE (ISO 8650) and MMS (ISO 9506) messages over
TPKT/COTP (RFC 1006, framing shared with :mod:`otwatch.protocols.s7comm.messages`).

Each class encodes (what the agent's Identify sends, and the test peer answers) and decodes (what the
sensor reads). Hand-written on :mod:`otwatch.protocols.ber` because the sensor runs this on every MMS
packet of a substation. ``decode`` raises ``ValueError`` on out-of-spec bytes; the dissector turns that
into ``Record.malformed``.

The OSI stack is peeled, not modelled: a session SPDU gives its user data, a presentation PPDU the
PDV whose single-ASN1-type is either an ACSE APDU (association set-up, release) or the MMS PDU itself;
an ACSE APDU's user-information carries the MMS initiate or conclude PDU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from otwatch.protocols import ber
from otwatch.protocols.ber import APPLICATION, CONTEXT, UNIVERSAL, Tlv
from otwatch.protocols.mms import codes
from otwatch.protocols.s7comm.messages import TPKT, CotpConnect, CotpData, tpkt_frame

__all__ = [
    "TPKT",
    "AcseApdu",
    "CotpConnect",
    "CotpData",
    "IdentifyResponse",
    "InitiatePdu",
    "MmsPdu",
    "PresentationPdu",
    "SessionSpdu",
    "tpkt_frame",
]

Buffer = bytes | bytearray | memoryview

#: Object identifiers in their BER content octets.
OID_BER: Final = bytes.fromhex("5101")  # 2.1.1 basic encoding rules
OID_ACSE: Final = bytes.fromhex("52010001")  # 2.2.1.0.1 ACSE abstract syntax
OID_MMS_AS: Final = bytes.fromhex("28ca220201")  # 1.0.9506.2.1 MMS abstract syntax
OID_MMS_AC: Final = bytes.fromhex("28ca220203")  # 1.0.9506.2.3 MMS application context
ACSE_CONTEXT: Final = 1
MMS_CONTEXT: Final = 3
#: Session CN/AC parameters every ISO stack sends: protocol options, version 2, duplex.
SESSION_CONNECT_ITEMS: Final = bytes.fromhex("0506130100160102140200023302000134020001")


def _universal_seq(value: bytes) -> bytes:
    return ber.tlv(UNIVERSAL, 16, value, True)


@dataclass(slots=True)
class SessionSpdu:
    """One session SPDU (after any give-tokens SPDU): its SI and the user data it carries."""

    si: int
    user_data: bytes = b""
    parameters: bytes = b""

    def encode(self) -> bytes:
        if self.si == codes.SPDU_DT:
            return b"\x01\x00\x01\x00" + self.user_data  # give tokens, data transfer
        params = self.parameters + bytes((codes.SESSION_USER_DATA,)) + _length(len(self.user_data))
        params += self.user_data
        return bytes((self.si,)) + _length(len(params)) + params

    @classmethod
    def decode(cls, buf: Buffer) -> SessionSpdu:
        pos = 0
        si, li, pos = _session_header(buf, pos)
        if si == codes.SPDU_DT and li == 0 and pos < len(buf) and buf[pos] == codes.SPDU_DT:
            si, li, pos = _session_header(buf, pos)  # a give-tokens SPDU, then the data transfer
        if si not in codes.SPDU_NAMES:
            raise ValueError(f"unknown session SPDU {si}")
        end = pos + li
        if end > len(buf):
            raise ValueError("session parameters run past the TPDU")
        if si == codes.SPDU_DT:
            return cls(si, bytes(buf[end:]), bytes(buf[pos:end]))
        user = b""
        params_at = pos
        while pos + 2 <= end:  # PGI/PI units: code, length, value
            code = buf[pos]
            plen, vpos = _session_length(buf, pos + 1)
            if vpos + plen > end:
                raise ValueError("session parameter runs past the SPDU")
            if code in (codes.SESSION_USER_DATA, codes.SESSION_EXTENDED_USER_DATA):
                user = bytes(buf[vpos : vpos + plen])
            pos = vpos + plen
        return cls(si, user, bytes(buf[params_at:end]))


def _length(n: int) -> bytes:
    return bytes((n,)) if n < 0xFF else b"\xff" + n.to_bytes(2, "big")


def _session_length(buf: Buffer, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise ValueError("session length missing")
    if buf[pos] != 0xFF:
        return buf[pos], pos + 1
    if pos + 3 > len(buf):
        raise ValueError("session length missing")
    return int.from_bytes(buf[pos + 1 : pos + 3], "big"), pos + 3


def _session_header(buf: Buffer, pos: int) -> tuple[int, int, int]:
    if pos >= len(buf):
        raise ValueError("empty session SPDU")
    li, after = _session_length(buf, pos + 1)
    return buf[pos], li, after


@dataclass(slots=True)
class PresentationPdu:
    """A CP/CPA PPDU (``kind`` "cp"/"cpa") or fully-encoded user data ("data"): the PDVs it carries,
    as (presentation context id, single-ASN1-type value)."""

    kind: str
    pdvs: list[tuple[int | None, bytes]] = field(default_factory=list)

    def encode(self) -> bytes:
        user = ber.tlv(APPLICATION, 1, b"".join(_pdv(ctx_id, value) for ctx_id, value in self.pdvs), True)
        if self.kind == "data":
            return user
        mode = ber.ctx(0, ber.ctx(0, b"\x01"), True)
        if self.kind == "cp":
            contexts = _universal_seq(
                ber.tlv(UNIVERSAL, 2, b"\x01")
                + ber.tlv(UNIVERSAL, 6, OID_ACSE)
                + _universal_seq(ber.tlv(UNIVERSAL, 6, OID_BER))
            ) + _universal_seq(
                ber.tlv(UNIVERSAL, 2, b"\x03")
                + ber.tlv(UNIVERSAL, 6, OID_MMS_AS)
                + _universal_seq(ber.tlv(UNIVERSAL, 6, OID_BER))
            )
            normal = (
                ber.ctx(1, b"\x00\x00\x00\x01")
                + ber.ctx(2, b"\x00\x00\x00\x01")
                + ber.ctx(4, contexts, True)
                + user
            )
        else:
            result = _universal_seq(ber.ctx(0, b"\x00") + ber.ctx(1, OID_BER))
            normal = ber.ctx(3, b"\x00\x00\x00\x01") + ber.ctx(5, result * 2, True) + user
        return ber.tlv(UNIVERSAL, 17, mode + ber.ctx(2, normal, True), True)

    @classmethod
    def decode(cls, buf: Buffer) -> PresentationPdu:
        top = ber.read(buf)
        if top is None:
            raise ValueError("presentation PDU is not BER")
        if top.tag == (APPLICATION, 1):
            return cls("data", _pdvs(buf, top))
        if top.tag != (UNIVERSAL, 17):
            raise ValueError("presentation PDU is neither CP/CPA nor fully-encoded data")
        normal = ber.find(buf, top, CONTEXT, 2)
        if normal is None:
            return cls("cp")
        user = ber.find(buf, normal, APPLICATION, 1)
        responding = ber.find(buf, normal, CONTEXT, 3) or ber.find(buf, normal, CONTEXT, 5)
        return cls("cpa" if responding is not None else "cp", _pdvs(buf, user) if user else [])


def _pdv(ctx_id: int | None, value: bytes) -> bytes:
    head = ber.tlv(UNIVERSAL, 2, bytes((ctx_id,))) if ctx_id is not None else b""
    return _universal_seq(head + ber.ctx(0, value, True))


def _pdvs(buf: Buffer, user: Tlv) -> list[tuple[int | None, bytes]]:
    out: list[tuple[int | None, bytes]] = []
    for pdv in ber.children(buf, user, 8):
        ctx_id: int | None = None
        for part in ber.children(buf, pdv, 4):
            if part.tag == (UNIVERSAL, 2):
                ctx_id = ber.integer(buf, part)
            elif part.tag in ((CONTEXT, 0), (CONTEXT, 1)):  # single-ASN1-type, octet-aligned
                out.append((ctx_id, bytes(buf[part.start : part.end])))
    return out


@dataclass(slots=True)
class AcseApdu:
    """An ACSE APDU (AARQ/AARE/RLRQ/RLRE/ABRT) and the MMS PDU in its user-information."""

    kind: int  # application tag, see codes.ACSE_NAMES
    user_information: bytes = b""
    result: int | None = None  # AARE: 0 accepted

    def encode(self) -> bytes:
        body = ber.ctx(0, b"\x07\x80") + ber.ctx(1, ber.tlv(UNIVERSAL, 6, OID_MMS_AC), True)
        if self.kind == 1:
            body += ber.ctx(2, ber.tlv(UNIVERSAL, 2, bytes((self.result or 0,))), True)
            body += ber.ctx(3, ber.ctx(1, ber.tlv(UNIVERSAL, 2, b"\x00"), True), True)
        if self.user_information:
            external = ber.tlv(UNIVERSAL, 2, bytes((MMS_CONTEXT,))) + ber.ctx(0, self.user_information, True)
            body += ber.ctx(codes.ACSE_USER_INFORMATION, ber.tlv(UNIVERSAL, 8, external, True), True)
        return ber.tlv(APPLICATION, self.kind, body, True)

    @classmethod
    def decode(cls, buf: Buffer) -> AcseApdu:
        top = ber.read(buf)
        if top is None or top.cls != APPLICATION or top.number not in codes.ACSE_NAMES:
            raise ValueError("not an ACSE APDU")
        msg = cls(top.number)
        for part in ber.children(buf, top, 32):
            if part.tag == (CONTEXT, 2) and top.number == 1:
                inner = ber.read(buf, part.start, part.end)
                msg.result = ber.integer(buf, inner) if inner else None
            elif part.tag == (CONTEXT, codes.ACSE_USER_INFORMATION):
                for external in ber.children(buf, part, 4):
                    single = ber.find(buf, external, CONTEXT, 0)
                    if single is not None:
                        msg.user_information = bytes(buf[single.start : single.end])
                        break
        return msg


@dataclass(slots=True)
class MmsPdu:
    """One MMS PDU: its MMSpdu choice, invokeID and the service's own TLV (decoded by the dissector)."""

    pdu: int
    invoke_id: int | None = None
    service: int | None = None  # confirmed service tag (request/response) or unconfirmed service
    body: bytes = b""  # the service value's content octets (request/response data)
    constructed: bool = True  # whether the service TLV is constructed (else a primitive value)

    def encode(self) -> bytes:
        if self.pdu in (codes.CONFIRMED_REQUEST, codes.CONFIRMED_RESPONSE):
            service = ber.ctx(self.service or 0, self.body, self.constructed)
            inner = ber.tlv(UNIVERSAL, 2, ber.encode_unsigned(self.invoke_id or 0)) + service
            return ber.ctx(self.pdu, inner, True)
        if self.pdu in (codes.CONCLUDE_REQUEST, codes.CONCLUDE_RESPONSE):
            return ber.ctx(self.pdu, b"")
        if self.pdu == codes.CANCEL_REQUEST:
            return ber.ctx(self.pdu, ber.encode_unsigned(self.invoke_id or 0))
        return ber.ctx(self.pdu, self.body, True)

    @classmethod
    def decode(cls, buf: Buffer) -> MmsPdu:
        top = ber.read(buf)
        if top is None or top.cls != CONTEXT or top.number not in codes.PDU_NAMES:
            raise ValueError("not an MMS PDU")
        msg = cls(top.number, body=bytes(buf[top.start : top.end]), constructed=top.constructed)
        if top.number in (codes.CONFIRMED_REQUEST, codes.CONFIRMED_RESPONSE):
            parts = ber.children(buf, top, 4)
            if not parts or parts[0].tag != (UNIVERSAL, 2):
                raise ValueError("confirmed PDU without invokeID")
            msg.invoke_id = ber.unsigned(buf, parts[0])
            service = next((p for p in parts[1:] if p.cls == CONTEXT), None)
            if service is None:  # out of spec, but tshark shows it as a bare confirmed PDU too
                return msg
            msg.service = service.number
            msg.body = bytes(buf[service.start : service.end])
            msg.constructed = service.constructed
        elif top.number in (codes.CONFIRMED_ERROR, codes.REJECT):
            first = ber.read(buf, top.start, top.end)
            if first is not None and first.tag == (CONTEXT, 0):
                msg.invoke_id = ber.unsigned(buf, first)
        elif top.number in (codes.CANCEL_REQUEST, codes.CANCEL_RESPONSE):
            msg.invoke_id = ber.unsigned(buf, top)
        elif top.number == codes.CANCEL_ERROR:
            first = ber.read(buf, top.start, top.end)
            if first is not None:
                msg.invoke_id = ber.unsigned(buf, first)
        elif top.number == codes.UNCONFIRMED:
            service = ber.read(buf, top.start, top.end)
            if service is None or service.cls != CONTEXT:
                raise ValueError("unconfirmed PDU without a service")
            msg.service = service.number
            msg.body = bytes(buf[service.start : service.end])
            msg.constructed = service.constructed
        return msg


@dataclass(slots=True)
class InitiatePdu:
    """initiate-Request / initiate-Response parameters (ISO 9506-2 Initiate)."""

    pdu: int = codes.INITIATE_REQUEST
    local_detail: int | None = 65000
    max_serv_outstanding_calling: int = 5
    max_serv_outstanding_called: int = 5
    nesting_level: int | None = 10
    version: int = 1
    parameter_cbb: bytes = bytes.fromhex("05f100")
    services_supported: bytes = bytes.fromhex("03ee1c00000408000000791e")  # incl. identify, read, conclude

    def encode(self) -> bytes:
        body = b""
        if self.local_detail is not None:
            body += ber.ctx(0, ber.encode_integer(self.local_detail))
        body += ber.ctx(1, ber.encode_integer(self.max_serv_outstanding_calling))
        body += ber.ctx(2, ber.encode_integer(self.max_serv_outstanding_called))
        if self.nesting_level is not None:
            body += ber.ctx(3, ber.encode_integer(self.nesting_level))
        detail = ber.ctx(0, ber.encode_integer(self.version)) + ber.ctx(1, self.parameter_cbb)
        detail += ber.ctx(2, self.services_supported)
        return ber.ctx(self.pdu, body + ber.ctx(4, detail, True), True)

    @classmethod
    def decode(cls, buf: Buffer) -> InitiatePdu:
        top = ber.read(buf)
        if top is None or top.tag not in (
            (CONTEXT, codes.INITIATE_REQUEST),
            (CONTEXT, codes.INITIATE_RESPONSE),
        ):
            raise ValueError("not an MMS initiate PDU")
        msg = cls(top.number, None, 0, 0, None, 0, b"", b"")
        for part in ber.children(buf, top, 8):
            value = ber.integer(buf, part) if not part.constructed else None
            if part.number == 0 and value is not None:
                msg.local_detail = value
            elif part.number == 1 and value is not None:
                msg.max_serv_outstanding_calling = value
            elif part.number == 2 and value is not None:
                msg.max_serv_outstanding_called = value
            elif part.number == 3 and value is not None:
                msg.nesting_level = value
            elif part.number == 4:
                for sub in ber.children(buf, part, 4):
                    raw = bytes(buf[sub.start : sub.end])
                    if sub.number == 0:
                        msg.version = ber.integer(buf, sub) or 0
                    elif sub.number == 1:
                        msg.parameter_cbb = raw
                    elif sub.number == 2:
                        msg.services_supported = raw
        return msg


@dataclass(slots=True)
class IdentifyResponse:
    """The Identify service's answer: the VMD's vendor, model and revision (VisibleStrings)."""

    vendor: str
    model: str
    revision: str

    def encode(self) -> bytes:
        """The service value's content (for ``MmsPdu(CONFIRMED_RESPONSE, id, IDENTIFY, body)``)."""
        return b"".join(
            ber.ctx(n, value.encode("latin-1"))
            for n, value in enumerate((self.vendor, self.model, self.revision))
        )

    @classmethod
    def decode(cls, body: Buffer) -> IdentifyResponse:
        values = ["", "", ""]
        pos = 0
        for _ in range(8):
            part = ber.read(body, pos)
            if part is None:
                break
            if part.cls == CONTEXT and part.number < 3 and not part.constructed:
                values[part.number] = ber.text(body, part).strip()
            pos = part.next
        if not any(values):
            raise ValueError("identify response without vendor, model or revision")
        return cls(*values)


def wrap_mms(pdu: bytes, context: int = MMS_CONTEXT) -> bytes:
    """An MMS PDU as the payload of a COTP DT: session DT, presentation fully-encoded data."""
    return SessionSpdu(codes.SPDU_DT, PresentationPdu("data", [(context, pdu)]).encode()).encode()


def associate(initiate: bytes, accept: bool = False) -> bytes:
    """A session CN (or AC) carrying the presentation CP (CPA) and ACSE AARQ (AARE) of an MMS initiate."""
    acse = AcseApdu(1 if accept else 0, initiate, 0 if accept else None).encode()
    ppdu = PresentationPdu("cpa" if accept else "cp", [(ACSE_CONTEXT, acse)]).encode()
    si = codes.SPDU_AC if accept else codes.SPDU_CN
    return SessionSpdu(si, ppdu, SESSION_CONNECT_ITEMS).encode()
