"""The Agents and Sites and Sensors lists as one query each, shared by the pages, their polls, the API
and the CSV export, so all four select and order the same rows (``?sort=`` through console.tables)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from otwatch.console.context import ConsoleContext
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.schemas import NodeOut
from otwatch.console.fleet.status import status_sql
from otwatch.console.tables import Sorts, joined, parse_sort, sort_by

#: what the Agent Name / Sensor column shows: the name given, else the host name
_SHOWN_NAME = func.coalesce(func.nullif(Node.name, ""), Node.hostname)


def sorts(ctx: ConsoleContext | None = None, now: datetime | None = None) -> Sorts:
    """The fleet lists' sortable columns (?sort=): every column that is a SQL column or expression.
    Status is derived; it sorts by the same SQL ``CASE`` that filters by it, so it needs ``now``
    (without a context the key is only named, for validation)."""
    status: Any = (
        status_sql(now, ctx.settings.offline_after, ctx.settings.max_clock_skew)
        if ctx is not None and now is not None
        else Node.last_seen
    )
    return {
        "ip": (Node.ip, Node.hostname),
        "name": (_SHOWN_NAME,),
        "site": (Node.site,),
        "status": (status,),
        "last_scan_result": (Node.last_scan_result,),
        "last_scan": (Node.last_scan_at,),
        "last_scan_duration": (Node.last_scan_duration,),
        "reported_assets": (Node.reported_assets,),
        "version": (Node.version,),
        "engine_version": (Node.engine_version,),
        "host_os": (Node.host_os,),
        "enrolled_at": (Node.enrolled_at,),
        "last_seen": (Node.last_seen,),
    }


SORT_KEYS = tuple(sorts())


def sortable(value: str | None) -> str | None:
    """``value`` when it names a sortable column (the pages ignore an odd ?sort=, the API refuses it)."""
    try:
        return value if value and parse_sort(value, sorts()) is not None else None
    except ValueError:
        return None


def query(
    ctx: ConsoleContext,
    kind: str,
    now: datetime,
    status: str | None = None,
    q: str | None = None,
    sort: str | None = None,
) -> Select[Any]:
    """Nodes of ``kind`` in enrolment order or by ``sort`` (ValueError naming the sortable columns
    for another); ``status`` by the same SQL rule the statuses shown follow, at ``now``."""
    stmt = sort_by(
        select(Node).where(Node.kind == kind).order_by(Node.enrolled_at), sort, sorts(ctx, now), Node.id
    )
    if q:
        like = f"%{q}%"
        stmt = stmt.where(Node.name.ilike(like) | Node.hostname.ilike(like) | Node.ip.ilike(like))
    if status is not None:
        s = ctx.settings
        stmt = stmt.where(status_sql(now, s.offline_after, s.max_clock_skew) == status)
    return stmt


def _seconds(value: float | None) -> object:
    return None if value is None else round(value, 1)


AGENT_COLUMNS: list[tuple[str, Callable[[NodeOut], object]]] = [
    ("IP", lambda n: n.ip),
    ("Host", lambda n: n.hostname),
    ("Status", lambda n: n.status),
    ("Last Scan Result", lambda n: n.last_scan_result),
    ("Active Query Networks", lambda n: joined(n.active_query_networks + n.duplicated_networks)),
    ("Agent Name", lambda n: n.name),
    ("Scan Schedule", lambda n: n.scan_schedule),
    ("Last Scan (UTC)", lambda n: n.last_scan),
    ("Last Scan Duration (s)", lambda n: _seconds(n.last_scan_duration)),
    ("Credentials", lambda n: joined(n.credentials)),
    ("Reported Assets", lambda n: n.reported_assets),
    ("Agent Version", lambda n: n.version),
    ("OTD Version", lambda n: n.engine_version),
    ("Host OS", lambda n: n.host_os),
    ("Enrolled (UTC)", lambda n: n.enrolled_at),
    ("Last Seen (UTC)", lambda n: n.last_seen),
    ("ID", lambda n: n.id),
]

SENSOR_COLUMNS: list[tuple[str, Callable[[NodeOut], object]]] = [
    ("Sensor", lambda n: n.name),
    ("Site", lambda n: n.site),
    ("IP", lambda n: n.ip),
    ("Host", lambda n: n.hostname),
    ("Connection Status", lambda n: n.status),
    ("Version", lambda n: n.version),
    ("Threat Intelligence", lambda n: n.threat_intel_version),
    ("Reported Assets", lambda n: n.reported_assets),
    ("Enrolled (UTC)", lambda n: n.enrolled_at),
    ("Last Seen (UTC)", lambda n: n.last_seen),
    ("ID", lambda n: n.id),
]
