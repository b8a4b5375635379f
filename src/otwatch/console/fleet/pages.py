"""Data Collection > Data Sources pages: Agents, Sites and Sensors, and a sensor's Overview."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from otwatch.console.alerts import service as alerts
from otwatch.console.credentials.models import Credential
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, Permission, SessionDep
from otwatch.console.fleet import listing, nodes, push
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.schemas import (
    ENGINES,
    Unit,
)
from otwatch.console.fleet.status import NodeStatus
from otwatch.console.pagination import paginate
from otwatch.console.settings import service as settings
from otwatch.console.updates import service as updates
from otwatch.console.web.render import current_principal, error_page, pager, render, to_login, window
from otwatch.ui import overview
from otwatch.wire.settings import (
    SETTING_GROUPS,
    ActiveDirectorySettings,
    DnsReverseLookupSettings,
    MailServerSettings,
    SettingGroup,
    SnmpMibMonitoringSettings,
)

router = APIRouter(include_in_schema=False)


def _status(request: Request) -> str | None:
    """``?status=`` when it names a status (the dashboard links here); anything else shows all."""
    value = request.query_params.get("status", "")
    return value if value in {s.value for s in NodeStatus} else None


def _export(path: str, status: str | None, sort: str | None) -> str:
    """The CSV export of what the page shows: the filter and order it applied (values it ignored
    left out, so the export never fails where the page did not)."""
    kept = {k: v for k, v in (("status", status), ("sort", sort)) if v}
    return path + (f"?{urlencode(kept)}" if kept else "")


@router.get("/agents", response_class=HTMLResponse)
def agents_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    can_manage, can_operate = p.can(Permission.MANAGE_FLEET), p.can(Permission.OPERATE)
    credentials = list(db.scalars(select(Credential).order_by(Credential.name))) if can_manage else []
    names = {c.id: c.name for c in credentials} if can_manage else nodes.credential_names(db)
    # one window of the fleet, in the order of GET /api/v1/agents, which the page polls for the same window
    page = window(request, default_limit=100)
    now = utcnow()
    status = _status(request)
    sort = listing.sortable(request.query_params.get("sort"))  # an odd ?sort= is ignored
    # the dashboard's links (?status=) and ?sort=: the same query as GET /api/v1/agents
    stmt = listing.query(ctx, "agent", now, status, sort=sort)
    rows, total = paginate(db, stmt, page)
    hosts = nodes.host_asset_ids(db, rows)
    updates_of = nodes.last_updates(db, rows)
    dups = nodes.duplicated_networks(db, rows)
    agents = [
        nodes.node_out(ctx, n, names, now, hosts.get(n.id), updates_of.get(n.id), dups.get(n.id))
        for n in rows
    ]
    newest_otd = updates.newest(db, "otd")
    return render(
        request,
        "agents.html",
        p,
        "agents",
        agents=agents,
        paging=pager(request, page, total),
        window=page,
        status=status,
        sort=sort or "",
        export=_export("/api/v1/agents/export", status, sort),
        can_manage=can_manage,
        can_operate=can_operate,
        can_act=can_manage or can_operate,
        auto_approve=bool(settings.get(db, "auto_approve")),
        auto_update=bool(settings.get(db, "auto_update")),
        credentials=credentials,
        units=[u.value for u in Unit],
        otd_version=newest_otd.version if newest_otd is not None else None,
    )


@router.get("/sensors", response_class=HTMLResponse)
def sensors_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    now = utcnow()
    status = _status(request)
    sort = listing.sortable(request.query_params.get("sort"))  # an odd ?sort= is ignored
    stmt = listing.query(ctx, "sensor", now, status, sort=sort).limit(1000)  # the dashboard's links too
    rows = list(db.scalars(stmt))
    updates_of = nodes.last_updates(db, rows)  # the Version cell's update state (as on the Updates page)
    sensors = [nodes.node_out(ctx, n, {}, now, last_update=updates_of.get(n.id)) for n in rows]
    can_manage = p.can(Permission.MANAGE_FLEET)
    return render(
        request,
        "sensors.html",
        p,
        "sensors",
        sensors=sensors,
        status=status,
        sort=sort or "",
        export=_export("/api/v1/sensors/export", status, sort),
        engines=ENGINES,
        open_alerts=alerts.open_counts(db),
        can_manage=can_manage,
        setting_groups=SETTING_GROUPS,
    )


#: The models of the setting groups with fields: their defaults fill a form never saved before.
_GROUP_MODELS: dict[str, Any] = {
    "mail_server": MailServerSettings,
    "snmp_mib_monitoring": SnmpMibMonitoringSettings,
    "active_directory": ActiveDirectorySettings,
    "dns_reverse_lookup": DnsReverseLookupSettings,
}


def _form_values(node: Node) -> tuple[dict[str, Any], dict[str, bool]]:
    """Each setting group's values as its form shows them, and whether the group was ever set."""
    values: dict[str, Any] = {}
    configured: dict[str, bool] = {}
    group: SettingGroup
    for group in ("mail_server", "snmp_mib_monitoring", "active_directory", "dns_reverse_lookup",
                  "subnets", "port_aliases"):  # fmt: skip
        out = push.setting_group(node, group)
        configured[group] = out.configured
        value = out.value
        if group in _GROUP_MODELS:
            fields = _GROUP_MODELS[group].model_fields
            blank = {
                k: None if f.is_required() else f.get_default(call_default_factory=True)
                for k, f in fields.items()
            }
            value = {**{k: "" if v is None else v for k, v in blank.items()}, **(value or {})}
            if group == "active_directory":
                value["group_roles"] = sorted(value["group_roles"].items())
        elif group == "port_aliases":
            value = sorted(((int(k), v) for k, v in (value or {}).items()))
        values[group] = value
    return values, configured


@router.get("/sensors/{sensor_id}", response_class=HTMLResponse)
def sensor_page(sensor_id: str, request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    node = db.get(Node, sensor_id)
    if node is None or node.kind != "sensor":
        return error_page(request, p, 404, "Sensor not found", "This sensor does not exist or was removed.")
    s = nodes.node_out(ctx, node, {})
    values, configured = _form_values(node)
    return render(
        request,
        "sensor.html",
        p,
        "sensors",
        sensor=s,
        engines=ENGINES,
        charts=overview.charts(s.stats, s.settings.get("port_aliases") or {}),
        summary=overview.summary(s.stats),
        top_alerts=alerts.alert_outs(db, alerts.top_open(db, node.id)),
        open_alerts=alerts.open_counts(db).get(node.id, 0),
        can_manage=p.can(Permission.MANAGE_FLEET),
        setting_values=values,
        configured=configured,
    )
