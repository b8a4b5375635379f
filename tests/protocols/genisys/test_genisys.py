"""Genisys over TCP 10001: the messages of ICSNPP icsnpp-genisys's baseline log (replayed from a field
capture) rebuilt with the package's encoder and compared field for field with the log, including
the transmitted CRC (CRC-16/MODBUS); escaping; stream framing; strict detection; identity."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from otwatch.inventory.identity import DeviceType
from otwatch.protocols.base import Record
from otwatch.protocols.genisys import SPEC, detect, identity_from
from otwatch.protocols.genisys.dissect import GenisysDissector
from otwatch.protocols.genisys.messages import GenisysDecodeError, Message, escape, unescape
from otwatch.protocols.operations import OPERATION_FIELD
from otwatch.protocols.registry import PROTOCOLS

INDICATIONS = (
    "0=5,1=4,2=0,3=4,4=6,5=4,6=5,7=4,8=4,9=4,10=4,11=4,12=4,13=4,14=5,15=4,16=4,17=4,18=5,19=4,20=4,21=5,"
    "22=4,23=4,24=5,25=4,26=4,27=5,28=4,29=4,30=6,31=4,32=5,33=4,34=4,35=4,36=4,37=4,38=4,39=4,40=5,41=4,"
    "42=6,43=5,44=4,45=5,46=5,47=4,48=0,49=0,50=0,51=0,52=0,53=0,54=0,55=0"
)
PAIRS = [(int(a), int(v)) for a, v in (p.split("=") for p in INDICATIONS.split(","))]
#: (message, header, server, direction, crc_transmitted, payload) as ICSNPP's genisys.log has them
BASELINE = [
    (Message(0xFB, 1), "Poll", 1, "request", "0x4083", None),
    (Message(0xF1, 1), "Acknowledge Client", 1, "response", None, None),
    (Message(0xFD, 1), "Recall Header", 1, "request", "0xe080", None),
    (Message(0xF2, 1, PAIRS), "Indication Data", 1, "response", "0xc33", INDICATIONS.split(",")),
]


@pytest.mark.parametrize(("message", "header", "server", "direction", "crc", "payload"), BASELINE)
def test_agrees_with_the_icsnpp_baseline_log(message: Message, header: str, server: int, direction: str,
                                             crc: str | None, payload: list[str] | None) -> None:  # fmt: skip
    [record] = GenisysDissector().feed(message.encode(), direction == "request")
    f = record.fields
    assert record.malformed is None and record.direction == direction
    assert (f["header"], f["server"], f["direction"], f.get("crc_transmitted"), f.get("payload")) == (
        header,
        server,
        direction,
        crc,
        payload,
    )
    if crc is not None:
        assert (
            f["crc_calculated"] == crc
        )  # ICSNPP's own column (initial value 0) differs: 0xf082 for the poll
    assert detect(message.encode())
    assert OPERATION_FIELD not in f


def test_wire_bytes_and_round_trips() -> None:
    assert Message(0xFB, 1).encode().hex() == "fb018340f6"
    assert Message(0xF1, 1).encode().hex() == "f101f6"
    assert Message(0xFB, 1, checked=False).encode().hex() == "fb01f6"
    control = Message(0xFC, 0xF3, [(0, 0xF6), (1, 2)])  # station and data of 0xF0 and above are escaped
    wire = control.encode()
    assert wire.count(0xF6) == 1 and wire[1:3] == b"\xf0\x03"
    decoded = Message.decode(wire)
    assert (decoded.header, decoded.station, decoded.pairs, decoded.crc_ok) == (
        0xFC,
        0xF3,
        [(0, 0xF6), (1, 2)],
        True,
    )
    assert escape(bytes(range(0xEE, 0x100))) == bytes((0xEE, 0xEF)) + b"".join(
        bytes((0xF0, i)) for i in range(16)
    )
    assert unescape(escape(bytes(range(256)))) == bytes(range(256))
    for bad in (b"\xf0", b"\xf0\x10", b"\xf7"):
        with pytest.raises(GenisysDecodeError):
            unescape(bad)
    for bad in (b"\xfb\xf6", b"\x01\x02\xf6", b"\xfc\x01\x02", b"\xfc\x01\x02\xf6"):
        with pytest.raises(GenisysDecodeError):
            Message.decode(bad)


def _feed(chunks: list[tuple[bytes, bool]]) -> list[Record]:
    dissector = GenisysDissector()
    return [r for data, from_client in chunks for r in dissector.feed(data, from_client)]


def test_stream_framing_byte_by_byte_and_coalesced() -> None:
    office = Message(0xFB, 1).encode() + Message(0xFD, 1).encode() + Message(0xFC, 2, [(3, 1)]).encode()
    field = Message(0xF1, 1).encode() + Message(0xF2, 1, PAIRS).encode()
    one = _feed([(bytes((b,)), True) for b in office] + [(bytes((b,)), False) for b in field])
    whole = _feed([(office, True), (field, False)])
    assert [r.fields for r in one] == [r.fields for r in whole]
    assert [r.fields["header"] for r in whole] == ["Poll", "Recall Header", "Control Data", "Acknowledge Client",
                                                   "Indication Data"]  # fmt: skip
    assert all(r.malformed is None for r in whole)


def test_malformed_only_when_certain() -> None:
    bad = bytearray(Message(0xFC, 2, [(3, 1)]).encode())
    bad[-2] ^= 0x01
    [record] = _feed([(bytes(bad), True)])
    assert record.malformed and "CRC" in record.malformed
    junk, poll = _feed([(b"\x01\x02" + Message(0xFB, 1).encode(), True)])
    assert junk.malformed and poll.malformed is None
    [odd] = _feed([(Message(0xF2, 1, [(1, 2)], trailing=b"\x07").encode(), False)])
    assert odd.malformed is None and odd.fields["trailing_byte"] == 7
    assert _feed([(b"\xf2" + bytes(2000), False)])[0].malformed  # no terminator in sight


def test_identity_of_the_code_unit() -> None:
    [indication] = _feed([(Message(0xF2, 7, PAIRS).encode(), False)])
    identity = identity_from(indication)
    assert identity is not None and identity.device_type == DeviceType.RTU
    assert identity.extra == {"genisys_station": 7} and identity.vendor is None
    for other in _feed([(Message(0xFB, 7).encode(), True), (Message(0xF1, 7).encode(), False)]):
        assert identity_from(other) is None


NOT_GENISYS = [
    b"",
    bytes.fromhex("000100000006010300000001"),  # Modbus/TCP
    bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102"),  # COTP
    bytes.fromhex("fb018341f6"),  # a poll with a wrong CRC
    bytes.fromhex("fb018340"),  # cut before the terminator
    bytes.fromhex("f6fb018340f6"),  # a terminator first
    bytes.fromhex("f4018340f6"),  # undefined header 0xF4
    bytes.fromhex("fc01f7f6"),  # an unescaped 0xF7 inside
    bytes.fromhex("f101f6") + b"GET",  # an acknowledge followed by something else
    b"\xff" * 12,
]


@pytest.mark.parametrize("payload", NOT_GENISYS)
def test_detect_is_strict(payload: bytes) -> None:
    assert not detect(payload)


def test_random_bytes_are_not_genisys() -> None:
    rng = random.Random(10001)
    claimed = [p for p in (rng.randbytes(rng.randint(8, 64)) for _ in range(20000)) if detect(p)]
    assert claimed == []


def test_no_other_protocol_claims_genisys_messages() -> None:
    samples = [m.encode() for m, *_ in BASELINE] + [Message(0xFC, 2, [(3, 1)]).encode()]
    for spec in PROTOCOLS:
        if spec.name != "genisys" and spec.transport != "eth":  # layer-2 specs never see IP payloads
            assert not any(spec.detect(s) for s in samples), spec.name


def test_spec() -> None:
    assert (SPEC.name, SPEC.transport, SPEC.ports, SPEC.query) == ("genisys", "tcp", (10001,), None)


def test_through_the_sensor(tmp_path: Path) -> None:
    from otwatch.sensor.capture import synth
    from otwatch.sensor.pipeline.sensor import Sensor

    n = synth.Net()
    office, unit = n.host("office", "10.30.0.5", synth.OUI_DELL), n.host("unit", "10.30.0.9", 0x02AB00)
    line = n.session(office, unit, 10001, 50200).open()
    for message, reply in zip(BASELINE[0::2], BASELINE[1::2], strict=True):
        line.exchange(message[0].encode(), reply[0].encode())
    line.close()
    path = tmp_path / "genisys.pcap"
    synth.write_capture(str(path), list(n))
    sensor = Sensor()
    assert sensor.process_capture(path) == []
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    [asset] = [a.as_dict() for a in sensor.inventory.assets if a.as_dict()["ip"] == "10.30.0.9"]
    assert asset["device_type"] == "RTU" and asset["protocols"][0]["protocol"] == "genisys"
    assert [a.type.code for a in sensor.alerts.alerts.values() if a.type.code == "MALFORMED_PACKET"] == []
