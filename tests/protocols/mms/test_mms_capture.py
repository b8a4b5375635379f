"""MMS on every public IEC 61850 capture, field for field against tshark, and TCP/102 by content:
MMS flows are MMS (never S7), S7 captures stay S7."""

from __future__ import annotations

from pathlib import Path

import pytest

from otwatch.protocols.operations import Operation
from tests.sensor.replay import CAPTURES, capture, replay, tshark_fields

MMS_CAPTURES = sorted(
    [p.relative_to(CAPTURES).as_posix() for p in (CAPTURES / "ot-ops").glob("IEC61850__MMS__*")]
    + ["iti/IEC61850__Sample_File_MMS_and_GOOSE.pcap"]
)
S7_CAPTURES = [
    "ot-ops/s7__S7-1511-opc-request-all-types.pcap",
    "ot-ops/s7__step7_s300_AuthPassword.pcapng",
    "ot-ops/s7__step7_s300_copyRamToRom.pcapng",
    "ot-ops/s7__tia_s300_flashLed.pcapng",
    "icsnpp-s7comm/tests/traces/s7comm_plus.pcap",
    "icsnpp-s7comm/tests/traces/snap7.pcap",
    "icsnpp-s7comm/tests/traces/s7ident.pcap",
    "iti/s7__s7comm_reading_plc_status.pcap",
]


def _rows(path: Path) -> list[tuple[str | None, ...]]:
    out: list[tuple[str | None, ...]] = []
    for r in replay(path):
        f = r.record.fields
        if r.record.protocol != "mms" or f.get("pdu") != "mms":
            continue
        out.append(
            (
                str(r.frame),
                f["mms_pdu"],
                str(f["service_code"]) if "service_code" in f and f["mms_pdu_code"] == 0 else None,
                str(f["service_code"]) if "service_code" in f and f["mms_pdu_code"] == 1 else None,
                str(f["invoke_id"]) if "invoke_id" in f and f["mms_pdu_code"] in (0, 1, 2) else None,
                ",".join(f.get("item_ids", [])) or None,
                ",".join(f.get("domain_ids", [])) or None,
            )
        )
    return out


@pytest.mark.parametrize("name", MMS_CAPTURES)
def test_mms_agrees_with_tshark(name: str) -> None:
    path = capture(name)
    fields = ["_ws.col.Info", "mms.confirmedServiceRequest", "mms.confirmedServiceResponse", "mms.invokeID",
              "mms.itemId", "mms.domainId"]  # fmt: skip
    theirs: list[tuple[str | None, ...]] = []
    for row in tshark_fields(path, "mms", fields):
        number, info, req, resp, invoke, items, domains = (row + [""] * 7)[:7]
        pdu = next(w for w in info.split() if w.endswith("PDU"))
        theirs.append(
            (number, pdu, req or None, resp or None, invoke or None, items or None, domains or None)
        )
    ours = [row for row in _rows(path) if (row[0],) in {(t[0],) for t in theirs}]
    assert ours == theirs
    # tshark leaves out the PDUs it cannot place in an association it did not see start (reports
    # of a capture that begins mid-association); we read them too, and no more than those.
    assert len(_rows(path)) >= len(theirs)


@pytest.mark.parametrize("name", MMS_CAPTURES)
def test_mms_flows_are_never_s7(name: str) -> None:
    protocols = {r.record.protocol for r in replay(capture(name)) if r.flow.server_port == 102}
    assert protocols == {"mms"}


@pytest.mark.parametrize("name", S7_CAPTURES)
def test_s7_captures_stay_s7(name: str) -> None:
    protocols = {
        r.record.protocol for r in replay(capture(name)) if 102 in (r.flow.server_port, r.flow.client_port)
    }
    assert protocols and protocols <= {"s7comm", "s7comm_plus"}


OPERATIONS = {
    "IEC61850__MMS__iec61850_write.pcap": [(Operation.PARAMETER_WRITE, "write")],
    "IEC61850__MMS__mms-initiateDownloadSequence.pcap": [
        (Operation.PROGRAM_DOWNLOAD, "initiateDownloadSequence")
    ],
    "IEC61850__MMS__mms-killRequest.pcap": [(Operation.CONTROLLER_RESET, "kill")],
    "IEC61850__MMS__mms-resetRequest.pcap": [(Operation.CONTROLLER_RESET, "reset")],
    "IEC61850__MMS__mms-stopRequest.pcap": [
        (Operation.CONTROLLER_START, "start"),
        (Operation.CONTROLLER_STOP, "stop"),
    ],
}


@pytest.mark.parametrize("name", [n for n in MMS_CAPTURES if n.startswith("ot-ops/")])
def test_operations_of_each_capture(name: str) -> None:
    """The operation each capture shows, tagged on its request; the others (read, getNameList,
    cancel, getAlarmSummary, takeControl) tag none."""
    tagged = [
        (r.record.fields["operation"], r.record.fields["service"])
        for r in replay(capture(name))
        if "operation" in r.record.fields
    ]
    assert tagged == OPERATIONS.get(name.split("/")[-1], [])
