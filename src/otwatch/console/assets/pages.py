"""Inventory pages: the asset list with its filters, and an asset's page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import load_only

from otwatch.console.alerts import service as alerts_service
from otwatch.console.assets import service as assets
from otwatch.console.assets.models import Asset, AssetProtocol
from otwatch.console.assets.routes import AssetOut, asset_out, copies_of
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.fleet.models import DuplicatedNetwork, Node
from otwatch.console.pagination import paginate
from otwatch.console.tables import Sorts, parse_sort
from otwatch.console.vulnerabilities import service as vulnerabilities
from otwatch.console.web.render import (
    current_principal,
    error_page,
    export_link,
    pager,
    render,
    to_login,
    window,
)

router = APIRouter(include_in_schema=False)


def _sortable(value: str, sorts: Sorts) -> bool:
    try:
        return parse_sort(value, sorts) is not None
    except ValueError:
        return False


#: the Modules table's columns first in this order (the backplane as an engineer reads it), then any
#: other key a module carries, in the order they appear
MODULE_COLUMNS = (
    "rack", "station", "slot", "submodule", "type", "name", "order_number", "firmware", "hardware", "serial",
    "address", "status",
)  # fmt: skip
MODULE_TITLES = {"order_number": "Order number", "address": "Address", "name": "Name / model"}


def module_columns(modules: list[dict[str, object]]) -> list[str]:
    """The columns of the asset page's Modules table: only those some module fills."""
    present = {k for m in modules for k in m}
    columns = [c for c in MODULE_COLUMNS if c in present]
    for m in modules:
        columns.extend(k for k in m if k not in columns)
    return columns


ASSET_ALERTS = 20  # the newest alerts on an asset's page; the Alerts list (?ip=) has them all
INVENTORY_FILTERS = (
    "source", "type", "vendor", "protocol", "network", "network_copy", "vuln", "q", "new", "sort", "ghosts",
)  # fmt: skip
VULN_FILTERS = (
    ("any", "With advisories"),
    ("affected", "Affected"),
    ("possibly_affected", "Possibly affected"),
    ("Critical", "Affected, Critical"),
    ("High", "Affected, High or above"),
    ("Medium", "Affected, Medium or above"),
    ("none", "No advisories"),
)


@router.get("/inventory", response_class=HTMLResponse)
def inventory_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    f = {k: request.query_params.get(k, "").strip()[:200] for k in INVENTORY_FILTERS}
    page = window(request)
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
            network_copy=f["network_copy"] or None,
            q=f["q"] or None,
            new_days=int(f["new"]) if f["new"].isdigit() and 0 < int(f["new"]) <= 3650 else None,
            sort=f["sort"] if _sortable(f["sort"], assets.SORTS) else None,  # an odd ?sort= is ignored
            ghosts=f["ghosts"] if f["ghosts"] in assets.GHOSTS else "exclude",
        )
    except ValueError as exc:
        error = str(exc)
    else:
        if f["vuln"]:
            stmt = vulnerabilities.where_vulnerable(stmt, f["vuln"])
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
    # the Site filter's options and the rows' sites: every copy of a duplicated network (a short list)
    copies = list(
        db.scalars(select(DuplicatedNetwork).order_by(DuplicatedNetwork.cidr, DuplicatedNetwork.site))
    )
    return render(
        request,
        "inventory.html",
        p,
        "inventory",
        items=[asset_out(a, nodes, {c.id: c for c in copies}) for a in rows],
        filters=f,
        filtered=any(v for k, v in f.items() if k != "sort"),
        export=export_link(request, "/api/v1/assets/export"),
        error=error,
        paging=pager(request, page, total),
        limit=page.limit,
        agents=[n for n in nodes.values() if n.kind == "agent"],
        sensors=[n for n in nodes.values() if n.kind == "sensor"],
        types=list(types),
        protocols=list(protocols),
        vulns=vulnerabilities.summary_by_asset(db, [a.id for a in rows]),
        vuln_filters=VULN_FILTERS,
        copies=copies,
    )


@router.get("/inventory/{asset_id}", response_class=HTMLResponse)
def asset_page(asset_id: str, request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    row = db.get(Asset, asset_id)
    if row is None:
        return error_page(request, p, 404, "Asset not found", "This asset does not exist or was removed.")
    ids = {s.node_id for s in row.sources}
    nodes = {n.id: n for n in db.scalars(select(Node).where(Node.id.in_(ids)))} if ids else {}
    a: AssetOut = asset_out(row, nodes, copies_of(db, [row]))
    columns = module_columns(a.modules)
    names = {i: n.name or n.hostname for i, n in nodes.items()}
    talks = assets.conversations(db, row, names=names)
    alert_rows = list(db.scalars(alerts_service.for_asset(row.ip, row.mac).limit(ASSET_ALERTS + 1)))
    findings = vulnerabilities.for_asset(db, row.id)
    titles = vulnerabilities.advisory_titles(db, {f.advisory_id for f in findings})
    return render(
        request,
        "asset.html",
        p,
        "inventory",
        asset=a,
        module_columns=columns,
        module_titles=MODULE_TITLES,
        conversations=talks,
        alerts=alerts_service.alert_outs(db, alert_rows[:ASSET_ALERTS]),
        more_alerts=len(alert_rows) > ASSET_ALERTS,
        events=assets.timeline(row, talks, alert_rows[:ASSET_ALERTS], names),
        can_edit=p.can(Permission.MANAGE_SETTINGS),
        findings=findings,
        advisory_titles=titles,
    )
