"""Data-mining queries over the sensor's stores: devices, alerts, alert PCAPs, event timeline, logs.

A :class:`Query` names one store and any of these filters: a time range (a record matches when its
own time span overlaps the range), protocol, IP or MAC address (either end of an alert, any address
an event names), severity and type (device type; alert code, engine or title; event type; log
level). :func:`run` reads a consistent snapshot (call it under the sensor's lock) and returns a
table: ordered columns and rows of plain values (times as epoch seconds), newest first, which the
console shows as a table, the API returns as JSON and :func:`to_csv` exports.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Final

from otwatch.inventory.asset import Asset
from otwatch.inventory.vocabulary import Severity
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.alerts import Alert
from otwatch.sensor.tracking.retention import STORES
from otwatch.sensor.tracking.timeline import Event, LogEntry

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "devices": (
        "id", "ip", "mac", "name", "vendor", "model", "firmware", "device_type", "protocols",
        "first_seen", "last_seen", "packets", "bytes",
    ),
    "alerts": (
        "id", "severity", "engine", "title", "protocol", "source", "destination", "first_seen",
        "last_seen", "count", "status",
    ),
    "alert_pcaps": ("alert", "severity", "title", "protocol", "source", "destination", "first_seen", "pcap_bytes"),
    "timeline": ("id", "time", "type", "title", "details"),
    "logs": ("id", "time", "level", "logger", "message"),
}  # fmt: skip
TIME_COLUMNS: Final = frozenset({"first_seen", "last_seen", "time"})
#: Column headings where capitalising the name is not enough.
TITLES: Final = {"ip": "IP", "mac": "MAC", "pcap_bytes": "PCAP bytes", "alert": "Alert id", "id": "Id"}
MAX_ROWS: Final = 100_000
_MAC: Final = re.compile(r"^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$")
_ADDRESS_KEYS: Final = ("ip", "mac", "source", "destination")


@dataclass(frozen=True, slots=True)
class Query:
    store: str = "alerts"
    since: float | None = None
    until: float | None = None
    protocol: str = ""
    address: str = ""  # an IP address or a MAC, normalised (lower case, colons)
    severity: str = ""
    type: str = ""

    def params(self) -> dict[str, str]:
        """The filters as they were given, minus the empty ones (for links: paging, CSV export)."""
        out = {"store": self.store, "protocol": self.protocol, "address": self.address}
        out |= {"severity": self.severity, "type": self.type}
        return {k: v for k, v in out.items() if v}


@dataclass(slots=True)
class Result:
    store: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    total: int  # matches before the row limit

    def as_dict(self) -> dict[str, Any]:
        return {"store": self.store, "columns": list(self.columns), "total": self.total, "rows": self.rows}


def parse_time(text: str, zone: tzinfo, what: str) -> float | None:
    """``2024-05-01T08:00`` (the browser's datetime-local, in the console's zone) or ISO 8601 with an
    offset -> epoch seconds; empty -> None."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a date and time (e.g. 2024-05-01T08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def normalise_address(text: str) -> str:
    text = text.strip().lower()
    if not text:
        return ""
    if _MAC.match(text):
        digits = text.replace(":", "").replace("-", "")
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValueError(f"IP/MAC: {text!r} is neither an IP address nor a MAC address") from None


def parse_query(params: Mapping[str, str], zone: tzinfo) -> Query:
    """A query from form or URL parameters; ValueError says which field is wrong and why."""
    store = params.get("store", "alerts").strip() or "alerts"
    if store not in STORES:
        raise ValueError(f"Store: {store!r} is not one of {', '.join(STORES)}")
    severity = params.get("severity", "").strip()
    if severity and severity not in {s.value for s in Severity}:
        raise ValueError(f"Severity: {severity!r} is not one of {', '.join(s.value for s in Severity)}")
    since = parse_time(params.get("since", ""), zone, "From")
    until = parse_time(params.get("until", ""), zone, "To")
    if since is not None and until is not None and until < since:
        raise ValueError("To: the end of the time range is before its start")
    return Query(
        store=store,
        since=since,
        until=until,
        protocol=params.get("protocol", "").strip().lower(),
        address=normalise_address(params.get("address", "")),
        severity=severity,
        type=params.get("type", "").strip(),
    )


def _overlaps(q: Query, first: float, last: float) -> bool:
    return (q.since is None or last >= q.since) and (q.until is None or first <= q.until)


def _type_matches(wanted: str, *values: str | None) -> bool:
    """Case-insensitive: equal to one of the values, or contained in the last (a title or message)."""
    if not wanted:
        return True
    w = wanted.lower()
    texts = [v.lower() for v in values if v]
    return w in texts or (bool(texts) and w in texts[-1])


def _asset_matches(asset: Asset | None, address: str) -> bool:
    return asset is not None and address in (asset.ip, asset.mac)


def _names(value: Any, address: str) -> bool:
    """Does an asset label (``10.0.0.5 (00:1d:9c:..)``), an IP or a MAC name exactly this address?"""
    return bool(value) and address in str(value).replace("(", " ").replace(")", " ").split()


def _devices(sensor: Sensor, q: Query) -> Iterable[dict[str, Any]]:
    sensor.inventory.classify()
    for a in sensor.inventory.assets:
        if not _overlaps(q, a.first_seen, a.last_seen):
            continue
        if q.address and not _asset_matches(a, q.address):
            continue
        if q.protocol and all(p != q.protocol for p, _role in a.protocols):
            continue
        d = a.as_dict()
        if not _type_matches(q.type, d["device_type"]):
            continue
        protocols = sorted({f"{p} ({role})" for p, role in a.protocols})
        yield {col: d.get(col) for col in COLUMNS["devices"]} | {"protocols": ", ".join(protocols)}


def _alerts(sensor: Sensor, q: Query, with_pcap: bool) -> Iterable[Alert]:
    by_id = {a.id: a for a in sensor.inventory.assets} if q.address else {}
    for al in sensor.alerts.alerts.values():
        if with_pcap and not al.pcap:
            continue
        if not _overlaps(q, al.first_seen, al.last_seen):
            continue
        if q.severity and al.severity != q.severity:
            continue
        if q.protocol and (al.protocol or "") != q.protocol:
            continue
        if not _type_matches(q.type, al.type.code, al.engine.value, al.title):
            continue
        if q.address and not (
            _asset_matches(by_id.get(al.source or -1), q.address)
            or _asset_matches(by_id.get(al.destination or -1), q.address)
            or _names(al.source_label, q.address)
            or _names(al.destination_label, q.address)
        ):
            continue
        yield al


def _alert_row(al: Alert) -> dict[str, Any]:
    return {
        "id": al.id,
        "alert": al.id,
        "severity": al.severity.value,
        "engine": al.engine.value,
        "title": al.title,
        "protocol": al.protocol,
        "source": al.source_label,
        "destination": al.destination_label,
        "first_seen": al.first_seen,
        "last_seen": al.last_seen,
        "count": al.count,
        "status": al.status.value,
        "pcap_bytes": len(al.pcap) if al.pcap else 0,
    }


def event_matches(e: Event, q: Query) -> bool:
    """The timeline filters (shared with the Event timeline page)."""
    if not _overlaps(q, e.ts, e.ts):
        return False
    d = e.details
    if q.severity and d.get("severity") != q.severity:
        return False
    if q.protocol and (d.get("protocol") or "") != q.protocol:
        return False
    if q.type and q.type.lower() not in (e.type.value.lower(), e.type.name.lower()):
        return False
    return not q.address or any(_names(d.get(k), q.address) for k in _ADDRESS_KEYS)


def event_row(e: Event, fmt_time: Callable[[Any], str] | None = None) -> dict[str, Any]:
    """One event as a table row; ``details`` as ``key=value`` text, capture times (``seen``) formatted
    with ``fmt_time`` when given (the console's format), else left as epoch seconds."""
    details = ", ".join(
        f"{k}={fmt_time(v) if fmt_time is not None and k == 'seen' else v}"
        for k, v in e.details.items()
        if v is not None and v != ""
    )
    return {"id": e.id, "time": e.ts, "type": e.type.value, "title": e.title, "details": details}


def _logs(entries: Iterable[LogEntry], q: Query) -> Iterable[dict[str, Any]]:
    for entry in entries:
        if not _overlaps(q, entry.ts, entry.ts):
            continue
        if not _type_matches(q.type, entry.level, entry.logger, entry.message):
            continue
        if q.address and q.address not in entry.message.lower():
            continue
        if q.protocol and q.protocol not in entry.message.lower():
            continue
        yield entry.as_dict()


def run(
    sensor: Sensor,
    logs: Iterable[LogEntry],
    q: Query,
    limit: int = MAX_ROWS,
    fmt_time: Callable[[Any], str] | None = None,
) -> Result:
    """The rows of ``q.store`` that match, newest first (by last seen, or time), at most ``limit``.
    ``fmt_time`` formats the times inside event details (the columns stay epoch seconds)."""
    rows: list[dict[str, Any]]
    if q.store == "devices":
        rows = list(_devices(sensor, q))
        key = "last_seen"
    elif q.store in ("alerts", "alert_pcaps"):
        rows = [_alert_row(a) for a in _alerts(sensor, q, q.store == "alert_pcaps")]
        key = "last_seen" if q.store == "alerts" else "first_seen"
    elif q.store == "timeline":
        rows = [event_row(e, fmt_time) for e in sensor.timeline if event_matches(e, q)]
        key = "time"
    else:
        rows = list(_logs(logs, q))
        key = "time"
    rows.sort(key=lambda r: (-(r[key] or 0.0), -(r.get("id") or r.get("alert") or 0)))
    columns = COLUMNS[q.store]
    return Result(q.store, columns, [{c: r.get(c) for c in columns} for r in rows[:limit]], len(rows))


def to_csv(result: Result, fmt_time: Callable[[Any], str]) -> str:
    """The table as CSV with a header row; times formatted as the console shows them."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(
            [
                fmt_time(row[c]) if c in TIME_COLUMNS and row[c] is not None else _cell(row[c])
                for c in result.columns
            ]
        )
    return out.getvalue()


def _cell(value: Any) -> str:
    """Text for a CSV cell; a leading formula character is quoted so spreadsheets do not run it."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
