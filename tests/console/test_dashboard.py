"""The dashboard (home page): its counts, each count's link opening the rows it counted, and the slot
left for the most vulnerable assets. Both databases (the per-day counts use SQL ``date()``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node


def _seed(ctx: ConsoleContext) -> str:
    now = utcnow()
    with ctx.db.session() as db:
        sensor = Node(kind="sensor", install_id=uuid.uuid4().hex, name="s1", approved_at=now, last_seen=now)
        gone = Node(
            kind="sensor",
            install_id=uuid.uuid4().hex,
            name="s2",
            approved_at=now,
            last_seen=now - timedelta(hours=2),
        )
        agent = Node(kind="agent", install_id=uuid.uuid4().hex, name="a1")  # Pending Approval
        db.add_all([sensor, gone, agent])
        db.flush()
        for i, (t, vendor, age) in enumerate(
            [
                ("PLC", "Siemens", 1),
                ("PLC", "Siemens", 30),
                ("HMI", "Schneider Electric", 2),
                (None, None, 40),
            ]
        ):
            db.add(
                Asset(
                    ip=f"10.0.0.{i + 1}",
                    ip_num=0x0A000001 + i,
                    device_type=t,
                    vendor=vendor,
                    first_seen=now - timedelta(days=age),
                    last_seen=now,
                )
            )
        for i, (severity, engine, status, age) in enumerate(
            [
                ("Critical", "Operational", "open", 0),
                ("Critical", "Anomaly", "open", 3),
                ("Major", "Anomaly", "open", 3),
                ("Minor", "Protocol Violation", "closed", 1),
                ("Warning", "Policy Violation", "open", 20),  # open, before the charts' 14 days
            ]
        ):
            db.add(
                Alert(
                    node_id=sensor.id,
                    sensor_key=f"k{i}",
                    code="C",
                    engine=engine,
                    severity=severity,
                    title=f"alert {i}",
                    status=status,
                    first_seen=now - timedelta(days=age),
                    last_seen=now,
                )
            )
        return sensor.id


def _counts(items: list[dict[str, object]]) -> dict[object, object]:
    return {c["label"]: c["count"] for c in items}


def test_dashboard_counts_and_links(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed(ctx)
    d = admin.get("/api/v1/dashboard").json()
    assert d["open_alerts"] == 4
    assert _counts(d["alerts_by_severity"]) == {"Critical": 2, "Major": 1, "Minor": 0, "Warning": 1}
    by_engine = _counts(d["alerts_by_engine"])
    assert (
        by_engine["Anomaly"] == 2 and by_engine["Operational"] == 1 and by_engine["Protocol Violation"] == 0
    )
    assert len(d["days"]) == 14 and d["days"][-1] == utcnow().date().isoformat()
    per_day = {s["label"]: s["values"] for s in d["alerts_per_day_by_severity"]}
    assert per_day["Critical"][-1] == 1 and per_day["Critical"][-4] == 1 and per_day["Major"][-4] == 1
    assert sum(per_day["Warning"]) == 0  # 20 days old: outside the chart, still counted as open
    assert sum(sum(s["values"]) for s in d["alerts_per_day_by_engine"]) == 3
    assert d["assets"] == 4
    assert _counts(d["assets_by_type"]) == {"PLC": 2, "HMI": 1, "Unknown": 1}
    assert _counts(d["assets_by_vendor"]) == {"Siemens": 2, "Schneider Electric": 1, "Unknown": 1}
    assert d["new_assets_this_week"]["count"] == 2
    assert _counts(d["sensors_by_status"]) == {"Connected": 1, "Disconnected": 1}
    assert _counts(d["agents_by_status"]) == {"Pending Approval": 1}
    assert d["most_vulnerable_assets"] is None  # the slot the vulnerabilities domain fills

    # every link opens a list whose total is the tile's number
    def total(href: str) -> int:
        path, _, query = href.partition("?")
        return int(admin.get(f"/api/v1{path.replace('/inventory', '/assets')}?{query}").json()["total"])

    for c in d["alerts_by_severity"] + d["alerts_by_engine"]:
        assert total(c["href"] + "&status=open") == c["count"], c
    for c in d["assets_by_type"] + d["assets_by_vendor"]:
        if c["href"] and c["label"] not in ("Other vendors",):
            assert total(c["href"]) == c["count"], c
    assert total(d["new_assets_this_week"]["href"]) == 2
    for c in d["sensors_by_status"] + d["agents_by_status"]:
        assert total(c["href"]) == c["count"], c


def test_dashboard_page_is_home(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed(ctx)
    r = admin.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    page = admin.get("/dashboard").text
    assert 'aria-current="page">Dashboard</a>' in page
    assert 'href="/alerts?severity=Critical"' in page
    assert 'href="/inventory?type=PLC"' in page
    assert 'href="/inventory?new=7"' in page
    assert 'href="/sensors?status=Disconnected"' in page
    assert 'href="/agents?status=Pending+Approval"' in page
    assert 'data-slot="most-vulnerable-assets"' in page
    assert page.count('class="chart chart-stacked"') == 2
    # the filtered lists the tiles open
    assert admin.get("/inventory?new=7").text.count('<tr data-id="') == 2
    sensors = admin.get("/sensors?status=Disconnected").text
    assert 'data-testid="status-filter"' in sensors and sensors.count('<tr data-id="') == 1
    assert admin.get("/agents?status=Connected").text.count('<tr data-id="') == 0
    assert admin.get("/agents?status=Pending+Approval").text.count('<tr data-id="') == 1


def test_dashboard_needs_sign_in(client: TestClient) -> None:
    assert client.get("/api/v1/dashboard").status_code == 401
    r = client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
