"""Page benchmark: server time and SQL statements of every console page at inventory scale.

    .venv/bin/python -m bench.pages                       # SQLite, 10,000 assets, 500 agents, 20 sensors
    .venv/bin/python -m bench.pages --db postgresql       # a throw-away PostgreSQL (tests/pg.py)
    .venv/bin/python -m bench.pages --assets 1000 -n 5    # quicker
    .venv/bin/python -m bench.pages --json out.json

A console data directory is created in a temporary directory and its database filled directly
through the models (no wire traffic): assets with protocols, discovery sources, modules, a mix of
types, vendors and subnets; agents in every status (Connected, Pending Approval, Pending
Configuration, Disconnected, Scanning, Paused, Preparing Connection, Updating); sensors with traffic
statistics; alerts in every status, some with a PCAP; audit entries; credentials, networks, users and
API keys. Then, signed in as admin with FastAPI's ``TestClient`` (in process: the time is the
server's, plus a fraction of a millisecond of client overhead), every HTML page and the main JSON
list endpoints are requested ``-n`` times each (after one warm-up request). The table shows
p50 / p95 / max per page, PASS/FAIL against ``--budget`` (300 ms, from the issue: "no page takes
longer than 300 ms server time with 10,000 assets and 500 agents"), and the number of SQL
statements one request runs (a ``before_cursor_execute`` listener on the engine).

The exit status is 1 when a page fails its budget, so the benchmark can gate a release.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script (bench/pages.py) as well as python -m bench.pages
    sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from otwatch.console.alerts.models import Alert  # noqa: E402
from otwatch.console.app import create_app  # noqa: E402
from otwatch.console.assets.models import Asset, AssetConnection, AssetProtocol, AssetSource  # noqa: E402
from otwatch.console.audit.models import AuditEntry  # noqa: E402
from otwatch.console.auth.models import Role, User  # noqa: E402
from otwatch.console.auth.service import create_api_key, hash_password  # noqa: E402
from otwatch.console.bootstrap import prepare  # noqa: E402
from otwatch.console.config import Settings  # noqa: E402
from otwatch.console.context import ConsoleContext  # noqa: E402
from otwatch.console.credentials.models import Credential  # noqa: E402
from otwatch.console.db import utcnow  # noqa: E402
from otwatch.console.fleet.models import Node  # noqa: E402
from otwatch.console.fleet.schemas import ENGINES, SENSOR_DEFAULTS  # noqa: E402
from otwatch.console.networks.models import MonitoredNetwork  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password-1"
CONVERSATION_PROTOCOLS = [("modbus", 502)] * 5 + [("s7comm", 102), ("enip", 44818), ("dnp3", 20000)]
BUDGET_MS = 300.0

TYPES = {  # device type: (weight, vendors, models, protocols it serves)
    "PLC": (30, ["Siemens", "Rockwell Automation", "Schneider Electric", "Mitsubishi Electric", "ABB"],
            ["S7-1500", "S7-1200", "ControlLogix 5580", "Modicon M340", "MELSEC iQ-R", "AC500"],
            ["s7comm", "enip", "modbus", "profinet"]),
    "HMI": (12, ["Siemens", "Rockwell Automation", "Schneider Electric", "Beijer"],
            ["TP1200 Comfort", "PanelView Plus 7", "Magelis GTU", "X2 pro 10"], ["http", "vnc", "modbus"]),
    "RTU": (8, ["ABB", "Schneider Electric", "GE", "Emerson"],
            ["RTU560", "SCADAPack 470", "D20MX", "ROC800"], ["dnp3", "iec104", "modbus"]),
    "IED": (8, ["ABB", "Siemens", "SEL", "GE"], ["REF615", "SIPROTEC 5", "SEL-751", "Multilin 850"],
            ["iec61850", "dnp3", "modbus"]),
    "Switch": (10, ["Cisco", "Hirschmann", "Moxa", "Phoenix Contact"],
               ["IE-3400", "RSP35", "EDS-510E", "FL SWITCH 2000"], ["snmp", "http", "lldp"]),
    "Drive": (8, ["ABB", "Siemens", "Danfoss", "Rockwell Automation"],
              ["ACS880", "SINAMICS G120", "VLT FC 302", "PowerFlex 755"], ["enip", "profinet", "modbus"]),
    "Engineering Workstation": (5, ["Dell", "HP", "Siemens"], ["Precision 3660", "Z2 G9", "Field PG M6"],
                                ["rdp", "smb"]),
    "Historian": (3, ["AVEVA", "Honeywell", "OSIsoft"], ["PI Server", "PHD", "Historian 2023"],
                  ["opcua", "http", "sql"]),
    "Gateway": (6, ["Moxa", "HMS", "Red Lion"], ["MGate 5105", "Anybus X-gateway", "DA50N"],
                ["modbus", "enip", "bacnet"]),
    "Workstation": (10, ["Dell", "HP", "Lenovo"], ["OptiPlex 7010", "EliteDesk 800", "ThinkCentre M90"],
                    ["smb", "rdp", "http"]),
}  # fmt: skip
CLIENT_PROTOCOLS = ["modbus", "s7comm", "enip", "opcua", "dnp3"]
SITES, CELLS = 20, 10  # 10.<site>.<cell>.<host>: 20 sites, 10 cells each, hosts to fill the rest

# agents by status (share of --agents); how each one is set up is in _agent()
AGENT_MIX = {
    "Connected": 0.55,
    "Pending Approval": 0.08,
    "Pending Configuration": 0.05,
    "Disconnected": 0.12,
    "Scanning": 0.10,
    "Paused": 0.04,
    "Preparing Connection": 0.03,
    "Updating": 0.03,
}
SEVERITIES = ("Critical", "Major", "Minor", "Warning")
ALERT_CODES = [
    ("MODBUS-WRITE", "Unauthorized Modbus write", "modbus"),
    ("S7-STOP", "S7 CPU stop command", "s7comm"),
    ("ENIP-CFG", "CIP configuration change", "enip"),
    ("DNP3-COLD", "DNP3 cold restart", "dnp3"),
    ("NEW-ASSET", "New asset on the network", None),
    ("SCAN", "Port scan detected", None),
    ("MALWARE-SIG", "Known malware signature", "smb"),
    ("FW-DL", "PLC firmware download", "s7comm"),
]


# ---------------------------------------------------------------- data


def _ip(i: int) -> str:
    per_site = 10_000 // SITES
    site, rest = divmod(i, per_site)
    cell, host = divmod(rest, per_site // CELLS)
    return f"10.{site % 250 + 1}.{cell}.{host + 10}"


def _mac(rng: random.Random) -> str:
    return ":".join(f"{rng.randrange(256):02x}" for _ in range(6))


def _stats(rng: random.Random, now: datetime) -> dict[str, Any]:
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    per_hour = []
    for h in range(24):
        mbps = round(rng.uniform(0.5, 40), 2)
        per_hour.append(
            {
                "hour": (hour0 - timedelta(hours=23 - h)).isoformat(),
                "mbps": mbps,
                "bytes": int(mbps * 450_000_000),
                "packets": int(mbps * 300_000),
            }
        )
    protos = ["modbus", "s7comm", "enip", "dnp3", "opcua", "bacnet", "iec104"]
    return {
        "traffic_per_hour": per_hour,
        "top_ot_protocols": [{"protocol": p, "devices": rng.randrange(1, 400)} for p in protos],
        "traffic_by_port": [
            {"port": port, "bytes": rng.randrange(10**6, 10**10)}
            for port in ("tcp/502", "tcp/102", "tcp/44818", "udp/47808", "tcp/20000", "tcp/443", "udp/161")
        ],
        "top_open_alerts": [],
        "summary": {"packets": rng.randrange(10**8), "bytes": rng.randrange(10**11), "assets": 500},
    }


def _agent(i: int, status: str, now: datetime, cred_ids: list[str], rng: random.Random) -> Node:
    site = i % SITES + 1
    n = Node(
        id=uuid.uuid4().hex,
        kind="agent",
        install_id=uuid.uuid4().hex,
        name=f"agent-{site:02d}-{i:03d}",
        hostname=f"gw-{site:02d}-{i:03d}.plant.example",
        ip=f"10.{site}.250.{i % 250 + 1}",
        host_os="Ubuntu 22.04.4 LTS",
        version="0.9.0",
        engine_version=rng.choice(["1.4.2", "1.5.0"]),
        enrolled_via="pairing key bench",
        enrolled_at=now - timedelta(days=30, seconds=i),
    )
    if status == "Pending Approval":
        return n
    n.approved_at = n.enrolled_at + timedelta(minutes=5)
    if status == "Pending Configuration":
        n.first_seen = n.last_seen = now - timedelta(seconds=rng.randrange(1, 20))
        return n
    n.configured_at = n.approved_at + timedelta(minutes=1)
    unit = rng.choice(["hours", "days"])
    n.config = {
        "name": n.name,
        "active_query_networks": [f"10.{site}.{c}.0/24" for c in range(rng.randrange(1, 4))],
        "credential_ids": rng.sample(cred_ids, rng.randrange(0, 3)),
        "schedule": {"enabled": rng.random() < 0.7, "every": rng.choice([1, 6, 12]), "unit": unit},
    }
    n.config_version = n.config_acked = rng.randrange(1, 6)
    n.first_seen = n.configured_at + timedelta(minutes=1)
    n.last_seen = now - timedelta(seconds=rng.randrange(1, 20))
    n.last_scan_at = now - timedelta(hours=rng.randrange(1, 48))
    n.last_scan_duration = rng.uniform(20, 900)
    n.last_scan_result = "Completed" if rng.random() < 0.9 else "Failed"
    n.reported_assets = rng.randrange(0, 400)
    match status:
        case "Disconnected":
            n.last_seen = now - timedelta(days=rng.randrange(1, 10))
            n.disconnect_reason = "Not communicating — check network connectivity or certificate validation"
        case "Scanning":
            n.activity, n.progress = "scanning", {"done": rng.randrange(0, 200), "total": 254}
        case "Updating":
            n.activity = "updating"
        case "Paused":
            n.paused = True
        case "Preparing Connection":
            n.config_acked = n.config_version - 1
    return n


def fill(
    ctx: ConsoleContext, n_assets: int, n_agents: int, n_sensors: int, n_alerts: int, n_audit: int, seed: int
) -> dict[str, str]:
    """Fill the database; return ids the page list needs (an asset, an agent, a sensor, an alert)."""
    rng = random.Random(seed)
    now = utcnow()
    with ctx.db.session() as db:
        admin = db.query(User).filter_by(username="admin").one()
        db.add_all(MonitoredNetwork(cidr=f"10.{s}.0.0/16", description=f"site {s}") for s in range(1, 21))
        creds = [
            Credential(
                id=uuid.uuid4().hex,
                name=f"snmp-{k}-{i}",
                kind=k,
                description="bench",
                secret=ctx.vault.seal({"community": f"c{i}"}),
            )
            for i, k in enumerate(["snmp_v1", "snmp_v2c", "snmp_v2c", "snmp_v3", "snmp_v3", "snmp_v2c"])
        ]
        db.add_all(creds)
        pw = hash_password("bench-user-password-1")
        users = [
            User(username=f"{r.value.lower().replace(' ', '-')}-{i}", password_hash=pw, role=r.value)
            for i, r in enumerate([Role.ADMIN, Role.SECURITY_ANALYST, Role.SECURITY_ANALYST, Role.READ_ONLY])
        ]
        db.add_all(users)
        db.flush()
        for u in [admin, *users]:
            create_api_key(db, u, f"{u.username} automation")

        agents: list[Node] = []
        statuses = list(AGENT_MIX)
        weights = list(AGENT_MIX.values())
        for i in range(n_agents):
            st = statuses[i] if i < len(statuses) else rng.choices(statuses, weights)[0]
            agents.append(_agent(i, st, now, [c.id for c in creds], rng))
        sensors = []
        for i in range(n_sensors):
            s = Node(
                id=uuid.uuid4().hex,
                kind="sensor",
                install_id=uuid.uuid4().hex,
                name=f"sensor-site-{i + 1:02d}",
                site=f"site-{i % SITES + 1:02d}",  # the Network Map's site filter
                hostname=f"sensor-{i + 1:02d}.plant.example",
                ip=f"10.{i % SITES + 1}.251.1",
                host_os="OTWatch Sensor OS",
                version="0.9.0",
                engine_version="1.5.0",
                enrolled_at=now - timedelta(days=60, seconds=i),
                approved_at=now - timedelta(days=60),
                configured_at=now - timedelta(days=59),
                config={**SENSOR_DEFAULTS, "learning": i % 3 == 0, "engines": list(ENGINES[: 2 + i % 4])},
                config_version=2,
                config_acked=2,
                first_seen=now - timedelta(days=59),
                last_seen=now - timedelta(seconds=rng.randrange(1, 20))
                if i % 10
                else now - timedelta(days=2),
                reported_assets=rng.randrange(100, 2000),
                stats=_stats(rng, now),
            )
            sensors.append(s)
        db.add_all([*agents, *sensors])
        db.flush()

        # inventory: assets by subnet, each found by its site's agents and/or the site's sensor
        live_agents = [a for a in agents if a.approved_at is not None and a.configured_at is not None]
        by_site: dict[int, list[Node]] = {}
        for ag in live_agents:
            by_site.setdefault(int(ag.ip.split(".")[1]), []).append(ag)
        type_names = list(TYPES)
        type_weights = [TYPES[t][0] for t in type_names]
        asset_rows: list[Asset] = []
        children: list[AssetProtocol | AssetSource] = []
        for i in range(n_assets):
            t = rng.choices(type_names, type_weights)[0]
            _, vendors, models, protos = TYPES[t]
            ip = _ip(i) if rng.random() > 0.02 else None  # a few layer-2-only assets (MAC, no IP)
            site = int(ip.split(".")[1]) if ip else rng.randrange(1, SITES + 1)
            seen = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 14))
            a = Asset(
                id=uuid.uuid4().hex,
                ip=ip,
                ip_num=int(ipaddress.ip_address(ip)) if ip else None,
                mac=_mac(rng),
                name=f"{t.lower().replace(' ', '-')}-{i:05d}" if rng.random() < 0.8 else None,
                vendor=rng.choice(vendors),
                model=rng.choice(models),
                firmware=f"V{rng.randrange(1, 5)}.{rng.randrange(0, 10)}.{rng.randrange(0, 20)}",
                serial=f"SN{rng.randrange(10**9):09d}" if rng.random() < 0.6 else None,
                device_type=t,
                state=rng.choice(["Run", "Run", "Run", "Stop", None]),
                os=None,
                open_ports=sorted(rng.sample([80, 102, 161, 443, 502, 2222, 4840, 20000, 44818], 3)),
                modules=(
                    [
                        {"slot": s, "name": f"Module {s}", "order": f"6ES7 5{s}1-1AA00", "firmware": "V2.1"}
                        for s in range(rng.randrange(1, 6))
                    ]
                    if t == "PLC"
                    else []
                ),
                extra={},
                first_seen=seen - timedelta(days=rng.randrange(1, 90)),
                last_seen=seen,
            )
            asset_rows.append(a)
            for p in rng.sample(protos, rng.randrange(1, min(3, len(protos)) + 1)):
                children.append(AssetProtocol(id=uuid.uuid4().hex, asset_id=a.id, protocol=p, role="server"))
            if t in ("Engineering Workstation", "Historian", "HMI"):
                p = rng.choice(CLIENT_PROTOCOLS)
                children.append(AssetProtocol(id=uuid.uuid4().hex, asset_id=a.id, protocol=p, role="client"))
            finders: list[Node] = []
            if by_site.get(site) and rng.random() < 0.85:
                finders.append(rng.choice(by_site[site]))
            if sensors and (not finders or rng.random() < 0.4):
                finders.append(sensors[(site - 1) % len(sensors)])
            for f in finders:
                children.append(
                    AssetSource(
                        id=uuid.uuid4().hex,
                        asset_id=a.id,
                        node_id=f.id,
                        first_seen=a.first_seen,
                        last_seen=seen,
                    )
                )
        db.add_all(asset_rows)
        db.flush()
        db.add_all(children)
        db.flush()

        # conversations a sensor saw: each asset with an IP polls a few others, ghosts a few percent;
        # mostly Modbus, some S7, EtherNet/IP and DNP3 (the Network Map's protocol filter)
        conns: list[AssetConnection] = []
        with_ip = [a for a in asset_rows if a.ip]
        for i, a in enumerate(with_ip):
            if rng.random() < 0.02:
                a.ghost = True
            for peer in rng.sample(with_ip, 3):
                if peer is a:
                    continue
                conns.append(
                    AssetConnection(
                        id=uuid.uuid4().hex,
                        node_id=sensors[i % len(sensors)].id,
                        client_id=a.id,
                        server_id=peer.id,
                        protocol=(proto := rng.choice(CONVERSATION_PROTOCOLS))[0],
                        transport="tcp",
                        port=proto[1],
                        first_seen=a.first_seen,
                        last_seen=a.last_seen,
                        packets=rng.randrange(10, 10**6),
                        bytes=rng.randrange(10**3, 10**8),
                        messages=rng.randrange(10, 10**5),
                        functions={"READ_HOLDING_REGISTERS": rng.randrange(1, 10**5)},
                    )
                )
        db.add_all(conns)
        db.flush()

        alert_rows = []
        for i in range(n_alerts):
            code, title, proto = rng.choice(ALERT_CODES)
            sensor = sensors[i % len(sensors)]
            first = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
            status = rng.choices(["open", "acknowledged", "closed"], [60, 25, 15])[0]
            alert_rows.append(
                Alert(
                    id=uuid.uuid4().hex,
                    node_id=sensor.id,
                    sensor_key=f"k{i}",
                    code=code,
                    engine=rng.choice(ENGINES),
                    severity=rng.choices(SEVERITIES, [5, 20, 40, 35])[0],
                    title=title,
                    description=f"{title} observed between two assets of site {i % SITES + 1}.",
                    protocol=proto,
                    source_ip=_ip(rng.randrange(n_assets)),
                    source_mac=_mac(rng),
                    destination_ip=_ip(rng.randrange(n_assets)),
                    destination_mac=_mac(rng),
                    first_seen=first,
                    last_seen=first + timedelta(minutes=rng.randrange(0, 600)),
                    count=rng.randrange(1, 500),
                    status=status,
                    status_by=None if status == "open" else "analyst-1",
                    status_at=None if status == "open" else now,
                    details={"function_code": rng.randrange(1, 20), "rule": code.lower()},
                    pcap=b"\xd4\xc3\xb2\xa1" + bytes(2000) if rng.random() < 0.05 else None,
                )
            )
        db.add_all(alert_rows)
        actions = ["auth.login", "node.approved", "agent.configured", "alert.acknowledge", "command.scan"]
        db.add_all(
            AuditEntry(
                at=now - timedelta(minutes=n_audit - i),
                actor=rng.choice(["admin", "analyst-1", "auto-update", "system"]),
                action=rng.choice(actions),
                target=rng.choice(agents).id if agents else None,
                detail={"note": f"bench entry {i}"},
            )
            for i in range(n_audit)
        )
        db.flush()
        ids = {
            "asset": next(a.id for a in asset_rows if a.device_type == "PLC" and a.modules and a.ip),
            "agent": live_agents[0].id,
            "sensor": sensors[1].id if len(sensors) > 1 else sensors[0].id,
            "alert": next((a.id for a in alert_rows if a.pcap is not None), alert_rows[0].id),
            "net": f"10.{rng.randrange(1, SITES + 1)}.0.0/16",
            "q": _ip(rng.randrange(n_assets)).rsplit(".", 1)[0],
            "ip": alert_rows[0].source_ip or "",
        }
    return ids


def pages(ids: dict[str, str]) -> list[tuple[str, str]]:
    """(label, URL) of every page measured."""
    a, s, ag, al = ids["agent"], ids["sensor"], ids["agent"], ids["alert"]
    html = [
        "/dashboard",
        "/agents",
        "/agents?status=Connected",
        "/agents?sort=status",
        "/agents?sort=-last_seen&offset=400",
        "/inventory?sort=vendor",
        "/inventory?sort=-last_seen",
        "/inventory?ghosts=include&sort=-first_seen",
        "/inventory?new=7",
        "/inventory",
        f"/inventory?network={ids['net']}",
        "/inventory?protocol=modbus",
        f"/inventory?source={a}",
        f"/inventory?source={s}",
        "/inventory?type=PLC",
        "/inventory?vendor=siem",
        f"/inventory?q={ids['q']}",
        f"/inventory?network={ids['net']}&type=PLC&protocol=s7comm&vendor=siem",
        "/inventory?offset=9950",
        f"/inventory/{ids['asset']}",
        "/network-map",
        "/network-map?group=purdue&protocol=s7comm",
        "/alerts",
        "/alerts?sort=severity",
        "/alerts?status=any&sort=-count",
        "/alerts?status=any",
        "/alerts?status=any&severity=Critical",
        "/alerts?engine=Malware",
        "/alerts?protocol=modbus",
        f"/alerts?sensor={s}",
        f"/alerts?status=any&ip={ids['ip']}",
        "/alerts?status=closed&offset=500",
        f"/alerts/{al}",
        "/sensors",
        "/sensors?status=Disconnected",
        "/sensors?sort=-last_seen",
        f"/sensors/{s}",
        "/settings/networks",
        "/settings/credentials",
        "/settings/users",
        "/settings/api-keys",
        "/settings/certificates",
        "/settings/audit",
        "/settings/audit?action=node.",
        "/settings/audit?sort=actor",
    ]
    api = [
        "/api/v1/agents",
        "/api/v1/agents?limit=1000",
        "/api/v1/agents?status=Connected",
        "/api/v1/agents?status=Disconnected&limit=1000",
        "/api/v1/agents?status=Scanning",
        "/api/v1/agents?q=agent-01",
        f"/api/v1/agents/{ag}",
        "/api/v1/sensors?limit=1000",
        "/api/v1/sensors?status=Connected",
        "/api/v1/agents?sort=-reported_assets&limit=1000",
        "/api/v1/sensors?sort=site&limit=1000",
        "/api/v1/agents/export?sort=status",
        "/api/v1/sensors/export",
        "/api/v1/assets",
        "/api/v1/assets?limit=1000",
        f"/api/v1/assets?network={ids['net']}&protocol=modbus",
        "/api/v1/assets?type=PLC&vendor=siem",
        f"/api/v1/assets?source={a}",
        f"/api/v1/assets?q={ids['q']}",
        f"/api/v1/assets/{ids['asset']}",
        f"/api/v1/assets/{ids['asset']}/conversations",
        f"/api/v1/assets/{ids['asset']}/alerts",
        f"/api/v1/assets/{ids['asset']}/timeline",
        "/api/v1/assets?sort=-vendor",
        "/api/v1/map",
        "/api/v1/map?group=purdue&limit=500",
        "/api/v1/map?protocol=s7comm",
        "/api/v1/map?site=site-03",
        f"/api/v1/map?sensor={s}&isolated=true",
        "/api/v1/map?isolated=true&limit=500",
        f"/api/v1/assets/{ids['asset']}/neighbourhood",
        f"/api/v1/assets/{ids['asset']}/neighbourhood?hops=2",
        "/api/v1/dashboard",
        "/api/v1/alerts",
        "/api/v1/alerts?status=open&severity=Critical",
        f"/api/v1/alerts?sensor={s}&limit=1000",
        f"/api/v1/alerts/{al}",
        "/api/v1/audit",
        "/api/v1/audit?sort=-action",
        "/api/v1/audit/export",
        "/api/v1/users",
        "/api/v1/credentials",
        "/api/v1/networks",
        "/api/v1/notifications",
    ]
    return [(u, u) for u in html + api]


# ---------------------------------------------------------------- measuring


@dataclass
class Result:
    page: str
    status: int
    bytes: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    statements: int
    passed: bool


class StatementCounter:
    def __init__(self, ctx: ConsoleContext) -> None:
        self.count = 0
        event.listen(ctx.db.engine, "before_cursor_execute", self._on)

    def _on(self, *_: Any) -> None:
        self.count += 1


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def measure(client: TestClient, counter: StatementCounter, url: str, n: int, budget: float) -> Result:
    r = client.get(url)  # warm-up: compiled-statement and template caches
    times = []
    statements = 0
    for _ in range(n):
        counter.count = 0
        t0 = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        statements = counter.count
    return Result(
        page=url,
        status=r.status_code,
        bytes=len(r.content),
        p50_ms=statistics.median(times),
        p95_ms=_pct(times, 0.95),
        max_ms=max(times),
        statements=statements,
        passed=r.status_code == 200 and _pct(times, 0.95) <= budget,
    )


def _short(url: str, ids: dict[str, str]) -> str:
    for key in ("agent", "sensor", "asset", "alert"):
        url = url.replace(ids[key], "{" + key + "}")
    return url


def table(results: list[Result], ids: dict[str, str], budget: float) -> str:
    head = f"| page | HTTP | KiB | p50 ms | p95 ms | max ms | SQL | ≤ {budget:.0f} ms (p95) |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| `{_short(r.page, ids)}` | {r.status} | {r.bytes / 1024:.0f} | {r.p50_ms:.1f} | "
            f"{r.p95_ms:.1f} | {r.max_ms:.1f} | {r.statements} | {'PASS' if r.passed else '**FAIL**'} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- set-up


@contextlib.contextmanager
def database(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
        return
    from tests.pg import PostgresServer

    server = PostgresServer()
    base = server.start()
    try:
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text('CREATE DATABASE "bench"'))
        admin.dispose()
        yield f"{base}/bench"
    finally:
        server.stop()


def _counts(db: Session) -> str:
    from sqlalchemy import func, select

    def n(model: Any, *where: Any) -> int:
        return db.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return (
        f"{n(Asset):,} assets ({n(AssetProtocol):,} protocols, {n(AssetSource):,} sources), "
        f"{n(Node, Node.kind == 'agent')} agents, {n(Node, Node.kind == 'sensor')} sensors, "
        f"{n(Alert):,} alerts, {n(AuditEntry)} audit entries"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--assets", type=int, default=10_000)
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--sensors", type=int, default=20)
    ap.add_argument("--alerts", type=int, default=5_000)
    ap.add_argument("--audit", type=int, default=300)
    ap.add_argument("-n", type=int, default=20, help="requests per page (after one warm-up)")
    ap.add_argument("--budget", type=float, default=BUDGET_MS, help="p95 budget per page in ms")
    ap.add_argument("--only", default="", help="measure only pages whose URL contains this")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="otwatch-bench-pages-"))
    try:
        with database(args.db) as url:
            settings = Settings(
                data_dir=tmp / "console",
                database_url=url,
                admin_password=ADMIN_PASSWORD,
                background_workers=False,
                offline_after=3600.0,  # the Connected agents stay Connected for the whole run
            )
            ctx, _ = prepare(settings)
            try:
                t0 = time.perf_counter()
                ids = fill(ctx, args.assets, args.agents, args.sensors, args.alerts, args.audit, args.seed)
                with ctx.db.session() as db:
                    summary = _counts(db)
                print(f"{args.db}: {summary}; filled in {time.perf_counter() - t0:.1f} s", flush=True)
                counter = StatementCounter(ctx)
                results: list[Result] = []
                with TestClient(create_app(ctx), base_url="https://testserver") as client:
                    r = client.post(
                        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
                    )
                    assert r.status_code == 200, r.status_code
                    for _label, page in pages(ids):
                        if args.only and args.only not in page:
                            continue
                        results.append(measure(client, counter, page, args.n, args.budget))
                        print(".", end="", flush=True, file=sys.stderr)
                print(file=sys.stderr)
                print(table(results, ids, args.budget))
                failed = [r for r in results if not r.passed]
                print(
                    f"\n{len(results) - len(failed)} / {len(results)} pages within {args.budget:.0f} ms (p95)"
                )
                if args.json:
                    args.json.write_text(
                        json.dumps(
                            {
                                "db": args.db,
                                "data": summary,
                                "n": args.n,
                                "results": [asdict(r) for r in results],
                            },
                            indent=1,
                        )
                    )
                return 1 if failed else 0
            finally:
                ctx.db.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
