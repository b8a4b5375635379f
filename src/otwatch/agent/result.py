"""What a scan reports: statuses in the seed's words, per-phase progress, and merged assets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from otwatch.inventory.identity import Identity
from otwatch.inventory.mac import normalise_mac
from otwatch.inventory.merge import offer, rank, source_rank


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


#: Identity fields merged onto the asset (by source rank, see :meth:`Asset.merge`).
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
    sources: dict[str, str] = field(default_factory=dict)  # field -> the protocol that gave its value

    def merge(self, identities: Iterable[Identity]) -> None:
        """Merge identities by the one rule of :func:`otwatch.inventory.merge.offer`, whatever their
        order: an OT answer outranks an IT answer, which outranks a banner guess (``fingerprint``)."""
        ranks = {n: source_rank(s, n, getattr(self, n, None)) for n, s in self.sources.items()}
        for ident in identities:
            src = ident.protocol
            for name in _MERGED:
                offer(self, ranks, self.sources, name, getattr(ident, name), rank(ident, name), src)
            if ident.device_type is not None:
                offer(
                    self,
                    ranks,
                    self.sources,
                    "device_type",
                    str(ident.device_type),
                    rank(ident, "device_type"),
                    src,
                )
            os_name = ident.extra.get("os")
            if isinstance(os_name, str):
                offer(self, ranks, self.sources, "os", os_name, source_rank(src, "os", os_name), src)
            if not self.modules and ident.modules:
                self.modules = list(ident.modules)
            mac = normalise_mac(ident.extra.get("mac"))
            if self.mac is None and mac is not None:
                self.mac = mac
            if src != "fingerprint":
                if src not in self.protocols:
                    self.protocols.append(src)
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
