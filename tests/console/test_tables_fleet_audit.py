"""The Agents, Sites and Sensors, Audit Log, Vulnerabilities and System Notifications lists sort by their SQL columns (``?sort=``) on the API
and the page alike, refuse another column with a 422 naming the sortable ones, and export to CSV
exactly the rows their filter selects, in the same order, with no cell a spreadsheet would run."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from otwatch.console.assets.models import Asset
from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node
from otwatch.console.notifications.models import SystemNotification
from otwatch.console.vulnerabilities.models import Advisory, AssetVulnerability


def _csv(admin: TestClient, url: str) -> tuple[list[str], list[dict[str, str]]]:
    r = admin.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    header = next(csv.reader(io.StringIO(r.text)))
    return header, list(csv.DictReader(io.StringIO(r.text)))


def _seed_nodes(ctx: ConsoleContext) -> None:
    now = utcnow()
    with ctx.db.session() as db:
        for kind in ("agent", "sensor"):
            for i, (name, assets, seen) in enumerate(
                [("beta", 5, 1), ("=cmd|calc", 50, 3), ("alpha", 0, None), ("gamma", 12, 2)]
            ):
                db.add(
                    Node(
                        kind=kind, install_id=uuid.uuid4().hex, name=name, hostname=f"h{i}",
                        ip=f"10.1.0.{i + 1}", site=f"site {3 - i}", reported_assets=assets,
                        enrolled_at=now - timedelta(hours=10 - i), approved_at=now, configured_at=now,
                        # "alpha" never checked in: Waiting for Connection; the others are Connected
                        last_seen=None if seen is None else now - timedelta(seconds=seen),
                    )
                )  # fmt: skip
        db.commit()


def _names(admin: TestClient, plural: str, **params: str) -> list[str]:
    r = admin.get(f"/api/v1/{plural}", params=params)
    assert r.status_code == 200, r.text
    return [n["name"] for n in r.json()["items"]]


def test_agents_sort_and_export(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed_nodes(ctx)
    assert _names(admin, "agents") == ["beta", "=cmd|calc", "alpha", "gamma"]  # enrolment order
    assert _names(admin, "agents", sort="name") == ["=cmd|calc", "alpha", "beta", "gamma"]
    assert _names(admin, "agents", sort="-reported_assets") == ["=cmd|calc", "gamma", "beta", "alpha"]
    assert _names(admin, "agents", sort="-last_seen") == [
        "beta",
        "gamma",
        "=cmd|calc",
        "alpha",
    ]  # never: last
    assert _names(admin, "agents", sort="-ip", limit="2") == ["gamma", "alpha"]
    r = admin.get("/api/v1/agents", params={"sort": "credentials"})
    assert r.status_code == 422 and "sortable: ip, name" in r.text
    assert _names(admin, "agents", status="Connected", sort="name") == ["=cmd|calc", "beta", "gamma"]

    header, rows = _csv(admin, "/api/v1/agents/export?status=Connected&sort=-reported_assets")
    assert header[:3] == ["IP", "Host", "Status"] and "Agent Name" in header
    assert [r["Agent Name"] for r in rows] == ["'=cmd|calc", "gamma", "beta"]  # never a formula
    assert [r["Reported Assets"] for r in rows] == ["50", "12", "5"]
    assert len(_csv(admin, "/api/v1/agents/export")[1]) == 4  # agents only, not the sensors
    assert admin.get("/api/v1/agents/export?sort=bogus").status_code == 422

    page = admin.get("/agents?sort=-name").text
    assert 'aria-sort="descending" data-sort="name"' in page
    assert 'href="/agents?sort=name"' in page  # the next click: ascending
    assert 'href="/api/v1/agents/export?sort=-name"' in page
    assert 'data-sort="-name"' in page  # the poll asks for the same order
    assert page.index("gamma") < page.index("beta") < page.index("alpha")
    assert 'href="/agents?status=Connected&amp;sort=ip"' in admin.get("/agents?status=Connected").text
    assert admin.get("/agents?sort=bogus").status_code == 200  # an odd ?sort= is ignored by the page


def test_sensors_sort_and_export(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed_nodes(ctx)
    assert _names(admin, "sensors", sort="site") == ["gamma", "alpha", "=cmd|calc", "beta"]
    assert _names(admin, "sensors", sort="-site") == ["beta", "=cmd|calc", "alpha", "gamma"]
    assert _names(admin, "sensors", sort="status")[-1] == "alpha"  # Connected < Waiting for Connection
    assert _names(admin, "sensors", sort="-status")[0] == "alpha"
    header, rows = _csv(admin, "/api/v1/sensors/export?sort=site")
    assert header[0] == "Sensor" and [r["Site"] for r in rows] == ["site 0", "site 1", "site 2", "site 3"]
    assert rows[2]["Sensor"] == "'=cmd|calc"

    page = admin.get("/sensors?sort=site").text
    assert 'aria-sort="ascending" data-sort="site"' in page
    assert 'href="/api/v1/sensors/export?sort=site"' in page
    assert page.index(">gamma<") < page.index(">beta<")


def test_audit_log_sorts_and_exports(admin: TestClient, ctx: ConsoleContext) -> None:
    with ctx.db.session() as db:
        audit.record(db, "zoe", "agent.pause", "n1")
        audit.record(db, "@evil", "agent.delete", "-n2", why="=1+1")
        audit.record(db, "bob", "user.create", "carol")
        db.commit()

    def actors(**params: str) -> list[str]:
        r = admin.get("/api/v1/audit", params=params)
        assert r.status_code == 200, r.text
        return [e["actor"] for e in r.json()["items"]]

    seeded = {"zoe", "@evil", "bob"}
    assert [a for a in actors() if a in seeded] == ["bob", "@evil", "zoe"]  # newest first
    assert actors(action="agent.", sort="actor") == ["@evil", "zoe"]
    assert actors(action="agent.", sort="-actor") == ["zoe", "@evil"]
    assert actors(action="agent.", sort="-target") == ["zoe", "@evil"]
    r = admin.get("/api/v1/audit", params={"sort": "detail"})
    assert r.status_code == 422 and "sortable: at, actor, action, target" in r.text

    header, rows = _csv(admin, "/api/v1/audit/export?action=agent.&sort=actor")
    assert header == ["Time (UTC)", "Actor", "Action", "Target", "Detail", "ID"]
    assert [(r["Actor"], r["Target"]) for r in rows] == [("'@evil", "'-n2"), ("zoe", "n1")]
    assert rows[0]["Detail"] == '{"why": "=1+1"}'  # starts with {: no formula
    assert len(_csv(admin, "/api/v1/audit/export?actor=bob")[1]) == 1

    page = admin.get("/settings/audit?action=agent.&sort=actor").text
    assert 'aria-sort="ascending" data-sort="actor"' in page
    assert 'href="/settings/audit?action=agent.&amp;sort=-actor"' in page
    assert 'href="/api/v1/audit/export?action=agent.&amp;sort=actor"' in page
    assert '<input type="hidden" name="sort" value="actor">' in page  # the filter form keeps the order


def test_fleet_and_audit_exports_need_their_roles(client: TestClient) -> None:
    for url in ("/api/v1/agents/export", "/api/v1/sensors/export", "/api/v1/audit/export", "/api/v1/audit"):
        assert client.get(url).status_code == 401


def _seed_advisories(ctx: ConsoleContext) -> None:
    """Three advisories: A (CVSS 9.8, 1 affected, 1 possibly), B (5.0, 3 affected), C (no CVSS, 2
    possibly, a title a spreadsheet would run)."""
    now = utcnow()
    with ctx.db.session() as db:
        assets = [
            Asset(ip=f"10.2.0.{i}", ip_num=0x0A020000 + i, first_seen=now, last_seen=now) for i in range(1, 5)
        ]
        db.add_all(assets)
        db.add_all(
            [
                Advisory(id="ICSA-A", title="alpha flaw", cvss=9.8, current_release_date="2024-03-01"),
                Advisory(id="ICSA-B", title="beta flaw", cvss=5.0, current_release_date="2022-01-01"),
                Advisory(id="ICSA-C", title="@SUM(1)", cvss=None, current_release_date="2023-06-01"),
            ]
        )
        db.flush()
        for adv, exposure, idx in [
            ("ICSA-A", "affected", 0), ("ICSA-A", "possibly_affected", 1),
            ("ICSA-B", "affected", 0), ("ICSA-B", "affected", 1), ("ICSA-B", "affected", 2),
            ("ICSA-C", "possibly_affected", 2), ("ICSA-C", "possibly_affected", 3),
        ]:  # fmt: skip
            db.add(AssetVulnerability(asset_id=assets[idx].id, advisory_id=adv, exposure=exposure))
        db.commit()


def test_vulnerabilities_sort_and_export(admin: TestClient, ctx: ConsoleContext) -> None:
    _seed_advisories(ctx)

    def ids(**params: str) -> list[str]:
        r = admin.get("/api/v1/vulnerabilities", params=params)
        assert r.status_code == 200, r.text
        return [a["id"] for a in r.json()["items"]]

    assert ids() == ["ICSA-B", "ICSA-A", "ICSA-C"]  # most affected assets first
    assert ids(sort="cvss") == ["ICSA-B", "ICSA-A", "ICSA-C"]  # no CVSS: last either way
    assert ids(sort="-cvss") == ["ICSA-A", "ICSA-B", "ICSA-C"]
    assert ids(sort="-possibly_affected") == ["ICSA-C", "ICSA-A", "ICSA-B"]
    assert ids(sort="released") == ["ICSA-B", "ICSA-C", "ICSA-A"]
    assert ids(sort="-title") == ["ICSA-B", "ICSA-A", "ICSA-C"]
    assert ids(sort="affected", exposure="affected") == ["ICSA-A", "ICSA-B"]
    r = admin.get("/api/v1/vulnerabilities", params={"sort": "cves"})
    assert r.status_code == 422 and "sortable: id, title, cvss" in r.text

    header, rows = _csv(admin, "/api/v1/vulnerabilities/export?sort=-possibly_affected")
    assert header[:3] == ["Advisory", "Title", "CVSS"]
    assert [(r["Advisory"], r["Affected assets"], r["Possibly affected"]) for r in rows] == [
        ("ICSA-C", "0", "2"),
        ("ICSA-A", "1", "1"),
        ("ICSA-B", "3", "0"),
    ]
    assert rows[0]["Title"] == "'@SUM(1)" and rows[1]["CVSS"] == "9.8"
    assert [r["Advisory"] for r in _csv(admin, "/api/v1/vulnerabilities/export?min_cvss=9")[1]] == ["ICSA-A"]

    page = admin.get("/vulnerabilities?severity=Critical&sort=-cvss").text
    assert 'aria-sort="descending" data-sort="cvss"' in page
    assert 'href="/api/v1/vulnerabilities/export?min_cvss=9.0&amp;sort=-cvss"' in page
    assert 'href="/vulnerabilities?severity=Critical&amp;sort=cvss"' in page
    assert admin.get("/vulnerabilities?sort=bogus").status_code == 200
    assert admin.get("/api/v1/vulnerabilities/export").status_code == 200


def test_system_notifications_sort_and_export(admin: TestClient, ctx: ConsoleContext) -> None:
    now = utcnow()
    with ctx.db.session() as db:
        for i, (severity, name, title) in enumerate(
            [("Warning", "plant-b", "Sensor disconnected"), ("Critical", "plant-a", "+SPAN failure"),
             ("Minor", "plant-c", "Sensor reconnected")]
        ):  # fmt: skip
            db.add(
                SystemNotification(
                    kind="sensor_disconnected" if i != 2 else "sensor_reconnected", node_name=name,
                    severity=severity, title=title, message="m", created_at=now - timedelta(minutes=i),
                )
            )  # fmt: skip
        db.commit()

    def names(**params: str) -> list[str]:
        r = admin.get("/api/v1/notifications", params=params)
        assert r.status_code == 200, r.text
        return [n["node_name"] for n in r.json()["items"]]

    assert names() == ["plant-b", "plant-a", "plant-c"]  # newest first
    assert names(sort="severity") == ["plant-a", "plant-c", "plant-b"]  # by rank: Critical, Minor, Warning
    assert names(sort="-sensor") == ["plant-c", "plant-b", "plant-a"]
    assert names(sort="created_at", kind="sensor_disconnected") == ["plant-a", "plant-b"]
    r = admin.get("/api/v1/notifications", params={"sort": "message"})
    assert r.status_code == 422 and "sortable: created_at, severity" in r.text

    header, rows = _csv(admin, "/api/v1/notifications/export?kind=sensor_disconnected&sort=severity")
    assert header[:4] == ["Time (UTC)", "Severity", "Type", "Notification"]
    assert [(r["Sensor"], r["Notification"]) for r in rows] == [
        ("plant-a", "'+SPAN failure"),
        ("plant-b", "Sensor disconnected"),
    ]
    page = admin.get("/settings/notifications?kind=sensor_disconnected&sort=-severity").text
    assert 'aria-sort="descending" data-sort="severity"' in page
    assert 'href="/api/v1/notifications/export?kind=sensor_disconnected&amp;sort=-severity"' in page
    assert admin.get("/settings/notifications?sort=bogus").status_code == 200
