"""GOOSE: wire-byte round trips, tshark agreement on the public captures, and the substation engine's
alerts on crafted publishers (and none on the real captures, whose sequences tshark shows are sound)."""

from __future__ import annotations

import pytest

from otwatch.protocols import goose
from otwatch.protocols.goose import GoosePdu, dissect_frame
from otwatch.protocols.goose.dissect import ied_name
from otwatch.protocols.goose.messages import encode_utc_time
from otwatch.sensor.capture.decode import LINKTYPE_ETHERNET
from otwatch.sensor.capture.synth import ethernet
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import capture, tshark_fields

# The first frame of ot-ops/IEC61850__GOOSE__GOOSE.pcap, from the APPID on (a GE F650 relay).
F650 = bytes.fromhex(
    "000100910000000061818680 1a4745446576696365463635302f4c4c4e3024474f24676362303181030 09c40"
    "82184745446576696365463635302f4c4c4e3024474f4f534531830b463635305f474f4f53453184083 86ebbf342"
    "17280a850101860 10a870100880101890100 8a0108ab208301008403030000830100840303000083010084"
    "030300008301008403030000".replace(" ", "")
)
PUBLISHER = bytes.fromhex("00a0f4082f77")
GOOSE_DST = bytes.fromhex("010ccd010001")


def test_real_frame_fields() -> None:
    record = dissect_frame(F650)
    assert record.malformed is None
    assert record.fields == {
        "appid": 1,
        "gocb_ref": "GEDeviceF650/LLN0$GO$gcb01",
        "time_allowed_to_live": 40000,
        "dat_set": "GEDeviceF650/LLN0$GOOSE1",
        "go_id": "F650_GOOSE1",
        "st_num": 1,
        "sq_num": 10,
        "simulation": False,
        "conf_rev": 1,
        "nds_com": False,
        "num_dat_set_entries": 8,
        "t": "2000-01-02T02:46:11.258165+00:00",
    }
    identity = goose.identity_from(record)
    assert identity is not None and identity.name == "GEDeviceF650" and str(identity.device_type) == "IED"


def test_round_trip() -> None:
    msg = GoosePdu(0x3001, "IED1LD0/LLN0$GO$gcb1", 2000, "IED1LD0/LLN0$DS1", "G1", encode_utc_time(1.7e9),
                   7, 3, True, 2, False, 1, bytes.fromhex("830101"))  # fmt: skip
    assert GoosePdu.decode(msg.encode()) == msg
    assert dissect_frame(msg.encode()).fields["simulation"] is True


@pytest.mark.parametrize(
    ("ref", "ied"), [("AA1C1Q01A1LD0/LLN0$GO$gcb_A", "AA1C1Q01A1"), ("F650/LLN0$GO$g", "F650")]
)
def test_ied_name(ref: str, ied: str) -> None:
    assert ied_name(ref) == ied


def test_never_raises_on_cut_or_bad_frames() -> None:
    for cut in range(len(F650)):
        record = dissect_frame(F650[:cut])
        goose.identity_from(record)
    assert dissect_frame(F650[:40]).malformed


@pytest.mark.parametrize(
    "name", ["ot-ops/IEC61850__GOOSE__GOOSE.pcap", "iti/IEC61850__Sample_File_MMS_and_GOOSE.pcap"]
)
def test_goose_agrees_with_tshark_and_raises_no_alert(name: str) -> None:
    path = capture(name)
    theirs = [
        (row[1], int(row[2], 16), row[3], int(row[4]), int(row[5]), row[6])
        for row in tshark_fields(
            path,
            "goose",
            ["eth.src", "goose.appid", "goose.gocbRef", "goose.stNum", "goose.sqNum", "goose.datSet"],
        )
    ]
    sensor = Sensor()
    seen: list[tuple[str, int, str, int, int, str]] = []
    original = sensor.substation_engine.on_goose

    def spy(ts: float, src_mac: bytes, src: object, record: object) -> None:
        f = record.fields  # type: ignore[attr-defined]
        seen.append((src_mac.hex(":"), f["appid"], f["gocb_ref"], f["st_num"], f["sq_num"], f["dat_set"]))
        original(ts, src_mac, src, record)  # type: ignore[arg-type]

    sensor.substation_engine.on_goose = spy  # type: ignore[method-assign]
    assert sensor.process_capture(path) == []
    sensor.finish()
    assert seen == theirs
    # tshark shows each publisher's stNum/sqNum in order (the F650 restarts: stNum 1 with a new event
    # time, sqNum from 1), every frame inside its timeAllowedtoLive, no simulation flag.
    assert [a for a in sensor.alerts.alerts.values() if a.type.code.startswith("GOOSE_")] == []
    assert not any("S7" in a.title for a in sensor.alerts.alerts.values())
    (publisher,) = (
        [a for a in sensor.inventory.assets if a.mac == "00:a0:f4:08:2f:77"] if "GOOSE__" in name else [None]
    )
    if publisher is not None:
        assert publisher.as_dict()["name"] == "GEDeviceF650"


def _frame(st: int, sq: int, t: float = 1.7e9, tal: int = 2000, simulation: bool = False) -> bytes:
    msg = GoosePdu(0x3001, "IED1LD0/LLN0$GO$gcb1", tal, "IED1LD0/LLN0$DS1", "G1", encode_utc_time(t), st, sq,
                   simulation, 1, False, 1, bytes.fromhex("830101"))  # fmt: skip
    return ethernet(PUBLISHER, GOOSE_DST, goose.SPEC.ports[0], msg.encode())


def _alerts(frames: list[tuple[float, bytes]]) -> list[tuple[str, str]]:
    sensor = Sensor()
    for ts, frame in frames:
        sensor.process(ts, LINKTYPE_ETHERNET, frame)
    return [
        (a.type.code, a.details["technique"])
        for a in sensor.alerts.alerts.values()
        if a.type.code.startswith("GOOSE")
    ]


def test_a_sound_publisher_raises_nothing() -> None:
    frames = [
        (0.0, _frame(1, 0)),
        (1.0, _frame(1, 1)),
        (2.0, _frame(2, 0, t=1.7e9 + 2)),
        (2.002, _frame(2, 1, t=1.7e9 + 2)),
    ]
    frames += [(3.0, _frame(1, 0, t=1.7e9 + 99))]  # the publisher restarted: stNum 1, a new event time
    assert _alerts(frames) == []


def test_stnum_jump() -> None:
    assert _alerts([(0.0, _frame(5, 3)), (0.5, _frame(9, 0, t=1.7e9 + 1))]) == [("GOOSE_STNUM_JUMP", "T0856")]
    assert _alerts([(0.0, _frame(5, 3)), (0.5, _frame(3, 0, t=1.7e9 + 1))]) == [("GOOSE_STNUM_JUMP", "T0856")]


def test_sqnum_replay() -> None:
    assert _alerts([(0.0, _frame(5, 3)), (0.5, _frame(5, 4)), (0.9, _frame(5, 3))]) == [
        ("GOOSE_SQNUM_REPLAY", "T0830")
    ]


def test_time_allowed_to_live_expired() -> None:
    assert _alerts([(0.0, _frame(5, 3)), (2.5, _frame(5, 4))]) == [("GOOSE_TAL_EXPIRED", "T0814")]


def test_simulation_flag() -> None:
    assert _alerts([(0.0, _frame(5, 3, simulation=True))]) == [("GOOSE_SIMULATION", "T0856")]


def test_vlan_tagged_goose_is_read() -> None:
    msg = _frame(1, 0)
    tagged = msg[:12] + bytes.fromhex("8100a005") + msg[12:]
    sensor = Sensor()
    sensor.process(0.0, LINKTYPE_ETHERNET, tagged)
    (asset,) = [a for a in sensor.inventory.assets if a.mac == "00:a0:f4:08:2f:77"]
    assert asset.as_dict()["name"] == "IED1"
