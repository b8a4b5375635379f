"""Alert PCAPs (the packets around an alert, readable by any pcap reader) and overview statistics."""

from __future__ import annotations

import dpkt

from otwatch.sensor.capture.decode import LINKTYPE_ETHERNET
from otwatch.sensor.capture.pcapfile import CaptureReader, write_pcap
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.forensics import POST_PACKETS, Forensics
from tests.sensor.packets import Net, modbus, s7_plc_stop, s7_read_db, s7_read_db_ack


def test_alert_pcap_holds_the_packets_around_the_alert() -> None:
    net = Net()
    es, plc = net.host("es", "10.0.0.30"), net.host("plc", "10.0.0.40")
    s7 = net.session(es, plc, 102).open()
    for ref in range(20):
        s7.exchange(s7_read_db(ref, 1), s7_read_db_ack(ref))
    stop_at = len(net.frames)
    s7.exchange(s7_plc_stop(99), None)
    for ref in range(20, 40):
        s7.exchange(s7_read_db(ref, 1), s7_read_db_ack(ref))
    sensor = Sensor(SensorSettings(ring_packets=8))
    for frame in net.frames:
        sensor.process(*frame)
    (alert,) = sensor.alerts.by_code("S7_STOP")
    assert alert.pcap is not None
    frames = list(CaptureReader(alert.pcap))
    assert len(frames) == 8 + POST_PACKETS
    assert frames[7].data == net.frames[stop_at][2]  # the stop job is the last packet before the alert
    assert frames[-1].data == net.frames[stop_at + POST_PACKETS][2]
    # Another reader agrees (dpkt): the file is a plain pcap.
    import io

    reader = dpkt.pcap.Reader(io.BytesIO(alert.pcap))
    assert reader.datalink() == LINKTYPE_ETHERNET and len(list(reader)) == len(frames)


def test_write_pcap_keeps_one_link_type_and_forensics_budget() -> None:
    data = write_pcap([(1.5, 1, b"a" * 20), (2.0, 101, b"b" * 20), (2.25, 1, b"c" * 20)])
    frames = list(CaptureReader(data))
    assert [f.data[:1] for f in frames] == [b"a", b"c"] and frames[1].ts == 2.25
    forensics = Forensics(ring_packets=4, max_bytes=10)
    ring = forensics.new_ring()
    for i in range(10):
        ring.append((float(i), 1, bytes(60)))
    assert len(ring) == 4


def test_statistics_widgets() -> None:
    net = Net(t=1_700_000_000.0)
    hmi, plc = net.host("hmi", "10.0.0.10"), net.host("plc", "10.0.0.21")
    mb = net.session(hmi, plc, 502).open()
    for tid in range(100):
        mb.exchange(modbus(tid, 1, b"\x03\x00\x00\x00\x01"), modbus(tid, 1, b"\x03\x02\x00\x00"))
    net.udp(hmi, plc, 40000, 8080, b"x" * 100)
    sensor = Sensor(SensorSettings(port_aliases={8080: "historian"}))
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    stats = sensor.report()["statistics"]
    total = sum(len(f[2]) for f in net.frames)
    assert sum(h["bytes"] for h in stats["traffic_per_hour"]) == total
    (hour,) = stats["traffic_per_hour"]
    assert abs(hour["mbps"] - total * 8 / 3600 / 1e6) < 1e-6
    assert stats["top_ot_protocols"] == [{"protocol": "modbus", "devices": 2}]
    ports = {p["port"]: p["bytes"] for p in stats["traffic_by_port"]}
    assert set(ports) == {"tcp/502", "historian"} and ports["historian"] == len(net.frames[-1][2])
    assert ports["tcp/502"] == total - ports["historian"]
