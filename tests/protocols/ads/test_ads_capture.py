"""ADS on the public Beckhoff captures: field for field against tshark, and what the whole sensor raises.

``ot-ops/beckoff__addroute`` adds an ADS route through the TwinCAT UDP service (the step an engineering
station, or an attacker, takes before it may program the PLC): it must surface as ROUTE_ADDED. The
``*iplink*`` and ``invokeid12`` captures are discovery and ordinary ADS traffic without a new route:
no ROUTE_ADDED, no Malformed, no scan.
"""

from __future__ import annotations

import pytest

from otwatch.protocols import ads
from otwatch.protocols.operations import OPERATION_FIELD, Operation
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture, replay, tshark_fields

CAPTURES = [
    "ot-ops/beckoff__addroute.pcapng",
    "ot-ops/beckoff__beckoffiplink.pcapng",
    "ot-ops/beckoff__beckoffiplinktc2.pcapng",
    "ot-ops/beckoff__invokeid12.pcapng",
]
QUIET = CAPTURES[1:]

#: tshark field -> our record field (integers compared as numbers; tshark prints some in hex)
FIELDS = {
    "ams.cmdid": "command_id",
    "ams.stateflags": "state_flags",
    "ams.targetnetid": "target_net_id",
    "ams.targetport": "target_port",
    "ams.sendernetid": "source_net_id",
    "ams.senderport": "source_port",
    "ams.invokeid": "invoke_id",
    "ams.errorcode": "error_code",
    "ams.cbdata": "data_length",
    "ams.ads_indexgroup": "index_group",
    "ams.ads_indexoffset": "index_offset",
    "ams.ads_state": "ads_state",
    "ams.ads_devicestate": "device_state",
    "ams.ads_devicename": "device_name",
    "ams.ads_versionversion": "version_major",
    "ams.ads_versionrevision": "version_minor",
    "ams.ads_versionbuild": "version_build",
    "ams.adsresult": "result",
    "ams.ads_notificationhandle": "notification_handle",
    "ams.ads_cbreadlength": "read_length",
    "ams.ads_cbwritelength": "write_length",
    "ams.ads_transmode": "transmission_mode",
    "ams.ads_cycletime": "cycle_time",
}


def _same(ours: object, theirs: str) -> bool:
    if isinstance(ours, int):
        return ours == int(theirs, 0)
    return str(ours) == theirs


@pytest.mark.parametrize("name", CAPTURES)
def test_agrees_with_tshark(name: str) -> None:
    path = capture(name)
    names = list(FIELDS)
    rows = tshark_fields(path, "ams", names)
    ours = [r for r in replay(path, (ads.SPEC, ads.SPEC_UDP)) if "command_id" in r.record.fields]
    assert rows, "tshark found no ADS"
    assert [int(row[0]) for row in rows] == [r.frame for r in ours]
    compared = 0
    for row, replayed in zip(rows, ours, strict=True):
        record = replayed.record
        assert record.malformed is None, (replayed.frame, record.malformed)
        for tshark_name, value in zip(names, row[1:], strict=True):
            if value == "":
                continue
            key = FIELDS[tshark_name]
            if tshark_name == "ams.ads_indexgroup" and record.direction == "response":
                continue  # tshark reads none in replies; ours is carried over from the request
            assert key in record.fields, (replayed.frame, key)
            assert _same(record.fields[key], value), (replayed.frame, key, record.fields[key], value)
            compared += 1
    assert compared >= 8 * len(rows)


def test_udp_service_records_of_every_capture() -> None:
    """Every TwinCAT UDP datagram (tshark shows them as data) is one well-formed ADS record."""
    for name in CAPTURES:
        path = capture(name)
        datagrams = tshark_fields(path, "udp.port == 48899", ["data.data"])
        ours = [r for r in replay(path, (ads.SPEC, ads.SPEC_UDP)) if "service_id" in r.record.fields]
        assert [int(row[0]) for row in datagrams] == [r.frame for r in ours]
        for (_frame, hexdata), replayed in zip(datagrams, ours, strict=True):
            assert replayed.record.malformed is None
            assert bytes.fromhex(hexdata)[8:12] in (b"\x01\x00\x00\x00", b"\x01\x00\x00\x80", b"\x06\x00\x00\x00",
                                                    b"\x06\x00\x00\x80")  # fmt: skip


def _sensor(name: str) -> Sensor:
    sensor = Sensor()
    assert sensor.process_capture(capture(name)) == []
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    return sensor


def _operations(name: str) -> list[Operation]:
    return [
        r.record.fields[OPERATION_FIELD]
        for r in replay(capture(name))
        if r.record.protocol == "ads" and OPERATION_FIELD in r.record.fields
    ]


def test_addroute_raises_route_added() -> None:
    assert _operations(CAPTURES[0]) == [Operation.ROUTE_ADDED]
    sensor = _sensor(CAPTURES[0])
    codes = {a.type.code for a in sensor.alerts.open_alerts()}
    assert "MALFORMED_PACKET" not in codes and "PORT_SCAN" not in codes
    (alert,) = sensor.alerts.by_code("ROUTE_ADDED")  # the Operational engine raises tagged records
    assert alert.protocol == "ads" and alert.source_label and "192.168.1.99" in alert.source_label
    assert "SHENHUAJ6-PC" in alert.description
    assert alert.type.technique is not None and alert.type.technique.id == "T0886"
    plc = next(a for a in sensor.inventory.assets if a.ip == "192.168.1.8").as_dict()
    assert plc["vendor"] == "Beckhoff" and plc["name"] == "CX_0D7560" and plc["state"] == "Run"
    assert plc["extra"]["ams_net_id"] == "5.13.117.96.1.1" and plc["extra"]["os_version"] == "Windows CE 6.0"


@pytest.mark.parametrize("name", QUIET)
def test_discovery_and_ordinary_traffic_raise_no_route_or_malformed(name: str) -> None:
    assert Operation.ROUTE_ADDED not in _operations(name)
    sensor = _sensor(name)
    codes = {a.type.code for a in sensor.alerts.open_alerts()}
    assert not codes & {"ROUTE_ADDED", "MALFORMED_PACKET", "PORT_SCAN", "FIRMWARE_CHANGED"}, codes
    plc = next(a for a in sensor.inventory.assets if a.ip == "192.168.1.8").as_dict()
    assert plc["vendor"] == "Beckhoff" and plc["firmware"] == "2.11.2228"


def test_iplink_identity_names_the_plc_runtime() -> None:
    sensor = _sensor(QUIET[0])
    plc = next(a for a in sensor.inventory.assets if a.ip == "192.168.1.8").as_dict()
    assert plc["device_type"] == "PLC" and plc["model"] == "PLC Server"
    assert plc["extra"]["plc_version"] == "2.11.2103"
