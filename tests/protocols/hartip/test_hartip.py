"""HART-IP: message tables, the dissector on crafted and real traffic (tshark field for field on
iti/hart__hart_ip.pcap), operations, and the read-only query against a test responder that the
PyPI client hartip-py also talks to."""

from __future__ import annotations

import asyncio

import pytest

from otwatch.inventory.identity import Identity
from otwatch.protocols import hartip
from otwatch.protocols.base import QueryTarget, Record
from otwatch.protocols.hartip import HartIpDissector, detect, identity_from
from otwatch.protocols.hartip.messages import (
    HartDecodeError,
    Header,
    Pdu,
    SessionInitiate,
    UniqueIdentifier,
    checksum,
    message,
    pack_ascii,
    packed_ascii,
)
from otwatch.protocols.hartip.query import identify
from otwatch.protocols.operations import OPERATION_FIELD, Operation
from tests.protocols.hartip.responder import DEVICE, UNIQUE, responder
from tests.sensor.replay import capture, replay, tshark_fields

# Frames 1-4 of iti/hart__hart_ip.pcap: session initiate, its reply, command 0 and its reply
INITIATE = bytes.fromhex("010000000002000d0100007530")
INITIATE_REPLY = bytes.fromhex("010100000002000d010000ea60")
CMD0 = bytes.fromhex("010003000003001182264e0000d2000038")
CMD0_REPLY = bytes.fromhex(
    "010103000003002986264e0000d2001800d0fe264e050704010e0c0000d205020002d00026002684e4"
)


def test_message_tables() -> None:
    assert Header.decode(INITIATE) == Header(1, 0, 0, 0, 2, 13)
    assert message(0, 0, 2, SessionInitiate(1, 30000).encode()) == INITIATE
    assert SessionInitiate.decode(INITIATE_REPLY[8:]) == SessionInitiate(1, 60000)
    assert Pdu.request(0, address=UNIQUE).encode() == CMD0[8:]
    assert message(0, 3, 3, Pdu.request(0, address=UNIQUE).encode()) == CMD0
    reply = Pdu.decode(CMD0_REPLY[8:])
    assert (reply.response_code, reply.device_status, reply.command) == (0, 0xD0, 0)
    uid = UniqueIdentifier.decode(reply.data)
    assert (uid.expanded_device_type, uid.manufacturer_id, uid.device_id, uid.device_profile) == (
        0x264E,
        38,
        0xD2,
        132,
    )
    assert UniqueIdentifier.decode(DEVICE.encode()) == DEVICE
    assert Pdu.decode(reply.encode()) == reply
    assert checksum(CMD0[8:-1]) == CMD0[-1]
    with pytest.raises(HartDecodeError):
        Pdu.decode(CMD0[8:-1] + b"\x00")  # wrong check byte


def test_packed_ascii() -> None:

    assert packed_ascii(pack_ascii("TT-101")) == "TT-101  "
    assert packed_ascii(bytes(6)) == "@@@@@@@@"


def _records(*frames: tuple[bytes, bool]) -> list[Record]:
    d = HartIpDissector()
    return [r for data, from_client in frames for r in d.feed(data, from_client)]


def test_dissects_session_and_command_0() -> None:
    records = _records((INITIATE, True), (INITIATE_REPLY, False), (CMD0, True), (CMD0_REPLY, False))
    assert [r.direction for r in records] == ["request", "response", "request", "response"]
    assert (
        records[0].fields["master_type"] == "Primary" and records[1].fields["inactivity_close_timer"] == 60000
    )
    fields = records[3].fields
    assert fields["manufacturer"] == "Rosemount (Emerson)" and fields["device_id"] == "0000d2"
    identity = identity_from(records[3])
    assert identity == Identity(
        protocol="hartip",
        vendor="Rosemount (Emerson)",
        vendor_id=38,
        product_code=0x264E,
        firmware="1",
        serial="0000d2",
        extra={
            "hart_long_address": "264e0000d2",
            "hart_universal_revision": 7,
            "hart_device_revision": 4,
            "hart_hardware_revision": 1,
            "hart_device_profile": 132,
        },
    )


def test_framing_byte_by_byte_and_coalesced() -> None:
    stream = INITIATE + CMD0
    d = HartIpDissector()
    records = [r for i in range(len(stream)) for r in d.feed(stream[i : i + 1], True)]
    assert [r.fields["message_id"] for r in records] == ["Session Initiate", "Pass Through"]
    assert [r.fields["sequence"] for r in HartIpDissector().feed(stream, True)] == [2, 3]


@pytest.mark.parametrize(
    ("command", "data", "operation"),
    [
        (6, b"\x05\x01", Operation.PARAMETER_WRITE),  # polling address
        (17, pack_ascii("X" * 32), Operation.PARAMETER_WRITE),  # message
        (18, bytes(21), Operation.PARAMETER_WRITE),  # tag, descriptor, date
        (22, b"NEW-TAG".ljust(32, b"\x00"), Operation.PARAMETER_WRITE),  # long tag
        (35, bytes(9), Operation.PARAMETER_WRITE),  # range values
        (44, b"\x20", Operation.PARAMETER_WRITE),  # units
        (38, b"", Operation.PARAMETER_WRITE),  # reset configuration changed flag
        (42, b"", Operation.CONTROLLER_RESET),  # device reset
        (89, bytes(9), Operation.CLOCK_SET),
        (71, b"\x01", Operation.PROTECTION_CHANGE),  # lock device
        (0, b"", None),
        (20, b"", None),
        (48, b"", None),
    ],
)
def test_write_commands_are_operations(command: int, data: bytes, operation: Operation | None) -> None:
    (record,) = _records((message(0, 3, 9, Pdu.request(command, data, UNIQUE).encode()), True))
    assert record.malformed is None and record.fields["command"] == command
    assert record.fields.get(OPERATION_FIELD) == operation
    reply = Pdu(0x86, UNIQUE, command, data, 0, 0).encode()
    (echo,) = _records((message(1, 3, 9, reply), False))
    assert OPERATION_FIELD not in echo.fields  # the device's answer is not a second operation


def test_extended_command_31() -> None:
    pdu = Pdu.request(31, (768).to_bytes(2, "big") + bytes(16), UNIQUE)
    (record,) = _records((message(0, 3, 1, pdu.encode()), True))
    assert record.fields["command"] == 768 and record.fields[OPERATION_FIELD] == Operation.PROTECTION_CHANGE


def test_tag_replies_give_the_name() -> None:
    data = pack_ascii("TT-101") + pack_ascii("BOILER FEED".ljust(16)) + bytes((6, 12, 124))
    (r13,) = _records((message(1, 3, 1, Pdu(0x86, UNIQUE, 13, data, 0, 0).encode()), False))
    assert (r13.fields["tag"], r13.fields["descriptor"], r13.fields["date"]) == (
        "TT-101",
        "BOILER FEED",
        "2024-12-06",
    )
    assert identity_from(r13) == Identity(protocol="hartip", name="TT-101")
    (unset,) = _records((message(1, 3, 1, Pdu(0x86, UNIQUE, 13, bytes(21), 0, 0).encode()), False))
    assert identity_from(unset) is None  # "@@@@@@@@" is no name


def test_malformed_only_when_certain() -> None:
    (bad_check,) = _records((CMD0[:-1] + b"\x00", True))
    assert bad_check.malformed == "hart pdu check byte does not match"
    (bad_header,) = _records((b"\x07\x00\x00\x00\x00\x01\x00\x08", True))
    assert bad_header.malformed and "HART-IP header" in bad_header.malformed
    (cut,) = HartIpDissector(datagrams=True).feed(CMD0[:-3], True)
    assert cut.malformed == "HART-IP message cut short"
    error_reply = Pdu(0x86, UNIQUE, 0, b"", 64, 0).encode()  # command not implemented
    (err,) = _records((message(1, 3, 1, error_reply), False))
    assert err.malformed is None and err.fields["response"] == "Command Not Implemented"
    assert identity_from(err) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (INITIATE, True),
        (INITIATE_REPLY, True),
        (CMD0, True),
        (CMD0_REPLY, True),
        (bytes.fromhex("0100020000080008"), True),  # keep alive
        (bytes.fromhex("0100020000080009"), False),  # keep alive with a wrong length
        (bytes.fromhex("030000000002000d0100007530"), False),  # version 3
        (CMD0[:8] + b"\x44" + CMD0[9:], False),  # not a HART delimiter
        (bytes.fromhex("000100000006010300000001"), False),  # Modbus/TCP
        (bytes(16), False),
    ],
)
def test_detect(payload: bytes, expected: bool) -> None:
    assert detect(payload) is expected


FIELDS = {
    "hart_ip.version": "version",
    "hart_ip.message_type": "message_type_code",
    "hart_ip.message_id": "message_id_code",
    "hart_ip.status": "status",
    "hart_ip.transaction_id": "sequence",
    "hart_ip.msg_length": "byte_count",
    "hart_ip.session_init.master_type": None,
    "hart_ip.session_init.inactivity_close_timer": "inactivity_close_timer",
    "hart_ip.pt.delimiter": "delimiter",
    "hart_ip.pt.short_addr": "short_address",
    "hart_ip.pt.long_address": "long_address",
    "hart_ip.pt.command": "command",
    "hart_ip.pt.response_code": "response_code",
    "hart_ip.pt.device_status": "device_status",
    "hart_ip.pt.rsp.expanded_device_type": "expanded_device_type",
    "hart_ip.pt.rsp.hart_univ_rev": "universal_revision",
    "hart_ip.pt.rsp.device_rev": "device_revision",
    "hart_ip.pt.rsp.software_rev": "software_revision",
    "hart_ip.pt.rsp.device_id": "device_id",
    "hart_ip.pt.rsp.manufacturer_Id": "manufacturer_id",
    "hart_ip.pt.rsp.private_label": "private_label",
    "hart_ip.pt.rsp.device_profile": "device_profile",
    "hart_ip.pt.rsp.configure_change": "config_change_counter",
    "hart_ip.pt.rsp.tag": "tag",
    "hart_ip.pt.rsp.message": "message",
}


def test_agrees_with_tshark() -> None:
    path = capture("iti/hart__hart_ip.pcap")
    names = list(FIELDS)
    rows = [r for r in tshark_fields(path, "hart_ip && !icmp", names)]
    ours = replay(path, (hartip.SPEC, hartip.SPEC_UDP))
    assert [int(row[0]) for row in rows] == [r.frame for r in ours]
    compared = 0
    for row, replayed in zip(rows, ours, strict=True):
        record = replayed.record
        assert record.malformed is None
        for name, value in zip(names, row[1:], strict=True):
            key = FIELDS[name]
            if value == "" or key is None:
                continue
            ours_value = (
                record.fields[key]
                if key != "tag"
                else record.fields.get("tag", record.fields.get("long_tag"))
            )
            if isinstance(ours_value, int):
                assert ours_value == int(value, 0), (replayed.frame, key)
            else:
                assert ours_value == value, (replayed.frame, key)
            compared += 1
    assert len(rows) == 48 and compared > 400


def test_capture_identity_through_the_sensor() -> None:
    from otwatch.sensor.pipeline.sensor import Sensor

    sensor = Sensor()
    assert sensor.process_capture(capture("iti/hart__hart_ip.pcap")) == []
    sensor.finish()
    gateway = next(a for a in sensor.inventory.assets if a.ip == "192.168.0.10").as_dict()
    assert gateway["vendor"] == "Rosemount (Emerson)" and gateway["name"] == "wihartgw"
    assert gateway["serial"] == "0000d2"
    codes = {a.type.code for a in sensor.alerts.open_alerts()}
    assert "MALFORMED_PACKET" not in codes and "PORT_SCAN" not in codes


async def _identify(target: QueryTarget) -> Identity | None:
    return await identify(target)


def test_query_against_the_test_responder() -> None:
    with responder() as (tcp_port, _udp, recorded):
        identity = asyncio.run(_identify(QueryTarget("127.0.0.1", tcp_port)))
    assert identity is not None
    assert (identity.vendor, identity.serial, identity.name) == ("Rosemount (Emerson)", "0000d2", "wihartgw")
    requests = [r for data in recorded.requests for r in HartIpDissector().feed(data, True)]
    assert [(r.fields["message_id"], r.fields.get("command")) for r in requests] == [
        ("Session Initiate", None),
        ("Pass Through", 0),
        ("Pass Through", 20),
        ("Session Close", None),
    ]
    assert all(OPERATION_FIELD not in r.fields for r in requests)


def test_query_gives_up_on_a_silent_host() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        target = QueryTarget("127.0.0.1", listener.getsockname()[1], response_timeout=0.2)
        assert asyncio.run(_identify(target)) is None


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_hartip_py_client_traffic(protocol: str) -> None:
    """The PyPI client hartip-py talks to the responder; both directions are read without a malformed
    record, its write is a PARAMETER_WRITE and its Device Reset a CONTROLLER_RESET."""
    client_mod = pytest.importorskip("hartip")
    with responder() as (tcp_port, udp_port, recorded):
        port = tcp_port if protocol == "tcp" else udp_port
        with client_mod.HARTIPClient("127.0.0.1", port, protocol=protocol, timeout=3) as client:
            assert client.read_unique_id(0).success
            assert client.read_long_tag().success
            assert client.write_message("PUMP 3 SERVICE").success
            client.send_command(42)
    d = HartIpDissector(datagrams=protocol == "udp")
    requests = [r for data in recorded.requests for r in d.feed(data, True)]
    replies = [r for data in recorded.replies for r in d.feed(data, False)]
    assert all(r.malformed is None for r in requests + replies)
    passes = [r for r in requests if r.fields["message_id"] == "Pass Through"]
    assert [r.fields["command"] for r in passes] == [0, 20, 17, 42]
    assert [r.fields.get(OPERATION_FIELD) for r in passes] == [
        None, None, Operation.PARAMETER_WRITE, Operation.CONTROLLER_RESET,
    ]  # fmt: skip
    uid = next(r for r in replies if r.fields.get("command") == 0)
    assert identity_from(uid) is not None and uid.fields["manufacturer_id"] == 0x26
