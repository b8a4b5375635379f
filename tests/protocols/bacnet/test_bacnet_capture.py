"""BACnet/IP dissection of public captures against ICSNPP's Zeek logs and tshark."""

from __future__ import annotations

from pathlib import Path

import pytest

from otwatch.protocols.bacnet import SPEC, BacnetDissector
from otwatch.protocols.base import Record
from tests.protocols.ics_replay import (
    as_text,
    assert_same_rows,
    capture_dir,
    read_zeek_log,
    segments,
    tshark_fields,
    zeek_value,
)

CASES = {
    "basic": "bacnet_example.pcap",
    "services": "bacnet_services.pcap",
    "error-reject-abort": "bacnet_error_reject_abort.pcap",
    "segmented_data": "bacnet_segmented_data.pcap",
}


def dissect(path: Path) -> list[Record]:
    dissector = BacnetDissector()
    return [r for seg in segments(path, {47808, 47809}) for r in dissector.feed(seg.payload, seg.from_client)]


def records(case: str) -> list[Record]:
    return dissect(capture_dir("icsnpp-bacnet") / "testing" / "traces" / CASES[case])


def baseline(case: str, log: str) -> list[dict[str, str]]:
    return read_zeek_log(
        capture_dir("icsnpp-bacnet") / "testing" / "baseline" / f"analyzer.{case}" / f"{log}.log"
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_headers_match_icsnpp(case: str) -> None:
    """Every datagram in order: BVLC function, PDU type, service, invoke id, error/reject/abort result.

    ICSNPP logs a segmented ComplexACK once, when its last segment arrives; we keep one per segment.
    """
    cols = ("bvlc_function", "pdu_type", "pdu_service", "invoke_id", "result_code")
    ours = [
        tuple(as_text(r.fields.get(k)) for k in cols)
        for r in records(case)
        if not r.fields.get("more_follows")
    ]
    theirs = [tuple(zeek_value(row[k]) for k in cols) for row in baseline(case, "bacnet")]
    assert_same_rows(ours, theirs)


def test_read_property_objects_match_icsnpp() -> None:
    """Object ids and property ids of every ReadProperty request and ack in the example capture."""
    ours = [
        (
            str(r.fields["invoke_id"]),
            "read-property-request" if r.direction == "request" else "read-property-ack",
            r.fields["object_type"],
            str(r.fields["instance_number"]),
            r.fields["property"].lower(),
            as_text(r.fields.get("array_index")),
        )
        for r in records("basic")
        if r.fields.get("pdu_service") == "read_property" and "object_type" in r.fields
    ]
    theirs = [
        (
            row["invoke_id"],
            row["pdu_service"],
            row["object_type"],
            row["instance_number"],
            row["property"].lower(),
            zeek_value(row["array_index"]),
        )
        for row in baseline("basic", "bacnet_property")
        if row["pdu_service"] in ("read-property-request", "read-property-ack")
    ]
    assert_same_rows(ours, theirs)  # type: ignore[arg-type]


def test_character_string_values_match_icsnpp() -> None:
    ours = [
        r.fields["value"]
        for r in records("basic")
        if r.fields.get("pdu_type") == "COMPLEX_ACK" and r.fields.get("property") == "object-name"
    ]
    theirs = [
        row["value"]
        for row in baseline("basic", "bacnet_property")
        if row["pdu_service"] == "read-property-ack" and row["property"] == "object-name"
    ]
    assert ours == theirs and len(ours) > 100


def test_i_am_identity_matches_icsnpp() -> None:
    ours = [
        (r.fields["object_type"], str(r.fields["device_id_number"]), r.fields["vendor_id"])
        for r in records("basic")
        if r.fields.get("pdu_service") == "i_am"
    ]
    theirs = [
        (row["object_type"], row["instance_number"], row["vendor"])
        for row in baseline("basic", "bacnet_discovery")
        if row["pdu_service"] == "i-am"
    ]
    assert [o[:2] for o in ours] == [t[:2] for t in theirs]
    named = {o[2]: t[2] for o, t in zip(ours, theirs, strict=True)}
    assert named[15] == "Cornell University"
    first = next(r for r in records("basic") if r.fields.get("pdu_service") == "i_am")
    identity = SPEC.identity_from(first)
    assert identity is not None and identity.extra["device_instance"] == first.fields["device_id_number"]


def test_iti_capture_matches_tshark() -> None:
    path = capture_dir("iti") / "BACnet__bacnet_test.pcap"
    fields = ["bacapp.type", "bacapp.confirmed_service", "bacapp.unconfirmed_service", "bacapp.invoke_id"]
    theirs = [tuple(v or None for v in row) for row in tshark_fields(path, "bacapp", fields)]
    type_codes = {"CONFIRMED_REQUEST": 0, "UNCONFIRMED_REQUEST": 1, "SIMPLE_ACK": 2, "COMPLEX_ACK": 3}
    type_codes |= {"SEGMENT_ACK": 4, "ERROR_PDU": 5, "REJECT_PDU": 6, "ABORT_PDU": 7}
    from otwatch.protocols.bacnet import codes

    confirmed = {v: k for k, v in codes.CONFIRMED_SERVICE_NAMES.items()}
    unconfirmed = {v: k for k, v in codes.UNCONFIRMED_SERVICE_NAMES.items()}
    ours = []
    for r in dissect(path):
        if r.fields.get("pdu_type") in (None, "NPDU"):
            continue
        t = type_codes[r.fields["pdu_type"]]
        service = str(r.fields.get("pdu_service"))
        ours.append(
            (
                str(t),
                str(confirmed[service]) if service in confirmed and t not in (1, 6, 7) else None,
                str(unconfirmed[service]) if t == 1 else None,
                as_text(r.fields.get("invoke_id")),
            )
        )
    assert ours
    assert_same_rows(ours, theirs)  # type: ignore[arg-type]
