"""The Network Map page: its filters are rendered here, the graph is drawn in the browser from
``GET /api/v1/map`` (static/js/network-map.js) with the vendored Cytoscape.js."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.console.deps import Permission, SessionDep
from otwatch.console.netmap import service
from otwatch.console.web.render import current_principal, render, to_login

router = APIRouter(include_in_schema=False)

MAP_FILTERS = ("group", "protocol", "site", "sensor", "ghosts", "isolated", "limit")


@router.get("/network-map", response_class=HTMLResponse)
def network_map_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    f = {k: request.query_params.get(k, "").strip()[:200] for k in MAP_FILTERS}
    if f["group"] not in service.GROUPINGS:
        f["group"] = "subnet"
    limit = int(f["limit"]) if f["limit"].isdigit() and 0 < int(f["limit"]) <= service.MAX_LIMIT else 0
    f["limit"] = str(limit or service.DEFAULT_LIMIT)
    choices = service.options(db)
    return render(
        request,
        "network_map.html",
        p,
        "network-map",
        filters=f,
        limits=sorted({100, service.DEFAULT_LIMIT, 500, service.MAX_LIMIT, int(f["limit"])}),
        default_limit=service.DEFAULT_LIMIT,
        protocols=choices["protocols"],
        sites=choices["sites"],
        sensors=choices["sensors"],
    )
