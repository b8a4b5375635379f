"""Time & Region: the sensor console's time zone and date format, and the ONE function that formats times.

Every time the sensor console shows (alerts, devices, the clock on the Time & Region page) goes
through :func:`format_time` with the saved :class:`TimeRegion`; templates use it as the ``fmt_time``
filter. The three date formats are the seed's, in its own notation.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Final


class DateFormat(StrEnum):
    DAY_FIRST = "dd/MM/yyyy HH:mm:ss"
    MONTH_FIRST = "MM/dd/yyyy HH:mm:ss"
    YEAR_FIRST = "yyyy/MM/dd HH:mm:ss"

    @property
    def strftime(self) -> str:
        return _STRFTIME[self]


_STRFTIME: Final = {
    DateFormat.DAY_FIRST: "%d/%m/%Y %H:%M:%S",
    DateFormat.MONTH_FIRST: "%m/%d/%Y %H:%M:%S",
    DateFormat.YEAR_FIRST: "%Y/%m/%d %H:%M:%S",
}
NO_TIME: Final = "—"


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA zone names this host knows (system tz database or the tzdata package), sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_timezone(name: str) -> str:
    """The zone name itself, or ValueError with a message a user can act on."""
    name = name.strip()
    if not name:
        raise ValueError("Time Zone: choose a time zone")
    if name not in time_zones():
        raise ValueError(f"Time Zone: {name!r} is not a known IANA time zone (e.g. Europe/Berlin, UTC)")
    return name


def validate_date_format(text: str) -> DateFormat:
    try:
        return DateFormat(text)
    except ValueError:
        allowed = ", ".join(f.value for f in DateFormat)
        raise ValueError(f"Date Format: {text!r} is not supported (one of {allowed})") from None


@dataclass(frozen=True, slots=True)
class TimeRegion:
    timezone: str = "UTC"
    date_format: DateFormat = DateFormat.YEAR_FIRST

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def as_dict(self) -> dict[str, str]:
        return {"timezone": self.timezone, "date_format": self.date_format.value}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TimeRegion:
        """Lenient on load: a zone or format this host no longer knows falls back to the default."""
        tz, fmt = str(data.get("timezone", "UTC")), str(data.get("date_format", DateFormat.YEAR_FIRST))
        try:
            return cls(validate_timezone(tz), validate_date_format(fmt))
        except ValueError:
            return cls()


def format_time(value: float | datetime | str | None, region: TimeRegion) -> str:
    """An epoch timestamp (the pipeline's), a datetime or an ISO 8601 text, in the sensor's zone and
    format. Naive datetimes are taken as UTC. ``None`` (never seen) is an em dash.
    """
    if value is None:
        return NO_TIME
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    return moment.astimezone(region.zone).strftime(region.date_format.strftime)


def zone_label(region: TimeRegion, now: datetime | None = None) -> str:
    """``Europe/Berlin (UTC+01:00)``: the zone and its current offset, for page footers."""
    moment = (now or datetime.now(UTC)).astimezone(region.zone)
    offset = moment.strftime("%z")
    return f"{region.timezone} (UTC{offset[:3]}:{offset[3:]})"
