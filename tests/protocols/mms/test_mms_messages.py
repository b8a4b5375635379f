"""MMS messages as tables of wire bytes: encode/decode round trips, the dissector's fields and the
operations it tags, and TCP/102 detection by content (MMS vs S7comm vs S7comm-plus)."""

from __future__ import annotations

from typing import Any

import pytest

from otwatch.protocols import ber, mms, s7comm
from otwatch.protocols.mms import codes
from otwatch.protocols.mms.dissect import MmsDissector
from otwatch.protocols.mms.messages import (
    AcseApdu,
    CotpConnect,
    CotpData,
    IdentifyResponse,
    InitiatePdu,
    MmsPdu,
    PresentationPdu,
    SessionSpdu,
    associate,
    tpkt_frame,
    wrap_mms,
)
from otwatch.protocols.operations import Operation

# Wire bytes from the public captures (iti IEC61850 sample: an ABB station computer and its IEDs).
GET_VAR_ATTRS = bytes.fromhex(
    "0300004202f080010001006135303302010 3a02ea02c020304a273a625a023a1211a0e414131453151303146503"
    "24c44301a0f4c4c4e30244252247263625f423032".replace(" ", "")
)
CONFIRMED_ERROR = bytes.fromhex(
    "0300002202f08001000100611530130201 03a00ea20c800304a273a205a003870102".replace(" ", "")
)
CONCLUDE = bytes.fromhex("0300001602f0800100010061093007020103a0028b00")
# ot-ops: an MMS PDU straight in COTP DT (no session/presentation): Stop of program invocation.
STOP = bytes.fromhex("0300002802f080a01f020101bf29198017523339353032343339374170706c69636174696f6e5f31")


def _one(frame: bytes, from_client: bool = True) -> dict[str, Any]:
    (record,) = MmsDissector().feed(frame, from_client)
    assert record.malformed is None
    return record.fields


def test_get_variable_access_attributes_from_a_real_station() -> None:
    fields = _one(GET_VAR_ATTRS)
    assert fields["spdu"] == "DATA TRANSFER (DT)"
    assert fields["presentation_context"] == 3
    assert (fields["mms_pdu"], fields["invoke_id"], fields["service"]) == (
        "confirmed-RequestPDU",
        303731,
        "getVariableAccessAttributes",
    )
    assert (fields["domain_ids"], fields["item_ids"]) == (["AA1E1Q01FP2LD0"], ["LLN0$BR$rcb_B02"])
    assert "operation" not in fields  # reading attributes changes nothing


def test_confirmed_error_and_conclude() -> None:
    fields = _one(CONFIRMED_ERROR, False)
    assert (fields["mms_pdu"], fields["invoke_id"], fields["error_class"], fields["error_code"]) == (
        "confirmed-ErrorPDU",
        303731,
        "access",
        2,
    )
    assert _one(CONCLUDE)["mms_pdu"] == "conclude-RequestPDU"


def test_mms_straight_in_cotp_is_dissected_and_tagged() -> None:
    fields = _one(STOP)
    assert (fields["service_code"], fields["service"], fields["program_invocation"]) == (
        41,
        "stop",
        "R395024397Application_1",
    )
    assert fields["operation"] == Operation.CONTROLLER_STOP
    assert fields["operation_detail"] == "an MMS Stop of program invocation 'R395024397Application_1'"


def _request(service: int, body: bytes, constructed: bool = True) -> bytes:
    pdu = MmsPdu(codes.CONFIRMED_REQUEST, 7, service, body, constructed).encode()
    return tpkt_frame(CotpData(wrap_mms(pdu)).encode())


NAME = ber.ctx(0, b"P1")
DOMAIN_ITEM = ber.ctx(
    1, ber.tlv(ber.UNIVERSAL, 26, b"IED1LD0") + ber.tlv(ber.UNIVERSAL, 26, b"GGIO1$CO$SPCSO1$Oper"), True
)
WRITE_BODY = ber.ctx(0, ber.tlv(ber.UNIVERSAL, 16, ber.ctx(0, DOMAIN_ITEM, True), True), True) + ber.ctx(
    0, ber.ctx(3, b"\x01"), True
)
FILE = ber.tlv(ber.UNIVERSAL, 25, b"IED1.cid")

# (service, body, constructed) -> (operation, field, value)
OPERATION_TABLE = [
    (codes.START, NAME, True, Operation.CONTROLLER_START, "program_invocation", "P1"),
    (codes.STOP, NAME, True, Operation.CONTROLLER_STOP, "program_invocation", "P1"),
    (codes.RESUME, NAME, True, Operation.CONTROLLER_START, "program_invocation", "P1"),
    (codes.RESET, NAME, True, Operation.CONTROLLER_RESET, "program_invocation", "P1"),
    (codes.KILL, NAME, True, Operation.CONTROLLER_RESET, "program_invocation", "P1"),
    (codes.DELETE_PROGRAM_INVOCATION, b"P1", False, Operation.PROGRAM_DELETE, "program_invocation", "P1"),
    (codes.INITIATE_DOWNLOAD, ber.ctx(0, b"LD0"), True, Operation.PROGRAM_DOWNLOAD, "domain", "LD0"),
    (codes.INITIATE_UPLOAD, b"LD0", False, Operation.PROGRAM_UPLOAD, "domain", "LD0"),
    (codes.DELETE_DOMAIN, b"LD0", False, Operation.PROGRAM_DELETE, "domain", "LD0"),
    (codes.WRITE, WRITE_BODY, True, Operation.PARAMETER_WRITE, "item_ids", ["GGIO1$CO$SPCSO1$Oper"]),
    (codes.FILE_DELETE, FILE, True, Operation.PARAMETER_WRITE, "file_name", "IED1.cid"),
    (
        codes.FILE_RENAME,
        ber.ctx(0, FILE, True) + ber.ctx(1, FILE, True),
        True,
        Operation.PARAMETER_WRITE,
        "file_name",
        "IED1.cid",
    ),
]


@pytest.mark.parametrize(("service", "body", "constructed", "operation", "key", "value"), OPERATION_TABLE)
def test_operations(
    service: int, body: bytes, constructed: bool, operation: Operation, key: str, value: Any
) -> None:
    fields = _one(_request(service, body, constructed))
    assert fields["service"] == codes.SERVICE_NAMES[service]
    assert fields["invoke_id"] == 7
    assert fields["operation"] == operation
    assert fields[key] == value


@pytest.mark.parametrize(
    ("service", "body", "constructed"),
    [
        (codes.IDENTIFY, b"", False),
        (codes.GET_NAME_LIST, ber.ctx(0, ber.ctx(0, b"\x09"), True) + ber.ctx(1, ber.ctx(0, b"")), True),
        (codes.READ, ber.ctx(1, WRITE_BODY[: len(WRITE_BODY) - 7], True), True),
        (codes.FILE_OPEN, ber.ctx(0, FILE, True) + ber.ctx(1, b"\x00"), True),
        (codes.FILE_DIRECTORY, ber.ctx(0, FILE, True), True),
        (codes.FILE_READ, b"\x01", False),
        (codes.TAKE_CONTROL, ber.ctx(0, ber.ctx(0, b"reserved"), True), True),
        (codes.GET_ALARM_SUMMARY, b"", True),
    ],
)
def test_read_only_services_carry_no_operation(service: int, body: bytes, constructed: bool) -> None:
    fields = _one(_request(service, body, constructed))
    assert fields["service"] == codes.SERVICE_NAMES[service]
    assert "operation" not in fields


def test_get_name_list_and_read_fields() -> None:
    body = ber.ctx(0, ber.ctx(0, b"\x09"), True) + ber.ctx(1, ber.ctx(1, b"LD0"), True)
    fields = _one(_request(codes.GET_NAME_LIST, body))
    assert (fields["object_class"], fields["object_scope"], fields["domain"]) == (
        "domain",
        "domainSpecific",
        "LD0",
    )
    read = ber.ctx(1, ber.ctx(0, ber.tlv(ber.UNIVERSAL, 16, ber.ctx(0, DOMAIN_ITEM, True), True), True), True)
    fields = _one(_request(codes.READ, read))
    assert (fields["domain_ids"], fields["item_ids"]) == (["IED1LD0"], ["GGIO1$CO$SPCSO1$Oper"])


def test_association_round_trip() -> None:
    """CN (CP + AARQ + initiate-Request) and AC (CPA + AARE + initiate-Response), encoded and read back."""
    initiate = InitiatePdu().encode()
    assert InitiatePdu.decode(initiate) == InitiatePdu()
    cn = SessionSpdu.decode(associate(initiate))
    assert cn.si == codes.SPDU_CN
    cp = PresentationPdu.decode(cn.user_data)
    assert cp.kind == "cp"
    ((ctx_id, acse),) = cp.pdvs
    assert (ctx_id, AcseApdu.decode(acse).user_information) == (1, initiate)
    response = InitiatePdu(codes.INITIATE_RESPONSE).encode()
    fields = _one(tpkt_frame(CotpData(associate(response, accept=True)).encode()), False)
    assert (fields["spdu"], fields["ppdu"], fields["acse"], fields["acse_result"]) == (
        "ACCEPT (AC)",
        "cpa",
        "aare",
        0,
    )
    assert fields["mms_pdu"] == "initiate-ResponsePDU"


def test_identify_response_round_trip_and_identity() -> None:
    ident = IdentifyResponse("ABB", "REF615", "5.0 FP1")
    assert IdentifyResponse.decode(ident.encode()) == ident
    pdu = MmsPdu(codes.CONFIRMED_RESPONSE, 1, codes.IDENTIFY, ident.encode())
    assert MmsPdu.decode(pdu.encode()) == pdu
    (record,) = MmsDissector().feed(tpkt_frame(CotpData(wrap_mms(pdu.encode())).encode()), False)
    identity = mms.identity_from(record)
    assert identity is not None
    assert identity.as_dict() == {
        "protocol": "mms",
        "vendor": "ABB",
        "model": "REF615",
        "firmware": "5.0 FP1",
        "device_type": "IED",
    }


def test_split_and_segmented_frames() -> None:
    """A TPKT split across TCP segments, and an SPDU split over two COTP DTs (EOT clear then set)."""
    frame = GET_VAR_ATTRS
    dissector = MmsDissector()
    assert dissector.feed(frame[:10], True) == []
    (record,) = dissector.feed(frame[10:], True)
    assert record.fields["invoke_id"] == 303731
    user = frame[7:]
    first = tpkt_frame(CotpData(user[:20], last=False).encode())
    second = tpkt_frame(CotpData(user[20:], number=1).encode())
    dissector = MmsDissector()
    assert dissector.feed(first, True) == []
    (record,) = dissector.feed(second, True)
    assert record.fields["item_ids"] == ["LLN0$BR$rcb_B02"]


def _cr(called: bytes, calling: bytes = b"\x00\x01") -> bytes:
    return tpkt_frame(CotpConnect(calling_tsap=calling, called_tsap=called).encode())


S7_SETUP = tpkt_frame(CotpData(bytes.fromhex("32010000000000080000f0000001000101e0")).encode())
S7PLUS = tpkt_frame(CotpData(bytes.fromhex("720100") + bytes(10)).encode())


@pytest.mark.parametrize(
    ("payload", "is_mms", "is_s7"),
    [
        (_cr(b"\x00\x01"), True, False),  # IEC 61850 transport selector
        (_cr(b"\x00\x00\x00\x01"), True, False),
        (_cr(b"\x01\x02"), False, True),  # S7 PG, rack 0 slot 2
        (_cr(b"\x03\x01", b"\x01\x00"), False, True),
        (_cr(b"SIMATIC-ROOT-ES", b"SIMATIC-ROOT-HMI"), False, True),  # S7comm-plus
        (_cr(b"\x02\x00", b"\x00\x02"), False, False),  # LOGO! or MMS: the first DT decides
        (GET_VAR_ATTRS, True, False),
        (CONCLUDE, True, False),
        (STOP, True, False),
        (S7_SETUP, False, True),
        (S7PLUS, False, True),
        (b"\x03\x00\x00\x07\x02\xf0\x80", False, False),  # an empty DT
        (b"GET / HTTP/1.1\r\n\r\n", False, False),
    ],
)
def test_tcp_102_by_content(payload: bytes, is_mms: bool, is_s7: bool) -> None:
    assert mms.detect(payload) is is_mms
    assert s7comm.detect(payload) is is_s7


def test_never_raises_on_cut_frames() -> None:
    for frame in (GET_VAR_ATTRS, CONFIRMED_ERROR, STOP):
        for cut in range(len(frame)):
            for record in MmsDissector().feed(frame[:cut] + b"\x03\x00\x00\x07" + frame[cut:], True):
                mms.identity_from(record)
            mms.detect(frame[:cut])
