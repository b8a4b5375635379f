"""Overview (the seed's five widgets), Devices and Alerts: what this sensor has seen."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.inventory.vocabulary import AlertStatus, Severity
from otwatch.sensor.web.deps import ConsoleDep, CurrentUser, engines_of, open_high_alerts
from otwatch.ui import overview

router = APIRouter()


@router.get("/overview", response_class=HTMLResponse)
def overview_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    host = c.host
    with host.lock:
        s = host.sensor
        s.inventory.classify()
        stats = s.stats.report(s.inventory, s.alerts)
        aliases = dict(s.settings.port_aliases)
        summary = {"packets": s.packets, "bytes": s.bytes, "assets": len(s.inventory.assets)}
        learning, engines = s.learning, engines_of(s)
        top_alerts = open_high_alerts(s)
        open_count = sum(1 for a in s.alerts.alerts.values() if a.status == AlertStatus.OPEN)
    net = c.store.network
    return c.render(
        request,
        "overview.html",
        user,
        active="overview",
        charts=overview.charts(stats, aliases, c.store.time_region.zone),
        summary=summary,
        learning=learning,
        engines=engines,
        top_alerts=top_alerts,
        open_alerts=open_count,
        ip=net.ip if net else None,
        management_mode=host.management_mode(),
    )


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, c: ConsoleDep, user: CurrentUser, protocol: str = "") -> Response:
    with c.host.lock:
        s = c.host.sensor
        s.inventory.classify()
        rows: list[dict[str, Any]] = [a.as_dict() for a in s.inventory.assets]
    if protocol:
        rows = [r for r in rows if any(p["protocol"] == protocol for p in r["protocols"])]
    rows.sort(key=lambda r: (r["ip"] is None, _ip_key(r["ip"]), r["mac"] or ""))
    return c.render(request, "devices.html", user, active="devices", devices=rows, protocol=protocol)


def _ip_key(ip: str | None) -> tuple[int, ...]:
    if not ip or ":" in ip:
        return (1 << 16,)
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (1 << 16,)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request, c: ConsoleDep, user: CurrentUser, status: str = "open", severity: str = ""
) -> Response:
    with c.host.lock:
        s = c.host.sensor
        alerts = sorted(s.alerts.alerts.values(), key=lambda a: (a.severity.order, -a.last_seen))
        if status in {st.value for st in AlertStatus}:
            alerts = [a for a in alerts if a.status == status]
        if severity in {sv.value for sv in Severity}:
            alerts = [a for a in alerts if a.severity == severity]
        rows = [a.as_dict() for a in alerts]
    return c.render(
        request,
        "alerts.html",
        user,
        active="alerts",
        alerts=rows,
        status=status,
        severity=severity,
        statuses=[st.value for st in AlertStatus],
        severities=[sv.value for sv in Severity],
    )
