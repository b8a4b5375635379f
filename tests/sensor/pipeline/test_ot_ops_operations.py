"""The whole sensor over the ``ot-ops`` captures of CIP and S7 engineering operations: the alerts each
must raise, with their MITRE ATT&CK for ICS technique, and the ones it must not (no Malformed alert of
EtherNet/IP or S7, no operation it does not carry)."""

from __future__ import annotations

import pytest

from otwatch.protocols.operations import Operation
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture

OPERATIONS = {str(op) for op in Operation} | {"S7_STOP"}

CASES: dict[str, dict[str, str]] = {  # capture -> {alert code: technique id}
    "openics__EIP-ChangeDateAttempt.pcap": {"CLOCK_SET": "T0836"},
    "openics__EIP-ChangePortConfigurationAttempt.pcap": {"NETWORK_CONFIG": "T0836"},
    "openics__EIP-ControlProtocolChangeAttempt.pcap": {
        "CONTROLLER_STOP": "T0858",
        "PROGRAM_DOWNLOAD": "T0843",
        "CONTROLLER_START": "T0858",
    },
    # After the update the controller restarts and the BOOTP server gives it its address again.
    "openics__EIP-FirmwareChange.pcap": {"FIRMWARE_UPDATE": "T0857", "NETWORK_CONFIG": "T0836"},
    "openics__EIP-IPAddressChangeAttempt.pcap": {"NETWORK_CONFIG": "T0836"},  # set by a BOOTP reply
    "openics__EIP-LockPLCAttempt.pcap": {"PROTECTION_CHANGE": "T0892"},
    "openics__EIP-SoftwareUpload.pcap": {"PROGRAM_UPLOAD": "T0845"},
    "s7__step7_s300_AuthPassword.pcapng": {"AUTHENTICATION": "T0859"},
    "s7__step7_s300_copyRamToRom.pcapng": {"PROGRAM_TO_ROM": "T0889"},
    "s7__tia_s300_flashLed.pcapng": {},
    "s7__S7-1511-opc-request-all-types.pcap": {},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_capture_raises_its_operation_with_technique(name: str) -> None:
    sensor = Sensor()
    assert sensor.process_capture(capture(f"ot-ops/{name}")) == []
    sensor.finish()
    alerts = list(sensor.alerts.alerts.values())
    raised = {a.type.code: a.type.technique.id if a.type.technique else None for a in alerts}
    assert {c: t for c, t in raised.items() if c in OPERATIONS} == CASES[name]
    assert [a.title for a in alerts if "Malformed" in a.title] == []
    # A List Identity broadcast has no one server to answer it: no Unresponsive Device for 255.255.255.255
    assert not [
        a for a in alerts if a.type.code == "UNRESPONSIVE_DEVICE" and "255.255.255.255" in a.description
    ]
    for alert in alerts:
        if alert.type.code in CASES[name]:
            assert alert.description.endswith(".") and " sent " in alert.description


def test_umas_stop_and_download_through_the_sensor() -> None:
    """Schneider UMAS on TCP 502: a STOP_PLC and a download are operations with their techniques, and
    function 90 is no illegal Modbus function."""
    from tests.sensor.packets import Net, modbus

    net = Net()
    es, plc = net.host("es", "10.0.0.30"), net.host("m340", "10.0.0.40")
    session = net.session(es, plc, 502).open()
    session.exchange(modbus(1, 0, b"\x5a\x00\x02"), modbus(1, 0, b"\x5a\x00\xfe" + bytes(30)))
    session.exchange(modbus(2, 0, b"\x5a\x00\x10\x00\x01"), modbus(2, 0, b"\x5a\x8f\xfe"))
    session.exchange(modbus(3, 0, b"\x5a\x8f\x41\xff\x00"), modbus(3, 0, b"\x5a\x8f\xfe"))
    session.exchange(modbus(4, 0, b"\x5a\x8f\x33\x00\x01"), modbus(4, 0, b"\x5a\x8f\xfe"))
    sensor = Sensor()
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    raised = {a.type.code: a for a in sensor.alerts.alerts.values()}
    assert raised["CONTROLLER_STOP"].type.technique is not None
    assert raised["CONTROLLER_STOP"].type.technique.id == "T0858"
    assert "UMAS STOP_PLC" in raised["CONTROLLER_STOP"].description
    assert raised["PROGRAM_DOWNLOAD"].type.technique.id == "T0843"  # type: ignore[union-attr]
    assert "ILLEGAL_FUNCTION_CODE" not in raised and "MALFORMED_PACKET" not in raised


def test_plain_bootp_is_dhcp_and_its_reply_sets_an_address() -> None:
    """RFC 951 BOOTP (no option 53), as PLC commissioning tools use it: no Malformed DHCP, and the reply
    that assigns an address is a network configuration change sent by the BOOTP server."""
    import struct

    from otwatch.protocols import dhcp
    from otwatch.protocols.operations import OPERATION_BY_SERVER_FIELD, OPERATION_FIELD

    def bootp(op: int, yiaddr: bytes) -> bytes:
        fixed = struct.pack("!BBBBIHH4s4s4s4s16s", op, 1, 6, 0, 7, 0, 0, bytes(4), yiaddr, bytes(4), bytes(4),
                            bytes.fromhex("0000bc3eebe4") + bytes(10))  # fmt: skip
        return fixed + bytes(192) + b"\x63\x82\x53\x63\xff" + bytes(59)

    request, reply = bootp(1, bytes(4)), bootp(2, bytes((192, 168, 10, 120)))
    assert dhcp.detect(request) and dhcp.detect(reply[:236] + bytes(64))  # with or without the cookie
    ask, answer = dhcp.dissect_packet(request), dhcp.dissect_packet(reply)
    assert (ask.malformed, ask.fields["msg_type"], OPERATION_FIELD in ask.fields) == (
        None,
        "BOOTREQUEST",
        False,
    )
    assert answer.malformed is None and answer.fields["msg_type"] == "BOOTREPLY"
    assert (
        answer.fields[OPERATION_FIELD] == Operation.NETWORK_CONFIG
        and answer.fields[OPERATION_BY_SERVER_FIELD]
    )
    assert "192.168.10.120" in answer.fields["operation_detail"]
    # A DHCP ACK (option 53) is ordinary address management, not an engineering operation.
    from otwatch.sensor.capture import synth

    ack = dhcp.dissect_packet(synth.dhcp_message(2, b"\x00\x01\x02\x03\x04\x05", 5, yiaddr="10.0.0.9"))
    assert ack.fields["msg_type"] == "ACK" and OPERATION_FIELD not in ack.fields
