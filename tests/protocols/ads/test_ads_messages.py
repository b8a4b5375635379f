"""ADS/AMS wire bytes: message tables (encode and decode), the dissector on crafted frames, detect."""

from __future__ import annotations

import struct

import pytest

from otwatch.inventory.identity import DeviceType
from otwatch.protocols.ads import SPEC, SPEC_UDP, AdsDissector, detect, detect_udp, dissect_udp, identity_from
from otwatch.protocols.ads.codes import AdsState, Command
from otwatch.protocols.ads.messages import (
    AddNotificationRequest,
    AdsDecodeError,
    AmsFrame,
    DeviceInfo,
    ReadRequest,
    ReadResponse,
    ReadWriteRequest,
    StateInfo,
    UdpMessage,
    WriteControlRequest,
    WriteRequest,
    identify_request,
    string_tag,
)
from otwatch.protocols.base import Record
from otwatch.protocols.operations import OPERATION_FIELD, Operation

PLC = "5.13.117.96.1.1"
ENG = "192.168.1.99.1.1"

# (message, wire bytes): the ADS data of each command, little-endian as the specification lays it out
TABLE: list[tuple[object, bytes]] = [
    (ReadRequest(0x4020, 4, 2), bytes.fromhex("20400000 04000000 02000000")),
    (WriteRequest(0xF005, 0x1234, b"\x01\x00"), bytes.fromhex("05f00000 34120000 02000000 0100")),
    (
        ReadWriteRequest(0xF003, 0, 4, b"MAIN.x\x00"),
        bytes.fromhex("03f00000 00000000 04000000 07000000") + b"MAIN.x\x00",
    ),
    (WriteControlRequest(AdsState.STOP, 0), bytes.fromhex("0600 0000 00000000")),
    (
        AddNotificationRequest(0x4020, 0, 2, 4, 100, 200),
        bytes.fromhex("20400000 00000000 02000000 04000000 64000000 c8000000") + bytes(16),
    ),
    (
        DeviceInfo(0, 3, 1, 4024, "Plc30 App"),
        bytes.fromhex("00000000 03 01 b80f") + b"Plc30 App".ljust(16, b"\x00"),
    ),
    (StateInfo(0, AdsState.RUN, 0), bytes.fromhex("00000000 0500 0000")),
    (ReadResponse(0, b"\x2a\x00"), bytes.fromhex("00000000 02000000 2a00")),
]


@pytest.mark.parametrize(
    ("message", "wire"), TABLE, ids=lambda v: type(v).__name__ if not isinstance(v, bytes) else ""
)
def test_message_table(message: object, wire: bytes) -> None:
    assert message.encode() == wire  # type: ignore[attr-defined]
    assert type(message).decode(wire) == message  # type: ignore[attr-defined]


def test_ams_frame_round_trip_and_header_layout() -> None:
    frame = AmsFrame.request(PLC, 851, ENG, 32905, Command.READ_STATE, 7, b"")
    wire = frame.encode()
    assert wire == bytes.fromhex(
        "0000 20000000"  # AMS/TCP: reserved, length 32
        "050d75600101 5303"  # target NetId, port 851
        "c0a801630101 8980"  # source NetId, port 32905
        "0400 0400 00000000 00000000 07000000"  # ReadState, ADS command, cbData 0, error 0, invoke 7
    )
    assert AmsFrame.decode(wire) == frame
    with pytest.raises(AdsDecodeError):
        AmsFrame.decode(wire[:-1])
    with pytest.raises(AdsDecodeError):
        AmsFrame.decode(wire[:26] + b"\x01" + wire[27:])  # cbData disagrees with the AMS/TCP length


def test_udp_message_round_trip() -> None:
    msg = UdpMessage(6, ENG, 10000, [(12, string_tag("ENG-PC")), (7, bytes([192, 168, 1, 99, 1, 1]))])
    assert UdpMessage.decode(msg.encode()) == msg
    assert identify_request().encode() == bytes.fromhex(
        "03661471 00000000 01000000 000000000000 0000 00000000"
    )
    with pytest.raises(AdsDecodeError):
        UdpMessage.decode(b"\x00" * 24)


def _req(command: int, data: bytes = b"", port: int = 851, invoke: int = 1) -> bytes:
    return AmsFrame.request(PLC, port, ENG, 32905, command, invoke, data).encode()


def _rsp(command: int, data: bytes = b"", port: int = 851, invoke: int = 1, error: int = 0) -> bytes:
    return AmsFrame(ENG, 32905, PLC, port, command, 0x0005, invoke, data, error).encode()


def _one(data: bytes, from_client: bool = True, dissector: AdsDissector | None = None) -> Record:
    (record,) = (dissector or AdsDissector()).feed(data, from_client)
    return record


CONTROL = [
    (AdsState.RUN, Operation.CONTROLLER_START),
    (AdsState.STOP, Operation.CONTROLLER_STOP),
    (AdsState.RESET, Operation.CONTROLLER_RESET),
    (AdsState.SHUTDOWN, Operation.CONTROLLER_RESET),
    (AdsState.CONFIG, Operation.MODE_CHANGE),
    (AdsState.RECONFIG, Operation.MODE_CHANGE),
]


@pytest.mark.parametrize(("state", "operation"), CONTROL)
def test_write_control_is_an_operation(state: int, operation: Operation) -> None:
    record = _one(_req(Command.WRITE_CONTROL, WriteControlRequest(state, 0).encode(), port=10000))
    assert record.malformed is None and record.direction == "request"
    assert record.fields["ads_state"] == state
    assert record.fields[OPERATION_FIELD] == operation
    assert "TwinCAT system" in record.fields["operation_detail"]


@pytest.mark.parametrize(
    ("port", "group", "operation"),
    [
        (851, 0x4020, Operation.PARAMETER_WRITE),  # %M memory
        (851, 0xF005, Operation.PARAMETER_WRITE),  # value by handle
        (851, 0xF030, Operation.PARAMETER_WRITE),  # outputs
        (851, 0xF006, None),  # release handle: no value changes
        (10000, 400, Operation.CLOCK_SET),  # time services
        (10000, 600, Operation.NETWORK_CONFIG),  # change AMS NetId
        (10000, 801, Operation.ROUTE_ADDED),  # add remote route
        (10000, 111, None),  # close a file handle
    ],
)
def test_writes(port: int, group: int, operation: Operation | None) -> None:
    record = _one(_req(Command.WRITE, WriteRequest(group, 0, b"\x01\x00\x00\x00").encode(), port=port))
    assert record.fields["index_group"] == group and record.fields["length"] == 4
    assert record.fields.get(OPERATION_FIELD) == operation


def test_readwrite_tags_sum_writes_only() -> None:
    lookup = _one(_req(Command.READ_WRITE, ReadWriteRequest(0xF003, 0, 4, b"MAIN.x\x00").encode()))
    assert OPERATION_FIELD not in lookup.fields and lookup.fields["write_length"] == 7
    registry = _one(
        _req(Command.READ_WRITE, ReadWriteRequest(200, 0, 1000, b"SOFTWARE\\x\x00").encode(), 10000)
    )
    assert (
        OPERATION_FIELD not in registry.fields
        and registry.fields["index_group_name"] == "REG_HKEYLOCALMACHINE"
    )
    sum_write = _one(_req(Command.READ_WRITE, ReadWriteRequest(0xF081, 2, 8, bytes(36)).encode()))
    assert sum_write.fields[OPERATION_FIELD] == Operation.PARAMETER_WRITE


def test_reads_and_notifications_are_not_operations() -> None:
    d = AdsDissector()
    records = d.feed(
        _req(Command.READ, ReadRequest(0x4020, 0, 2).encode(), invoke=1)
        + _req(
            Command.ADD_DEVICE_NOTIFICATION,
            AddNotificationRequest(0x4020, 0, 2, 4, 0, 100).encode(),
            invoke=2,
        )
        + _req(Command.DELETE_DEVICE_NOTIFICATION, struct.pack("<I", 9), invoke=3),
        True,
    )
    assert [r.fields["command"] for r in records] == [
        "READ",
        "ADD_DEVICE_NOTIFICATION",
        "DELETE_DEVICE_NOTIFICATION",
    ]
    assert all(OPERATION_FIELD not in r.fields and r.malformed is None for r in records)
    replies = d.feed(
        _rsp(Command.READ, ReadResponse(0, b"\x2a\x00").encode(), invoke=1)
        + _rsp(Command.ADD_DEVICE_NOTIFICATION, struct.pack("<II", 0, 9), invoke=2),
        False,
    )
    assert replies[0].fields["matched"] and replies[0].fields["index_group"] == 0x4020
    assert replies[1].fields["notification_handle"] == 9


def test_device_notification_from_the_plc() -> None:
    sample = struct.pack("<QI", 133_000_000_000_000_000, 1) + struct.pack("<II", 9, 2) + b"\x2a\x00"
    data = struct.pack("<II", len(sample) + 4, 1) + sample
    record = _one(
        AmsFrame(ENG, 32905, PLC, 851, Command.DEVICE_NOTIFICATION, 0x0004, 0, data).encode(), False
    )
    assert record.direction == "request" and record.fields["stamps"] == 1 and record.malformed is None


def test_identity_from_device_info_and_state() -> None:
    d = AdsDissector()
    d.feed(_req(Command.READ_DEVICE_INFO), True)
    info = _one(_rsp(Command.READ_DEVICE_INFO, DeviceInfo(0, 3, 1, 4024, "Plc30 App").encode()), False, d)
    identity = identity_from(info)
    assert identity is not None
    assert (identity.vendor, identity.model, identity.device_type) == (
        "Beckhoff",
        "Plc30 App",
        DeviceType.PLC,
    )
    assert identity.extra == {"ams_net_id": PLC, "ams_port": 851, "plc_version": "3.1.4024"}
    system = identity_from(
        _one(
            _rsp(Command.READ_DEVICE_INFO, DeviceInfo(0, 3, 1, 4024, "TwinCAT System").encode(), 10000), False
        )
    )
    assert system is not None and system.firmware == "3.1.4024" and system.model is None
    state = identity_from(_one(_rsp(Command.READ_STATE, StateInfo(0, AdsState.STOP, 0).encode()), False))
    assert state is not None and state.state == "Stop"
    config = identity_from(
        _one(_rsp(Command.READ_STATE, StateInfo(0, AdsState.CONFIG, 1).encode(), 10000), False)
    )
    assert config is not None and config.state == "Config" and config.device_type is None


def test_router_refusal_and_error_results_are_not_malformed() -> None:
    refused = _one(_rsp(Command.READ_DEVICE_INFO, b"", port=500, error=6), False)
    assert refused.malformed is None and refused.fields["error"] == "target port not found"
    failed = _one(_rsp(Command.READ, struct.pack("<I", 0x710)), False)
    assert failed.fields["result_name"] == "symbol not found" and identity_from(failed) is None


def test_framing_split_coalesced_and_long_frames() -> None:
    frames = _req(Command.READ_STATE, invoke=1) + _req(
        Command.WRITE, WriteRequest(0x4020, 0, b"\x01").encode(), invoke=2
    )
    d = AdsDissector()
    records = [r for i in range(len(frames)) for r in d.feed(frames[i : i + 1], True)]  # byte by byte
    assert [r.fields["invoke_id"] for r in records] == [1, 2]
    # a 1 MB read reply is read for its header and skipped, unbuffered, then framing goes on
    big = _rsp(Command.READ, ReadResponse(0, bytes(1 << 20)).encode(), invoke=3)
    d = AdsDissector()
    out = []
    for i in range(0, len(big), 1460):
        out += d.feed(big[i : i + 1460], False)
    out += d.feed(_rsp(Command.READ_STATE, StateInfo(0, 5, 0).encode(), invoke=4), False)
    assert [r.fields["invoke_id"] for r in out] == [3, 4]
    assert out[0].fields["length"] == 1 << 20 and not d._buf[False]


def test_router_commands_and_bad_headers() -> None:
    port_connect = struct.pack("<HI", 0x1000, 2) + b"\x00\x00"
    assert _one(port_connect).fields["ams_tcp_command"] == "PORT_CONNECT"
    bad = _one(struct.pack("<HI", 0x0042, 32) + bytes(32))
    assert bad.malformed and "AMS/TCP" in bad.malformed
    frame = bytearray(_req(Command.READ_STATE))
    frame[26:30] = struct.pack("<I", 8)  # cbData 8 but the AMS/TCP length says 0 bytes follow
    assert "does not match" in (_one(bytes(frame)).malformed or "")
    short = _req(Command.WRITE, b"\x20\x40\x00\x00")  # a Write without offset and length
    assert "write request" in (_one(short).malformed or "")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (_req(Command.READ_DEVICE_INFO), True),
        (_rsp(Command.READ_STATE, StateInfo(0, 5, 0).encode()), True),
        (_req(0x0A), False),  # unknown command id
        (_req(Command.READ_STATE)[:37], False),  # cut header
        (bytes.fromhex("000100000006010300000001") + bytes(30), False),  # Modbus/TCP
        (bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102") + bytes(20), False),  # TPKT/COTP
        (b"GET / HTTP/1.1\r\nHost: plc\r\n\r\n" + bytes(20), False),
        (bytes(64), False),  # zeros: length 0
    ],
)
def test_detect_is_strict(payload: bytes, expected: bool) -> None:
    assert detect(payload) is expected
    assert SPEC.detect is detect and SPEC.ports == (48898,)


def test_detect_rejects_flags_without_the_ads_bit() -> None:
    frame = bytearray(_req(Command.READ_STATE))
    frame[24:26] = struct.pack("<H", 0x0001)
    assert not detect(bytes(frame))


# -- the TwinCAT UDP service -----------------------------------------------------------------------
# Discovery reply and AddRoute request/reply of a CX9020 (TwinCAT 2.11, Windows CE), as sent on the wire
IDENTIFY_REPLY = (
    bytes.fromhex("036614710000000001000080050d756001011027 03000000")  # header: reply, 3 tags
    + bytes.fromhex("0500 0a00")
    + b"CX_0D7560\x00"  # host name
    + bytes.fromhex("0400 1401 14010000 06000000 00000000 00000000 03000000")
    + bytes(256)  # OSVERSIONINFO
    + bytes.fromhex("0300 0400 020bb408")  # TwinCAT 2.11.2228
)
ADD_ROUTE = bytes.fromhex(
    "036614710000000006000000c0a801c701011027050000000c000d005348454e4855414a362d50430007"
    "000600c0a801c701010d000e0041646d696e6973747261746f720002000200310005000d003139322e31"
    "36382e312e393900"
)
ADD_ROUTE_REPLY = bytes.fromhex("036614710000000006000080050d756001011027010000000100040000000000")


def test_udp_identify_reply_gives_identity() -> None:
    assert detect_udp(IDENTIFY_REPLY)
    record = dissect_udp(IDENTIFY_REPLY)
    assert record.malformed is None and record.direction == "response"
    assert record.fields["host_name"] == "CX_0D7560"
    assert record.fields["os_version"] == "Windows CE 6.0"
    assert record.fields["twincat_version"] == "2.11.2228"
    identity = SPEC_UDP.identity_from(record)
    assert identity is not None
    assert (identity.vendor, identity.name, identity.firmware) == ("Beckhoff", "CX_0D7560", "2.11.2228")
    assert identity.extra["ams_net_id"] == "5.13.117.96.1.1"


def test_udp_add_route_is_route_added_and_keeps_no_password() -> None:
    record = dissect_udp(ADD_ROUTE)
    assert record.direction == "request" and record.malformed is None
    assert record.fields[OPERATION_FIELD] == Operation.ROUTE_ADDED
    assert record.fields["route_name"] == "SHENHUAJ6-PC"
    assert record.fields["route_net_id"] == "192.168.1.199.1.1"
    assert record.fields["user_name"] == "Administrator"
    assert record.fields["route_host"] == "192.168.1.99"
    assert record.fields["password_sent"] is True
    assert "1" not in [v for v in record.fields.values() if isinstance(v, str)]
    assert "SHENHUAJ6-PC" in record.fields["operation_detail"]
    reply = dissect_udp(ADD_ROUTE_REPLY)
    assert (
        reply.direction == "response" and reply.fields["status"] == 0 and OPERATION_FIELD not in reply.fields
    )


def test_udp_password_never_appears_anywhere() -> None:
    secret = "S3cr3t-Pa55"
    msg = UdpMessage(6, ENG, 10000, [(2, string_tag(secret)), (12, string_tag("eng"))])
    record = dissect_udp(msg.encode())
    assert secret not in repr(record)


@pytest.mark.parametrize(
    "payload",
    [
        ADD_ROUTE[:30],  # tag cut
        ADD_ROUTE[:24] + b"\x0c\x00\xff\x00abc",  # tag length past the end
    ],
)
def test_udp_cut_tags_are_malformed(payload: bytes) -> None:
    record = dissect_udp(payload)
    assert record.malformed is not None and OPERATION_FIELD not in record.fields


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (IDENTIFY_REPLY, True),
        (ADD_ROUTE, True),
        (identify_request().encode(), True),
        (b"\x03\x66\x14\x71" + bytes(8), False),
        (b"\x03\x66\x14\x71" + struct.pack("<II", 0, 0x42) + bytes(12), False),  # unknown service
        (bytes(24), False),
        (b"\x81\x0a\x00\x0c\x01\x20\xff\xff\x00\x08\x10\x08" + bytes(12), False),  # BACnet/IP
    ],
)
def test_detect_udp(payload: bytes, expected: bool) -> None:
    assert detect_udp(payload) is expected
