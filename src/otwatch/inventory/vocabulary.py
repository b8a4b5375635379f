"""The alert vocabulary every part shares: engines, severities and alert statuses, each declared once.

The words are the seeds' (``Critical``, ``Protocol Violation`` ...). Each member carries what the
parts used to keep in dicts of their own: its rank (most severe first), its colour in both consoles,
and how it maps onto CEF, LEEF and syslog. The console's API and forwarding schemas, the wire messages
and the sensor's engines all name these classes, so a new severity or engine is added here only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal


class Engine(StrEnum):
    """The five analytics engines of a sensor, in the seeds' words and display order."""

    PROTOCOL_VIOLATION = "Protocol Violation"
    POLICY_VIOLATION = "Policy Violation"
    MALWARE = "Malware"
    ANOMALY = "Anomaly"
    OPERATIONAL = "Operational"


class Severity(StrEnum):
    """Alert severities, most severe first."""

    CRITICAL = "Critical"
    MAJOR = "Major"
    MINOR = "Minor"
    WARNING = "Warning"

    @property
    def order(self) -> int:
        """Rank for sorting: 0 is the most severe."""
        return _SEVERITY[self][0]

    @property
    def colour(self) -> str:
        """The badge colour both consoles use (a CSS class suffix)."""
        return _SEVERITY[self][1]

    @property
    def cef(self) -> int:
        """CEF and LEEF severity (0-10)."""
        return _SEVERITY[self][2]

    @property
    def syslog(self) -> int:
        """RFC 5424 severity: crit, err, warning, notice."""
        return _SEVERITY[self][3]


# order, colour, CEF/LEEF, syslog
_SEVERITY: Final[dict[Severity, tuple[int, str, int, int]]] = {
    Severity.CRITICAL: (0, "red", 10, 2),
    Severity.MAJOR: (1, "orange", 8, 3),
    Severity.MINOR: (2, "blue", 5, 4),
    Severity.WARNING: (3, "grey", 3, 5),
}


class AlertStatus(StrEnum):
    """An alert's life: open, acknowledged by an analyst, closed (a new occurrence opens a new one)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"

    @property
    def colour(self) -> str:
        return _STATUS_COLOUR[self]


_STATUS_COLOUR: Final[dict[AlertStatus, str]] = {
    AlertStatus.OPEN: "red",
    AlertStatus.ACKNOWLEDGED: "orange",
    AlertStatus.CLOSED: "grey",
}


#: For pydantic models and FastAPI query parameters that want the words as a Literal (the wire format).
SeverityName = Literal["Critical", "Major", "Minor", "Warning"]
EngineName = Literal["Protocol Violation", "Policy Violation", "Malware", "Anomaly", "Operational"]

SEVERITIES: Final[tuple[str, ...]] = tuple(s.value for s in Severity)
ENGINES: Final[tuple[str, ...]] = tuple(e.value for e in Engine)


def severity_order(name: str) -> int:
    """Rank of a severity given by name; unknown names sort last instead of failing a page."""
    try:
        return Severity(name).order
    except ValueError:
        return len(_SEVERITY)
