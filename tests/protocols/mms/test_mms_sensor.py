"""The whole sensor over each ot-ops IEC 61850 capture: the alerts it must raise (with their ATT&CK for
ICS technique) and none it must not (nothing S7, no GOOSE sequence alerts on sound publishers)."""

from __future__ import annotations

import pytest

from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture

# The AC SPDU of the three iec61850_* captures miscounts its lengths (tshark: "ACCEPT (AC)
# SPDU[Malformed Packet]"), so each raises one Malformed MMS Packet besides its operation.
EXPECTED: dict[str, set[tuple[str, str | None]]] = {
    "IEC61850__GOOSE__GOOSE.pcap": set(),
    "IEC61850__MMS__iec61850_get_name_list.pcap": {("MALFORMED_PACKET", None)},
    "IEC61850__MMS__iec61850_read.pcap": {("MALFORMED_PACKET", None)},
    "IEC61850__MMS__iec61850_write.pcap": {("MALFORMED_PACKET", None), ("PARAMETER_WRITE", "T0836")},
    "IEC61850__MMS__mms-cancelRequest.pcap": set(),
    "IEC61850__MMS__mms-getAlarmSummary.pcap": set(),
    "IEC61850__MMS__mms-initiateDownloadSequence.pcap": {("PROGRAM_DOWNLOAD", "T0843")},
    "IEC61850__MMS__mms-killRequest.pcap": {("CONTROLLER_RESET", "T0816")},
    "IEC61850__MMS__mms-resetRequest.pcap": {("CONTROLLER_RESET", "T0816")},
    "IEC61850__MMS__mms-stopRequest.pcap": {("CONTROLLER_START", "T0858"), ("CONTROLLER_STOP", "T0858")},
    "IEC61850__MMS__mms-takeControl.pcap": set(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_alerts_of_each_capture(name: str) -> None:
    sensor = Sensor()
    assert sensor.process_capture(capture(f"ot-ops/{name}")) == []
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    alerts = list(sensor.alerts.alerts.values())
    raised = {(a.type.code, a.type.technique.id if a.type.technique else None) for a in alerts}
    assert raised == EXPECTED[name]
    assert not [a for a in alerts if "S7" in a.title or a.protocol in ("s7comm", "s7comm_plus")]
    if name.startswith("IEC61850__MMS"):
        assert [a.protocol for a in alerts] == ["mms"] * len(alerts)
        assets = str([asset.as_dict() for asset in sensor.inventory.assets])
        assert "'mms'" in assets
        assert "s7comm" not in assets


def test_iti_station_capture() -> None:
    """ABB station computer and IEDs: MMS reports, a read and GOOSE from three publishers; nothing to alert."""
    sensor = Sensor()
    assert sensor.process_capture(capture("iti/IEC61850__Sample_File_MMS_and_GOOSE.pcap")) == []
    sensor.finish()
    codes = {a.type.code for a in sensor.alerts.alerts.values()}
    assert not {c for c in codes if c.startswith(("GOOSE_", "MALFORMED"))}
    names = {a.as_dict().get("name") for a in sensor.inventory.assets}
    assert {"AA1C1Q01A1", "AA1C1Q05A1", "AA1C1Q07A1"} <= names
