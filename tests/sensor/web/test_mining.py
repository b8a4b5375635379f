"""Event timeline, Data mining (table, CSV, JSON) and retention in Advanced Configurations, in the console."""

from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.timeline import EventType
from tests.sensor.web.conftest import AppFactory, client_for, console_of, csrf


def _rows(html: str) -> list[list[str]]:
    body = re.search(r'<table class="grid" id="\w+">.*?<tbody>(.*?)</tbody>', html, re.S)
    if body is None:
        return []
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def test_timeline_lists_the_sensors_events_with_filters_and_paging(
    admin: TestClient, fed_sensor: Sensor
) -> None:
    timeline = fed_sensor.timeline
    alerts = [e for e in timeline if e.type is EventType.ALERT]
    assert alerts and any(e.type is EventType.NEW_ASSET for e in timeline)
    assert [e.type for e in timeline].count(EventType.LEARNING) == 1  # the fixture turned learning off
    page = admin.get("/timeline")
    assert page.status_code == 200 and 'aria-current="page">Event timeline' in page.text
    assert f"{len(timeline)} events" in page.text

    r = admin.get("/api/timeline", params={"type": EventType.ALERT.value, "per_page": 3, "page": 2})
    body = r.json()
    assert r.status_code == 200 and body["total"] == len(alerts) and body["page"] == 2
    newest_first = sorted(alerts, key=lambda e: (-e.ts, -e.id))
    assert [e["id"] for e in body["events"]] == [e.id for e in newest_first[3:6]]
    assert {e["type"] for e in body["events"]} == {"Alert raised"}

    html = admin.get("/timeline", params={"type": EventType.ALERT.value, "per_page": 3, "page": 2}).text
    assert len(_rows(html)) == 3 and f"page 2 of {-(-len(alerts) // 3)}" in html
    assert 'rel="prev"' in html and "page=1" in html

    critical = [e for e in alerts if e.details["severity"] == "Critical"]
    r = admin.get("/api/timeline", params={"severity": "Critical", "per_page": 500})
    assert r.json()["total"] == len(critical)

    r = admin.get("/api/timeline", params={"since": "yesterday"})
    assert r.status_code == 400 and "From" in r.json()["detail"]
    bad = admin.get("/timeline", params={"address": "not-an-address"})
    assert bad.status_code == 400 and "neither an IP address nor a MAC" in bad.text


def test_data_mining_alerts_with_filters_csv_and_json(admin: TestClient, fed_sensor: Sensor) -> None:
    assert admin.get("/data-mining").status_code == 200
    alerts = list(fed_sensor.alerts.alerts.values())
    r = admin.get("/api/data-mining", params={"store": "alerts"})
    body = r.json()
    assert body["total"] == len(alerts) and body["columns"][:3] == ["id", "severity", "engine"]
    lasts = [row["last_seen"] for row in body["rows"]]
    assert lasts == sorted(lasts, reverse=True)

    severity = alerts[0].severity.value
    r = admin.get("/api/data-mining", params={"store": "alerts", "severity": severity})
    assert r.json()["total"] == sum(a.severity == severity for a in alerts)

    by_id = {a.id: a for a in fed_sensor.inventory.assets}
    target = next(a for a in alerts if a.source is not None)
    ip = by_id[target.source].ip
    assert ip is not None
    rows = admin.get("/api/data-mining", params={"store": "alerts", "address": ip}).json()["rows"]
    assert target.id in {row["id"] for row in rows}
    for row in rows:
        assert ip in (row["source"] or "").split() or ip in (row["destination"] or "").split()

    r = admin.get("/api/data-mining", params={"store": "alerts", "since": "2999-01-01T00:00"})
    assert r.json()["total"] == 0

    html = admin.get("/data-mining", params={"store": "alerts", "type": "Policy Violation"}).text
    policy = [a for a in alerts if a.engine.value == "Policy Violation"]
    assert policy and len(_rows(html)) == len(policy) and f"{len(policy)} rows" in html
    assert "/data-mining/export.csv?store=alerts&amp;type=Policy+Violation" in html

    export = admin.get("/data-mining/export.csv", params={"store": "alerts", "type": "Policy Violation"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert 'filename="alerts.csv"' in export.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(export.text)))
    assert table[0][:3] == ["id", "severity", "engine"] and len(table) == len(policy) + 1
    assert {row[2] for row in table[1:]} == {"Policy Violation"}
    assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", table[1][7])  # the console's date format


def test_data_mining_devices_pcaps_timeline_and_logs(admin: TestClient, fed_sensor: Sensor) -> None:
    modbus = [a for a in fed_sensor.inventory.assets if any(p == "modbus" for p, _r in a.protocols)]
    rows = admin.get("/api/data-mining", params={"store": "devices", "protocol": "modbus"}).json()["rows"]
    assert modbus and {r["id"] for r in rows} == {a.id for a in modbus}
    assert all("modbus" in r["protocols"] for r in rows)
    plc_rows = admin.get("/api/data-mining", params={"store": "devices", "type": "PLC"}).json()["rows"]
    assert plc_rows and {r["device_type"] for r in plc_rows} == {"PLC"}
    mac = modbus[0].mac
    assert mac is not None
    by_mac = admin.get("/api/data-mining", params={"store": "devices", "address": mac.upper()}).json()
    assert [r["id"] for r in by_mac["rows"]] == [modbus[0].id]

    with_pcap = {a.id for a in fed_sensor.alerts.alerts.values() if a.pcap}
    pcaps = admin.get("/api/data-mining", params={"store": "alert_pcaps"}).json()
    assert with_pcap and {r["alert"] for r in pcaps["rows"]} == with_pcap
    assert all(r["pcap_bytes"] > 0 for r in pcaps["rows"])

    events = admin.get("/api/data-mining", params={"store": "timeline", "type": "New asset detected"}).json()
    assert events["total"] == sum(e.type is EventType.NEW_ASSET for e in fed_sensor.timeline)

    logging.getLogger("otwatch.sensor").warning("test log line about 10.9.8.7")
    logs = admin.get("/api/data-mining", params={"store": "logs", "type": "WARNING", "address": "10.9.8.7"})
    rows = logs.json()["rows"]
    assert [r["message"] for r in rows][:1] == ["test log line about 10.9.8.7"] and rows[0][
        "level"
    ] == "WARNING"

    r = admin.get("/data-mining", params={"store": "secrets"})
    assert r.status_code == 400 and "Store: &#39;secrets&#39; is not one of" in r.text
    r = admin.get(
        "/data-mining/export.csv", params={"store": "alerts", "since": "2024-02-01", "until": "2024-01-01"}
    )
    assert r.status_code == 400 and "before its start" in r.text


def test_api_needs_a_session(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as anonymous:
        r = anonymous.get("/api/data-mining", params={"store": "alerts"}, follow_redirects=False)
        assert r.status_code in (303, 307) and r.headers["location"] == "/login"


def test_retention_in_advanced_configurations_is_enforced_and_recorded(
    make_app: AppFactory, fed_sensor: Sensor, store: SensorStore, plant_capture: Path
) -> None:
    app = make_app(fed_sensor)
    assert fed_sensor.retention == store.retention  # the saved limits apply from the start
    assert len(fed_sensor.alerts.alerts) > 2
    newest = sorted(fed_sensor.alerts.alerts.values(), key=lambda a: (a.last_seen, a.id))[-2:]
    with client_for(app) as c:
        page = c.get("/system/advanced").text
        assert "alert_pcaps_max_mb" in page and "days of event timeline kept" in page
        bad = c.post(
            "/system/advanced", data={"csrf": csrf(c), "category": "retention", "values": "alerts_max=0"}
        )
        assert bad.status_code == 400 and "whole number above 0" in bad.text
        r = c.post(
            "/system/advanced",
            data={"csrf": csrf(c), "category": "retention", "values": "alerts_max=2\nlogs_max=50"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert sorted(fed_sensor.alerts.alerts) == sorted(a.id for a in newest)  # oldest first went
        assert fed_sensor.retention is not None and fed_sensor.retention.alerts.max_size == 2
        assert console_of(app).logs.limit.max_size == 50
        settings = [e for e in fed_sensor.timeline if e.type is EventType.SETTINGS]
        assert settings and settings[-1].details == {"setting": "advanced"}
        assert "Settings changed: advanced" in c.get("/timeline").text

        store.set_advanced("pcaps", {"enabled": "1"})
        store.pcap_dir.mkdir(parents=True, exist_ok=True)
        (store.pcap_dir / "plant.pcap").write_bytes(plant_capture.read_bytes())
        r = c.post("/system/pcap/play", data={"csrf": csrf(c), "name": "plant.pcap"}, follow_redirects=False)
        assert r.status_code == 303
        console_of(app).wait_for_players()
        played = [e for e in fed_sensor.timeline if e.type is EventType.PCAP]
        assert [e.details["files"] for e in played] == [["plant.pcap"]]
        assert len(fed_sensor.alerts.alerts) <= 2  # still enforced while the replay raised more

    with client_for(app, Role.SUPPORT) as c:
        c.post("/support/clear-data", data={"csrf": csrf(c), "confirm": "yes"})
        fresh = console_of(app).host.sensor
        assert fresh is not fed_sensor and [e.type for e in fresh.timeline] == [EventType.CLEAR]
        assert fresh.retention is not None and fresh.retention.alerts.max_size == 100_000  # defaults again
        assert "Data cleared" in c.get("/timeline").text


def test_settings_from_the_management_console_are_events(tmp_path: Path) -> None:
    from otwatch.inventory.vocabulary import Engine
    from otwatch.sensor.node.managed import SensorNode
    from otwatch.wire.client import NodeState

    node = SensorNode(NodeState(tmp_path / "node"), [])
    try:
        node.apply_config(
            {"learning": False, "engines": [e.value for e in Engine if e is not Engine.MALWARE]}
        )
        events = [(e.type, e.title) for e in node.sensor.timeline]
        assert (EventType.LEARNING, "Learning mode turned off: the baseline is frozen") in events
        assert (EventType.ENGINE, "Malware engine turned off") in events
        received = [e for e in node.sensor.timeline if e.type is EventType.SETTINGS]
        assert [e.details["settings"] for e in received] == [["engines", "learning"]]
    finally:
        node.stop()
