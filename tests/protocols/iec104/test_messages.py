"""IEC 104 wire bytes: APCI formats and ASDU header round-trip; detection by content."""

from __future__ import annotations

import pytest

from otwatch.protocols import iec104
from otwatch.protocols.iec104.codes import ApciType, UFunction, cause_name, type_name
from otwatch.protocols.iec104.dissect import Iec104Dissector
from otwatch.protocols.iec104.messages import Apdu, Asdu, Iec104DecodeError

TABLE = [
    ("680407000000", Apdu(ApciType.U, u_function=UFunction.STARTDT_ACT)),
    ("680483000000", Apdu(ApciType.U, u_function=UFunction.TESTFR_CON)),
    ("680401000a00", Apdu(ApciType.S, recv_seq=5)),
    (
        # C_SC_NA_1 act, CA 37133, IOA 10010, SCO on: what a SCADA master sends to switch a breaker.
        "680e 0200 0a00 2d01 0600 0d91 1a2700 01",
        Apdu(ApciType.I, 1, 5, asdu=Asdu(45, 6, 37133, ioa=10010, information=b"\x01")),
    ),
    (
        "680e 0000 0000 4601 0400 0d91 000000 00",
        Apdu(ApciType.I, 0, 0, asdu=Asdu(70, 4, 37133, ioa=0, information=b"\x00")),
    ),
]


@pytest.mark.parametrize(("wire", "expected"), TABLE)
def test_round_trip(wire: str, expected: Apdu) -> None:
    raw = bytes.fromhex(wire.replace(" ", ""))
    assert Apdu.decode(raw) == expected
    assert expected.encode() == raw
    assert iec104.detect(raw)


def test_negative_test_and_sequence_bits() -> None:
    asdu = Asdu(1, 3, 1, ioa=100, num_objects=3, sequence=True, negative=True, test=True, originator=7)
    raw = asdu.encode()
    assert raw[:4] == bytes((1, 0x83, 0xC3, 7))
    assert Asdu.decode(raw) == asdu


@pytest.mark.parametrize("wire", ["6803070000", "690407000000", "680601000a000000"])
def test_out_of_spec(wire: str) -> None:
    with pytest.raises(Iec104DecodeError):
        Apdu.decode(bytes.fromhex(wire))


def test_names() -> None:
    assert type_name(45) == "C_SC_NA_1" and type_name(13) == "M_ME_NC_1" and type_name(99) == "unknown-99"
    assert cause_name(20) == "INROGEN" and cause_name(7) == "ACTCON"


def test_dissector_frames_across_segments_and_resyncs() -> None:
    wire = bytes.fromhex("680407000000680e02000a002d0106000d911a270001")
    dissector = Iec104Dissector()
    records = dissector.feed(b"\x00\x01", True)
    records += [rec for b in wire for rec in dissector.feed(bytes((b,)), True)]
    assert records[0].malformed  # the two junk bytes before the first start octet
    assert [r.fields.get("apci_type") for r in records[1:]] == [ApciType.U, ApciType.I]
    assert records[2].fields["is_command"] and records[2].fields["ioa"] == 10010


def test_detect_rejects_other_protocols() -> None:
    assert not iec104.detect(bytes.fromhex("000100000006010300000001"))  # Modbus
    assert not iec104.detect(bytes.fromhex("680409000000"))  # not a U function
