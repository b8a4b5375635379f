"""MC protocol / SLMP messages as tables of wire bytes (SLMP Reference Manual SH-080956ENG examples),
content detection, and the dissector's fields and operations."""

from __future__ import annotations

import pytest

from otwatch.protocols.melsec import SPEC, SPEC_MELSOFT, SPEC_MELSOFT_UDP, detect
from otwatch.protocols.melsec.dissect import MelsecDissector, file_name
from otwatch.protocols.melsec.messages import (
    CpuModel,
    DeviceRange,
    MelsecDecodeError,
    Request,
    Response,
    Route,
    decode,
)
from otwatch.protocols.modbus import detect as modbus_detect
from otwatch.protocols.operations import Operation

# (message, wire bytes)
REQUESTS = [
    # Read CPU model, 3E binary, own station
    (Request(0x0101, 0, b"", timer=0x10), "500000ffff030006001000010100 00".replace(" ", "")),
    # Batch read D100, 3 words (Q/L device specification)
    (
        Request(0x0401, 0, DeviceRange("D", 100, 3).encode(), timer=0x10),
        "500000ffff03000c00100001040000640000a80300",
    ),
    # Batch write M10.., 2 bits, iQ-R device specification (4-byte number, 2-byte code)
    (
        Request(0x1401, 0x0003, DeviceRange("M", 10, 2).encode(0x0003) + b"\x11", timer=0x10),
        "500000ffff03000f00100001140300" + "0a000000" + "9000" + "0200" + "11",
    ),
    # Remote stop, 4E frame with serial 0x1234
    (
        Request(0x1002, 0, b"\x01\x00", serial=0x1234, timer=0x10),
        "54003412000000ffff030008001000021000000100",
    ),
    # Read CPU model, 3E ASCII
    (Request(0x0101, 0, b"", timer=0x10, ascii=True), b"500000FF03FF00000C001001010000".hex()),
]
RESPONSES = [
    (
        Response(0, CpuModel("Q03UDVCPU", 0x0268).encode()),
        "d00000ffff030014000000" + b"Q03UDVCPU       ".hex() + "6802",
    ),
    (Response(0xC059), "d00000ffff030002005 9c0".replace(" ", "")),
    (Response(0, b"0000", serial=1, ascii=True), b"D4000001000000FF03FF00000800000000".hex()),
]


@pytest.mark.parametrize(("msg", "wire"), REQUESTS)
def test_request_table(msg: Request, wire: str) -> None:
    assert msg.encode().hex() == wire
    assert Request.decode(bytes.fromhex(wire)) == msg
    assert detect(bytes.fromhex(wire))


@pytest.mark.parametrize(("msg", "wire"), RESPONSES)
def test_response_table(msg: Response, wire: str) -> None:
    assert msg.encode().hex() == wire
    assert Response.decode(bytes.fromhex(wire)) == msg
    assert decode(bytes.fromhex(wire)) == msg


def test_device_range_ascii_and_hex_devices() -> None:
    assert DeviceRange("X", 0x1F, 8).encode(ascii=True) == b"X*00001F0008"
    assert DeviceRange.decode(b"X*00001F0008", 0, ascii=True) == DeviceRange("X", 0x1F, 8)
    assert DeviceRange.decode(b"D***000001000004", 2, ascii=True).text == "D100"
    assert DeviceRange("W", 0x100, 1).text == "W100" and DeviceRange("D", 100, 1).text == "D100"


@pytest.mark.parametrize(
    "wire",
    [
        "500000ffff03000600100001",  # length says 6, 4 bytes follow: decode wants the whole frame
        "5400010001" + "00ffff03000600100001010000",  # 4E fixed bytes not zero
        "5000",
    ],
)
def test_decode_errors(wire: str) -> None:
    with pytest.raises(MelsecDecodeError):
        Request.decode(bytes.fromhex(wire))


NOT_MELSEC = [
    b"",
    bytes.fromhex("000100000006010300000001"),  # Modbus read holding registers
    bytes.fromhex("500000ffff03000600100099990000"),  # unknown command
    bytes.fromhex("500000ffff030007001000010100"),  # length one past the end (short segment)
    b"GET / HTTP/1.1\r\n\r\n",
    b"5000 is a number",
]


@pytest.mark.parametrize("payload", NOT_MELSEC)
def test_detect_is_strict(payload: bytes) -> None:
    assert not detect(payload)
    assert not SPEC_MELSOFT.detect(payload)


def test_detect_several_frames_and_a_cut_one() -> None:
    read = Request(0x0401, 0, DeviceRange("D", 0, 960).encode()).encode()
    reply = Response(0, bytes(1920)).encode()
    assert detect(read + read)
    assert detect(reply[:1400])  # a long reply cut by the segment
    assert not detect(reply[:40])


def test_melsec_and_modbus_do_not_claim_each_other() -> None:
    frames = [r.encode() for r, _ in REQUESTS] + [r.encode() for r, _ in RESPONSES]
    assert not any(modbus_detect(f) for f in frames)
    assert not detect(bytes.fromhex("000100000006010300000001"))


def test_dissector_fields_operations_and_file_tracking() -> None:
    d = MelsecDissector()
    route = Route(network=1, station=2, module_io=0x03E0, multidrop=0)
    open_req = Request(
        0x1827,
        0x0040,
        b"\x00\x00" + b"\x01\x00" + b"\x00\x00" + b"\x0c\x00" + "MAIN.PRG".encode("utf-16-le"),
        route,
    )
    recs = d.feed(open_req.encode(), True)
    assert recs[0].fields["file_name"] == "MAIN.PRG" and recs[0].fields["network"] == 1
    assert recs[0].fields["module_io"] == 0x03E0
    d.feed(Response(0, b"\x07\x00", route).encode(), False)
    (read,) = d.feed(Request(0x1828, 0, b"\x07\x00" + bytes(6), route).encode(), True)
    assert read.fields["file_name"] == "MAIN.PRG" and read.fields["operation"] == Operation.PROGRAM_UPLOAD
    (write,) = d.feed(Request(0x1829, 0, b"\x07\x00" + bytes(10), route).encode(), True)
    assert (
        write.fields["operation"] == Operation.PROGRAM_DOWNLOAD
        and "MAIN.PRG" in write.fields["operation_detail"]
    )
    (delete,) = d.feed(
        Request(0x1822, 0, b"\x00\x00\x0c\x00" + "MAIN.PRG".encode("utf-16-le")).encode(), True
    )
    assert delete.fields["operation"] == Operation.PROGRAM_DELETE
    (reset,) = d.feed(Request(0x1006, 0, b"\x01\x00", serial=9).encode(), True)
    assert reset.fields["operation"] == Operation.CONTROLLER_RESET and reset.fields["serial"] == 9
    # a non-program file read is no upload
    d.feed(Request(0x1827, 0, b"\x00" * 6 + b"LOG01.CSV").encode(), True)
    d.feed(Response(0, b"\x08\x00").encode(), False)
    (log,) = d.feed(Request(0x1828, 0, b"\x08\x00" + bytes(6)).encode(), True)
    assert log.fields["file_name"] == "LOG01.CSV" and "operation" not in log.fields
    # reads are never tagged
    (plain,) = d.feed(Request(0x0401, 0, DeviceRange("D", 0, 1).encode()).encode(), True)
    assert "operation" not in plain.fields


def test_dissector_matches_4e_replies_by_serial_and_reads_ascii_cpu_model() -> None:
    d = MelsecDissector()
    d.feed(Request(0x0401, 0, DeviceRange("D", 5, 1).encode(), serial=1).encode(), True)
    d.feed(Request(0x0101, 0, b"", serial=2).encode(), True)
    (model,) = d.feed(Response(0, CpuModel("L02CPU", 0x0543).encode(), serial=2).encode(), False)
    assert model.fields["command_name"] == "Read CPU Model" and model.fields["cpu_model"] == "L02CPU"
    (words,) = d.feed(Response(0, b"\x00\x00", serial=1).encode(), False)
    assert words.fields["head_device"] == "D5"
    a = MelsecDissector()
    a.feed(Request(0x0101, 0, b"", ascii=True).encode(), True)
    (rec,) = a.feed(
        Response(0, CpuModel("Q06UDEHCPU", 0x0266).encode(ascii=True), ascii=True).encode(), False
    )
    assert (rec.fields["cpu_model"], rec.fields["cpu_model_code"], rec.fields["encoding"]) == (
        "Q06UDEHCPU",
        0x0266,
        "ascii",
    )
    identity = SPEC.identity_from(rec)
    assert (
        identity is not None and identity.model == "Q06UDEHCPU" and identity.vendor == "Mitsubishi Electric"
    )


def test_dissector_reassembles_and_marks_garbage_malformed() -> None:
    frame = Request(0x1401, 0, DeviceRange("D", 1, 2).encode() + b"\x01\x00\x02\x00").encode()
    d = MelsecDissector()
    (whole,) = [r for i in range(len(frame)) for r in d.feed(frame[i : i + 1], True)]
    assert whole.fields["points"] == 2
    (bad,) = d.feed(b"\x01\x02\x03\x04", True)
    assert bad.malformed


def test_file_name() -> None:
    assert (
        file_name(b"\x00\x00" + "$MELPRJ$\\MAIN.PRG".encode("utf-16-le") + b"\x00\x00")
        == "$MELPRJ$\\MAIN.PRG"
    )
    assert file_name(b"****\x01\x00\x00\x00\x08\x00MAIN.QPG") == "MAIN.QPG"
    assert file_name(b"\x00\x01\x02") is None


def test_melsoft_udp_search_detection() -> None:
    assert SPEC_MELSOFT_UDP.detect(bytes.fromhex("5a000001"))
    assert SPEC_MELSOFT_UDP.detect(bytes.fromhex("da0000011400c0a80365c0a80065"))
    assert not SPEC_MELSOFT_UDP.detect(bytes.fromhex("5a00000100"))
    assert not SPEC_MELSOFT.detect(bytes.fromhex("5a000001"))  # the search is UDP only
