"""Vulnerabilities pages: advisories by affected assets and severity with charts, and one advisory."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from otwatch.advisories.severity import CvssSeverity
from otwatch.console.deps import Permission, SessionDep
from otwatch.console.settings import service as settings
from otwatch.console.vulnerabilities import provider, service
from otwatch.console.vulnerabilities.models import Advisory
from otwatch.console.web.render import current_principal, error_page, pager, render, to_login, window
from otwatch.ui.charts import bar_chart, pie_chart

router = APIRouter(include_in_schema=False)

EXPOSURES = (("affected", "Affected"), ("possibly_affected", "Possibly affected"))
RATINGS = tuple(str(s) for s in CvssSeverity if s.floor is not None)
#: the badge colours of app.css, so the chart reads like the table
SLICE_COLOURS = {
    "Critical": "#b3261e",
    "High": "#b35900",
    "Medium": "#6b3fa0",
    "Low": "#0b5cad",
    "Unknown": "#5d6776",
    "Possibly affected": "#9aa3ae",
}


def _export(exposure: str | None, floor: float | None, f: dict[str, str]) -> str:
    """The CSV export of what the page shows: the filters it applied, as the API names them (a
    severity as its lowest CVSS; values it ignored left out)."""
    query = {"exposure": exposure, "min_cvss": floor, "q": f["q"], "sort": f["sort"]}
    kept = {k: v for k, v in query.items() if v is not None and v != ""}
    return "/api/v1/vulnerabilities/export" + (f"?{urlencode(kept)}" if kept else "")


@router.get("/vulnerabilities", response_class=HTMLResponse)
def vulnerabilities_page(request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    qp = request.query_params
    f = {k: qp.get(k, "").strip()[:200] for k in ("exposure", "severity", "q", "sort")}
    if f["sort"].removeprefix("-") not in service.SORT_KEYS:
        f["sort"] = ""  # an odd ?sort= is ignored
    exposure = f["exposure"] if f["exposure"] in dict(EXPOSURES) else None
    floor = CvssSeverity(f["severity"]).floor if f["severity"] in RATINGS else None
    stmt = service.advisories_query(
        exposure=exposure, min_cvss=floor, q=f["q"] or None, sort=f["sort"] or None
    )
    page = window(request)
    total = service.count_rows(db, stmt)
    rows = db.execute(stmt.limit(page.limit).offset(page.offset)).all()
    cves = service.advisory_cves(db, [r[0].id for r in rows])
    top = db.execute(service.advisories_query(exposure="affected").limit(10)).all()
    by_rating = service.assets_by_severity(db)
    stats = {
        "advisories": db.scalar(select(func.count(Advisory.id))) or 0,
        "assets": sum(by_rating.values()),
    }
    return render(
        request,
        "vulnerabilities.html",
        p,
        "vulnerabilities",
        rows=[(adv, int(a or 0), int(n or 0), cves.get(adv.id, [])) for adv, a, n in rows],
        filters=f,
        filtered=any(v for k, v in f.items() if k != "sort"),
        export=_export(exposure, floor, f),
        exposures=EXPOSURES,
        ratings=RATINGS,
        paging=pager(request, page, total),
        stats=stats,
        by_rating=by_rating,
        provider_url=settings.get(db, provider.URL_KEY),
        last_sync=settings.get(db, provider.LAST_KEY),
        top_svg=bar_chart(
            [(adv.id, float(a or 0)) for adv, a, _ in top],
            title="Advisories by affected assets (top 10)",
            unit="assets",
            width=960,
            empty_text="No asset is affected",
        ),
        severity_svg=pie_chart(
            [(k, float(v)) for k, v in by_rating.items() if v],
            title="Assets by highest severity",
            empty_text="No advisory concerns an asset",
            colours=SLICE_COLOURS,
        ),
    )


@router.get("/vulnerabilities/{advisory_id}", response_class=HTMLResponse)
def advisory_page(advisory_id: str, request: Request, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    adv = service.advisory_with_products(db, advisory_id)
    if adv is None:
        return error_page(request, p, 404, "Advisory not found", "This advisory has not been imported.")
    return render(
        request,
        "advisory.html",
        p,
        "vulnerabilities",
        adv=adv,
        matches=service.concerned_assets(db, advisory_id),
        affected_products=[x for x in adv.products if x.status in ("affected", "under_investigation")],
        other_products=[x for x in adv.products if x.status not in ("affected", "under_investigation")],
    )
