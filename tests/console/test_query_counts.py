"""The SQL statements a page runs do not grow with the rows it shows (no N+1), on both databases.

Each page is requested with 5 and then with 50 agents, assets and alerts (still one page of each), and
must run the same number of statements, counted with a ``before_cursor_execute`` listener. The caps
catch a page that starts to run more statements even without a loop; bench/pages.py measures the
same pages at 10,000 assets and 500 agents.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetProtocol, AssetSource
from otwatch.console.audit.models import AuditEntry
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.credentials.models import Credential
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node

# page -> most statements it may run (the session's user and the page's own queries)
PAGES = {
    # + the most vulnerable assets tile (one grouped statement, and whether any advisory is imported)
    "/dashboard": 5,
    "/api/v1/dashboard": 5,
    # the Agents page: + one for Host Asset links (all rows at once), + one for the newest OTD package
    # the Update OTD Version dialog names
    # + each agent's last update (one statement for the page), + their duplicated networks (one),
    # + the assets of their own hosts (one)
    "/agents": 11,
    "/agents?limit=20&offset=20": 11,
    "/agents?sort=-status&limit=20&offset=20": 11,  # a sort is the list query's own ORDER BY
    # + the Vulnerabilities column: one grouped query for the page's assets, + the duplicated
    # networks' copies (the Site filter and column)
    "/inventory": 10,
    "/inventory?protocol=modbus&type=PLC&network=10.0.0.0/8": 10,
    "/inventory?source={sensor}": 10,
    "/inventory/{asset}": 10,  # + conversations, alerts (and their sensors, PCAPs), advisories
    "/inventory?vuln=any": 9,
    "/vulnerabilities": 9,
    "/vulnerabilities?sort=-cvss": 9,
    "/alerts": 7,
    "/alerts?status=any&severity=Critical": 7,
    "/alerts/{alert}": 4,
    "/sensors": 4,  # + the last updates of the sensors shown (the Version cell)
    "/sensors?sort=-last_seen": 4,
    "/sensors/{sensor}": 6,
    "/settings/credentials": 3,
    "/settings/audit": 3,
    "/settings/audit?sort=actor": 3,
    # + the Host Asset ids (own host, then address), the last updates and the duplicated networks of
    # the whole page
    "/api/v1/agents": 8,
    "/api/v1/agents?status=Connected": 8,
    "/api/v1/agents?status=Scanning": 8,
    "/api/v1/agents?sort=name": 8,
    "/api/v1/sensors": 5,  # + the last updates of the whole page
    "/api/v1/assets": 6,
    "/api/v1/assets?protocol=modbus": 6,
    "/api/v1/assets/{asset}": 5,
    "/api/v1/assets/{asset}/conversations": 5,
    "/api/v1/assets/{asset}/alerts": 7,
    "/api/v1/assets/{asset}/timeline": 7,
    # the Network Map: the options of its filters; its graph (every asset drawn, here without a
    # conversation, read in one statement per 500)
    "/network-map": 5,
    "/api/v1/map": 9,  # + 2 counting the ghosts out, when there are ghosts; + 2 the open alerts
    "/api/v1/map?isolated=true&group=purdue": 10,
    "/api/v1/assets/{asset}/neighbourhood?hops=2": 9,
    "/api/v1/alerts": 5,
    "/api/v1/alerts/{alert}": 4,
}


class Seed:
    """Adds rows of every kind a page lists; ``grow(n)`` brings each kind up to ``n`` rows."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx
        now = utcnow()
        with ctx.db.session() as db:
            cred = Credential(name="snmp", kind="snmp_v2c", secret=ctx.vault.seal({"community": "c"}))
            sensor = Node(
                kind="sensor",
                install_id=uuid.uuid4().hex,
                name="sensor-1",
                approved_at=now,
                configured_at=now,
                last_seen=now,
                stats={"summary": {"packets": 1, "bytes": 1}},
            )
            db.add_all([cred, sensor])
            db.flush()
            self.cred_id, self.sensor_id = cred.id, sensor.id
        self.agents = self.assets = self.alerts = 0
        self.first_asset = self.first_alert = ""

    def grow(self, n: int) -> None:
        now = utcnow()
        with self.ctx.db.session() as db:
            for i in range(self.agents, n):
                scanning = i % 2 == 0
                db.add(
                    Node(
                        kind="agent",
                        install_id=uuid.uuid4().hex,
                        name=f"agent-{i}",
                        ip=f"10.9.0.{i + 1}",
                        approved_at=now,
                        configured_at=now,
                        last_seen=now,
                        activity="scanning" if scanning else None,
                        config={"credential_ids": [self.cred_id], "active_query_networks": ["10.0.0.0/24"]},
                    )
                )
            for i in range(self.assets, n):
                a = Asset(
                    ip=f"10.0.{i // 250}.{i % 250 + 1}",
                    ip_num=0x0A000000 + i + 1,
                    mac=f"00:00:00:00:{i // 256:02x}:{i % 256:02x}",
                    vendor="Siemens",
                    device_type="PLC",
                    modules=[{"slot": 1}],
                )
                a.protocols.append(AssetProtocol(protocol="modbus"))
                a.protocols.append(AssetProtocol(protocol="s7comm", role="client"))
                a.sources.append(AssetSource(node_id=self.sensor_id))
                db.add(a)
                db.flush()
                self.first_asset = self.first_asset or a.id
            for i in range(self.alerts, n):
                al = Alert(
                    node_id=self.sensor_id,
                    sensor_key=f"k{i}",
                    code="C",
                    engine="Anomaly",
                    severity="Critical",
                    title=f"alert {i}",
                    protocol="modbus",
                    first_seen=now - timedelta(minutes=i),
                    last_seen=now - timedelta(minutes=i),
                    pcap=b"pcap" if i % 3 == 0 else None,
                )
                db.add(al)
                db.flush()
                self.first_alert = self.first_alert or al.id
                db.add(AuditEntry(actor="admin", action="node.approved", detail={"i": i}))
        self.agents = self.assets = self.alerts = n

    def url(self, page: str) -> str:
        return page.format(sensor=self.sensor_id, asset=self.first_asset, alert=self.first_alert)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No background workers: the engine-wide listener would count the delivery worker's poll (every
    2 s) into whichever page happened to be loading, a flaky off-by-one."""
    return settings.model_copy(update={"background_workers": False})


@contextmanager
def counting(ctx: ConsoleContext) -> Iterator[list[str]]:
    statements: list[str] = []

    def on(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", on)
    try:
        yield statements
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", on)


def _statements(ctx: ConsoleContext, client: TestClient, url: str) -> list[str]:
    with counting(ctx) as statements:
        r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return statements


@pytest.fixture
def seed(ctx: ConsoleContext) -> Seed:
    return Seed(ctx)


def test_statement_counts_do_not_grow_with_rows(admin: TestClient, ctx: ConsoleContext, seed: Seed) -> None:
    seed.grow(5)
    small = {page: _statements(ctx, admin, seed.url(page)) for page in PAGES}
    seed.grow(50)
    large = {page: _statements(ctx, admin, seed.url(page)) for page in PAGES}
    grew = {p: (len(small[p]), len(large[p])) for p in PAGES if len(small[p]) != len(large[p])}
    assert grew == {}, f"statements grew with the rows (5 -> 50): {grew}"
    over = {p: (len(large[p]), cap) for p, cap in PAGES.items() if len(large[p]) > cap}
    assert over == {}, f"more statements than allowed: {over}\n" + "\n".join(
        s for p in over for s in large[p]
    )


def test_status_filter_is_one_query_with_the_right_rows(
    admin: TestClient, ctx: ConsoleContext, seed: Seed
) -> None:
    """``?status=`` is filtered and counted in SQL: the page of 2 out of 25 Scanning agents is exact."""
    seed.grow(50)  # every second agent is Scanning
    r = admin.get("/api/v1/agents", params={"status": "Scanning", "limit": 2, "offset": 24})
    body = r.json()
    assert body["total"] == 25
    assert [a["status"] for a in body["items"]] == ["Scanning"]
    r = admin.get("/api/v1/agents", params={"status": "Connected", "limit": 100})
    assert r.json()["total"] == 25
    assert {a["status"] for a in r.json()["items"]} == {"Connected"}


def _scan(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {"ip": f"10.7.{(offset + i) // 250}.{(offset + i) % 250 + 1}", "mac": f"02:00:00:07:{(offset + i) // 250:02x}:{(offset + i) % 250:02x}",
         "vendor": "Acme", "protocols": ["modbus"]}
        for i in range(n)
    ]  # fmt: skip


def _ingest_selects(ctx: ConsoleContext, reports: list[dict[str, Any]]) -> int:
    from otwatch.console.assets.service import ingest, parse_reports

    with ctx.db.session() as db:
        node = Node(kind="agent", install_id=uuid.uuid4().hex, name="scanner")
        db.add(node)
        db.flush()
        node_id = node.id
    with counting(ctx) as statements, ctx.db.session() as db:
        assert ingest(db, node_id, parse_reports(reports)) == len(reports)
        db.flush()
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))


@pytest.mark.postgres
def test_scan_ingest_reads_do_not_grow_with_assets(ctx: ConsoleContext) -> None:
    """A scan result's assets are matched with a few queries, not two per asset (bench/fleet.py)."""
    small, large = _ingest_selects(ctx, _scan(5)), _ingest_selects(ctx, _scan(100, offset=5))
    assert small == large <= 3  # new assets: the MAC and IP look-ups
    again = _ingest_selects(ctx, _scan(100, offset=5))  # all known now: plus their protocols, sources
    assert again <= 5
    with ctx.db.session() as db:
        assert db.query(Asset).count() == 105  # the repeat matched every asset by its MAC
        assert db.query(AssetSource).count() == 205
