"""The console's home page: the dashboard an analyst opens first thing in the morning."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from otwatch.console.dashboard import service
from otwatch.console.dashboard.schemas import Series
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, Permission, SessionDep
from otwatch.console.web.render import SEVERITY_COLOURS, current_principal, render, to_login
from otwatch.ui.charts import PALETTE, bar_chart, pie_chart, stacked_bar_chart

router = APIRouter(include_in_schema=False)

# the severity badges' colours (app.css), so a chart and its badges agree
SEVERITY_FILL = {"red": "#b3261e", "orange": "#b35900", "blue": "#0b5cad", "grey": "#5d6776"}


def _stacked(title: str, days: list[str], series: list[Series], colours: dict[str, str]) -> str:
    return stacked_bar_chart(
        [d[5:] for d in days],  # MM-DD
        [(s.label, s.values, colours.get(s.label, PALETTE[i % len(PALETTE)])) for i, s in enumerate(series)],
        title=title,
        empty_text="No open alerts in the last 14 days",
    )


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, ctx: CtxDep, db: SessionDep) -> Response:
    p = current_principal(request, db)
    if p is None or not p.can(Permission.VIEW):
        return to_login()
    d = service.dashboard(db, ctx.settings, utcnow())
    severity_colours = {s: SEVERITY_FILL.get(c, "#5d6776") for s, c in SEVERITY_COLOURS.items()}
    engine_colours = {s.label: PALETTE[i % len(PALETTE)] for i, s in enumerate(d.alerts_per_day_by_engine)}
    charts = {
        "severity": _stacked(
            "Open alerts per day by severity", d.days, d.alerts_per_day_by_severity, severity_colours
        ),
        "engine": _stacked(
            "Open alerts per day by engine", d.days, d.alerts_per_day_by_engine, engine_colours
        ),
        "types": bar_chart(
            [(c.label, c.count) for c in d.assets_by_type[:8]],
            title="Assets by type",
            empty_text="No assets yet",
        ),
        "vendors": pie_chart(
            [(c.label, c.count) for c in d.assets_by_vendor],
            title="Assets by vendor",
            empty_text="No assets yet",
        ),
    }
    return render(request, "dashboard.html", p, "dashboard", d=d, charts=charts)
