"""Event timeline and Data mining: the sensor console's pages over its stores, with JSON and CSV.

``/timeline`` lists the sensor's events newest first with filters and paging (``/api/timeline`` the
same as JSON); ``/data-mining`` queries devices, alerts, alert PCAPs, the event timeline or logs
(:mod:`otwatch.sensor.pipeline.datamining`) as a table, ``/data-mining/export.csv`` downloads the same rows
and ``/api/data-mining`` returns them as JSON. The API endpoints use the console session, like the pages.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from otwatch.inventory.vocabulary import Severity
from otwatch.sensor.pipeline import datamining
from otwatch.sensor.pipeline.datamining import Query, Result, event_matches, parse_query
from otwatch.sensor.tracking.retention import STORES
from otwatch.sensor.tracking.timeline import Event, EventType
from otwatch.sensor.web.deps import ConsoleDep, CurrentUser, SensorConsole

router = APIRouter()
PER_PAGE: Final = 50
MAX_PER_PAGE: Final = 500
PAGE_ROWS: Final = 1000  # rows shown on the Data mining page; the CSV and the API give up to MAX_ROWS


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if isinstance(v, str)}


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(text or default)))
    except ValueError:
        return default


def _timeline(c: SensorConsole, request: Request) -> tuple[Query, list[Event], int, int, int]:
    """Filtered events, newest first, and the page asked for: (query, page events, total, page, per page)."""
    params = _params(request)
    params["store"] = "timeline"
    q = parse_query(params, c.store.time_region.zone)
    per_page = _int(params.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE)
    with c.host.lock:
        events = [e for e in c.host.sensor.timeline.newest_first() if event_matches(e, q)]
    pages = max(1, -(-len(events) // per_page))
    page = _int(params.get("page"), 1, 1, pages)
    return q, events[(page - 1) * per_page : page * per_page], len(events), page, per_page


@router.get("/timeline", response_class=HTMLResponse)
def timeline_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    params = _params(request)
    context: dict[str, Any] = {
        "active": "timeline",
        "types": [t.value for t in EventType],
        "severities": [s.value for s in Severity],
        "form": params,
        "events": [],
        "total": 0,
        "page": 1,
        "pages": 1,
        "error": None,
    }
    try:
        q, events, total, page, per_page = _timeline(c, request)
    except ValueError as exc:
        return c.render(request, "timeline.html", user, 400, **{**context, "error": str(exc)})
    link = {k: v for k, v in params.items() if k not in ("page", "store") and v}
    return c.render(
        request,
        "timeline.html",
        user,
        **{
            **context,
            "events": [e.as_dict() | {"row": datamining.event_row(e, c.fmt_time)} for e in events],
            "total": total,
            "page": page,
            "pages": max(1, -(-total // per_page)),
            "page_link": lambda n: "/timeline?" + urlencode({**link, "page": n}),
            "filtered": bool(q.params().keys() - {"store"}) or q.since is not None or q.until is not None,
        },
    )


@router.get("/api/timeline")
def timeline_api(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    try:
        _q, events, total, page, per_page = _timeline(c, request)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    return JSONResponse(
        {"total": total, "page": page, "per_page": per_page, "events": [e.as_dict() for e in events]}
    )


def _mine(
    c: SensorConsole, request: Request, limit: int = datamining.MAX_ROWS, for_people: bool = True
) -> Result:
    """The query's rows; ``for_people`` formats times inside event details as the console shows them."""
    q = parse_query(_params(request), c.store.time_region.zone)
    with c.host.lock:
        return datamining.run(c.host.sensor, c.logs.snapshot(), q, limit, c.fmt_time if for_people else None)


@router.get("/data-mining", response_class=HTMLResponse)
def data_mining_page(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    params = _params(request)
    context: dict[str, Any] = {
        "active": "data-mining",
        "stores": STORES,
        "severities": [s.value for s in Severity],
        "form": params,
        "result": None,
        "error": None,
        "time_columns": datamining.TIME_COLUMNS,
        "titles": datamining.TITLES,
    }
    if "store" not in params:
        return c.render(request, "datamining.html", user, **context)
    try:
        result = _mine(c, request, PAGE_ROWS)
    except ValueError as exc:
        return c.render(request, "datamining.html", user, 400, **{**context, "error": str(exc)})
    export = "/data-mining/export.csv?" + urlencode({k: v for k, v in params.items() if v})
    return c.render(request, "datamining.html", user, **{**context, "result": result, "export": export})


@router.get("/data-mining/export.csv")
def data_mining_csv(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    try:
        result = _mine(c, request)
    except ValueError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain")
    body = datamining.to_csv(result, c.fmt_time)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{result.store}.csv"'},
    )


@router.get("/api/data-mining")
def data_mining_api(request: Request, c: ConsoleDep, user: CurrentUser) -> Response:
    try:
        result = _mine(c, request, for_people=False)
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=400)
    return JSONResponse(result.as_dict())
