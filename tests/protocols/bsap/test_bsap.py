"""BSAP over UDP 1234: BSAP/IP header and bodies (ICSNPP icsnpp-bsap's layout) as wire-byte tables and
round trips, RDB requests with their signal names, response matching, operations with their ATT&CK
technique, BSAP serial frames carried over IP, identity, and strict detection. No public capture of
BSAP exists in the shared captures (ICSNPP's traces are not among them), so the messages here are
built with the package's encoders, shaped after the rows of ICSNPP's bsap_ip_rdb.log baseline."""

from __future__ import annotations

import random

import pytest

from otwatch.inventory.identity import DeviceType
from otwatch.protocols.base import Record
from otwatch.protocols.bsap import SPEC, detect, identity_from
from otwatch.protocols.bsap.dissect import BsapDissector
from otwatch.protocols.bsap.messages import (
    BsapDecodeError,
    IpMessage,
    IpRequest,
    IpResponse,
    RdbRequest,
    SerialFrame,
    names_request,
    rdb_names,
)
from otwatch.protocols.operations import OPERATION_DETAIL_FIELD, OPERATION_FIELD, OPERATIONS, Operation
from otwatch.protocols.registry import PROTOCOLS
from otwatch.protocols.roc_plus.messages import Address, Frame

NAMES = ["@GV.DS1", "@GV.SystemShutDown", "@GV.Tank2Bypass"]


def request(rdb: RdbRequest, res_seq: int = 19331, mes_seq: int = 19316, app: int = 0xA0) -> bytes:
    body = IpRequest(app, 7, rdb.encode()).encode()
    return IpMessage(0x0006, 1, res_seq, mes_seq, body).encode()


def response(res_seq: int = 19331, data: bytes = bytes(4), elements: int = 1) -> bytes:
    return IpMessage(0x0005, 1, 19317, 19332, IpResponse(res_seq, 0, elements, data).encode()).encode()


READ_BY_NAME = request(names_request(0x04, NAMES))
WRITE_BY_ADDRESS = request(RdbRequest(0x80, bytes(3) + bytes((1,)) + bytes.fromhex("11000a")))  # baseline row
POLL = IpMessage(0x0000, 0, 19320, 19335).encode()


def test_wire_tables() -> None:
    assert POLL.hex() == "0e0000000000784b0000874b0000"  # 19320, 19335
    assert READ_BY_NAME[:14].hex() == "0e0001000600834b0000744b0000"
    body = READ_BY_NAME[14:]
    # data length (bytes after it), header size, sequence, application function RDB, node status, function
    assert body[:12].hex() == f"{len(body) - 4:02x}0000000007000000a00004"
    assert body[12:17] == bytes(4) + b"\x03" and body[17:].split(b"\x00")[:3] == [n.encode() for n in NAMES]


def test_round_trips() -> None:
    message = IpMessage.decode(READ_BY_NAME)
    assert message.encode() == READ_BY_NAME and message.function == 6 and message.num_messages == 1
    req = IpRequest.decode(message.body)
    assert req.encode() == message.body and req.app_function == 0xA0 and req.sequence == 7
    rdb = RdbRequest.decode(req.data)
    assert rdb == names_request(0x04, NAMES)
    assert rdb_names(rdb.data) == (3, NAMES)
    reply = IpResponse.decode(IpMessage.decode(response()).body)
    assert reply.encode() == IpMessage.decode(response()).body and reply.sequence == 19331
    long_header = IpMessage(0x0084, 1, 1, 2, IpRequest(0xA0, 1, b"\x00\x00").encode(), 22, b"\x01" * 8)
    assert IpMessage.decode(long_header.encode()) == long_header
    for frame in (
        SerialFrame(0x05, 0x31, 0xA0, 0x1234, 0x03, 0x00, bytes((0x04,)) + b"\x10\x10"),  # DLE in data
        SerialFrame(
            0x85, 0x31, 0xA1, 0x0001, 0x03, 0x00, bytes(7), destination=0x0102, source=0x0001, control=0x10
        ),
    ):
        wire = frame.encode()
        assert wire.count(b"\x10\x03") == 1 and SerialFrame.decode(wire) == frame
    with pytest.raises(BsapDecodeError):
        IpMessage.decode(bytes.fromhex("ff00010006000000"))
    with pytest.raises(BsapDecodeError):
        SerialFrame.decode(b"\x10\x02\x05\x31\xa0\x34\x12\x03\x00")  # no DLE ETX


def _records(chunks: list[tuple[bytes, bool]]) -> list[Record]:
    dissector = BsapDissector()
    return [r for data, from_client in chunks for r in dissector.feed(data, from_client)]


def test_rdb_read_by_name_and_its_response() -> None:
    req, poll, resp = _records([(READ_BY_NAME, True), (POLL, True), (response(), True)])  # peers on 1234
    assert (req.direction, poll.direction, resp.direction) == ("request", "request", "response")
    f = req.fields
    assert (f["type_name"], f["res_seq"], f["mes_seq"], f["app_func_code"], f["func_code"]) == (
        "REQUEST",
        19331,
        19316,
        "RDB",
        "READ_SIGNAL_BY_NAME",
    )
    assert f["variable_count"] == 3 and f["variables"] == NAMES and OPERATION_FIELD not in f
    assert poll.fields["type_name"] == "POLL" and poll.fields["num_msg"] == 0
    r = resp.fields
    assert r["matched"] and r["func_code"] == "RSP_READ_SIGNAL_BY_NAME" and r["variables"] == NAMES
    assert (r["mes_seq"], r["res_seq"], r["sequence"], r["nme"]) == (19317, 19332, 19331, 1)
    assert all(x.malformed is None for x in (req, poll, resp))


def test_identity_from_an_rdb_answer() -> None:
    _, resp = _records([(READ_BY_NAME, True), (response(), False)])
    identity = identity_from(resp)
    assert identity is not None and (identity.vendor, identity.device_type) == ("Emerson", DeviceType.RTU)
    [unmatched] = _records([(response(res_seq=1), False)])
    assert identity_from(unmatched) is None
    assert identity_from(_records([(READ_BY_NAME, True)])[0]) is None


OPERATION_CASES = [
    (WRITE_BY_ADDRESS, Operation.PARAMETER_WRITE, "Write Signal By Address of 'Addr 0x1100'"),
    (request(names_request(0x84, NAMES[:1])), Operation.PARAMETER_WRITE, "Write Signal By Name of '@GV.DS1'"),
    (request(RdbRequest(0x8C, b"\x00\x01")), Operation.PARAMETER_WRITE, "Write Signal By List Start"),
    (request(RdbRequest(0x0C, b"\x00\x01")), None, ""),
    (request(RdbRequest(0x00, bytes(6))), None, ""),
    (request(RdbRequest(0x00, b""), app=0x68), Operation.FIRMWARE_UPDATE, "Flash Download"),
    (POLL, None, ""),
]


@pytest.mark.parametrize(("wire", "operation", "detail"), OPERATION_CASES)
def test_operations(wire: bytes, operation: Operation | None, detail: str) -> None:
    [record] = _records([(wire, True)])
    assert record.malformed is None
    assert record.fields.get(OPERATION_FIELD) == operation
    assert detail in record.fields.get(OPERATION_DETAIL_FIELD, "")


def test_write_by_address_fields_as_icsnpp_logs_them() -> None:
    [record] = _records([(WRITE_BY_ADDRESS, True)])
    assert record.fields["variables"] == ["Addr 0x1100"] and record.fields["variable_value"] == ["0A"]
    assert record.fields["variable_count"] == 1
    assert str(OPERATIONS[Operation.PARAMETER_WRITE].technique) == "T0836 Modify Parameter"
    assert str(OPERATIONS[Operation.FIRMWARE_UPDATE].technique) == "T0857 System Firmware"
    assert str(OPERATIONS[Operation.CONTROLLER_RESET].technique) == "T0816 Device Restart/Shutdown"


def _ext(xfun: int) -> bytes:
    return SerialFrame(0x05, 0x40, 0xA1, 0x0010, 0x03, 0x00, bytes(5) + xfun.to_bytes(2, "little")).encode()


@pytest.mark.parametrize(
    ("xfun", "name", "operation"),
    [
        (0x0281, "WRITE DATE AND TIME", Operation.CLOCK_SET),
        (0x0101, "RESET SYSTEM", Operation.CONTROLLER_RESET),
        (0x0400, "CHANGE LOCAL NODE ADDR", Operation.NETWORK_CONFIG),
        (0x0201, "READ DATE AND TIME", None),
    ],
)
def test_serial_rdb_extension(xfun: int, name: str, operation: Operation | None) -> None:
    wire = _ext(xfun)
    assert detect(wire)
    [record] = _records([(wire, True)])
    assert record.malformed is None and record.fields["extfun"] == name
    assert record.fields.get(OPERATION_FIELD) == operation
    assert record.fields["type_name"] == "Local Message" and record.fields["dfun"] == "RDB_EXTENSION"


def test_serial_rdb_request_reply_and_global_header() -> None:
    write = SerialFrame(0x85, 0x41, 0xA0, 0x0011, 0x03, 0x00, bytes((0x84, 0, 1)) + b"@GV.SP1\x00" + bytes(4),
                        destination=0x0002, source=0x0001, control=0x00)  # fmt: skip
    reply = SerialFrame(0x01, 0x41, 0x03, 0x0011, 0xA0, 0x00, bytes((0x00, 0x00)))
    req, resp = _records([(write.encode(), True), (reply.encode(), False)])
    assert req.fields["type_name"] == "Global Message" and (req.fields["dadd"], req.fields["sadd"]) == (2, 1)
    assert req.fields["func_code"] == "WRITE_SIGNAL_BY_NAME" and req.fields["variables"] == ["@GV.SP1"]
    assert req.fields[OPERATION_FIELD] == Operation.PARAMETER_WRITE
    assert resp.direction == "response" and OPERATION_FIELD not in resp.fields
    assert detect(write.encode()) and detect(reply.encode())


def test_malformed_only_when_certain() -> None:
    cut = READ_BY_NAME[:20]  # header, then a request body cut short
    [record] = _records([(cut, True)])
    assert record.malformed and record.fields["type_name"] == "REQUEST"
    [odd] = _records([(IpMessage(0x0042, 1).encode(), True)])
    assert (
        odd.malformed is None and odd.fields["type_name"] == "Unknown Message Type-0x42"
    )  # not in ICSNPP's list
    [serial] = _records([(b"\x10\x02\x05\x31\xa0\x10\x05", True)])
    assert serial.malformed
    assert _records([(b"", True)]) == []


NOT_BSAP = [
    b"",
    bytes.fromhex("000100000006010300000001"),  # Modbus/TCP
    bytes.fromhex("810b000c0120ffff00ff1008"),  # BACnet Who-Is
    bytes.fromhex("800002000000006300ef050100"),  # FINS
    bytes.fromhex("056405c001000000e4c4"),  # DNP3
    bytes.fromhex("0e000100060000000000000000000000"),  # request header, body cut
    bytes.fromhex("0e0001000700") + bytes(8) + bytes(20),  # message function 7
    bytes.fromhex("0e0001000000") + bytes(8),  # a poll with a message count
    bytes.fromhex("0e0000000600") + bytes(8) + bytes(10),  # a request without messages
    bytes.fromhex("0e0001000600") + bytes(8) + bytes(9) + b"\xee",  # unknown application function
    bytes.fromhex("0f0001000600") + bytes(8) + bytes(9) + b"\xa0\x00\x04",  # header length 15
    b"\x10\x02hello\x10\x03\x00\x00",  # DLE-framed, but function 'l' unknown
    b"\x10\x02" + bytes(10),  # no DLE ETX
    Frame(6, Address(240, 240), Address(3, 1)).encode(),  # ROC Plus
    b"GET / HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("payload", NOT_BSAP)
def test_detect_is_strict(payload: bytes) -> None:
    assert not detect(payload)


def test_detect_accepts_every_message_kind() -> None:
    for wire in (READ_BY_NAME, WRITE_BY_ADDRESS, POLL, response(), _ext(0x0201)):
        assert detect(wire)


def test_random_bytes_are_not_bsap() -> None:
    rng = random.Random(1234)
    claimed = [p for p in (rng.randbytes(rng.randint(14, 80)) for _ in range(20000)) if detect(p)]
    assert claimed == []


def test_no_other_protocol_claims_bsap_messages() -> None:
    samples = [READ_BY_NAME, WRITE_BY_ADDRESS, POLL, response(), _ext(0x0281)]
    for spec in PROTOCOLS:
        if spec.name != "bsap" and spec.transport != "eth":  # layer-2 specs never see IP payloads
            assert not any(spec.detect(s) for s in samples), spec.name


def test_spec() -> None:
    assert (SPEC.name, SPEC.transport, SPEC.ports, SPEC.query) == ("bsap", "udp", (1234, 1235), None)
