"""Engineering operations carried in CIP: crafted requests, and the labelled Studio 5000 captures.

Each request below is built from the CIP object model (ODVA Vol. 1 for the Identity, TCP/IP and
Ethernet Link objects; Rockwell's Logix objects as public research documents them) and must be tagged
with the operation of :mod:`otwatch.protocols.operations`; reads and ordinary tag traffic must not be.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path as FsPath

import pytest

from otwatch.protocols.base import Record
from otwatch.protocols.enip import EnipDissector, codes
from otwatch.protocols.enip.messages import (
    CipRequest,
    CpfItem,
    Encapsulation,
    Path,
    SendRRData,
    unconnected_request,
)
from otwatch.protocols.operations import OPERATION_DETAIL_FIELD, OPERATION_FIELD, Operation
from tests.sensor.replay import capture, replay, tshark_fields


def _send(dissector: EnipDissector, request: CipRequest) -> Record:
    (record,) = dissector.feed(unconnected_request(0x1234, request), True)
    assert record.malformed is None
    return record


def _op(request: CipRequest, dissector: EnipDissector | None = None) -> Operation | None:
    op = _send(dissector or EnipDissector(), request).fields.get(OPERATION_FIELD)
    return None if op is None else Operation(op)


def _symbolic(service: int, tag_name: str, data: bytes) -> CipRequest:
    request = CipRequest(service, Path(symbol=tag_name), data)
    assert CipRequest.decode(request.encode()) == request
    return request


def _rr(request_bytes: bytes) -> bytes:
    body = SendRRData([CpfItem(codes.ITEM_NULL), CpfItem(codes.ITEM_UNCONNECTED_DATA, request_bytes)])
    return Encapsulation(codes.CMD_SEND_RR_DATA, body.encode(), 1).encode()


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (CipRequest(0x07, Path(0x8E, 1)), Operation.CONTROLLER_STOP),
        (CipRequest(0x06, Path(0x8E, 1)), Operation.CONTROLLER_START),
        (CipRequest(0x07, Path(0x01, 1)), Operation.CONTROLLER_STOP),
        (CipRequest(0x06, Path(0x29, 1)), Operation.CONTROLLER_START),
        (CipRequest(0x05, Path(0x01, 1), b"\x00"), Operation.CONTROLLER_RESET),
        (CipRequest(0x05, Path(0x01, 1)), Operation.CONTROLLER_RESET),
        (CipRequest(0x05, Path(0x01, 1), b"\x01"), Operation.FACTORY_RESET),
        (CipRequest(0x05, Path(0x01, 1), b"\x02"), Operation.FACTORY_RESET),
        # Wall clock: CurrentUTCValue (attribute 6) set through Set_Attribute_List, as Studio 5000 does.
        (
            CipRequest(0x04, Path(0x8B, 1), struct.pack("<HHq", 1, 6, 1_600_000_000_000_000)),
            Operation.CLOCK_SET,
        ),
        (CipRequest(0x10, Path(0x8B, 1, 0x0B), bytes(28)), Operation.CLOCK_SET),
        (CipRequest(0x10, Path(0xF6, 1, 6), b"\x02\x00\x64\x00"), Operation.NETWORK_CONFIG),
        (CipRequest(0x10, Path(0xF5, 1, 3), b"\x00\x00\x00\x00"), Operation.NETWORK_CONFIG),
        (CipRequest(0x10, Path(0xF5, 1, 5), bytes(22)), Operation.NETWORK_CONFIG),
        (CipRequest(0x02, Path(0xF5, 1), bytes(30)), Operation.NETWORK_CONFIG),
        (CipRequest(0x4B, Path(0x8E, 1), b"\x01"), Operation.PROTECTION_CHANGE),
        (CipRequest(0x08, Path(0x68, 0x25E2), b"\x01\x00\x05\x00\x00\x00"), Operation.PROGRAM_DOWNLOAD),
        (CipRequest(0x08, Path(0x6B, 0x42C4)), Operation.PROGRAM_DOWNLOAD),
        (CipRequest(0x4D, Path(0x6C, 0x2E8), bytes(16)), Operation.PROGRAM_DOWNLOAD),
        (CipRequest(0x50, Path(0x6A, 0xE874), bytes(16)), Operation.PROGRAM_DOWNLOAD),
        (CipRequest(0x4B, Path(0x72, 1), bytes(32)), Operation.PROGRAM_DOWNLOAD),
        (CipRequest(0x09, Path(0x68, 0x25E2)), Operation.PROGRAM_DELETE),
        (CipRequest(0x4F, Path(0x6A, 0x1BFA), b"\x00\x00\x00\x00\x58\x00"), Operation.PROGRAM_UPLOAD),
        (CipRequest(0x4B, Path(0xA1, 1), bytes(8)), Operation.FIRMWARE_UPDATE),
        # PCCC through Execute PCCC: requestor id (7 bytes), then CMD 0x0F, STS, TNS, FNC (and data)
        (
            CipRequest(0x4B, Path(0x67, 1), b"\x07\x01\x00\x01\x02\x03\x04\x0f\x00\x01\x00\x80\x01"),
            Operation.MODE_CHANGE,
        ),
        (
            CipRequest(
                0x4B,
                Path(0x67, 1),
                b"\x07\x01\x00\x01\x02\x03\x04\x0f\x00\x02\x00\xaa\x02\x07\x89\x00\x00\x01\x00",
            ),
            Operation.PARAMETER_WRITE,
        ),
        (CipRequest(0x4D, Path(0x6B, 0x10), b"\xc4\x00\x01\x00" + bytes(4)), Operation.PARAMETER_WRITE),
        (_symbolic(0x4D, "Setpoint", b"\xc4\x00\x01\x00" + bytes(4)), Operation.PARAMETER_WRITE),
        (_symbolic(0x53, "Recipe", b"\xc4\x00\x01\x00" + bytes(8)), Operation.PARAMETER_WRITE),
        (_symbolic(0x4E, "Flags", b"\x04\x00" + bytes(8)), Operation.PARAMETER_WRITE),
    ],
)
def test_operation_requests_are_tagged(request_: CipRequest, expected: Operation) -> None:
    assert _op(request_) == expected


@pytest.mark.parametrize(
    "request_",
    [
        CipRequest(0x01, Path(0x01, 1)),  # Get_Attributes_All of the Identity
        CipRequest(
            0x4B, Path(0x67, 1), b"\x07\x01\x00\x01\x02\x03\x04\x0f\x00\x03\x00\xa2\x02\x07\x89\x00"
        ),  # PCCC read
        CipRequest(0x4B, Path(0x67, 1), b"\x07\x01"),  # truncated
        CipRequest(0x03, Path(0x8B, 1), b"\x01\x00\x0b\x00"),  # reading the clock
        CipRequest(0x04, Path(0x8B, 1), b"\x02\x00\x04\x00\x00\x00\x02\x00\x00\x00"),  # time zone settings
        CipRequest(0x0E, Path(0xF5, 1, 5)),  # reading the IP configuration
        CipRequest(0x4C, Path(0x8E, 1)),
        CipRequest(0x4B, Path(0x8E, 1), b"\x00"),  # lock flag cleared
        CipRequest(0x4C, Path(0x6C, 0x2E8), b"\x00\x00\x00\x00\x10\x00"),  # read a template (tag browsing)
        CipRequest(0x4F, Path(0x6A, 0x1011), b"\xfc\x04\x00\x00\x02\x00"),  # read at an offset
        CipRequest(0x4C, Path(0x72, 0), b"\x14\x05\x04\x00\x02\x00"),
        CipRequest(0x01, Path(0xA1, 1)),  # reading the firmware store is no update
        CipRequest(0x4E, Path(0x06, 1), bytes(12)),  # Forward Close, not a tag write
        _symbolic(0x4C, "Setpoint", b"\x01\x00"),
        _symbolic(0x52, "Recipe", b"\x01\x00\x00\x00\x00\x00"),
    ],
)
def test_reads_are_not_operations(request_: CipRequest) -> None:
    assert _op(request_) is None


def test_firmware_transfer_then_identity_reset_is_a_firmware_update() -> None:
    dissector = EnipDissector()
    assert _op(CipRequest(0x4B, Path(0xA1, 1), bytes(8)), dissector) == Operation.FIRMWARE_UPDATE
    assert _op(CipRequest(0x4D, Path(0xA1, 1), bytes(64)), dissector) == Operation.FIRMWARE_UPDATE
    reset = _send(dissector, CipRequest(0x05, Path(0x01, 1), b"\x00"))
    assert reset.fields[OPERATION_FIELD] == Operation.FIRMWARE_UPDATE
    assert "firmware" in reset.fields[OPERATION_DETAIL_FIELD]
    # the next reset, without a transfer before it, is an ordinary restart
    assert _op(CipRequest(0x05, Path(0x01, 1), b"\x00"), dissector) == Operation.CONTROLLER_RESET


def test_operations_inside_multiple_service_and_unconnected_send() -> None:
    stop = CipRequest(0x07, Path(0x8E, 1)).encode()
    read = CipRequest(0x01, Path(0x01, 1)).encode()
    msp_data = struct.pack("<HHH", 2, 6, 6 + len(read)) + read + stop
    (record,) = EnipDissector().feed(_rr(CipRequest(0x0A, Path(0x02, 1), msp_data).encode()), True)
    assert record.fields[OPERATION_FIELD] == Operation.CONTROLLER_STOP
    assert [s["cip_service_code"] for s in record.fields["cip"]] == ["0x0a", "0x01", "0x07"]

    routed = CipRequest(0x10, Path(0xF5, 1, 3), b"\x02\x00\x00\x00").encode()
    route = b"\x01\x00\x01\x00"  # one word: backplane port 1, slot 0
    send = struct.pack("<BBH", 0x06, 0x9A, len(routed)) + routed + route
    (record,) = EnipDissector().feed(_rr(CipRequest(0x52, Path(0x06, 1), send).encode()), True)
    assert record.fields[OPERATION_FIELD] == Operation.NETWORK_CONFIG
    assert [s["cip_service_code"] for s in record.fields["cip"]] == ["0x52", "0x10"]


def test_truncated_unconnected_send_does_not_raise() -> None:
    for cut in range(0, 12):
        send = struct.pack("<BBH", 0x06, 0x9A, 40) + bytes(cut)
        (record,) = EnipDissector().feed(_rr(CipRequest(0x52, Path(0x06, 1), send).encode()), True)
        assert OPERATION_FIELD not in record.fields


# --- the labelled Studio 5000 captures (Digital Bond's set): what each one carries, by CIP content ---

OPS = "ot-ops"
EXPECTED: dict[str, set[Operation]] = {
    "openics__EIP-ChangeDateAttempt.pcap": {Operation.CLOCK_SET},
    "openics__EIP-ChangePortConfigurationAttempt.pcap": {Operation.NETWORK_CONFIG},
    # Named for a control-protocol change, the capture carries a whole project download: the
    # controller stopped (0x07 on 0x8E), program objects created and filled, the controller started.
    "openics__EIP-ControlProtocolChangeAttempt.pcap": {
        Operation.CONTROLLER_STOP,
        Operation.PROGRAM_DOWNLOAD,
        Operation.CONTROLLER_START,
    },
    "openics__EIP-FirmwareChange.pcap": {Operation.FIRMWARE_UPDATE},
    # The address is assigned by BOOTP; the CIP traffic only reads identities through the backplane.
    "openics__EIP-IPAddressChangeAttempt.pcap": set(),
    "openics__EIP-LockPLCAttempt.pcap": {Operation.PROTECTION_CHANGE},
    "openics__EIP-SoftwareUpload.pcap": {Operation.PROGRAM_UPLOAD},
}


def _enip(path: FsPath) -> list[Record]:
    return [r.record for r in replay(path) if r.record.protocol == "enip"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_operations(name: str) -> None:
    records = _enip(capture(f"{OPS}/{name}"))
    assert records
    assert [r.malformed for r in records if r.malformed] == []
    found = {Operation(r.fields[OPERATION_FIELD]) for r in records if OPERATION_FIELD in r.fields}
    assert found == EXPECTED[name]


def test_firmware_capture_ends_with_the_identity_reset() -> None:
    records = _enip(capture(f"{OPS}/openics__EIP-FirmwareChange.pcap"))
    resets = [r for r in records if any(s.get("cip_service_code") == "0x05" for s in r.fields.get("cip", ()))]
    resets = [r for r in resets if r.direction == "request"]
    assert len(resets) == 1
    assert resets[0].fields[OPERATION_FIELD] == Operation.FIRMWARE_UPDATE


def test_legacy_list_targets_is_no_malformed_packet() -> None:
    records = _enip(capture(f"{OPS}/openics__EIP-IPAddressChangeAttempt.pcap"))
    legacy = [r for r in records if r.fields.get("enip_command_code") == "0x01"]
    assert legacy and all(r.fields["enip_command"] == "List Targets" for r in legacy)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_requests_match_tshark(name: str) -> None:
    """Every CIP request tshark decodes (services embedded in Multiple Service Packets and Unconnected
    Sends included) is one of ours, in the same frame, with the same service codes, and each class we
    read is one tshark reads (tshark adds the connection's class to connected requests)."""
    path = capture(f"{OPS}/{name}")
    theirs: dict[int, tuple[list[int], Counter[int]]] = {}
    for frame, rr, sc, cls in tshark_fields(path, "cip", ["cip.rr", "cip.sc", "cip.class"]):
        if rr.split(",")[0] == "0x00":
            classes = Counter(int(c, 16) for c in cls.split(",") if c)
            theirs[int(frame)] = (sorted(int(s, 16) for s in sc.split(",")), classes)
    ours: dict[int, tuple[list[int], Counter[int]]] = {}
    for replayed in replay(path):
        services = [s for s in replayed.record.fields.get("cip", ()) if s["direction"] == "request"]
        if replayed.record.protocol == "enip" and services:
            codes_ = sorted(int(s["cip_service_code"], 16) for s in services)
            ours[replayed.frame] = (
                codes_,
                Counter(int(s["class_id"], 16) for s in services if "class_id" in s),
            )
    compared = [f for f in theirs if f in ours]
    assert len(compared) >= 0.95 * len(theirs)  # tshark loses a few frames a mid-stream capture starts in
    assert {f: ours[f][0] for f in compared} == {f: theirs[f][0] for f in compared}
    assert all(ours[f][1] <= theirs[f][1] for f in compared)
