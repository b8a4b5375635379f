"""What a scan reports: statuses in the seed's words, per-phase progress, and merged assets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from otwatch.inventory.identity import Identity


class ScanStatus(StrEnum):
    """ "Last Scan Result" of the Agents page."""

    COMPLETED = "Completed"
    FAILED = "Failed"


class ScanPhase(StrEnum):
    """The seed's active-query steps, in the order a scan runs them."""

    DISCOVERY = "Discovery"
    OPEN_PORTS = "Open ports check"
    ENRICHMENT = "Initial Enrichment"
    OT_QUERIES = "OT Queries"
    IT_QUERIES = "IT Queries"


@dataclass(frozen=True, slots=True)
class ScanProgress:
    phase: ScanPhase
    done: int
    total: int
    message: str = ""


#: Identity fields copied onto the asset; the first identity that knows a field wins.
_MERGED = ("vendor", "vendor_id", "model", "product_code", "firmware", "serial", "name", "state")


@dataclass(slots=True)
class Asset:
    """One live host as this scan saw it. Protocol answers outrank banner guesses (``fingerprint``)."""

    ip: str
    mac: str | None = None
    vendor: str | None = None
    vendor_id: int | None = None
    model: str | None = None
    product_code: int | None = None
    firmware: str | None = None
    serial: str | None = None
    name: str | None = None
    device_type: str | None = None
    state: str | None = None  # OT state, e.g. "Run" / "Stop"
    os: str | None = None
    discovered_by: str | None = None  # "icmp", "tcp-open", "tcp-refused"
    open_ports: list[int] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    modules: list[dict[str, Any]] = field(default_factory=list)
    banners: dict[str, str] = field(default_factory=dict)
    identities: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, identities: Iterable[Identity]) -> None:
        """Fill unknown fields from identities given best first (OT answers, IT answers, fingerprint)."""
        for ident in identities:
            for name in _MERGED:
                if getattr(self, name) is None and getattr(ident, name) is not None:
                    setattr(self, name, getattr(ident, name))
            if self.device_type is None and ident.device_type is not None:
                self.device_type = str(ident.device_type)
            if not self.modules and ident.modules:
                self.modules = list(ident.modules)
            mac = ident.extra.get("mac")
            if self.mac is None and isinstance(mac, str):
                self.mac = mac
            os_name = ident.extra.get("os")
            if self.os is None and isinstance(os_name, str):
                self.os = os_name
            if ident.protocol != "fingerprint":
                if ident.protocol not in self.protocols:
                    self.protocols.append(ident.protocol)
                self.identities.append(ident.as_dict())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ScanResult:
    status: ScanStatus
    started_at: str  # ISO 8601, UTC
    duration_s: float
    targets: list[str]
    aborted: bool = False
    error: str | None = None
    hosts_scanned: int = 0
    refused: list[str] = field(default_factory=list)  # targets or sends refused as outside the scope
    assets: list[Asset] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = str(self.status)
        return d
