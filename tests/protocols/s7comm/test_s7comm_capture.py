"""S7comm dissection of public captures against two independent answer keys: ICSNPP's Zeek logs and tshark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from otwatch.protocols.base import Record
from otwatch.protocols.s7comm import SPEC, S7commDissector
from tests.protocols.ics_replay import (
    as_text,
    assert_same_rows,
    capture_dir,
    read_zeek_log,
    segments,
    tshark_fields,
    zeek_value,
)

CASES = {"snap7": "snap7.pcap", "s7ident": "s7ident.pcap", "s7comm_plus": "s7comm_plus.pcap"}


def dissect(path: Path) -> list[tuple[bool, Record]]:
    """All records of a capture, in capture order, with the side that sent each."""
    dissectors: dict[tuple[str, int, str, int], S7commDissector] = {}
    out: list[tuple[bool, Record]] = []
    for seg in segments(path, {102}):
        dissector = dissectors.setdefault(seg.flow, S7commDissector())
        out.extend((seg.from_client, record) for record in dissector.feed(seg.payload, seg.from_client))
    return out


def baseline(case: str, log: str) -> list[dict[str, str]]:
    return read_zeek_log(
        capture_dir("icsnpp-s7comm") / "tests" / "baseline" / f"analyzer.{case}" / f"{log}.log"
    )


def records(case: str) -> list[tuple[bool, Record]]:
    return dissect(capture_dir("icsnpp-s7comm") / "tests" / "traces" / CASES[case])


def icsnpp_ref(value: int) -> str:
    """ICSNPP prints the PDU reference byte-swapped (tshark and the S7 spec read it big-endian)."""
    return str(((value & 0xFF) << 8) | (value >> 8))


def in_icsnpp_s7comm_log(record: Record) -> bool:
    """ICSNPP logs neither parameter-less ACKs nor the pieces of a user-data answer split over PDUs."""
    f = record.fields
    if f.get("pdu") != "s7comm":
        return False
    if f["rosctr_code"] == 2 and "function_code" not in f:
        return False
    return not (f.get("more_data") or (f.get("rosctr_code") == 7 and f.get("return_code") == "0x0a"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_cotp_pdus_match_icsnpp(case: str) -> None:
    ours = [(str(c)[0], r.fields["cotp_pdu_code"], r.fields["cotp_pdu_name"]) for c, r in records(case)]
    theirs = [(row["is_orig"], row["pdu_code"], row["pdu_name"]) for row in baseline(case, "cotp")]
    assert_same_rows(ours, theirs)  # type: ignore[arg-type]


S7_COLUMNS: tuple[str, ...] = ("rosctr_code", "rosctr_name", "function_code", "function_name")
S7_COLUMNS += ("subfunction_code", "subfunction_name", "error_class", "error_code")


@pytest.mark.parametrize("case", sorted(CASES))
def test_s7comm_headers_match_icsnpp(case: str) -> None:
    ours = [
        (str(c)[0], icsnpp_ref(r.fields["pdu_reference"]), *(as_text(r.fields.get(k)) for k in S7_COLUMNS))
        for c, r in records(case)
        if in_icsnpp_s7comm_log(r)
    ]
    theirs = [
        (row["is_orig"], row["pdu_reference"], *(zeek_value(row[k]) for k in S7_COLUMNS))
        for row in baseline(case, "s7comm")
    ]
    assert_same_rows(ours, theirs)


def test_read_szl_matches_icsnpp() -> None:
    cols: tuple[str, ...] = (
        "method",
        "szl_id",
        "szl_id_name",
        "szl_index",
        "return_code",
        "return_code_name",
    )
    ours = [
        (icsnpp_ref(r.fields["pdu_reference"]), *(as_text(r.fields.get(k)) for k in cols))
        for _, r in records("snap7")
        if "szl_id" in r.fields and not r.fields.get("more_data") and not r.fields.get("reassembled")
    ]
    theirs = [
        (row["pdu_reference"], *(zeek_value(row[k]) for k in cols))
        for row in baseline("snap7", "s7comm_read_szl")
    ]
    assert_same_rows(ours, theirs)


def test_upload_download_matches_icsnpp() -> None:
    cols: tuple[str, ...] = ("function_name", "function_status", "session_id", "blocklength", "filename")
    cols += ("block_type", "block_number", "destination_filesystem")
    ours = [
        (
            r.fields["rosctr_name"],
            icsnpp_ref(r.fields["pdu_reference"]),
            *(as_text(r.fields.get(k)) for k in cols),
        )
        for _, r in records("snap7")
        if r.fields.get("rosctr_code") in (1, 3)
        and r.fields.get("function_code", "") in ("0x1d", "0x1e", "0x1f")
    ]
    theirs = [
        (row["rosctr"], row["pdu_reference"], *(zeek_value(row[k]) for k in cols))
        for row in baseline("snap7", "s7comm_upload_download")
    ]
    assert_same_rows(ours, theirs)


def test_s7comm_plus_matches_icsnpp() -> None:
    cols: tuple[str, ...] = ("version", "opcode", "opcode_name", "function_code", "function_name")
    ours = [
        (str(c)[0], *(as_text(r.fields.get(k)) for k in cols))
        for c, r in records("s7comm_plus")
        if r.protocol == "s7comm_plus"
    ]
    theirs = [
        (row["is_orig"], *(zeek_value(row[k]) for k in cols))
        for row in baseline("s7comm_plus", "s7comm_plus")
    ]
    assert_same_rows(ours, theirs)


def test_known_device_identity_matches_icsnpp() -> None:
    (row,) = baseline("s7ident", "s7comm_known_devices")
    merged: dict[str, Any] = {}
    for _, record in records("s7ident"):
        identity = SPEC.identity_from(record)
        if identity is not None:
            merged.update(identity.as_dict())
            merged.update(identity.extra)
    assert merged["name"] == row["automation_system_name"]
    assert merged["module_name"] == row["module_name"]
    assert merged.get("plant_id", "") == zeek_value(row["plant_name"])
    assert merged["serial"] == row["module_serial"]


def test_snap7_capture_identity() -> None:
    """The real CPU in snap7.pcap: SZL 0x0011, 0x001C (split over two PDUs, joined) and 0x0424."""
    by_szl = {}
    for _, record in records("snap7"):
        identity = SPEC.identity_from(record)
        if identity is not None:
            by_szl[record.fields["szl_id"]] = identity
    module, component, mode = by_szl["0x0011"], by_szl["0x001c"], by_szl["0x0424"]
    assert (module.model, module.firmware, module.extra["order_number"]) == (
        "6ES7 315-2EH14-0AB0",
        "V3.2.7",
        "6ES7 315-2EH14-0AB0",
    )
    assert (component.model, component.name, component.serial) == (
        "CPU 315-2 PN/DP",
        "S7300/ET200M station_1",
        "S C-B1U393142011",
    )
    assert component.extra["module_name"] == "PLC_1"
    assert component.extra["copyright"] == "Original Siemens Equipment"
    assert (mode.state, mode.vendor) == ("Run", "Siemens")


def test_iti_capture_matches_tshark() -> None:
    """COTP-segmented S7 PDUs (reassembled by both) give tshark's ROSCTR/function/SZL sequence."""
    path = capture_dir("iti") / "s7__s7comm_reading_plc_status.pcap"
    fields = [
        "s7comm.header.rosctr",
        "s7comm.header.pduref",
        "s7comm.param.func",
        "s7comm.data.userdata.szl_id",
    ]
    theirs = [tuple(int(v, 0) if v else None for v in row) for row in tshark_fields(path, "s7comm", fields)]
    ours = []
    for _, r in dissect(path):
        if r.fields.get("pdu") != "s7comm":
            continue
        f = r.fields
        func = f.get("function_code") if f["rosctr_code"] != 7 else None
        szl = f.get("szl_id") if not f.get("more_data") else None  # tshark names it once joined
        ours.append(
            (
                f["rosctr_code"],
                f["pdu_reference"],
                int(func, 16) if func else None,
                int(szl, 16) if szl else None,
            )
        )
    assert len(ours) > 100
    assert_same_rows(ours, theirs)  # type: ignore[arg-type]
