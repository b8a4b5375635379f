"""What every server-rendered console page shares: the Jinja environment (filters, globals), the page
shell (``render``: base layout, signed-in principal, active menu entry), error pages, and the paging
helpers. Each domain renders its own pages (``console/<domain>/pages.py``) with these.

Pages are rendered from the database with the same queries the JSON API uses; their forms are a
little vanilla JavaScript (static/js/) that calls the JSON API. What a user may change is decided by
each page, from ``Principal.can``: controls a role may not use are not rendered at all.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import otwatch
from otwatch.advisories.severity import CvssSeverity
from otwatch.console.deps import Permission, Principal, SessionDep, principal_from_request
from otwatch.console.pagination import PageParams
from otwatch.inventory.vocabulary import AlertStatus, Severity
from otwatch.ui import csrf
from otwatch.ui.charts import format_bytes, format_number

__all__ = [
    "STATIC_DIR",
    "current_principal",
    "error_page",
    "export_link",
    "forbidden",
    "format_detail",
    "format_duration",
    "format_time",
    "pager",
    "render",
    "sort_link",
    "templates",
    "to_login",
    "window",
]

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
templates = Jinja2Templates(directory=WEB_DIR / "templates")

SEVERITY_COLOURS = {s.value: s.colour for s in Severity}  # the shared vocabulary's colours
ALERT_STATUS_COLOURS = {s.value: s.colour for s in AlertStatus}


def format_time(value: datetime | None) -> str:
    """Same text as static/js/common.js ``fmtTime``: UTC, to the second."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def format_duration(seconds: float | None) -> str:
    """Same text as static/js/common.js ``fmtDuration``."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "—"  # None, or a value stored unchecked by an older console
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
templates.env.globals["otwatch_version"] = otwatch.__version__  # bottom-left of every page (seed 002)
templates.env.globals["csrf_token"] = csrf.token
templates.env.globals["SEVERITY_COLOURS"] = SEVERITY_COLOURS  # _macros.html badges
templates.env.globals["CVSS_COLOURS"] = {s.value: s.colour for s in CvssSeverity}
templates.env.globals["ALERT_STATUS_COLOURS"] = ALERT_STATUS_COLOURS


def sort_link(request: Request, key: str) -> dict[str, str | None]:
    """A sortable column heading's link and state: the page with ``?sort=key`` (ascending first,
    descending on the next click), the other parameters kept and the paging restarted; ``state`` is
    the ``aria-sort`` value when the list is sorted by this column."""
    current = request.query_params.get("sort", "")
    state = "ascending" if current == key else "descending" if current == f"-{key}" else None
    keep = {k: v for k, v in request.query_params.items() if k not in ("sort", "offset") and v != ""}
    keep["sort"] = f"-{key}" if state == "ascending" else key
    return {"href": f"{request.url.path}?{urlencode(keep)}", "state": state}


def export_link(request: Request, path: str, drop: tuple[str, ...] = ()) -> str:
    """The CSV export of what the page's filters show: its query without paging (``drop``: page-only
    parameters)."""
    skip = {"limit", "offset", *drop}
    keep = {k: v for k, v in request.query_params.items() if k not in skip and v != ""}
    return f"{path}?{urlencode(keep)}" if keep else path


templates.env.globals["sort_link"] = sort_link


PASSWORD_PAGE = "/account/password"


class PasswordChangeRequired(Exception):
    """A page asked for by a user who must change their password first (answered with a redirect to
    the password page, ``app.py``)."""


def current_principal(request: Request, db: SessionDep) -> Principal | None:
    """Who is signed in (session cookie), or None. A user who must change their password sees the
    password page and nothing else (`PasswordChangeRequired`)."""
    p = principal_from_request(request, db)
    if p is not None and p.must_change and request.url.path not in (PASSWORD_PAGE, "/logout"):
        raise PasswordChangeRequired()
    return p


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def render(
    request: Request, name: str, p: Principal, active: str, status_code: int = 200, **context: Any
) -> Response:
    """A page in the console's shell (base.html): ``active`` is the menu entry shown as current."""
    return templates.TemplateResponse(
        request, name, {"principal": p, "active": active, **context}, status_code=status_code
    )


def error_page(request: Request, p: Principal, status_code: int, title: str, message: str) -> Response:
    return render(request, "error.html", p, "", status_code, title=title, message=message)


def forbidden(request: Request, p: Principal, perm: Permission) -> Response:
    return error_page(
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


def window(request: Request, default_limit: int = 50) -> PageParams:
    """The page's window of rows from ``?limit=&offset=`` (lenient)."""
    qp = request.query_params
    return PageParams(
        limit=_int(qp.get("limit"), default_limit, 1, 1000), offset=_int(qp.get("offset"), 0, 0, 10**9)
    )


def pager(request: Request, page: PageParams, total: int) -> dict[str, Any]:
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
