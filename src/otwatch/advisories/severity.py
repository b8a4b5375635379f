"""CVSS v3 qualitative severity ratings (CVSS v3.1 specification, section 5), one class with colours."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class CvssSeverity(StrEnum):
    """Most severe first; ``UNKNOWN`` when an advisory gives no score."""

    CRITICAL = "Critical"  # 9.0 - 10.0
    HIGH = "High"  # 7.0 - 8.9
    MEDIUM = "Medium"  # 4.0 - 6.9
    LOW = "Low"  # 0.1 - 3.9
    NONE = "None"  # 0.0
    UNKNOWN = "Unknown"

    @property
    def colour(self) -> str:
        """The badge colour (a CSS class suffix of the consoles)."""
        return _COLOURS[self]

    @property
    def floor(self) -> float | None:
        """The lowest base score of this rating."""
        return _FLOORS.get(self)

    @staticmethod
    def of(score: float | None) -> CvssSeverity:
        if score is None:
            return CvssSeverity.UNKNOWN
        if score >= 9.0:
            return CvssSeverity.CRITICAL
        if score >= 7.0:
            return CvssSeverity.HIGH
        if score >= 4.0:
            return CvssSeverity.MEDIUM
        if score > 0:
            return CvssSeverity.LOW
        return CvssSeverity.NONE


_COLOURS: Final = {
    CvssSeverity.CRITICAL: "red",
    CvssSeverity.HIGH: "orange",
    CvssSeverity.MEDIUM: "purple",
    CvssSeverity.LOW: "blue",
    CvssSeverity.NONE: "grey",
    CvssSeverity.UNKNOWN: "grey",
}
_FLOORS: Final = {
    CvssSeverity.CRITICAL: 9.0,
    CvssSeverity.HIGH: 7.0,
    CvssSeverity.MEDIUM: 4.0,
    CvssSeverity.LOW: 0.1,
}
