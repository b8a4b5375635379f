"""PROFINET DCP Set: a new IP address or station name (NETWORK_CONFIG), a reset to factory settings
(FACTORY_RESET), and a Signal (LED flash) that changes nothing; crafted from IEC 61158-6-10 and the
public ChangeIPUsingDCP capture against tshark."""

from __future__ import annotations

import socket
import struct

import pytest

from otwatch.protocols.operations import OPERATION_DETAIL_FIELD, OPERATION_FIELD, Operation
from otwatch.protocols.profinet_dcp import dissect_frame
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture, tshark_fields


def _block(option: int, sub: int, value: bytes, qualifier: int = 1) -> bytes:
    body = struct.pack("!H", qualifier) + value
    return struct.pack("!BBH", option, sub, len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def _set(*blocks: bytes, xid: int = 0x01000001) -> bytes:
    data = b"".join(blocks)
    return struct.pack("!HBBIHH", 0xFEFD, 4, 0, xid, 0, len(data)) + data


END = _block(5, 2, b"", 0)
IP = _block(
    1, 2, socket.inet_aton("10.1.2.3") + socket.inet_aton("255.255.0.0") + socket.inet_aton("10.1.0.1")
)


@pytest.mark.parametrize(
    ("frame", "expected", "words"),
    [
        (_set(IP, END), Operation.NETWORK_CONFIG, "10.1.2.3"),
        (_set(_block(2, 2, b"press-7"), END), Operation.NETWORK_CONFIG, "press-7"),
        (_set(_block(5, 6, b"", 2 << 1)), Operation.FACTORY_RESET, "Reset to Factory"),
        (_set(_block(5, 5, b"", 0)), Operation.FACTORY_RESET, "Reset Factory Settings"),
        (_set(IP, _block(5, 6, b"", 2)), Operation.FACTORY_RESET, "Reset to Factory"),
    ],
)
def test_set_requests_are_tagged(frame: bytes, expected: Operation, words: str) -> None:
    record = dissect_frame(frame)
    assert record.malformed is None and record.direction == "request"
    assert record.fields[OPERATION_FIELD] == expected
    assert words in record.fields[OPERATION_DETAIL_FIELD]


def test_set_fields() -> None:
    fields = dissect_frame(_set(IP, END, xid=0x42)).fields
    assert (fields["xid"], fields["ip"], fields["netmask"], fields["gateway"]) == (
        0x42,
        "10.1.2.3",
        "255.255.0.0",
        "10.1.0.1",
    )
    assert fields["set_blocks"] == ["1/2", "5/2"] and fields["permanent"] is True
    assert fields["control"] == "End Transaction"
    reset = dissect_frame(_set(_block(5, 6, b"", 2 << 1))).fields
    assert reset["reset_mode"] == 2


def test_signal_is_a_field_not_an_operation() -> None:
    fields = dissect_frame(_set(_block(5, 3, b"\x01\x00", 0))).fields
    assert fields["signal"] is True and OPERATION_FIELD not in fields


def test_set_response_is_no_operation() -> None:
    data = struct.pack("!BBH", 5, 4, 3) + b"\x01\x02\x00" + b"\x00"
    frame = struct.pack("!HBBIHH", 0xFEFD, 4, 1, 1, 0, len(data)) + data
    record = dissect_frame(frame)
    assert record.direction == "response" and OPERATION_FIELD not in record.fields


def test_truncated_set_does_not_raise() -> None:
    full = _set(IP, _block(2, 2, b"station-name"), END)
    for cut in range(len(full)):
        dissect_frame(full[:cut])


CHANGE_IP = "iti/profinet__PROFINET-RT-DCP__ChangeIPUsingDCP.pcap"


def test_change_ip_capture_matches_tshark_and_raises_network_config() -> None:
    path = capture(CHANGE_IP)
    rows = tshark_fields(
        path,
        "pn_dcp.service_id == 4 && pn_dcp.service_type == 0",
        [
            "pn_dcp.xid",
            "pn_dcp.suboption_ip_ip",
            "pn_dcp.suboption_ip_subnetmask",
            "pn_dcp.suboption_ip_standard_gateway",
        ],
    )
    assert [row[1:] for row in rows] == [["0x01000001", "192.168.0.10", "255.255.255.0", "192.168.0.1"]]
    sensor = Sensor()
    sensor.process_capture(path)
    sensor.finish()
    (alert,) = [a for a in sensor.alerts.alerts.values() if a.type.code == "NETWORK_CONFIG"]
    assert alert.type.technique is not None and alert.type.technique.id == "T0836"
    assert alert.protocol == "profinet_dcp" and "192.168.0.10" in alert.description
    assert not [
        a for a in sensor.alerts.alerts.values() if a.type.code in ("FACTORY_RESET", "MALFORMED_PACKET")
    ]


def test_identify_capture_raises_no_operation() -> None:
    sensor = Sensor()
    sensor.process_capture(capture("iti/profinet__PROFINET-RT-DCP__PROFINET-RT.pcap"))
    sensor.finish()
    codes = {a.type.code for a in sensor.alerts.alerts.values()}
    assert not codes & {str(op) for op in Operation}
