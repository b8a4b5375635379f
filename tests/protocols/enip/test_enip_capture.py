"""EtherNet/IP dissection of public captures against ICSNPP's Zeek logs and tshark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from otwatch.protocols.base import Record
from otwatch.protocols.enip import SPEC, EnipDissector, detect_udp
from tests.protocols.ics_replay import (
    as_text,
    assert_same_rows,
    capture_dir,
    read_zeek_log,
    segments,
    tshark_fields,
    zeek_value,
)

COMMON = ["ts", "uid", "orig_h", "orig_p", "resp_h", "resp_p", "is_orig", "src_h", "src_p", "dst_h", "dst_p"]
# These baselines carry no #fields header; the columns are ICSNPP's documented record layouts.
LOG_FIELDS = {
    "enip": [
        *COMMON,
        "enip_command_code",
        "enip_command",
        "length",
        "session_handle",
        "enip_status",
        "sender_context",
        "options",
    ],
    "cip": [
        *COMMON,
        "cip_sequence_count",
        "direction",
        "cip_service_code",
        "cip_service",
        "cip_status_code",
        "cip_status",
        "cip_extended_status_code",
        "cip_extended_status",
        "class_id",
        "class_name",
        "instance_id",
        "attribute_id",
    ],
    "cip_identity": [
        *COMMON,
        "encapsulation_version",
        "socket_address",
        "socket_port",
        "vendor_id",
        "vendor_name",
        "device_type_id",
        "device_type_name",
        "product_code",
        "revision",
        "device_status",
        "serial_number",
        "product_name",
        "device_state",
    ],
    "cip_io": [*COMMON, "connection_id", "sequence_number", "data_length", "io_data"],
}
CASES = {
    "basic": "enip_cip_example.pcap",
    "multiple_service_request": "multiple_service_packet_cip.pcapng",
    "set_attr_single_service": "set_attribute_single_service_cip.pcapng",
}


def dissect(path: Path) -> list[tuple[bool, Record]]:
    dissectors: dict[tuple[Any, str], EnipDissector] = {}
    out: list[tuple[bool, Record]] = []
    for seg in segments(path, {44818, 2222}):
        key = (seg.flow, seg.transport)
        dissector = dissectors.setdefault(key, EnipDissector(datagrams=seg.transport == "udp"))
        out.extend((seg.from_client, r) for r in dissector.feed(seg.payload, seg.from_client))
    return out


def records(case: str) -> list[tuple[bool, Record]]:
    return dissect(capture_dir("icsnpp-enip") / "tests" / "traces" / CASES[case])


def baseline(case: str, log: str) -> list[dict[str, str]]:
    path = capture_dir("icsnpp-enip") / "tests" / "baseline" / f"analyzer.{case}" / f"{log}.log"
    if not path.exists():
        return []
    return read_zeek_log(path, LOG_FIELDS[log])


ENIP_COLS: tuple[str, ...] = ("enip_command_code", "enip_command", "length", "session_handle", "enip_status")
ENIP_COLS += ("sender_context", "options")


@pytest.mark.parametrize("case", sorted(CASES))
def test_encapsulation_matches_icsnpp(case: str) -> None:
    ours = [
        (str(c)[0], *(as_text(r.fields.get(k)) for k in ENIP_COLS))
        for c, r in records(case)
        if r.fields.get("pdu") == "enip"
    ]
    theirs = [(row["is_orig"], *(zeek_value(row[k]) for k in ENIP_COLS)) for row in baseline(case, "enip")]
    assert_same_rows(ours, theirs)


CIP_COLS: tuple[str, ...] = (
    "cip_sequence_count",
    "direction",
    "cip_service_code",
    "cip_service",
    "cip_status_code",
)
CIP_COLS += (
    "cip_status",
    "cip_extended_status_code",
    "class_id",
    "class_name",
    "instance_id",
    "attribute_id",
)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cip_services_match_icsnpp(case: str) -> None:
    ours = [
        tuple(as_text(cip.get(k)) for k in CIP_COLS)
        for _, r in records(case)
        for cip in r.fields.get("cip", [])
    ]
    theirs = [tuple(zeek_value(row[k]) for k in CIP_COLS) for row in baseline(case, "cip")]
    assert_same_rows(ours, theirs)


ID_COLS: tuple[str, ...] = (
    "encapsulation_version",
    "socket_address",
    "socket_port",
    "vendor_id",
    "vendor_name",
)
ID_COLS += ("device_type_id", "device_type_name", "product_code", "revision", "device_status")
ID_COLS += ("serial_number", "product_name", "device_state")


def test_list_identity_matches_icsnpp() -> None:
    ours = [
        tuple(as_text(r.fields.get(k)) for k in ID_COLS)
        for _, r in records("basic")
        if "vendor_id" in r.fields
    ]
    theirs = [tuple(zeek_value(row[k]) for k in ID_COLS) for row in baseline("basic", "cip_identity")]
    assert_same_rows(ours, theirs)
    (identity,) = [i for _, r in records("basic") if (i := SPEC.identity_from(r)) is not None]
    assert (identity.vendor, identity.model, identity.firmware, identity.serial, identity.state) == (
        "Rockwell Automation/Allen-Bradley",
        "1756-ENBT/A",
        "4.3",
        "0x00524d8e",
        "Operational",
    )


def test_class1_io_matches_icsnpp() -> None:
    cols: tuple[str, ...] = ("connection_id", "sequence_number", "data_length", "io_data")
    ours = [
        tuple(as_text(r.fields.get(k)) for k in cols) for _, r in records("basic") if r.fields["pdu"] == "io"
    ]
    theirs = [tuple(zeek_value(row[k]) for k in cols) for row in baseline("basic", "cip_io")]
    assert_same_rows(ours, theirs)


def test_udp_detection_on_io_datagrams() -> None:
    path = capture_dir("icsnpp-enip") / "tests" / "traces" / CASES["basic"]
    io = [seg.payload for seg in segments(path, {2222}) if seg.transport == "udp"]
    assert io and all(detect_udp(p) for p in io)


@pytest.mark.parametrize(
    ("folder", "name"),
    [("iti", "EthernetIP__enip_test.pcap"), ("icsnpp-enip", "tests/traces/enip_cip_example.pcap")],
)
def test_commands_and_services_match_tshark(folder: str, name: str) -> None:
    path = capture_dir(folder) / name
    theirs = [
        (int(row[0], 0), row[1]) for row in tshark_fields(path, "enip.command", ["enip.command", "cip.sc"])
    ]
    ours = []
    for _, r in dissect(path):
        if r.fields.get("pdu") != "enip":
            continue
        services = ",".join(
            c["cip_service_code"].removeprefix("0x").lstrip("0") or "0" for c in r.fields.get("cip", [])
        )
        ours.append((int(r.fields["enip_command_code"], 16), services))
    theirs = [
        (cmd, ",".join(v.removeprefix("0x").lstrip("0") or "0" for v in sc.split(",") if v))
        for cmd, sc in theirs
    ]
    assert ours
    assert_same_rows(ours, theirs)  # type: ignore[arg-type]
