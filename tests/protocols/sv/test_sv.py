"""Sampled Values: crafted frames (no public SV capture is at hand) read back, checked against tshark's
``sv`` dissector on a pcap written from them, and the merging unit in the inventory."""

from __future__ import annotations

from pathlib import Path

from otwatch.protocols import sv
from otwatch.protocols.sv import Asdu, SvPdu, dissect_frame
from otwatch.sensor.capture.decode import LINKTYPE_ETHERNET
from otwatch.sensor.capture.pcapfile import write_pcap
from otwatch.sensor.capture.synth import ethernet
from otwatch.sensor.pipeline.sensor import Sensor
from tests.sensor.replay import tshark_fields

MU = bytes.fromhex("0050c2000001")
SV_DST = bytes.fromhex("010ccd040001")


def _pdu(count: int) -> SvPdu:
    return SvPdu(0x4000, [Asdu("MU01MU/LLN0$SV$MSVCB01", count + i, 1, 2, bytes(64)) for i in range(2)])


def test_round_trip_and_fields() -> None:
    msg = _pdu(3999)
    assert SvPdu.decode(msg.encode()) == SvPdu(
        0x4000, [Asdu("MU01MU/LLN0$SV$MSVCB01", 3999 + i, 1, 2) for i in range(2)]
    )
    record = dissect_frame(msg.encode())
    assert record.fields == {
        "appid": 0x4000,
        "no_asdu": 2,
        "sv_id": "MU01MU/LLN0$SV$MSVCB01",
        "smp_cnt": 3999,
        "conf_rev": 1,
        "smp_synch": 2,
        "sv_ids": ["MU01MU/LLN0$SV$MSVCB01"],
    }
    assert sv.detect(msg.encode())


def test_never_raises_on_cut_frames() -> None:
    raw = _pdu(1).encode()
    for cut in range(len(raw)):
        sv.identity_from(dissect_frame(raw[:cut]))


def test_agrees_with_tshark_and_names_the_merging_unit(tmp_path: Path) -> None:
    frames = [(i / 4000, ethernet(MU, SV_DST, sv.ETHERTYPE, _pdu(i * 2).encode())) for i in range(5)]
    path = tmp_path / "sv.pcap"
    path.write_bytes(write_pcap((ts, LINKTYPE_ETHERNET, data) for ts, data in frames))
    rows = tshark_fields(path, "sv", ["sv.appid", "sv.svID", "sv.smpCnt", "sv.confRev"])
    ours = []
    for _ts, data in frames:
        f = dissect_frame(data[14:]).fields
        ours.append([f"0x{f['appid']:04x}", f["sv_id"], str(f["smp_cnt"]), str(f["conf_rev"])])
    assert [row[1:] for row in rows] == [
        [a, ",".join([s, s]), ",".join([str(int(c)), str(int(c) + 1)]), "1,1"] for a, s, c, _ in ours
    ]
    sensor = Sensor()
    for ts, data in frames:
        sensor.process(ts, LINKTYPE_ETHERNET, data)
    (unit,) = [a for a in sensor.inventory.assets if a.mac == "00:50:c2:00:00:01"]
    assert unit.as_dict()["device_type"] == "IED"
