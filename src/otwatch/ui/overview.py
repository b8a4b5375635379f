"""The sensor Overview widgets, shared by the central console and the sensor's own console.

From a sensor's statistics (``otwatch.sensor.tracking.stats`` + the node's summary) to chart data and SVG.
The statistics are the same dictionary whether the console received them in a report or the sensor
computed them a moment ago::

    traffic_per_hour  [{hour: ISO time, mbps, bytes, packets}]   -> Traffic Monitoring (line)
    top_ot_protocols  [{protocol, devices}]                      -> Top 5 OT Protocols (bars)
    traffic_by_port   [{port: "tcp/502" or its alias, bytes}]    -> Traffic By Port (pie)
    summary           {packets, bytes, assets, learning}         -> General Settings

Anything missing or malformed is skipped rather than failing the page: statistics are advisory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from otwatch.ui.charts import bar_chart, format_bytes, line_chart, pie_chart

TOP_PROTOCOLS = 5
PORT_RE = re.compile(r"^(tcp|udp)/(\d{1,5})$")


@dataclass(frozen=True, slots=True)
class Traffic:
    points: list[tuple[str, float]]  # ("HH:00", Mbps), oldest first
    day: str  # the dates shown, e.g. "2026-11-22" or "2026-11-21 – 2026-11-22"
    zone: str = "UTC"  # the zone of the hours and dates


def _number(value: Any) -> float | None:
    """A statistic as a finite number, or None (a node's Infinity or NaN is no number to draw)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _hour(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def traffic(stats: Mapping[str, Any], tz: tzinfo = UTC) -> Traffic:
    """Mbps per hour over the 24 hours up to the newest reported hour ("the day of viewing").

    Hours are sorted (the report need not be); a replayed capture from the past still shows its day.
    Hours and dates are labelled in ``tz`` (the sensor's Time & Region zone; UTC by default).
    """
    hours: dict[datetime, float] = {}
    for row in stats.get("traffic_per_hour") or []:
        if not isinstance(row, Mapping):
            continue
        t, mbps = _hour(row.get("hour")), _number(row.get("mbps"))
        if t is not None and mbps is not None:
            hours[t] = hours.get(t, 0.0) + mbps
    if not hours:
        return Traffic([], "")
    newest = max(hours)
    shown = sorted(t for t in hours if t > newest - timedelta(hours=24))
    days = sorted({t.astimezone(tz).date().isoformat() for t in shown})
    day = days[0] if len(days) == 1 else f"{days[0]} – {days[-1]}"
    points = [(t.astimezone(tz).strftime("%H:%M"), hours[t]) for t in shown]
    return Traffic(points, day, str(tz))


def top_protocols(stats: Mapping[str, Any]) -> list[tuple[str, float]]:
    """(protocol, devices using it), most devices first, at most five."""
    out: dict[str, float] = {}
    for row in stats.get("top_ot_protocols") or []:
        if isinstance(row, Mapping) and isinstance(row.get("protocol"), str):
            n = _number(row.get("devices"))
            if n is not None:
                out[row["protocol"]] = max(out.get(row["protocol"], 0.0), n)
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PROTOCOLS]


def port_label(label: str, aliases: Mapping[Any, Any]) -> str:
    """``tcp/502`` becomes its port alias when the sensor's settings name one (keys may be str or int)."""
    m = PORT_RE.match(label)
    if m:
        port = int(m.group(2))
        alias = aliases.get(port) or aliases.get(str(port))
        if isinstance(alias, str) and alias.strip():
            return alias
    return label


def traffic_by_port(stats: Mapping[str, Any], aliases: Mapping[Any, Any]) -> list[tuple[str, float]]:
    """(port or its alias, bytes), most traffic first; ports sharing an alias are added together."""
    out: dict[str, float] = {}
    for row in stats.get("traffic_by_port") or []:
        if not isinstance(row, Mapping):
            continue
        port, nbytes = row.get("port"), _number(row.get("bytes"))
        if port is None or nbytes is None:
            continue
        label = port_label(str(port), aliases)
        out[label] = out.get(label, 0.0) + nbytes
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def summary(stats: Mapping[str, Any]) -> dict[str, Any]:
    raw = stats.get("summary")
    if not isinstance(raw, Mapping):
        return {}
    # non-finite numbers (stored by an older console) are left out rather than shown or formatted
    return {str(k): v for k, v in raw.items() if not (isinstance(v, float) and not math.isfinite(v))}


@dataclass(frozen=True, slots=True)
class Charts:
    traffic: Traffic
    protocols: list[tuple[str, float]]
    ports: list[tuple[str, float]]
    traffic_svg: str
    protocols_svg: str
    ports_svg: str


def charts(stats: Mapping[str, Any], aliases: Mapping[Any, Any], tz: tzinfo = UTC) -> Charts:
    t = traffic(stats, tz)
    protocols = top_protocols(stats)
    ports = traffic_by_port(stats, aliases)
    return Charts(
        traffic=t,
        protocols=protocols,
        ports=ports,
        traffic_svg=line_chart(t.points, title="Traffic Monitoring (Mbps per hour)", unit="Mbps"),
        protocols_svg=bar_chart(
            protocols, title="Top 5 OT Protocols (devices)", unit="devices", empty_text="No OT protocols yet"
        ),
        ports_svg=pie_chart(ports, title="Traffic By Port", value_format=format_bytes),
    )
