"""The server-rendered console: sign-in, Inventory, Alerts, Sites and Sensors, Agents and the settings pages.

Pages are rendered from the database with the same queries the JSON API uses; their forms are a
little vanilla JavaScript (static/app.js) that calls the JSON API. What a user may change is decided
here, from ``Principal.can``: controls a role may not use are not rendered at all.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, load_only

from otwatch.console.alerts import service as alerts
from otwatch.console.alerts.models import Alert
from otwatch.console.alerts.routes import AlertOut, alert_out
from otwatch.console.alerts.service import SEVERITY_ORDER
from otwatch.console.assets import service as assets
from otwatch.console.assets.models import Asset, AssetProtocol
from otwatch.console.assets.routes import AssetOut, asset_out
from otwatch.console.audit import service as audit
from otwatch.console.audit.models import AuditEntry
from otwatch.console.auth import service as auth_service
from otwatch.console.auth.models import ApiKey, Role, User
from otwatch.console.credentials.models import Credential
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, Permission, Principal, SessionDep, principal_from_request
from otwatch.console.fleet import nodes
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.schemas import ENGINES, SETTING_GROUPS, Unit
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.pagination import PageParams, paginate
from otwatch.console.settings import service as settings
from otwatch.ui import csrf, overview
from otwatch.ui.charts import format_bytes, format_number
from otwatch.wire.pki import fingerprint

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")

router = APIRouter(include_in_schema=False)


def format_time(value: datetime | None) -> str:
    """Same text as app.js ``fmtTime``: UTC, to the second."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def format_duration(seconds: float | None) -> str:
    """Same text as app.js ``fmtDuration``."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    return f"{s // 3600}h {(s % 3600) // 60}m"


def format_detail(value: dict[str, Any] | None) -> str:
    """An audit entry's detail as compact ``key=value`` text."""
    if not value:
        return ""
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in value.items())


templates.env.filters["fmt_time"] = format_time
templates.env.filters["fmt_duration"] = format_duration
templates.env.filters["fmt_detail"] = format_detail
templates.env.filters["fmt_bytes"] = format_bytes
templates.env.filters["fmt_number"] = format_number
templates.env.globals["Permission"] = Permission
templates.env.globals["csrf_token"] = csrf.token


def _principal(request: Request, db: SessionDep) -> Principal | None:
    return principal_from_request(request, db)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def index(request: Request, db: SessionDep) -> RedirectResponse:
    return RedirectResponse("/agents" if _principal(request, db) else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, db: SessionDep) -> Response:
    if _principal(request, db):
        return RedirectResponse("/agents", status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None, "username": ""})


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    db: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_field: Annotated[str, Form(alias=csrf.FIELD, max_length=200)] = "",
) -> Response:
    if not csrf.matches(request, csrf_field):  # login CSRF: the form must come from our own page
        ctx = {"error": "The sign-in form expired; please sign in again.", "username": username}
        return templates.TemplateResponse(request, "login.html", ctx, status_code=403)
    try:
        auth_service.check_lockout(db, username)
    except auth_service.LockedOut as exc:
        ctx = {"error": str(exc), "username": username}
        return templates.TemplateResponse(
            request, "login.html", ctx, status_code=429, headers={"Retry-After": str(exc.retry_after)}
        )
    user = auth_service.authenticate(db, username, password) if username and password else None
    if user is None:
        audit.record(db, username or "(blank)", "auth.login_failed")
        db.commit()
        ctx = {"error": "wrong username or password", "username": username}
        return templates.TemplateResponse(request, "login.html", ctx, status_code=401)
    request.session.clear()
    request.session.update({"uid": user.id, "epoch": user.session_epoch})
    token = csrf.rotate(request)
    audit.record(db, user.username, "auth.login")
    db.commit()
    return RedirectResponse("/agents", status_code=303, headers={csrf.HEADER: token})


@router.api_route("/logout", methods=["GET", "POST"])
def logout(request: Request) -> RedirectResponse:
    request.session.clear()
    return _to_login()


# ---------------------------------------------------------------- helpers

KIND_LABELS = {"snmp_v1": "SNMP v1", "snmp_v2c": "SNMP v2c", "snmp_v3": "SNMP v3"}
INVENTORY_FILTERS = ("source", "type", "vendor", "protocol", "network", "q")


def _page(
    request: Request, name: str, p: Principal, active: str, status_code: int = 200, **context: Any
) -> Response:
    return templates.TemplateResponse(
        request, name, {"principal": p, "active": active, **context}, status_code=status_code
    )


def _error_page(request: Request, p: Principal, status_code: int, title: str, message: str) -> Response:
    return _page(request, "error.html", p, "", status_code, title=title, message=message)


def _forbidden(request: Request, p: Principal, perm: Permission) -> Response:
    return _error_page(
        request,
        p,
        403,
        "Not allowed",
        f"The {p.role.value} role may not open this page (needs {perm.value}).",
    )


def _int(raw: str | None, default: int, lo: int, hi: int) -> int:
    """A lenient page parameter: junk or out-of-range values fall back or are clamped."""
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return max(lo, min(hi, value))


def _window(request: Request, default_limit: int = 50) -> PageParams:
    qp = request.query_params
    return PageParams(
        limit=_int(qp.get("limit"), default_limit, 1, 1000), offset=_int(qp.get("offset"), 0, 0, 10**9)
    )


def _pager(request: Request, page: PageParams, total: int) -> dict[str, Any]:
    """Showing first-last of total, with Previous / Next links that keep the other query parameters."""
    keep = {k: v for k, v in request.query_params.items() if k != "offset" and v != ""}

    def link(offset: int) -> str:
        query = urlencode({**keep, "offset": offset} if offset else keep)
        return f"{request.url.path}?{query}" if query else request.url.path

    prev_off = max(0, page.offset - page.limit)
    return {
        "first": page.offset + 1 if total else 0,
        "last": min(page.offset + page.limit, total),
        "total": total,
        "prev": link(prev_off) if page.offset > 0 else None,
        "next": link(page.offset + page.limit) if page.offset + page.limit < total else None,
    }


def _credentials(db: Session) -> list[Credential]:
    return list(db.scalars(select(Credential).order_by(Credential.name)))


# ---------------------------------------------------------------- Data Sources > Agents


@router.get("/agents", response_class=HTMLResponse)
def agents_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    can_manage, can_operate = p.can(Permission.MANAGE_FLEET), p.can(Permission.OPERATE)
    credentials = _credentials(db) if can_manage else []
    names = {c.id: c.name for c in credentials} if can_manage else nodes.credential_names(db)
    # one window of the fleet, in the order of GET /api/v1/agents, which the page polls for the same window
    page = _window(request, default_limit=100)
    rows, total = paginate(db, select(Node).where(Node.kind == "agent").order_by(Node.enrolled_at), page)
    now = utcnow()
    agents = [nodes.node_out(ctx, n, names, now) for n in rows]
    return _page(
        request,
        "agents.html",
        p,
        "agents",
        agents=agents,
        paging=_pager(request, page, total),
        window=page,
        can_manage=can_manage,
        can_operate=can_operate,
        can_act=can_manage or can_operate,
        auto_approve=bool(settings.get(db, "auto_approve")),
        auto_update=bool(settings.get(db, "auto_update")),
        credentials=credentials,
        units=[u.value for u in Unit],
    )


# ---------------------------------------------------------------- Inventory


@router.get("/inventory", response_class=HTMLResponse)
def inventory_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    f = {k: request.query_params.get(k, "").strip()[:200] for k in INVENTORY_FILTERS}
    page = _window(request)
    error: str | None = None
    rows: list[Asset] = []
    total = 0
    try:
        stmt = assets.query(
            source=f["source"] or None,
            device_type=f["type"] or None,
            vendor=f["vendor"] or None,
            protocol=f["protocol"] or None,
            network=f["network"] or None,
            q=f["q"] or None,
        )
    except ValueError as exc:
        error = str(exc)
    else:
        rows, total = paginate(db, stmt, page)
    # the source filter's options and the rows' source names: the name columns only (no configuration
    # or statistics JSON of every node)
    names_only = load_only(Node.kind, Node.name, Node.hostname)
    nodes = {
        n.id: n
        for n in db.scalars(select(Node).options(names_only).order_by(Node.kind, Node.name, Node.hostname))
    }
    types = db.scalars(
        select(Asset.device_type).where(Asset.device_type.is_not(None)).distinct().order_by(Asset.device_type)
    )
    protocols = db.scalars(select(AssetProtocol.protocol).distinct().order_by(AssetProtocol.protocol))
    return _page(
        request,
        "inventory.html",
        p,
        "inventory",
        items=[asset_out(a, nodes) for a in rows],
        filters=f,
        filtered=any(f.values()),
        error=error,
        paging=_pager(request, page, total),
        limit=page.limit,
        agents=[n for n in nodes.values() if n.kind == "agent"],
        sensors=[n for n in nodes.values() if n.kind == "sensor"],
        types=list(types),
        protocols=list(protocols),
    )


@router.get("/inventory/{asset_id}", response_class=HTMLResponse)
def asset_page(asset_id: str, request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    row = db.get(Asset, asset_id)
    if row is None:
        return _error_page(request, p, 404, "Asset not found", "This asset does not exist or was removed.")
    ids = {s.node_id for s in row.sources}
    nodes = {n.id: n for n in db.scalars(select(Node).where(Node.id.in_(ids)))} if ids else {}
    a: AssetOut = asset_out(row, nodes)
    columns: list[str] = []
    for m in a.modules:
        columns.extend(k for k in m if k not in columns)
    return _page(request, "asset.html", p, "inventory", asset=a, module_columns=columns)


# ---------------------------------------------------------------- Environment Settings, Active Queries


@router.get("/settings/networks", response_class=HTMLResponse)
def networks_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    rows = db.scalars(select(MonitoredNetwork).order_by(MonitoredNetwork.cidr).limit(1000))
    return _page(
        request,
        "networks.html",
        p,
        "networks",
        networks=list(rows),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )


@router.get("/settings/credentials", response_class=HTMLResponse)
def credentials_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    used: dict[str, int] = {}
    for config in db.scalars(select(Node.config).where(Node.kind == "agent")):
        for cid in set(config.get("credential_ids", [])):
            used[cid] = used.get(cid, 0) + 1
    return _page(
        request,
        "credentials.html",
        p,
        "credentials",
        credentials=_credentials(db),
        kind_labels=KIND_LABELS,
        used=used,
        can_edit=p.can(Permission.MANAGE_SETTINGS),
    )


# ---------------------------------------------------------------- Local Settings


@router.get("/settings/users", response_class=HTMLResponse)
def users_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None:
        return _to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return _forbidden(request, p, Permission.MANAGE_SETTINGS)
    roles = [r.value for r in Role if r is not Role.SUPPORT or p.can(Permission.CLEAR_DATA)]
    return _page(
        request,
        "users.html",
        p,
        "users",
        users=list(db.scalars(select(User).order_by(User.username).limit(1000))),
        roles=roles,
    )


@router.get("/settings/api-keys", response_class=HTMLResponse)
def api_keys_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    see_all = p.can(Permission.MANAGE_SETTINGS)
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc()).limit(1000)
    if not see_all:
        stmt = stmt.where(ApiKey.user_id == p.user_id)
    keys = list(db.scalars(stmt))
    owners = {
        u.id: u.username for u in db.scalars(select(User).where(User.id.in_({k.user_id for k in keys})))
    }
    # The Read Only role may neither generate API keys nor manage them (no forms, no buttons).
    can_generate = p.can(Permission.OPERATE)
    return _page(
        request,
        "api_keys.html",
        p,
        "api-keys",
        keys=keys,
        owners=owners,
        see_all=see_all,
        can_generate=can_generate,
    )


@router.get("/settings/certificates", response_class=HTMLResponse)
def certificates_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    certs = [
        {
            "id": slug,
            "title": title,
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "fingerprint": fingerprint(cert),
        }
        for slug, title, cert in (
            ("server", "Console server certificate", ctx.pki.server_cert),
            ("ca", "Console certificate authority", ctx.pki.ca_cert),
        )
    ]
    return _page(request, "certificates.html", p, "certificates", certificates=certs)


@router.get("/settings/audit", response_class=HTMLResponse)
def audit_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None:
        return _to_login()
    if not p.can(Permission.MANAGE_SETTINGS):
        return _forbidden(request, p, Permission.MANAGE_SETTINGS)
    actor = request.query_params.get("actor", "").strip()[:200]
    action = request.query_params.get("action", "").strip()[:100]
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc())
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    page = _window(request)
    rows, total = paginate(db, stmt, page)
    return _page(
        request,
        "audit.html",
        p,
        "audit",
        entries=rows,
        actor=actor,
        action=action,
        paging=_pager(request, page, total),
    )


# ---------------------------------------------------------------- Alerts

ALERT_STATUSES = ("open", "acknowledged", "closed")
SEVERITIES = tuple(SEVERITY_ORDER)
ALERT_FILTERS = ("status", "severity", "engine", "protocol", "sensor", "ip")
SEVERITY_COLOURS = {"Critical": "red", "Major": "orange", "Minor": "blue", "Warning": "grey"}
ALERT_STATUS_COLOURS = {"open": "red", "acknowledged": "orange", "closed": "grey"}
templates.env.globals["SEVERITY_COLOURS"] = SEVERITY_COLOURS
templates.env.globals["ALERT_STATUS_COLOURS"] = ALERT_STATUS_COLOURS


def _alert_outs(db: Session, rows: list[Alert]) -> list[AlertOut]:
    ids = [a.id for a in rows]
    node_ids = {a.node_id for a in rows}
    names = {
        i: name or host
        for i, name, host in db.execute(
            select(Node.id, Node.name, Node.hostname).where(Node.id.in_(node_ids))
        )
    }
    pcaps = (
        set(db.scalars(select(Alert.id).where(Alert.id.in_(ids), Alert.pcap.is_not(None)))) if ids else set()
    )
    return [alert_out(a, names, a.id in pcaps) for a in rows]


def _sensors(db: Session) -> list[Node]:
    return list(db.scalars(select(Node).where(Node.kind == "sensor").order_by(Node.name, Node.hostname)))


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    qp = request.query_params
    f = {k: qp.get(k, "").strip()[:200] for k in ALERT_FILTERS}
    if not f["status"]:
        f["status"] = "open"  # the default view: what still needs attention; "any" shows every status
    # unknown values are ignored rather than failing the page
    status = f["status"] if f["status"] in ALERT_STATUSES else None
    severity = f["severity"] if f["severity"] in SEVERITIES else None
    engine = f["engine"] if f["engine"] in ENGINES else None
    stmt = alerts.query(
        status=status,
        severity=severity,
        engine=engine,
        protocol=f["protocol"] or None,
        sensor=f["sensor"] or None,
        ip=f["ip"] or None,
    )
    page = _window(request)
    rows, total = paginate(db, stmt, page)
    protocols = db.scalars(
        select(Alert.protocol).where(Alert.protocol.is_not(None)).distinct().order_by(Alert.protocol)
    )
    return _page(
        request,
        "alerts.html",
        p,
        "alerts",
        items=_alert_outs(db, list(rows)),
        filters=f,
        filtered=any(v for k, v in f.items() if k != "status") or f["status"] != "open",
        paging=_pager(request, page, total),
        limit=page.limit,
        statuses=ALERT_STATUSES,
        severities=SEVERITIES,
        engines=ENGINES,
        protocols=list(protocols),
        sensors=_sensors(db),
        can_operate=p.can(Permission.OPERATE),
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: str, request: Request, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    row = db.get(Alert, alert_id)
    if row is None:
        return _error_page(request, p, 404, "Alert not found", "This alert does not exist or was removed.")
    (a,) = _alert_outs(db, [row])
    return _page(request, "alert.html", p, "alerts", alert=a, can_operate=p.can(Permission.OPERATE))


# ---------------------------------------------------------------- Sites and Sensors


def _open_alert_counts(db: Session) -> dict[str, int]:
    stmt = select(Alert.node_id, func.count()).where(Alert.status == "open").group_by(Alert.node_id)
    return {node_id: n for node_id, n in db.execute(stmt)}


@router.get("/sensors", response_class=HTMLResponse)
def sensors_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    rows = db.scalars(select(Node).where(Node.kind == "sensor").order_by(Node.enrolled_at).limit(1000))
    sensors = [nodes.node_out(ctx, n, {}) for n in rows]
    can_manage = p.can(Permission.MANAGE_FLEET)
    return _page(
        request,
        "sensors.html",
        p,
        "sensors",
        sensors=sensors,
        engines=ENGINES,
        open_alerts=_open_alert_counts(db),
        can_manage=can_manage,
        setting_groups=SETTING_GROUPS,
    )


@router.get("/sensors/{sensor_id}", response_class=HTMLResponse)
def sensor_page(sensor_id: str, request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = _principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return _to_login()
    node = db.get(Node, sensor_id)
    if node is None or node.kind != "sensor":
        return _error_page(request, p, 404, "Sensor not found", "This sensor does not exist or was removed.")
    s = nodes.node_out(ctx, node, {})
    rank = case(SEVERITY_ORDER, value=Alert.severity, else_=len(SEVERITY_ORDER))
    top = db.scalars(
        select(Alert)
        .where(Alert.node_id == node.id, Alert.status == "open")
        .order_by(rank, Alert.last_seen.desc())
        .limit(5)
    )
    return _page(
        request,
        "sensor.html",
        p,
        "sensors",
        sensor=s,
        engines=ENGINES,
        charts=overview.charts(s.stats, s.settings.get("port_aliases") or {}),
        summary=overview.summary(s.stats),
        top_alerts=_alert_outs(db, list(top)),
        open_alerts=_open_alert_counts(db).get(node.id, 0),
        can_manage=p.can(Permission.MANAGE_FLEET),
    )
