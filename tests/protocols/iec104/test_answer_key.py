"""IEC 104 through the whole sensor path, frame by frame against tshark.

The ITI trace is partly fuzzed (garbage before start octets, wrong lengths); for those frames we
require the same APCI formats tshark finds, and that our records say they are malformed.
"""

from __future__ import annotations

from otwatch.protocols import iec104
from otwatch.protocols.base import Record
from tests.sensor.replay import capture, replay, tshark_fields

TRACE = "iti/IEC60870-5-104__TestDissectIec104.pcap"
APCI = {"0x00000000": "I", "0x00000001": "S", "0x00000003": "U"}
U_NAMES = {
    "0x00000001": "STARTDT_ACT",
    "0x00000002": "STARTDT_CON",
    "0x00000010": "TESTFR_ACT",
    "0x00000020": "TESTFR_CON",
}


def test_apci_and_asdu_match_tshark_per_frame() -> None:
    path = capture(TRACE)
    fields = ["iec60870_104.type", "iec60870_104.utype", "iec60870_asdu.typeid", "iec60870_asdu.causetx",
              "iec60870_asdu.addr", "iec60870_asdu.ioa", "_ws.malformed"]  # fmt: skip
    rows = tshark_fields(path, "iec60870_104", fields)
    ours: dict[int, list[Record]] = {}
    for r in replay(path, (iec104.SPEC,)):
        ours.setdefault(r.frame, []).append(r.record)
    clean = 0
    for frame, types, utypes, typeids, causes, addrs, ioas, malformed in rows:
        frame_records = ours.pop(int(frame), [])
        got = [rec for rec in frame_records if "apci_type" in rec.fields]
        assert [str(rec.fields["apci_type"]) for rec in got] == [APCI[t] for t in types.split(",") if t], (
            frame
        )
        if malformed:
            assert any(rec.malformed for rec in frame_records), frame
            continue
        clean += 1
        # tshark shows S/U frames with a wrong length without complaint; we flag them as out of spec.
        stricter = [rec.malformed for rec in got if rec.malformed]
        assert all("format apdu with length" in why for why in stricter), frame
        if stricter:
            continue
        assert [rec.fields["u_function"] for rec in got if "u_function" in rec.fields] == [
            U_NAMES[u] for u in utypes.split(",") if u
        ]
        asdus = [rec for rec in got if "type_id" in rec.fields]
        assert [rec.fields["type_id"] for rec in asdus] == [int(t) for t in typeids.split(",") if t], frame
        assert [rec.fields["cause"] for rec in asdus] == [int(c) for c in causes.split(",") if c], frame
        assert [rec.fields["common_address"] for rec in asdus] == [int(a) for a in addrs.split(",") if a]
        # tshark lists every object's address; ours is the first one of each ASDU plus the count.
        tshark_ioas = [int(i) for i in ioas.split(",") if i]
        position = 0
        for rec in asdus:
            assert tshark_ioas[position] == rec.fields["ioa"], frame
            position += rec.fields["num_objects"]
        assert position == len(tshark_ioas), frame
    assert clean >= 50
    assert all(rec.malformed for recs in ours.values() for rec in recs)


def test_commands_are_flagged() -> None:
    records = [r.record for r in replay(capture(TRACE), (iec104.SPEC,))]
    commands = {
        (rec.fields["type_name"], rec.fields["cause_name"]) for rec in records if rec.fields.get("is_command")
    }
    assert ("C_SC_NA_1", "ACT") in commands and ("C_DC_NA_1", "ACT") in commands
    assert not any(
        rec.fields.get("is_command") for rec in records if rec.fields.get("type_id") in (1, 3, 30, 70, 100)
    )
