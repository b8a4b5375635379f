"""Passive MMS dissection: TCP stream -> TPKT -> COTP -> ISO session -> presentation -> (ACSE) -> MMS.

Per direction the dissector keeps the unframed TCP bytes and the COTP DT segments of a PDU that spans
several TPDUs (EOT bit clear). A DT's user data is an ISO session SPDU (CN/AC carry the presentation
CP/CPA, whose ACSE AARQ/AARE carries the MMS initiate; DT carries presentation fully-encoded data whose
PDV is the MMS PDU) or, from stacks that leave the upper layers out, the MMS PDU itself. Field names
follow tshark's ``mms`` dissector (``confirmedServiceRequest`` -> ``service``, ``invokeID``, ``itemId``,
``domainId``, ``vendorName`` ...). Wire bytes never raise: out-of-spec PDUs become records with
``malformed`` set; a stream that is not TPKT any more (a peer that miscounts its TPKT lengths) is
dropped up to the next segment, as tshark does, without a record.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.protocols import ber
from otwatch.protocols.base import Record
from otwatch.protocols.ber import CONTEXT, UNIVERSAL, Tlv
from otwatch.protocols.mms import codes
from otwatch.protocols.mms.messages import (
    AcseApdu,
    IdentifyResponse,
    InitiatePdu,
    MmsPdu,
    PresentationPdu,
    SessionSpdu,
)
from otwatch.protocols.operations import tag
from otwatch.protocols.s7comm.messages import DECODE_ERRORS, CotpStream, CotpUnit

PROTOCOL: Final = "mms"
MAX_BUFFER: Final = 1 << 17
MAX_NAMES: Final = 64  # names kept per record (a GetNameList answer may list thousands)
VISIBLE_STRING: Final = (UNIVERSAL, 26)
#: First octets of an MMS PDU sent straight in COTP DT: a constructed MMSpdu, conclude, cancel.
RAW_MMS_FIRST: Final = frozenset((*range(0xA0, 0xAE), 0x8B, 0x8C, 0x85, 0x86))


class MmsDissector:
    """Stateful per-flow dissector (one instance per TCP connection)."""

    __slots__ = ("_sides",)

    def __init__(self) -> None:
        self._sides = {True: CotpStream(MAX_BUFFER), False: CotpStream(MAX_BUFFER)}

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        # A stream out of step resynchronises silently on the next segment (S7comm reports it).
        units, _ = self._sides[from_client].feed(data)
        direction = "request" if from_client else "response"
        return [_unit(unit, direction) for unit in units]


def _unit(unit: CotpUnit, direction: Any) -> Record:
    fields, payload, malformed = unit
    if payload:
        try:
            upper(payload, fields)
        except DECODE_ERRORS as exc:
            malformed = str(exc)
    return Record(PROTOCOL, direction, fields, malformed=malformed)


def upper(payload: bytes, fields: dict[str, Any]) -> None:
    """Session, presentation, ACSE and MMS fields of one COTP DT user data (raises ValueError)."""
    if payload[0] in RAW_MMS_FIRST:
        mms(payload, fields)
        return
    spdu = SessionSpdu.decode(payload)
    fields["pdu"] = "session"
    fields["spdu"] = codes.SPDU_NAMES[spdu.si]
    if not spdu.user_data:
        return
    ppdu = PresentationPdu.decode(spdu.user_data)
    fields["pdu"] = "presentation"
    fields["ppdu"] = ppdu.kind
    for context_id, value in ppdu.pdvs[:1]:
        if context_id is not None:
            fields["presentation_context"] = context_id
        if value and value[0] & 0xE0 == 0x60:  # [APPLICATION n] constructed: ACSE
            apdu = AcseApdu.decode(value)
            fields["acse"] = codes.ACSE_NAMES[apdu.kind]
            if apdu.result is not None:
                fields["acse_result"] = apdu.result
            if apdu.user_information:
                mms(apdu.user_information, fields)
        elif value:
            mms(value, fields)


def mms(raw: bytes, fields: dict[str, Any]) -> None:
    """The fields of one MMS PDU."""
    pdu = MmsPdu.decode(raw)
    fields["pdu"] = "mms"
    fields["mms_pdu_code"] = pdu.pdu
    fields["mms_pdu"] = codes.PDU_NAMES[pdu.pdu]
    if pdu.invoke_id is not None:
        fields["invoke_id"] = pdu.invoke_id
    if pdu.pdu in (codes.INITIATE_REQUEST, codes.INITIATE_RESPONSE):
        init = InitiatePdu.decode(raw)
        if init.local_detail is not None:
            fields["local_detail"] = init.local_detail
        fields["max_serv_outstanding_calling"] = init.max_serv_outstanding_calling
        fields["max_serv_outstanding_called"] = init.max_serv_outstanding_called
        if init.nesting_level is not None:
            fields["nesting_level"] = init.nesting_level
        fields["version"] = init.version
        return
    if pdu.service is None:
        if pdu.pdu == codes.CONFIRMED_ERROR:
            _error(pdu.body, fields)
        return
    if pdu.pdu == codes.UNCONFIRMED:
        fields["unconfirmed_service_code"] = pdu.service
        fields["unconfirmed_service"] = codes.UNCONFIRMED_NAMES.get(pdu.service, f"unknown-{pdu.service}")
        if pdu.service == 0:  # informationReport: variableAccessSpecification first
            first = ber.read(pdu.body)
            if first is not None:
                _variable_access(pdu.body, first, fields)
        return
    fields["service_code"] = pdu.service
    fields["service"] = codes.SERVICE_NAMES.get(pdu.service, f"unknown-{pdu.service}")
    if pdu.pdu == codes.CONFIRMED_REQUEST:
        _request(pdu, fields)
    else:
        _response(pdu, fields)


def _error(body: bytes, fields: dict[str, Any]) -> None:
    pos = 0
    for _ in range(4):
        part = ber.read(body, pos)
        if part is None:
            return
        pos = part.next
        if part.tag == (CONTEXT, 2):  # serviceError
            error_class = ber.find(body, part, CONTEXT, 0)
            choice = ber.read(body, error_class.start, error_class.end) if error_class else None
            if choice is not None:
                fields["error_class"] = codes.ERROR_CLASS_NAMES.get(choice.number, f"unknown-{choice.number}")
                code = ber.integer(body, choice)
                if code is not None:
                    fields["error_code"] = code
            return


def _object_name(buf: bytes, tlv: Tlv, fields: dict[str, Any]) -> str | None:
    """An ObjectName choice -> its display text ("domain/item"), filling tshark's name fields."""
    if tlv.tag == (CONTEXT, 1) and tlv.constructed:
        parts = [p for p in ber.children(buf, tlv, 2) if p.tag == VISIBLE_STRING]
        if len(parts) == 2:
            domain, item = ber.text(buf, parts[0]), ber.text(buf, parts[1])
            _add(fields, "domain_ids", domain)
            _add(fields, "item_ids", item)
            return f"{domain}/{item}"
        return None
    if tlv.tag in ((CONTEXT, 0), (CONTEXT, 2)) and not tlv.constructed:
        name = ber.text(buf, tlv)
        _add(fields, "vmd_specific" if tlv.number == 0 else "aa_specific", name)
        return name
    return None


def _add(fields: dict[str, Any], key: str, value: str) -> None:
    values = fields.setdefault(key, [])
    if len(values) < MAX_NAMES:
        values.append(value)


def _variable_access(buf: bytes, spec: Tlv, fields: dict[str, Any]) -> list[str]:
    """A VariableAccessSpecification choice: listOfVariable [0] or variableListName [1]."""
    names: list[str] = []
    if spec.tag == (CONTEXT, 0):
        for entry in ber.children(buf, spec, MAX_NAMES):
            var = ber.read(buf, entry.start, entry.end)  # VariableSpecification
            if var is not None and var.tag == (CONTEXT, 0):
                obj = ber.read(buf, var.start, var.end)
                name = _object_name(buf, obj, fields) if obj is not None else None
                if name is not None:
                    names.append(name)
    elif spec.tag == (CONTEXT, 1):
        obj = ber.read(buf, spec.start, spec.end)
        name = _object_name(buf, obj, fields) if obj is not None else None
        if name is not None:
            fields["variable_list_name"] = name
            names.append(name)
    return names


def _file_name(buf: bytes, tlv: Tlv) -> str:
    return "/".join(ber.text(buf, p) for p in ber.children(buf, tlv, 8) if p.tag == (UNIVERSAL, 25))


def _request(pdu: MmsPdu, fields: dict[str, Any]) -> None:
    service, body = pdu.service, pdu.body
    top = ber.Tlv(CONTEXT, service or 0, pdu.constructed, 0, len(body), len(body))
    parts = ber.children(body, top, 8) if pdu.constructed else []
    subject: str | None = None
    if service == codes.GET_NAME_LIST:
        for part in parts:
            inner = ber.read(body, part.start, part.end) if part.constructed else None
            if part.number == 0 and inner is not None and inner.number == 0:
                value = ber.integer(body, inner)
                if value is not None:
                    fields["object_class"] = codes.OBJECT_CLASS_NAMES.get(value, str(value))
            elif part.number == 1 and inner is not None:
                fields["object_scope"] = ("vmdSpecific", "domainSpecific", "aaSpecific")[inner.number % 3]
                if inner.number == 1:
                    fields["domain"] = ber.text(body, inner)
            elif part.number == 2 and not part.constructed:
                fields["continue_after"] = ber.text(body, part)
    elif service == codes.READ:
        spec = next((p for p in parts if p.tag == (CONTEXT, 1)), None)
        inner = ber.read(body, spec.start, spec.end) if spec is not None else None
        names = _variable_access(body, inner, fields) if inner is not None else []
        subject = ", ".join(names[:4]) or None
    elif service == codes.WRITE:
        names = _variable_access(body, parts[0], fields) if parts else []
        subject = ", ".join(names[:4]) or None
    elif service == codes.GET_VARIABLE_ACCESS_ATTRIBUTES:
        if parts and parts[0].tag == (CONTEXT, 0):
            obj = ber.read(body, parts[0].start, parts[0].end)
            if obj is not None:
                subject = _object_name(body, obj, fields)
    elif service in (codes.TAKE_CONTROL, codes.RELINQUISH_CONTROL):
        if parts and parts[0].tag == (CONTEXT, 0):
            obj = ber.read(body, parts[0].start, parts[0].end)
            if obj is not None and (name := _object_name(body, obj, fields)) is not None:
                fields["semaphore_name"] = subject = name
    elif service in (codes.FILE_OPEN, codes.FILE_DIRECTORY, codes.FILE_DELETE, codes.FILE_RENAME):
        if service == codes.FILE_DELETE:
            subject = _file_name(body, top)
        elif parts and parts[0].constructed:
            subject = _file_name(body, parts[0])
        if subject:
            fields["file_name"] = subject
        if service == codes.FILE_RENAME and len(parts) > 1:
            fields["new_file_name"] = _file_name(body, parts[1])
    elif service == codes.OBTAIN_FILE:
        for part in parts:
            if part.number in (1, 2) and part.constructed:
                key = "source_file" if part.number == 1 else "file_name"
                fields[key] = _file_name(body, part)
        subject = fields.get("file_name")
    elif service in (codes.FILE_READ, codes.FILE_CLOSE) and not pdu.constructed:
        fields["frsm_id"] = ber.integer(body, top)
    elif service in _NAMED:
        if not pdu.constructed:  # the request is the Identifier itself
            subject = ber.text(body, top)
        elif parts and parts[0].tag == (CONTEXT, 0) and not parts[0].constructed:
            subject = ber.text(body, parts[0])
        if subject is not None:
            fields[_NAMED[service]] = subject
    if service in codes.OPERATIONS:
        operation, words = codes.OPERATIONS[service]
        words = words.removesuffix(" of") if subject is None else f"{words} '{subject}'"
        tag(fields, operation, f"an MMS {words}")


#: Services whose request names one object: the record field that holds its name.
_NAMED: Final = {
    codes.START: "program_invocation",
    codes.STOP: "program_invocation",
    codes.RESUME: "program_invocation",
    codes.RESET: "program_invocation",
    codes.KILL: "program_invocation",
    codes.CREATE_PROGRAM_INVOCATION: "program_invocation",
    codes.DELETE_PROGRAM_INVOCATION: "program_invocation",
    codes.INITIATE_DOWNLOAD: "domain",
    codes.DOWNLOAD_SEGMENT: "domain",
    codes.TERMINATE_DOWNLOAD: "domain",
    codes.INITIATE_UPLOAD: "domain",
    codes.REQUEST_DOMAIN_DOWNLOAD: "domain",
    codes.REQUEST_DOMAIN_UPLOAD: "domain",
    codes.LOAD_DOMAIN_CONTENT: "domain",
    codes.STORE_DOMAIN_CONTENT: "domain",
    codes.DELETE_DOMAIN: "domain",
    codes.GET_DOMAIN_ATTRIBUTES: "domain",
    45: "program_invocation",
}


def _response(pdu: MmsPdu, fields: dict[str, Any]) -> None:
    service, body = pdu.service, pdu.body
    if service == codes.IDENTIFY and pdu.constructed:
        ident = IdentifyResponse.decode(body)
        fields["vendor_name"], fields["model_name"], fields["revision"] = (
            ident.vendor,
            ident.model,
            ident.revision,
        )
    elif service == codes.GET_NAME_LIST and pdu.constructed:
        top = ber.Tlv(CONTEXT, 1, True, 0, len(body), len(body))
        for part in ber.children(body, top, 4):
            if part.number == 0 and part.constructed:
                names = [ber.text(body, p) for p in ber.children(body, part) if p.tag == VISIBLE_STRING]
                fields["identifier_count"] = len(names)
                fields["identifiers"] = names[:MAX_NAMES]
            elif part.number == 1:
                fields["more_follows"] = ber.boolean(body, part)
    elif service == codes.READ and pdu.constructed:
        top = ber.Tlv(CONTEXT, 4, True, 0, len(body), len(body))
        results = ber.find(body, top, CONTEXT, 1)
        if results is not None:
            items = ber.children(body, results)
            fields["result_count"] = len(items)
            fields["failures"] = sum(1 for i in items if i.tag == (CONTEXT, 0) and not i.constructed)
    elif service == codes.WRITE and pdu.constructed:
        top = ber.Tlv(CONTEXT, 5, True, 0, len(body), len(body))
        items = ber.children(body, top)
        fields["result_count"] = len(items)
        fields["failures"] = sum(1 for i in items if i.tag == (CONTEXT, 0))
    elif service in (codes.FILE_OPEN,) and pdu.constructed:
        top = ber.Tlv(CONTEXT, service, True, 0, len(body), len(body))
        frsm = ber.find(body, top, CONTEXT, 0)
        if frsm is not None:
            fields["frsm_id"] = ber.integer(body, frsm)
