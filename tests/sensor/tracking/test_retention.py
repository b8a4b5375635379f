"""Retention of the data-mining stores and the event timeline, on a real pipeline fed generated traffic."""

from __future__ import annotations

import logging

import pytest

from otwatch.inventory.vocabulary import Engine
from otwatch.protocols.modbus.messages import ReadRequest, ReadResponse
from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.local.store import parse_advanced
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.retention import DAY, MB, Retention, StoreLimit
from otwatch.sensor.tracking.timeline import EventType, LogBook, Timeline
from tests.sensor.packets import Net, arp_request, modbus

T0 = 1_700_000_000.0


def _poll(net: Net, client_ip: str, server_ip: str, polls: int = 3) -> None:
    hmi = net.hosts.get(client_ip) or net.host(client_ip, client_ip)  # hosts are named by their IP here
    plc = net.hosts.get(server_ip) or net.host(server_ip, server_ip)
    session = net.session(hmi, plc, 502).open()
    for tid in range(polls):
        session.exchange(
            modbus(tid, 1, ReadRequest(3, 0, 2).encode()), modbus(tid, 1, ReadResponse(3, bytes(4)).encode())
        )


def _feed(sensor: Sensor, net: Net) -> None:
    for frame in net.frames:
        sensor.process(*frame)
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error


def _ips(sensor: Sensor) -> set[str | None]:
    return {a.ip for a in sensor.inventory.assets}


def test_devices_older_than_the_retention_period_go_and_the_recent_stay() -> None:
    net = Net(t=T0)
    _poll(net, "10.0.0.10", "10.0.0.20")
    net.advance(100 * DAY)
    _poll(net, "10.0.0.11", "10.0.0.21")
    kept = Sensor()
    _feed(kept, net)
    assert {"10.0.0.10", "10.0.0.20", "10.0.0.11", "10.0.0.21"} <= _ips(kept)  # no retention set: all kept

    sensor = Sensor()
    sensor.set_retention(Retention(devices=StoreLimit(90, 1000)))
    _feed(sensor, net)
    assert _ips(sensor) == {"10.0.0.11", "10.0.0.21"}
    assert not any(k.client in {1, 2} or k.server in {1, 2} for k in sensor.inventory.connections)
    # A removed device that comes back is a new asset with a new id (ids are never reused).
    ids = {a.id for a in sensor.inventory.assets}
    net2 = Net(t=T0 + 101 * DAY)
    _poll(net2, "10.0.0.10", "10.0.0.21")
    for frame in net2.frames:
        sensor.process(*frame)
    back = next(a for a in sensor.inventory.assets if a.ip == "10.0.0.10")
    assert back.id > max(ids)


def test_device_maximum_removes_the_least_recently_seen() -> None:
    net = Net(t=T0)
    for i in range(5):
        _poll(net, "10.0.0.10", f"10.0.0.{20 + i}")
        net.advance(60)
    sensor = Sensor()
    _feed(sensor, net)
    assert len(sensor.inventory.assets) == 6
    gone = sensor.set_retention(Retention(devices=StoreLimit(90, 3)))
    assert gone["devices"] == 3
    assert _ips(sensor) == {"10.0.0.10", "10.0.0.23", "10.0.0.24"}  # the HMI polls all along


def _alerting_sensor(count: int, step: float = 60.0) -> Sensor:
    """Alerts raised straight into the store (the engines' own call), with shared-ring packets for PCAPs."""
    sensor = Sensor()
    net = Net(t=T0)
    scanner = net.host("scanner", "10.0.0.200")
    for host in range(20):
        net.emit(arp_request(scanner.mac, scanner.ip, f"10.0.2.{host + 1}"))
    for frame in net.frames:
        sensor.process(*frame)
    for i in range(count):
        sensor.alerts.raise_alert("PORT_SCAN", T0 + i * step, f"scan {i}", subject=i)
    return sensor


def test_alert_maximum_and_period_remove_the_oldest_with_their_pcaps() -> None:
    sensor = _alerting_sensor(6)
    assert all(a.pcap for a in sensor.alerts.alerts.values())
    gone = sensor.set_retention(Retention(alerts=StoreLimit(90, 4)))
    assert gone["alerts"] == 2 and sorted(sensor.alerts.alerts) == [3, 4, 5, 6]
    assert sensor.forensics.bytes == sum(len(a.pcap or b"") for a in sensor.alerts.alerts.values())
    # A removed alert's subject raises a new alert again.
    assert sensor.alerts.raise_alert("PORT_SCAN", T0 + 600, "again", subject=0) is not None

    daily = _alerting_sensor(4, step=DAY)
    daily.set_retention(Retention(alerts=StoreLimit(1.5, 100)))
    assert sorted(daily.alerts.alerts) == [3, 4]  # 1 and 0 days before the newest stay; 3 and 2 go


def test_alert_pcaps_budget_drops_the_oldest_pcaps_but_keeps_the_alerts() -> None:
    sensor = _alerting_sensor(5)
    sizes = [len(a.pcap or b"") for a in sensor.alerts.alerts.values()]
    budget = sum(sizes[-2:])
    sensor.set_retention(Retention(alert_pcaps=StoreLimit(30, budget)))
    with_pcap = [a.id for a in sensor.alerts.alerts.values() if a.pcap]
    assert with_pcap == [4, 5] and len(sensor.alerts.alerts) == 5
    assert sensor.forensics.bytes == budget
    # A new alert's PCAP makes room by dropping the oldest one left.
    sensor.alerts.raise_alert("PORT_SCAN", T0 + 3600, "new", subject="new")
    assert [a.id for a in sensor.alerts.alerts.values() if a.pcap] == [5, 6]
    assert sensor.forensics.bytes <= budget
    frames = list(CaptureReader(sensor.alerts.alerts[6].pcap or b""))
    assert frames and frames[-1].data[12:14] == b"\x08\x06"  # still a readable pcap of the ARP frames


def test_pcap_period_uses_when_the_alert_opened() -> None:
    sensor = _alerting_sensor(3, step=20 * DAY)
    sensor.set_retention(Retention(alert_pcaps=StoreLimit(30, 64 * MB)))
    assert [a.id for a in sensor.alerts.alerts.values() if a.pcap] == [2, 3]


def test_timeline_records_pipeline_events_and_toggles() -> None:
    net = Net(t=T0)
    _poll(net, "10.0.0.10", "10.0.0.20")
    sensor = Sensor()
    _feed(sensor, net)
    new_assets = [e for e in sensor.timeline if e.type is EventType.NEW_ASSET]
    assert {e.details["ip"] for e in new_assets} == {"10.0.0.10", "10.0.0.20"}
    sensor.learning = False
    sensor.learning = False  # no change, no event
    sensor.set_engine(Engine.MALWARE, False)
    sensor.set_engine(Engine.MALWARE, False)
    sensor.set_engine(Engine.MALWARE, True)
    kinds = [e.type for e in sensor.timeline]
    assert kinds.count(EventType.LEARNING) == 1 and kinds.count(EventType.ENGINE) == 2
    engine_events = [e for e in sensor.timeline if e.type is EventType.ENGINE]
    assert [e.details["on"] for e in engine_events] == [False, True]
    assert engine_events[0].title == "Malware engine turned off"

    net.advance(60)
    scanner = net.host("scanner", "10.0.0.200")
    for port in range(1, 40):
        net.syn(scanner, net.hosts["10.0.0.20"], 40000 + port, port)
    _feed(sensor, net)
    alerts = [e for e in sensor.timeline if e.type is EventType.ALERT]
    assert alerts and {e.details["alert"] for e in alerts} == set(sensor.alerts.alerts)
    assert alerts[0].details["severity"] == str(sensor.alerts.alerts[alerts[0].details["alert"]].severity)


def test_timeline_and_log_book_limits() -> None:
    by_count = Timeline(StoreLimit(10, 3))
    by_age = Timeline(StoreLimit(1.5, 3))
    for day in range(5):
        by_count.add(T0 + day * DAY, EventType.SETTINGS, f"day {day}")
        by_age.add(T0 + day * DAY, EventType.SETTINGS, f"day {day}")
    assert [e.title for e in by_count] == ["day 2", "day 3", "day 4"]
    assert [e.title for e in by_age] == ["day 3", "day 4"]  # day 2 is two days older than day 4
    by_age.add(T0 + 1 * DAY, EventType.SETTINGS, "late")  # out of order: kept until a full expiry
    assert by_age.expire() == 1 and [e.title for e in by_age] == ["day 3", "day 4"]
    assert [e.title for e in by_count.newest_first()] == ["day 4", "day 3", "day 2"]

    book = LogBook(StoreLimit(30, 2))
    log = logging.getLogger("otwatch.test-retention")
    log.addHandler(book)
    log.setLevel(logging.INFO)
    try:
        for i in range(3):
            log.info("message %d", i)
        log.debug("not kept: below INFO")
    finally:
        log.removeHandler(book)
    assert [e.message for e in book.snapshot()] == ["message 1", "message 2"]
    assert book.snapshot()[0].level == "INFO"


def test_retention_configuration_round_trip_and_checks() -> None:
    r = Retention.from_config({"devices_days": "7", "alert_pcaps_max_mb": "0.5", "logs_max": "10"})
    assert r.devices == StoreLimit(7, 100_000) and r.alert_pcaps.max_size == MB // 2 and r.logs.max_size == 10
    assert Retention.from_config(r.as_config()) == r
    assert Retention.from_config({}) == Retention()
    assert parse_advanced("retention", "devices_days=30\nalerts_max=500") == {
        "devices_days": "30",
        "alerts_max": "500",
    }
    for bad, why in (
        ("devices_days=0", "above 0"),
        ("alerts_max=many", "whole number"),
        ("x=1", "no setting"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_advanced("retention", bad)
