"""DNP3 through the whole sensor path, against ICSNPP's dnp3.log and tshark (ITI captures)."""

from __future__ import annotations

import pytest

from otwatch.protocols import dnp3
from otwatch.protocols.base import Record
from tests.sensor.replay import capture, replay, tshark_fields, zeek_log

TRACE = "icsnpp-dnp3/testing/traces/dnp3_example.pcap"
LOG = "icsnpp-dnp3/testing/baseline/analyzer.basic/dnp3.log"
SPECS = (dnp3.SPEC, dnp3.SPEC_UDP)


def test_dnp3_log_field_for_field() -> None:
    """Zeek writes one row per response, with the last request seen on that connection since."""
    expected = zeek_log(capture(LOG))
    last_request: dict[object, str] = {}
    got: list[tuple[str, str, str, str, str, str, str]] = []
    for r in replay(capture(TRACE), SPECS):
        assert r.record.malformed is None
        f, fields = r.flow, r.record.fields
        if "fc_request" in fields:
            last_request[f.key] = fields["fc_request"]
        if "fc_reply" in fields:
            conn = (f.client_ip, str(f.client_port), f.server_ip, str(f.server_port))
            got.append((*conn, last_request.pop(f.key, "-"), fields["fc_reply"], str(fields["iin"])))
    want = [
        (
            row["id.orig_h"],
            row["id.orig_p"],
            row["id.resp_h"],
            row["id.resp_p"],
            row["fc_request"],
            row["fc_reply"],
            row["iin"],
        )
        for row in expected
    ]
    assert len(got) == len(want) == 368
    assert got == want


def test_control_requests_are_flagged() -> None:
    records = [r.record for r in replay(capture(TRACE), SPECS)]
    controls = {rec.fields["func"] for rec in records if rec.fields.get("is_control")}
    assert controls == {"SELECT", "OPERATE"}
    rows = zeek_log(capture("icsnpp-dnp3/testing/baseline/analyzer.basic/dnp3_control.log"))
    requests = [row for row in rows if row["is_orig"] == "T"]
    ours = [rec for rec in records if rec.fields.get("func") in ("SELECT", "OPERATE")]
    assert [rec.fields["func"] for rec in ours] == [row["function_code"] for row in requests]


@pytest.mark.parametrize("name", ["iti/dnp3__file_read.pcap", "iti/dnp3__select_operate_and_responses.pcap"])
def test_iti_captures_match_tshark_per_frame(name: str) -> None:
    path = capture(name)
    rows = tshark_fields(
        path, "dnp3", ["dnp3.src", "dnp3.dst", "dnp3.ctl.prifunc", "dnp3.al.func", "dnp3.al.iin"]
    )
    assert rows
    ours: dict[int, list[Record]] = {}
    for r in replay(path, SPECS):
        ours.setdefault(r.frame, []).append(r.record)
    for frame, src, dst, prifunc, func, iin in rows:
        got = ours.pop(int(frame))
        assert [rec.fields["source"] for rec in got] == [int(s) for s in src.split(",")]
        assert [rec.fields["destination"] for rec in got] == [int(d) for d in dst.split(",")]
        if prifunc:
            assert all(rec.fields["link_primary"] for rec in got)
        assert [rec.fields.get("func_code") for rec in got if "func_code" in rec.fields] == [
            int(f) for f in func.split(",") if f
        ]
        assert [rec.fields["iin"] for rec in got if "iin" in rec.fields] == [
            int(i, 16) for i in iin.split(",") if i
        ]
    assert not ours
    names = {r.record.fields.get("func") for r in replay(path, SPECS)}
    if "file_read" in name:
        assert {"OPEN_FILE", "CLOSE_FILE", "RESPONSE"} <= names
