"""Retention of the sensor's data-mining stores: devices, alerts, alert PCAPs, event timeline, logs.

Each store has a retention period and a maximum size (records; megabytes for alert PCAPs), set in
the sensor console's Advanced Configurations (category ``retention``) and enforced oldest first.

Age is measured back from the newest record of the same store, not from the wall clock: a replayed
capture from last year keeps its devices and alerts, while on a live tap the newest record is "now"
and data ages as in real time. The pipeline enforces once a minute of capture time (and at the end
of a replay); the console enforces again whenever the limits are saved.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

#: The stores, in the words the console shows.
STORES: Final = {
    "devices": "devices",
    "alerts": "alerts",
    "alert_pcaps": "alert PCAPs",
    "timeline": "event timeline",
    "logs": "logs",
}
DAY: Final = 86_400.0
MB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoreLimit:
    """``days`` of history at most and ``max_size`` records at most (bytes for alert PCAPs)."""

    days: float
    max_size: int

    @property
    def seconds(self) -> float:
        return self.days * DAY

    def cutoff(self, newest: float) -> float:
        """Records older than this go (``newest`` is the store's newest timestamp)."""
        return newest - self.seconds


@dataclass(frozen=True, slots=True)
class Retention:
    devices: StoreLimit = StoreLimit(90, 100_000)
    alerts: StoreLimit = StoreLimit(90, 100_000)
    alert_pcaps: StoreLimit = StoreLimit(30, 64 * MB)
    timeline: StoreLimit = StoreLimit(90, 100_000)
    logs: StoreLimit = StoreLimit(30, 10_000)

    @classmethod
    def from_config(cls, values: dict[str, str]) -> Retention:
        """From the ``retention`` Advanced Configuration (``devices_days``, ``devices_max``,
        ``alert_pcaps_max_mb``...); missing keys keep the defaults. Values were checked on save."""
        default = cls()
        limits: dict[str, StoreLimit] = {}
        for f in fields(cls):
            base: StoreLimit = getattr(default, f.name)
            size_key, scale = (f"{f.name}_max_mb", MB) if f.name == "alert_pcaps" else (f"{f.name}_max", 1)
            days = float(values.get(f"{f.name}_days", base.days))
            size = int(float(values[size_key]) * scale) if size_key in values else base.max_size
            limits[f.name] = StoreLimit(days, size)
        return cls(**limits)

    def as_config(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            limit: StoreLimit = getattr(self, f.name)
            out[f"{f.name}_days"] = _number(limit.days)
            if f.name == "alert_pcaps":
                out[f"{f.name}_max_mb"] = _number(limit.max_size / MB)
            else:
                out[f"{f.name}_max"] = str(limit.max_size)
        return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def positive_number(text: str) -> bool:
    """A retention period or a size in megabytes: a number above zero."""
    try:
        return 0 < float(text) < 1e9
    except ValueError:
        return False


def positive_count(text: str) -> bool:
    return text.isdigit() and 0 < int(text) <= 100_000_000
