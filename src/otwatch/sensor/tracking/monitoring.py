"""SPAN monitoring-port failures: a monitoring interface that is down, up with no traffic for a
configurable time, or dropping packets (seed 003: "SPAN monitoring port failures").

Pure and clock-driven: :meth:`PortWatch.check` takes one sample of an interface (up or not, the kernel's
frame counters) and the time, and returns the notifications it raises or clears. The sensor node
samples its live interfaces every few seconds (:mod:`otwatch.sensor.node.portwatch`); tests drive the
clock by hand.

Rules, per interface:

- down (no carrier, or administratively down): **Interface down**, at once;
- up, and no frame received for ``no_traffic_after`` seconds: **No traffic**;
- frames received, but the kernel dropped at least ``drop_percent`` % of them since the previous
  sample (the capture cannot keep up): **Dropping packets**;
- a failure lasts until traffic returns (frames received, none dropped beyond the limit): then one
  "traffic returned" notification clears it. An interface that comes up again without traffic goes
  from Interface down to No traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

DEFAULT_NO_TRAFFIC_AFTER: Final = 300.0
DEFAULT_DROP_PERCENT: Final = 1.0


class PortFailure(StrEnum):
    DOWN = "Interface down"
    NO_TRAFFIC = "No traffic"
    DROPPING = "Dropping packets"


@dataclass(frozen=True, slots=True)
class PortSample:
    """One look at a monitoring interface: its state and the kernel's counters (monotonic)."""

    up: bool
    received: int  # frames the interface received
    dropped: int = 0  # frames the capture socket lost (kernel buffer full)


@dataclass(frozen=True, slots=True)
class PortNotice:
    """A system notification about a monitoring port: raised (``failure`` set) or cleared (None)."""

    interface: str
    failure: PortFailure | None
    message: str
    at: float

    @property
    def title(self) -> str:
        what = self.failure.value if self.failure else "traffic returned"
        return f"SPAN monitoring port {self.interface}: {what}"


@dataclass(slots=True)
class _Port:
    received: int
    dropped: int
    traffic_at: float  # when a frame was last seen arriving (the first sample counts as traffic)
    failure: PortFailure | None = None
    since: float = 0.0
    message: str = ""


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@dataclass
class PortWatch:
    no_traffic_after: float = DEFAULT_NO_TRAFFIC_AFTER
    drop_percent: float = DEFAULT_DROP_PERCENT
    _ports: dict[str, _Port] = field(default_factory=dict)

    def configure(self, no_traffic_after: float, drop_percent: float) -> None:
        if no_traffic_after <= 0 or not 0 < drop_percent <= 100:
            raise ValueError("no_traffic_after must be above 0 and drop_percent within (0, 100]")
        self.no_traffic_after, self.drop_percent = no_traffic_after, drop_percent

    def check(self, interface: str, sample: PortSample, now: float) -> list[PortNotice]:
        """Take one sample; the notifications it raises or clears (usually none)."""
        port = self._ports.get(interface)
        if port is None:
            port = self._ports[interface] = _Port(sample.received, sample.dropped, now)
        received = max(0, sample.received - port.received)  # counters reset when a driver reloads
        dropped = max(0, sample.dropped - port.dropped)
        port.received, port.dropped = sample.received, sample.dropped
        if received:
            port.traffic_at = now
        failure: PortFailure | None
        message = ""
        if not sample.up:
            failure, message = (
                PortFailure.DOWN,
                (
                    f"The monitoring interface {interface} is down: no SPAN traffic reaches the sensor. "
                    "Check the cable and the switch port."
                ),
            )
        elif received and 100.0 * dropped / (received + dropped) >= self.drop_percent:
            share = 100.0 * dropped / (received + dropped)
            failure, message = (
                PortFailure.DROPPING,
                (
                    f"The monitoring interface {interface} is dropping packets: {dropped:,} of "
                    f"{received + dropped:,} frames ({share:.1f} %) were lost since the previous check "
                    f"(the limit is {self.drop_percent:g} %)."
                ),
            )
        elif received or (port.failure is None and now - port.traffic_at < self.no_traffic_after):
            failure = None  # traffic, or quiet for less than the limit
        else:  # no traffic for too long, or a failure that lasts until traffic returns
            failure, message = (
                PortFailure.NO_TRAFFIC,
                (
                    f"The monitoring interface {interface} is up but has received no traffic for "
                    f"{_duration(now - port.traffic_at)} (the limit is {_duration(self.no_traffic_after)}). "
                    "Check the switch's SPAN (port mirroring) session."
                ),
            )
        if failure is port.failure:
            if failure is not None:
                port.message = message  # the current figures, without a new notification
            return []
        was = port.failure
        port.failure, port.since, port.message = failure, now, message
        if failure is not None:
            return [PortNotice(interface, failure, message, now)]
        assert was is not None
        return [
            PortNotice(
                interface,
                None,
                f"Traffic returned on the monitoring interface {interface} ({was.value} cleared).",
                now,
            )
        ]

    def active(self) -> list[PortNotice]:
        """The failures in force now, one per failing interface (the System Messages pane)."""
        return [
            PortNotice(name, p.failure, p.message, p.since)
            for name, p in sorted(self._ports.items())
            if p.failure is not None
        ]

    def status(self) -> list[dict[str, object]]:
        """Every watched interface, for the sensor's status report."""
        return [
            {
                "interface": name,
                "failure": p.failure.value if p.failure else None,
                "since": p.since or None,  # when the current state began (None: never failed)
                "message": p.message,
            }
            for name, p in sorted(self._ports.items())
        ]
