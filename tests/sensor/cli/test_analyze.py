"""``otwatch sensor analyze`` and the pipeline on the public captures.

The inventory the sensor builds from a whole capture must agree with the independent answer keys:
ICSNPP's Zeek logs (S7 known devices, CIP identity) and tshark (Modbus device identification).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from otwatch.cli import app as root_app
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture, tshark_fields, zeek_log

S7IDENT = "icsnpp-s7comm/tests/traces/s7ident.pcap"
SNAP7 = "icsnpp-s7comm/tests/traces/snap7.pcap"
ENIP = "icsnpp-enip/tests/traces/enip_cip_example.pcap"
MODBUS = "icsnpp-modbus/testing/traces/modbus_example.pcap"
DNP3 = "icsnpp-dnp3/testing/traces/dnp3_example.pcap"
CIP_IDENTITY_COLUMNS = [
    *("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "is_orig"),
    *("source_h", "source_p", "destination_h", "destination_p"),
    *("encapsulation_version", "socket_address", "socket_port", "vendor_id", "vendor_name"),
    *("device_type_id", "device_type_name", "product_code", "revision", "device_status"),
    *("serial_number", "product_name", "device_state"),
]


def analyze(*paths: Path) -> Sensor:
    sensor = Sensor()
    for path in paths:
        assert sensor.process_capture(path) == []
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    return sensor


def asset(sensor: Sensor, ip: str) -> dict[str, Any]:
    (found,) = [a.as_dict() for a in sensor.inventory.assets if a.ip == ip]
    return found


def test_s7_identity_matches_icsnpp_known_devices() -> None:
    (row,) = zeek_log(capture("icsnpp-s7comm/tests/baseline/analyzer.s7ident/s7comm_known_devices.log"))
    plc = asset(analyze(capture(S7IDENT)), row["id.resp_h"])
    assert plc["name"] == row["automation_system_name"]
    assert plc["extra"]["module_name"] == row["module_name"]
    assert plc["serial"] == row["module_serial"]
    assert plc["vendor"] == "Siemens" and plc["device_type"] == "PLC"


def test_s7_merge_prefers_module_type_and_keeps_order_number() -> None:
    """snap7.pcap: SZL 0x0011 (order number, firmware), 0x001C (module type, serial) and 0x0424 (mode)."""
    sensor = analyze(capture(SNAP7))
    (plc,) = [
        a for a in sensor.inventory.assets if ("s7comm", "server") in {(p, str(r)) for p, r in a.protocols}
    ]
    d = plc.as_dict()
    assert (d["model"], d["firmware"], d["serial"], d["state"]) == (
        "CPU 315-2 PN/DP",
        "V3.2.7",
        "S C-B1U393142011",
        "Run",
    )
    assert d["extra"]["order_number"] == "6ES7 315-2EH14-0AB0"
    assert d["name"] == "S7300/ET200M station_1"
    # The capture's client uploads blocks and stops/starts the CPU: an engineering station.
    (client,) = [
        a for a in sensor.inventory.assets if ("s7comm", "client") in {(p, str(r)) for p, r in a.protocols}
    ]
    assert client.as_dict()["device_type"] == "Engineering Station"


def test_enip_identity_matches_icsnpp_cip_identity() -> None:
    (row,) = zeek_log(
        capture("icsnpp-enip/tests/baseline/analyzer.basic/cip_identity.log"), CIP_IDENTITY_COLUMNS
    )
    device = asset(analyze(capture(ENIP)), row["source_h"])
    assert device["vendor"] == row["vendor_name"]
    assert device["vendor_id"] == int(row["vendor_id"])
    assert device["model"] == row["product_name"]
    assert device["firmware"] == row["revision"]
    assert device["serial"] == row["serial_number"]
    assert device["product_code"] == int(row["product_code"])
    assert device["vendor_source"] == "enip"  # the protocol answer outranks the MAC's OUI


def test_modbus_identity_matches_tshark() -> None:
    path = capture(MODBUS)
    rows = tshark_fields(
        path, "modbus.func_code == 43 && tcp.srcport == 502", ["ip.src", "modbus.object_str_value"]
    )
    (row,) = rows
    vendor, product_code, revision = row[2].split(",")[:3]
    device = asset(analyze(path), row[1])
    assert (device["vendor"], device["firmware"], device["extra"]["product_code"]) == (
        vendor,
        revision,
        product_code,
    )


def test_connection_map_and_protocol_counts_match_records() -> None:
    sensor = analyze(capture(DNP3))
    report = sensor.report()
    dnp3 = [c for c in report["connections"] if c["protocol"] == "dnp3"]
    assert dnp3 and all(c["port"] == 20000 for c in dnp3)
    assert report["protocols"]["dnp3"] == sum(c["messages"] for c in dnp3)
    packets = sum(1 for _ in CaptureReader(capture(DNP3)))
    assert report["summary"]["packets"] == packets
    outstations = [
        a
        for a in report["assets"]
        if {"protocol": "dnp3", "role": "server"}.items() <= a["protocols"][0].items()
    ]
    assert outstations and all(a["device_type"] == "RTU" for a in outstations)
    assert report["statistics"]["top_ot_protocols"][0]["protocol"] == "dnp3"


# -- the CLI -----------------------------------------------------------------------------------------
runner = CliRunner()


def test_analyze_json_on_public_captures() -> None:
    paths = [str(capture(p)) for p in (S7IDENT, ENIP, MODBUS)]
    result = runner.invoke(root_app, ["sensor", "analyze", *paths, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"summary", "assets", "connections", "protocols", "alerts", "statistics"} <= set(report)
    models = {a["model"] for a in report["assets"]}
    assert "1756-ENBT/A" in models
    assert report["summary"]["learning"] is True
    assert report["protocols"]["enip"] > 0 and report["protocols"]["modbus"] > 0


def test_analyze_tables_and_learn_then_detect(tmp_path: Path) -> None:
    snap7 = str(capture(SNAP7))
    modbus = str(capture(MODBUS))
    result = runner.invoke(
        root_app,
        ["sensor", "analyze", modbus, "--learn", snap7, "--pcap-dir", str(tmp_path / "pcaps"),
         "--save-baseline", str(tmp_path / "baseline.json")],
        env={"COLUMNS": "400"},  # wide enough that no title wraps
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for heading in ("Inventory", "Connections", "Protocols", "Alerts"):
        assert heading in result.stdout
    # Modbus was never seen while learning on the S7 capture: its devices and conversation are new.
    assert "New Asset Detected" in result.stdout
    assert "Unauthorized Communication Behavior" in result.stdout
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert any(c[2] == "s7comm" for c in baseline["conversations"])
    assert baseline["file_transfers"]  # snap7.pcap uploads blocks: a learned file transfer
    written = sorted((tmp_path / "pcaps").glob("alert-*.pcap"))
    assert written and all(list(CaptureReader(p)) for p in written)


def test_truncated_capture_keeps_going_with_a_warning(tmp_path: Path) -> None:
    data = capture(MODBUS).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = runner.invoke(root_app, ["sensor", "analyze", str(cut), str(capture(ENIP)), "--json"])
    assert result.exit_code == 0, result.output
    assert "truncated" in result.stderr
    report = json.loads(result.stdout)
    assert report["warnings"] and "truncated" in report["warnings"][0]
    assert report["protocols"]["modbus"] > 0  # the packets before the cut were analysed
    assert report["protocols"]["enip"] > 0  # and the next file too


def test_not_a_capture_is_reported_and_skipped(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    result = runner.invoke(root_app, ["sensor", "analyze", str(junk), str(capture(MODBUS)), "--json"])
    assert result.exit_code == 1
    assert "not a pcap or pcapng file" in result.stderr
    assert json.loads(result.stdout)["protocols"]["modbus"] > 0


@pytest.mark.parametrize("bad", [["--port-alias", "notaport"], ["--disable-engine", "nope"]])
def test_bad_options_are_clear_errors(bad: list[str]) -> None:
    result = runner.invoke(root_app, ["sensor", "analyze", str(capture(MODBUS)), *bad])
    assert result.exit_code == 2
    assert "Invalid value" in result.output or "expected" in result.output


def test_errors_come_last_after_a_summary_first(tmp_path: Path) -> None:
    """A bad file's error does not scroll away behind the tables: the summary says it first, the error
    is the last thing printed, and the exit code is not zero."""
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    result = runner.invoke(root_app, ["sensor", "analyze", str(junk), str(capture(MODBUS))])
    assert result.exit_code == 1
    first = result.stdout.strip().splitlines()[0]
    assert first.startswith("1 of 2 file(s) analysed") and "could not be read" in first
    assert result.stderr.strip().splitlines()[-1].startswith("error:")
    assert "not a pcap or pcapng file" in result.stderr


def test_nothing_readable_prints_no_empty_tables(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    result = runner.invoke(root_app, ["sensor", "analyze", str(junk), str(tmp_path / "gone.pcap")])
    assert result.exit_code == 1
    assert result.stdout.strip() == ""  # no Inventory — 0 assets, no empty tables
    assert "nothing analysed" in result.stderr and "not a pcap or pcapng file" in result.stderr
