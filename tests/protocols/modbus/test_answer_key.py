"""Replay public captures through pcap -> decode -> flows -> Modbus dissector and compare with two
independent answer keys: the ICSNPP Zeek logs of the icsnpp-modbus trace, and tshark for ITI traces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from otwatch.protocols import modbus
from otwatch.protocols.base import Record
from tests.sensor.replay import Replayed, capture, replay, tshark_fields, zeek_log

TRACE = "icsnpp-modbus/testing/traces/modbus_example.pcap"
BASELINE = "icsnpp-modbus/testing/baseline/analyzer.basic"
# modbus.log in the baseline has lost its header; these are Zeek's base modbus.log columns.
MODBUS_LOG_FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "func", "exception"]
ITI_CAPTURES = [
    "iti/ModbusTCP__modbus_test_data_part1.pcap",
    "iti/ModbusTCP__modbus_test_data_part2.pcap",
    "iti/bro__modbus__modbusSmall.pcap",
]


def _conn(r: Replayed) -> tuple[str, str, str, str]:
    f = r.flow
    return (f.client_ip, str(f.client_port), f.server_ip, str(f.server_port))


def _zeek_conn(row: dict[str, str]) -> tuple[str, str, str, str]:
    return (row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"])


def _zeek_value(value: Any) -> str:
    """Render one of our field values the way Zeek writes it in a TSV log."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "(empty)"
    if isinstance(value, bytes):
        return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in value)
    return str(value)


@pytest.fixture(scope="module")
def replayed() -> list[Replayed]:
    records = replay(capture(TRACE), (modbus.SPEC,))
    assert records, "no Modbus records dissected"
    assert all(r.record.malformed is None for r in records)
    return records


@pytest.fixture(scope="module")
def pairs(replayed: list[Replayed]) -> dict[tuple[tuple[str, str, str, str], int], dict[str, Record]]:
    """Request and response per (connection, transaction id)."""
    out: dict[tuple[tuple[str, str, str, str], int], dict[str, Record]] = {}
    for r in replayed:
        out.setdefault((_conn(r), r.record.fields["tid"]), {})[r.record.direction] = r.record
    return out


def test_modbus_log_one_row_per_response(replayed: list[Replayed]) -> None:
    expected = zeek_log(capture(f"{BASELINE}/modbus.log"), MODBUS_LOG_FIELDS)
    responses = [r for r in replayed if r.record.direction == "response"]
    assert len(responses) == len(expected) == 24
    for got, row in zip(responses, expected, strict=True):
        assert _conn(got) == _zeek_conn(row)
        assert got.record.fields["func"] == row["func"]
        assert _zeek_value(got.record.fields.get("exception")) == row["exception"]


DETAILED_FIELDS = (
    "unit",
    "func",
    "address",
    "quantity",
    "request_values",
    "response_values",
    "request_subfunction_code",
    "response_subfunction_code",
    "request_data",
    "response_data",
    "exception_code",
    "mei_type",
)
# ICSNPP writes placeholders where the message has no such field; these are not claims about the wire.
ICSNPP_PLACEHOLDERS = {
    ("READ_FILE_RECORD", "quantity"): "0",
    ("WRITE_FILE_RECORD", "quantity"): "0",
    ("READ_COILS", "response_data"): "0,0,0,0,0,0,0",  # the 7 padding bits after one coil
    ("READ_DISCRETE_INPUTS", "response_data"): "0,0,0,0,0,0,0",
}


def test_modbus_detailed_field_for_field(pairs: dict[Any, dict[str, Record]]) -> None:
    rows = zeek_log(capture(f"{BASELINE}/modbus_detailed.log"))
    matched = [row for row in rows if row["matched"] == "T"]
    unmatched = [row for row in rows if row["matched"] != "T"]
    # ICSNPP logs an unmatched request and response separately (two rows per transaction).
    assert len(matched) + len(unmatched) // 2 == len(pairs) == 24
    compared = 0
    for row in rows:
        pair = pairs[(_zeek_conn(row), int(row["tid"]))]
        assert set(pair) == {"request", "response"}
        ours: dict[str, Any] = {**pair["request"].fields, **pair["response"].fields}
        ours["func"] = ours["func"].removesuffix("_EXCEPTION")
        ours["exception_code"] = ours.get("exception")
        for name in DETAILED_FIELDS:
            expected = row[name]
            if expected == "-" or ICSNPP_PLACEHOLDERS.get((row["func"], name)) == expected:
                continue
            if name == "unit" and row["matched"] != "T":
                continue
            assert _zeek_value(ours.get(name)) == expected, (row["tid"], name)
            compared += 1
    assert compared >= 60  # the comparison really ran over the populated columns


@pytest.mark.parametrize(
    ("log", "columns"),
    [
        ("modbus_mask_write_register.log", ("address", "and_mask", "or_mask")),
        (
            "modbus_read_write_multiple_registers.log",
            (
                "write_start_address",
                "write_registers",
                "read_start_address",
                "read_quantity",
                "read_registers",
            ),
        ),
    ],
)
def test_per_function_logs(pairs: dict[Any, dict[str, Record]], log: str, columns: tuple[str, ...]) -> None:
    rows = zeek_log(capture(f"{BASELINE}/{log}"))
    assert rows
    for row in rows:
        direction = row["request_response"].lower()
        record = pairs[(_zeek_conn(row), int(row["tid"]))][direction]
        assert record.fields["unit"] == int(row["unit"])
        assert record.fields["func"] == row["func"]
        for name in columns:
            if row[name] == "-":
                # Values a direction does not carry: we must not invent them either, except the
                # request's address/quantity, which replies inherit on purpose.
                if direction == "response" and name.startswith("write"):
                    assert name not in record.fields
                continue
            assert _zeek_value(record.fields.get(name)) == row[name], (row["tid"], direction, name)


def test_device_identification_matches_tshark(replayed: list[Replayed]) -> None:
    path = capture(TRACE)
    rows = tshark_fields(path, "modbus.func_code == 43 && tcp.srcport == 502", ["modbus.object_str_value"])
    assert len(rows) == 1
    tshark_values = rows[0][1].split(",")
    replies = [r.record for r in replayed if r.record.fields.get("objects")]
    assert len(replies) == 1
    assert list(replies[0].fields["objects"].values()) == tshark_values
    identity = modbus.SPEC.identity_from(replies[0])
    assert identity is not None
    assert identity.vendor == tshark_values[0] == "Zeek Modbus Test"
    assert identity.firmware == tshark_values[2]
    assert identity.extra["product_code"] == tshark_values[1]  # free text, not a number


def _carries_address(record: Record) -> bool:
    """Requests carry their start address; of replies only the write echoes do (tshark shows those)."""
    return record.direction == "request" or record.fields["func_code"] in (5, 6, 15, 16, 22)


@pytest.mark.parametrize("name", ITI_CAPTURES)
def test_iti_captures_match_tshark_per_frame(name: str) -> None:
    path: Path = capture(name)
    fields = [
        "mbtcp.trans_id",
        "mbtcp.unit_id",
        "modbus.func_code",
        "modbus.exception_code",
        "modbus.reference_num",
        "_ws.malformed",
    ]
    rows = tshark_fields(path, "mbtcp", fields)
    assert rows, f"tshark found no Modbus/TCP in {name}"
    ours: dict[int, list[Record]] = {}
    for r in replay(path, (modbus.SPEC,)):
        ours.setdefault(r.frame, []).append(r.record)
    compared = 0
    for frame, tids, units, funcs, exceptions, refs, malformed in rows:
        if malformed:
            continue
        got = ours.pop(int(frame), [])
        assert [r.fields["tid"] for r in got] == [int(t) for t in tids.split(",")], frame
        assert [r.fields["unit"] for r in got] == [int(u) for u in units.split(",")], frame
        assert [r.fields["func_code"] for r in got] == [int(f) for f in funcs.split(",")], frame
        ours_exc = [r.fields["exception_code"] for r in got if "exception_code" in r.fields]
        assert ours_exc == [int(e) for e in exceptions.split(",") if e], frame
        ours_refs = [r.fields["address"] for r in got if "address" in r.fields and _carries_address(r)]
        if refs:
            assert ours_refs == [int(a) for a in refs.split(",")], frame
        compared += len(got)
    # Frames tshark does not call Modbus may only yield records we flag as out of spec.
    leftovers = [r for records in ours.values() for r in records]
    assert all(r.malformed for r in leftovers), [r for r in leftovers if not r.malformed]
    assert compared >= sum(1 for row in rows if not row[-1])  # at least one record per clean frame
