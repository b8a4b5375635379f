"""Lists sort by any column the API can sort (``?sort=``, ``-`` for descending, empty values last
either way, on both databases) and export to CSV exactly what their filters select, in the same
order; the Inventory and Alerts pages link both."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetProtocol, AssetSource
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node


def _seed(ctx: ConsoleContext) -> None:
    now = utcnow()
    with ctx.db.session() as db:
        sensor = Node(kind="sensor", install_id=uuid.uuid4().hex, name="s1", approved_at=now, last_seen=now)
        db.add(sensor)
        db.flush()
        for i, vendor in enumerate(["Siemens", None, "ABB", "=HYPERLINK(1)", "Rockwell"]):
            a = Asset(
                ip=f"10.0.0.{i + 1}",
                ip_num=0x0A000001 + i,
                vendor=vendor,
                device_type="PLC" if i % 2 == 0 else "HMI",
                first_seen=now - timedelta(days=i),
                last_seen=now,
            )
            a.protocols.append(AssetProtocol(protocol="modbus"))
            a.sources.append(AssetSource(node_id=sensor.id))
            db.add(a)
        for i, (severity, count, status) in enumerate(
            [("Minor", 3, "open"), ("Critical", 1, "open"), ("Warning", 7, "closed"), ("Major", 2, "open")]
        ):
            db.add(
                Alert(
                    node_id=sensor.id, sensor_key=f"k{i}", code="C", engine="Anomaly", severity=severity,
                    title=f"alert {i}", count=count, status=status, source_ip=f"10.0.0.{i + 1}",
                    first_seen=now - timedelta(minutes=i), last_seen=now - timedelta(minutes=i),
                )
            )  # fmt: skip


def _vendors(admin: TestClient, sort: str) -> list[str | None]:
    r = admin.get("/api/v1/assets", params={"sort": sort})
    assert r.status_code == 200, r.text
    return [a["vendor"] for a in r.json()["items"]]


def _csv(admin: TestClient, url: str) -> list[dict[str, str]]:
    r = admin.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(r.text)))


def test_inventory_sorts_and_exports(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed(ctx)
    assert _vendors(admin, "vendor") == ["=HYPERLINK(1)", "ABB", "Rockwell", "Siemens", None]
    assert _vendors(admin, "-vendor") == ["Siemens", "Rockwell", "ABB", "=HYPERLINK(1)", None]  # empty last
    ips = [a["ip"] for a in admin.get("/api/v1/assets", params={"sort": "-first_seen"}).json()["items"]]
    assert ips == [f"10.0.0.{i}" for i in (1, 2, 3, 4, 5)]
    r = admin.get("/api/v1/assets", params={"sort": "protocols"})
    assert r.status_code == 422 and "sortable: ip, mac" in r.text

    rows = _csv(admin, "/api/v1/assets/export?type=PLC&sort=-vendor")
    assert [row["Vendor"] for row in rows] == ["Siemens", "Rockwell", "ABB"]
    assert rows[0]["Protocols"] == "modbus (server)" and rows[0]["Discovery sources"] == "s1"
    everything = _csv(admin, "/api/v1/assets/export?sort=vendor")
    assert len(everything) == 5 and everything[0]["Vendor"] == "'=HYPERLINK(1)"  # never a formula
    assert admin.get("/api/v1/assets/export?network=nonsense").status_code == 422

    page = admin.get("/inventory?type=PLC&sort=vendor&offset=0").text
    assert 'aria-sort="ascending" data-sort="vendor"' in page
    assert 'href="/inventory?type=PLC&amp;sort=-vendor"' in page  # the next click: descending
    assert 'href="/inventory?type=PLC&amp;sort=mac"' in page
    assert 'href="/api/v1/assets/export?type=PLC&amp;sort=vendor"' in page
    assert admin.get("/inventory?sort=bogus").status_code == 200  # an odd ?sort= is ignored


def test_alerts_sort_and_export(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed(ctx)

    def titles(**params: str) -> list[str]:
        r = admin.get("/api/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        return [a["title"] for a in r.json()["items"]]

    assert titles(sort="severity") == ["alert 1", "alert 3", "alert 0", "alert 2"]  # Critical first
    assert titles(sort="-count", status="open") == ["alert 0", "alert 3", "alert 1"]
    assert titles() == ["alert 0", "alert 1", "alert 2", "alert 3"]  # newest first by default

    # the page's default view (open alerts) exports as such; "any" exports every status
    page = admin.get("/alerts?sort=-count").text
    assert 'href="/api/v1/alerts/export?status=open&amp;sort=-count"' in page
    assert 'aria-sort="descending" data-sort="count"' in page
    rows = _csv(admin, "/api/v1/alerts/export?status=open&sort=-count")
    assert [r["Title"] for r in rows] == ["alert 0", "alert 3", "alert 1"]
    assert rows[0]["Sensor"] == "s1" and rows[0]["Severity"] == "Minor"
    assert 'href="/api/v1/alerts/export"' in admin.get("/alerts?status=any").text
    assert len(_csv(admin, "/api/v1/alerts/export")) == 4


def test_export_needs_sign_in(client: TestClient) -> None:
    assert client.get("/api/v1/assets/export").status_code == 401
    assert client.get("/api/v1/alerts/export").status_code == 401
