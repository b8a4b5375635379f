"""MELSOFT engineering captures (ot-ops/MELSEC__*) through the whole sensor: recognised as MELSOFT by
content, the CPU model read from the Open Initial reply, the operations GX Works carried out raised
with their ATT&CK technique, and none of the false alerts these captures raised before (Malformed
Modbus, Illegal Modbus Function Code, Port Scan from the UDP search broadcasts)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from otwatch.protocols.operations import OPERATIONS, Operation
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture

TCP = "ot-ops/MELSEC__melsoft_129_clean.pcap"
UDP = "ot-ops/MELSEC__melsoft_UDP_clean_1.pcap"
NEVER = {"MALFORMED_PACKET", "ILLEGAL_FUNCTION_CODE", "PORT_SCAN", "ADDRESS_SCAN", "PLC_SCAN"}


def _sensor(path: Path) -> Sensor:
    sensor = Sensor()
    sensor.process_capture(path)  # the TCP capture ends in a truncated packet: a warning, not an error
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    return sensor


def _protocols(sensor: Sensor) -> Counter[str | None]:
    return Counter(st.label for st in sensor._states.values())


def test_tcp_monitoring_session_is_melsoft_and_raises_nothing_false() -> None:
    sensor = _sensor(capture(TCP))
    codes = {a.type.code for a in sensor.alerts.alerts.values()}
    assert not codes & NEVER, codes
    assert not any(a.protocol == "modbus" for a in sensor.alerts.alerts.values())
    assert {(str(p), str(r)) for a in sensor.inventory.assets for p, r in a.protocols} == {
        ("melsoft", "client"),
        ("melsoft", "server"),
    }
    # monitoring only: no engineering operation
    assert not codes & {str(o) for o in Operation}


def test_udp_search_and_download_session() -> None:
    sensor = _sensor(capture(UDP))
    alerts = list(sensor.alerts.alerts.values())
    codes = {a.type.code for a in alerts}
    assert not codes & NEVER, codes
    assert set(_protocols(sensor)) == {"melsoft"}
    plcs = {a.ip: a.as_dict() for a in sensor.inventory.assets if a.ip in ("192.168.3.250", "192.168.0.250")}
    assert {d.get("model") for d in plcs.values()} == {"FX5U-32MT/ES"}
    assert {d.get("vendor") for d in plcs.values()} == {"Mitsubishi Electric"}
    # GX Works reads the project, stops the CPU and writes the program and parameters
    expected = {Operation.PROGRAM_UPLOAD, Operation.CONTROLLER_STOP, Operation.PROGRAM_DOWNLOAD}
    raised = {a.type.code: a for a in alerts if a.type.code in {str(o) for o in Operation}}
    assert set(raised) == {str(o) for o in expected}
    for op in expected:
        alert = raised[str(op)]
        assert alert.protocol == "melsoft"
        assert alert.type.technique == OPERATIONS[op].technique
