"""The dashboard's numbers: a handful of grouped counts, each one SQL statement whatever the size of
the inventory, the alerts or the fleet (tests/console/test_query_counts.py; bench/pages.py).

Every count carries the link of the list it summarises, so a tile opens exactly the rows it counted:
``/alerts?severity=``, ``/alerts?engine=``, ``/inventory?type=``, ``/inventory?vendor=``,
``/inventory?new=7``, ``/agents?status=``, ``/sensors?status=``. Asset counts leave ghosts out, as
the Inventory does by default.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from otwatch.advisories.match import Exposure
from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset
from otwatch.console.config import Settings
from otwatch.console.dashboard.schemas import Count, DashboardOut, Series, VulnerableAssetOut
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.status import NodeStatus, status_sql
from otwatch.console.vulnerabilities.models import Advisory, AssetVulnerability
from otwatch.inventory.vocabulary import ENGINES, Severity

DAYS = 14  # the alert charts' span, today included
NEW_DAYS = 7  # "new assets this week"
TOP_VENDORS = 8
UNKNOWN = "Unknown"


def _link(path: str, **query: str | int) -> str:
    return f"{path}?{urlencode(query)}"


def _day(value: object) -> str:
    """A SQL ``date()`` as text: SQLite answers a string, PostgreSQL a ``date``."""
    return value.isoformat() if isinstance(value, date | datetime) else str(value)[:10]


def _alerts(db: Session, now: datetime) -> dict[str, object]:
    """Open alerts by severity and engine, in total and per day first seen over the last ``DAYS``:
    one grouped statement (the day is NULL for older alerts, which count in the totals only)."""
    first_day = (now - timedelta(days=DAYS - 1)).date()
    days = [(first_day + timedelta(days=i)).isoformat() for i in range(DAYS)]
    index = {d: i for i, d in enumerate(days)}
    by_severity: dict[str, int] = {}
    by_engine: dict[str, int] = {}
    per_severity = {s.value: [0] * DAYS for s in Severity}
    per_engine = {e: [0] * DAYS for e in ENGINES}
    # the UTC day: PostgreSQL's date() of a timestamptz would take the session's time zone
    utc = (
        func.timezone("UTC", Alert.first_seen)
        if db.get_bind().dialect.name == "postgresql"
        else Alert.first_seen
    )
    start = datetime.combine(first_day, time(), tzinfo=UTC)
    day = case((Alert.first_seen >= start, func.date(utc)), else_=None)
    for d, severity, engine, n in db.execute(
        select(day, Alert.severity, Alert.engine, func.count())
        .where(Alert.status == "open")
        .group_by(day, Alert.severity, Alert.engine)
    ):
        by_severity[severity] = by_severity.get(severity, 0) + n
        by_engine[engine] = by_engine.get(engine, 0) + n
        i = index.get(_day(d)) if d is not None else None
        if i is None:  # before the charts' days, or a sensor's clock ahead of ours (never drawn ahead)
            continue
        per_severity.setdefault(severity, [0] * DAYS)[i] += n
        per_engine.setdefault(engine, [0] * DAYS)[i] += n
    severities = [s.value for s in Severity] + sorted(set(by_severity) - {s.value for s in Severity})
    engines = list(ENGINES) + sorted(set(by_engine) - set(ENGINES))
    return {
        "open_alerts": sum(by_severity.values()),
        "alerts_by_severity": [
            Count(label=s, count=by_severity.get(s, 0), href=_link("/alerts", severity=s)) for s in severities
        ],
        "alerts_by_engine": [
            Count(label=e, count=by_engine.get(e, 0), href=_link("/alerts", engine=e))
            for e in engines
            if by_engine.get(e, 0) or e in ENGINES
        ],
        "days": days,
        "alerts_per_day_by_severity": [
            Series(label=s, values=per_severity[s], href=_link("/alerts", severity=s))
            for s in severities
            if s in per_severity
        ],
        "alerts_per_day_by_engine": [
            Series(label=e, values=per_engine[e], href=_link("/alerts", engine=e))
            for e in engines
            if e in per_engine
        ],
    }


def _assets(db: Session, now: datetime) -> dict[str, object]:
    """Assets by type and by vendor, and the new ones: one pass over the inventory, grouped by (type,
    vendor), added up here (a few hundred groups at most)."""
    new_since = now - timedelta(days=NEW_DAYS)
    is_new = func.sum(case((Asset.first_seen >= new_since, 1), else_=0))
    types: dict[str | None, int] = {}
    vendors: dict[str | None, int] = {}
    new = 0
    for t, v, n, fresh in db.execute(
        select(Asset.device_type, Asset.vendor, func.count(), is_new)
        .where(Asset.ghost.is_(False))
        .group_by(Asset.device_type, Asset.vendor)
    ):
        types[t] = types.get(t, 0) + n
        vendors[v] = vendors.get(v, 0) + n
        new += int(fresh or 0)
    by_type = [
        Count(label=t or UNKNOWN, count=n, href=_link("/inventory", type=t) if t else None)
        for t, n in sorted(types.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    ]
    known = sorted(((v, n) for v, n in vendors.items() if v), key=lambda kv: (-kv[1], kv[0]))
    by_vendor = [Count(label=v, count=n, href=_link("/inventory", vendor=v)) for v, n in known[:TOP_VENDORS]]
    rest = sum(n for _, n in known[TOP_VENDORS:])
    if rest:
        by_vendor.append(Count(label="Other vendors", count=rest, href="/inventory"))
    if vendors.get(None):
        by_vendor.append(Count(label=UNKNOWN, count=vendors[None], href=None))
    return {
        "assets": sum(types.values()),
        "assets_by_type": by_type,
        "assets_by_vendor": by_vendor,
        "new_assets_this_week": Count(
            label=f"first seen in the last {NEW_DAYS} days", count=new, href=_link("/inventory", new=NEW_DAYS)
        ),
    }


def _fleet(db: Session, settings: Settings, now: datetime) -> dict[str, object]:
    status = status_sql(now, settings.offline_after, settings.max_clock_skew)
    counts: dict[tuple[str, str], int] = {
        (kind, s): n
        for kind, s, n in db.execute(select(Node.kind, status, func.count()).group_by(Node.kind, status))
    }

    def of(kind: str) -> list[Count]:
        return [
            Count(label=s.value, count=counts[(kind, s.value)], href=_link(f"/{kind}s", status=s.value))
            for s in NodeStatus
            if (kind, s.value) in counts
        ]

    return {"agents_by_status": of("agent"), "sensors_by_status": of("sensor")}


def most_vulnerable_assets(db: Session, limit: int = 5) -> list[VulnerableAssetOut] | None:
    """The assets with the most advisories confirmed against them (then the highest CVSS, then the
    possibly affected ones), worst first, each linking to its asset page: one grouped statement.
    None while no advisory is imported (the tile then says how to get them); [] when none concerns
    an asset."""
    if db.scalar(select(Advisory.id).limit(1)) is None:
        return None
    affected_filter = AssetVulnerability.exposure == str(Exposure.AFFECTED)
    affected = func.count(AssetVulnerability.id).filter(affected_filter)
    top = func.max(AssetVulnerability.cvss).filter(affected_filter)
    total = func.count(AssetVulnerability.id)
    stmt = (
        select(Asset.id, Asset.name, Asset.ip, Asset.mac, Asset.vendor, Asset.model, affected, top, total)
        .join(AssetVulnerability, AssetVulnerability.asset_id == Asset.id)
        .group_by(Asset.id, Asset.name, Asset.ip, Asset.mac, Asset.vendor, Asset.model)
        .order_by(affected.desc(), top.desc().nulls_last(), total.desc(), Asset.id)
        .limit(limit)
    )
    out: list[VulnerableAssetOut] = []
    for aid, name, ip, mac, vendor, model, n_affected, highest, n_total in db.execute(stmt):
        what = " ".join(p for p in (vendor, model) if p)
        label = " — ".join(p for p in (name or ip or mac or aid, what) if p)
        out.append(
            VulnerableAssetOut(
                asset_id=aid,
                label=label,
                vulnerabilities=int(n_affected or 0),
                possibly=int(n_total or 0) - int(n_affected or 0),
                highest_score=highest,
                href=f"/inventory/{aid}",
            )
        )
    return out


def dashboard(db: Session, settings: Settings, now: datetime) -> DashboardOut:
    return DashboardOut.model_validate(
        {
            **_alerts(db, now),
            **_assets(db, now),
            **_fleet(db, settings, now),
            "most_vulnerable_assets": most_vulnerable_assets(db),
        }
    )
