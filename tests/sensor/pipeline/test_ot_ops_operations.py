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
    "openics__EIP-FirmwareChange.pcap": {"FIRMWARE_UPDATE": "T0857"},
    "openics__EIP-IPAddressChangeAttempt.pcap": {},  # the address comes by BOOTP; CIP only reads
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
    malformed = [a.title for a in alerts if "Malformed" in a.title]
    assert not [t for t in malformed if "EtherNet/IP" in t or "S7" in t]
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
