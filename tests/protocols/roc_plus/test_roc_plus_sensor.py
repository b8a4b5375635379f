"""ROC Plus and BSAP through the whole sensor (pcap -> flows -> dissectors -> inventory and engines): a
ROCLINK session on TCP 4000 and an OpenBSI exchange on UDP 1234, written as a classic pcap with the
synthetic network builder. Checks the identity the inventory keeps, the operation alerts with their
technique and protocol label, and that nothing is reported malformed. tshark 4.0 on this machine has
no dissector for either (its "bsap" is the unrelated ANSI A-interface BSAP), so it cannot serve as an
answer key here."""

from __future__ import annotations

from pathlib import Path

from otwatch.protocols.bsap.messages import IpMessage, IpRequest, IpResponse, RdbRequest, names_request
from otwatch.protocols.roc_plus.messages import Address, Clock, Frame, PointRange
from otwatch.sensor.capture import synth
from otwatch.sensor.tracking.alerts import protocol_label
from tests.protocols.roc_plus.responder import CONFIG


def _net() -> synth.Net:
    n = synth.Net()
    eng = n.host("roclink", "10.20.0.5", synth.OUI_DELL)
    roc = n.host(
        "roc800", "10.20.0.50", 0x02AB00
    )  # an OUI no vendor table knows: the vendor is the protocol's
    station, host = Address(240, 240), Address(3, 1)
    tcp = n.session(eng, roc, 4000, 50100).open()
    for opcode, request, reply in (
        (6, b"", CONFIG.encode()),
        (167, PointRange(91, 0, 1, 0).encode(), PointRange(91, 0, 1, 0, b"\x01").encode()),
        (8, Clock(2030, 1, 1, 0, 0, 0).encode(), b""),
        (181, bytes((1, 16, 1, 2)) + bytes(4), b""),
    ):
        tcp.exchange(
            Frame(opcode, station, host, request).encode(), Frame(opcode, host, station, reply).encode()
        )
    tcp.close()
    obsi = n.host("openbsi", "10.20.0.6", synth.OUI_DELL)
    rtu = n.host("controlwave", "10.20.0.51", 0x02AB00)
    for seq, rdb in enumerate(
        (names_request(0x04, ["@GV.DS1"]), RdbRequest(0x80, bytes(3) + b"\x01\x11\x00\x0a"))
    ):
        request = IpMessage(0x0006, 1, 100 + seq, 10 + seq, IpRequest(0xA0, seq, rdb.encode()).encode())
        reply = IpMessage(0x0005, 1, 11 + seq, 101 + seq, IpResponse(100 + seq, 0, 1, bytes(4)).encode())
        n.udp(obsi, rtu, 1234, 1234, request.encode())
        n.udp(rtu, obsi, 1234, 1234, reply.encode())
    return n


def test_sensor_inventory_and_operation_alerts(tmp_path: Path) -> None:
    from otwatch.sensor.pipeline.sensor import Sensor

    path = tmp_path / "roc_bsap.pcap"
    synth.write_capture(str(path), list(_net()))
    sensor = Sensor()
    assert sensor.process_capture(path) == []
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    assets = {a.as_dict()["ip"]: a.as_dict() for a in sensor.inventory.assets}
    roc, rtu = str(assets["10.20.0.50"]), str(assets["10.20.0.51"])
    assert "ROC800 (809/827)" in roc and "Emerson" in roc and "roc_plus" in roc
    assert "Emerson" in rtu and "bsap" in rtu
    alerts = list(sensor.alerts.alerts.values())
    raised = {(a.type.code, a.protocol, a.type.technique.id if a.type.technique else None) for a in alerts}
    assert ("CLOCK_SET", "roc_plus", "T0836") in raised
    assert ("PARAMETER_WRITE", "roc_plus", "T0836") in raised
    assert ("PARAMETER_WRITE", "bsap", "T0836") in raised
    assert "MALFORMED_PACKET" not in {a.type.code for a in alerts}
    assert (protocol_label("roc_plus"), protocol_label("bsap")) == ("ROC Plus", "BSAP")
