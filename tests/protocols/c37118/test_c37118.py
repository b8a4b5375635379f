"""IEEE C37.118.2: frame tables (encode/decode), the CRC, the dissector on crafted frames, and tshark
field for field on iti/C37.118__C37.118_1PMU_TCP.pcap."""

from __future__ import annotations

import pytest

from otwatch.protocols import c37118
from otwatch.protocols.base import Record
from otwatch.protocols.c37118 import C37118Dissector, detect, dissect_frame, identity_from
from otwatch.protocols.c37118.codes import CFG2, COMMAND, DATA, HEADER
from otwatch.protocols.c37118.messages import Command, Config, PmuConfig, crc_ccitt, frame
from tests.sensor.replay import capture, replay, tshark_fields

# Frame 4 of the capture: the PDC asks PMU 241 for its CFG-2
SEND_CFG2 = bytes.fromhex("aa41001200f100000000000000000005d7d0")


def test_crc_ccitt() -> None:
    assert crc_ccitt(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    assert frame(COMMAND, 241, Command(5).encode()) == SEND_CFG2


def _config(*stations: str) -> Config:
    pmus = [
        PmuConfig(s, 100 + i, 0x0006, ["VA", "VB", "VC"], ["MW"], [f"BRK{j}" for j in range(16)], 50, 7)
        for i, s in enumerate(stations)
    ]
    return Config(1_000_000, pmus, 30)


def test_config_round_trip_and_fields() -> None:
    config = _config("SUB A PMU1", "SUB B PMU2")
    assert Config.decode(config.encode()) == config
    record = dissect_frame(frame(CFG2, 7, config.encode(), soc=1_700_000_000))
    assert record.malformed is None and record.direction == "response"
    assert record.fields["num_pmu"] == 2 and record.fields["data_rate"] == 30
    assert [s["station"] for s in record.fields["stations"]] == ["SUB A PMU1", "SUB B PMU2"]
    assert (
        record.fields["stations"][0]["analogs"] == ["MW"]
        and len(record.fields["stations"][0]["digitals"]) == 16
    )
    identity = identity_from(record)
    assert identity is not None and identity.name == "SUB A PMU1"
    assert identity.extra["c37118_role"] == "PDC"
    assert identity.extra["c37118_stations"] == ["SUB A PMU1 (100)", "SUB B PMU2 (101)"]


@pytest.mark.parametrize(
    ("command", "name"),
    [
        (1, "Turn off transmission of data frames"),
        (2, "Turn on transmission of data frames"),
        (5, "Send CFG-2 frame"),
    ],
)
def test_command_frames(command: int, name: str) -> None:
    record = dissect_frame(frame(COMMAND, 241, Command(command).encode()))
    assert record.direction == "request" and record.fields["command"] == command
    assert record.fields["command_name"] == name and identity_from(record) is None


def test_bad_crc_is_malformed() -> None:
    good = frame(DATA, 241, bytes(36))
    assert dissect_frame(good).malformed is None
    bad = good[:-1] + bytes([good[-1] ^ 1])
    assert dissect_frame(bad).malformed == "C37.118 CHK (CRC-CCITT) does not match"
    assert not detect(bad)


def test_framing_split_and_coalesced() -> None:
    stream = (
        frame(CFG2, 7, _config("P1").encode()) + frame(DATA, 7, bytes(40)) + frame(HEADER, 7, b"PMU at bay 4")
    )
    d = C37118Dissector()
    records = [r for i in range(0, len(stream), 7) for r in d.feed(stream[i : i + 7], False)]
    assert [r.fields["frame_type"] for r in records] == ["Configuration 2", "Data", "Header"]
    assert records[2].fields["header"] == "PMU at bay 4"
    (cut,) = C37118Dissector(datagrams=True).feed(stream[:20], False)
    assert cut.malformed == "C37.118 frame cut short"
    (bad,) = C37118Dissector().feed(b"\xab\x01\x00\x12" + bytes(14), False)
    assert bad.malformed and "SYNC" in bad.malformed


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (SEND_CFG2, True),
        (frame(DATA, 1, bytes(20)), True),
        (frame(CFG2, 1, _config("P").encode())[:40], True),  # a configuration frame's first segment
        (frame(DATA, 1, bytes(20))[:-1] + b"\x00", False),  # wrong CRC
        (b"\xaa\x71" + SEND_CFG2[2:], False),  # frame type 7
        (bytes.fromhex("000100000006010300000001") + bytes(8), False),  # Modbus/TCP
        (bytes(32), False),
    ],
)
def test_detect(payload: bytes, expected: bool) -> None:
    assert detect(payload) is expected


FIELDS = {
    "synphasor.frtype": "frame_type_code",
    "synphasor.version": "version",
    "synphasor.frsize": "framesize",
    "synphasor.idcode_stream_source": "idcode",
    "synphasor.fracsec_raw": "fracsec",
    "synphasor.command": "command",
    "synphasor.conf.numpmu": "num_pmu",
    "synphasor.rate_of_transmission": "data_rate",
    "synphasor.checksum": "chk",
}


def test_agrees_with_tshark() -> None:
    path = capture("iti/C37.118__C37.118_1PMU_TCP.pcap")
    names = list(FIELDS)
    rows = tshark_fields(path, "synphasor", names)
    ours = replay(path, (c37118.SPEC, c37118.SPEC_UDP))
    assert [int(row[0]) for row in rows] == [r.frame for r in ours]
    for row, replayed in zip(rows, ours, strict=True):
        record: Record = replayed.record
        assert record.malformed is None
        for name, value in zip(names, row[1:], strict=True):
            if value:
                assert record.fields[FIELDS[name]] == int(value, 0), (replayed.frame, name)
    (cfg,) = [r.record for r in ours if r.record.fields["frame_type_code"] == CFG2]
    # tshark -V: Station #1 "Blue PMU", phasors V1LPM VALPM VBLPM VCLPM, 50 Hz, CFGCNT 89
    (station,) = cfg.fields["stations"]
    assert station == {
        "station": "Blue PMU",
        "idcode": 241,
        "phasors": ["V1LPM", "VALPM", "VBLPM", "VCLPM"],
        "analogs": [],
        "digitals": [],
        "nominal_frequency": 50,
        "config_count": 89,
    }
    commands = [r.record.fields["command"] for r in ours if "command" in r.record.fields]
    assert commands == [5, 2, 1]


def test_sensor_names_the_pmu() -> None:
    from otwatch.sensor.pipeline.sensor import Sensor

    sensor = Sensor()
    assert sensor.process_capture(capture("iti/C37.118__C37.118_1PMU_TCP.pcap")) == []
    sensor.finish()
    named = [a.as_dict() for a in sensor.inventory.assets if a.as_dict().get("name") == "Blue PMU"]
    assert len(named) == 1 and named[0]["extra"]["c37118_role"] == "PMU"
    codes = {a.type.code for a in sensor.alerts.open_alerts()}
    assert "MALFORMED_PACKET" not in codes
