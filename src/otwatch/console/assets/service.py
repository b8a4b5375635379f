"""Ingesting what agents and sensors report, and querying the inventory.

Matching: an asset is the same device when the MAC matches, or, lacking a MAC on either side, when
the IP matches. A repeated scan therefore updates an asset instead of duplicating it. Reported
values go through the one merge rule of :mod:`otwatch.inventory.merge`: a value replaces the stored
one only when its source ranks at least as high (an OT answer outranks SNMP, which outranks a
banner guess, which outranks the OUI), and an unknown value never erases a known one.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from otwatch.console.assets.models import Asset, AssetProtocol, AssetSource
from otwatch.console.db import utcnow
from otwatch.console.networks.service import parse_cidr
from otwatch.inventory.merge import offer, source_rank
from otwatch.wire.messages import AssetReport

log = logging.getLogger(__name__)

FIELDS = ("name", "vendor", "model", "firmware", "serial", "device_type", "state", "os")


def _ip_num(ip: str | None) -> int | None:
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return int(addr) if addr.version == 4 else None


class _Matcher:
    """The assets a batch of reports can match, read with two queries instead of two per report.

    Same rule as before the batch: the asset with the reported MAC, else the MAC-less asset with the
    reported IP. Assets created or changed by the batch are matched by the reports after them."""

    CHUNK = 500  # bound parameters per IN list

    def __init__(self, db: Session, reports: list[tuple[str | None, str | None]]) -> None:
        self.by_mac: dict[str, Asset] = {}
        self.by_ip: dict[str, Asset] = {}  # MAC-less assets only
        macs = sorted({m for _, m in reports if m})
        ips = sorted({i for i, _ in reports if i})
        load = (selectinload(Asset.protocols), selectinload(Asset.sources))
        for i in range(0, len(macs), self.CHUNK):
            for a in db.scalars(select(Asset).where(Asset.mac.in_(macs[i : i + self.CHUNK])).options(*load)):
                self.by_mac.setdefault(a.mac or "", a)
        for i in range(0, len(ips), self.CHUNK):
            chunk = ips[i : i + self.CHUNK]
            for a in db.scalars(select(Asset).where(Asset.ip.in_(chunk), Asset.mac.is_(None)).options(*load)):
                self.by_ip.setdefault(a.ip or "", a)

    def find(self, ip: str | None, mac: str | None) -> Asset | None:
        if mac and mac in self.by_mac:
            return self.by_mac[mac]
        return self.by_ip.get(ip) if ip else None

    def seen(self, asset: Asset, old_ip: str | None) -> None:
        if old_ip and self.by_ip.get(old_ip) is asset and (asset.mac or asset.ip != old_ip):
            del self.by_ip[old_ip]
        if asset.mac:
            self.by_mac.setdefault(asset.mac, asset)
        elif asset.ip:
            self.by_ip.setdefault(asset.ip, asset)


def parse_reports(items: Iterable[object]) -> list[AssetReport]:
    """Asset dicts from a command result (a scan) as typed reports; what does not validate is left out
    and logged, so one bad entry does not lose the scan."""
    out: list[AssetReport] = []
    for item in items:
        try:
            out.append(AssetReport.model_validate(item))
        except ValidationError as exc:
            log.warning("asset report left out: %s", exc.errors(include_url=False, include_input=False)[:3])
    return out


def ingest(
    db: Session,
    node_id: str,
    reports: Iterable[AssetReport],
    seen: datetime | None = None,
    changed: list[Asset] | None = None,
) -> int:
    """Upsert reported assets with ``node_id`` as a discovery source; return how many were touched.
    ``changed`` collects the assets whose identity (what advisories are matched on) is new or changed."""
    now = seen or utcnow()
    count = 0
    keyed = [rep for rep in reports if rep.ip or rep.mac]
    with db.no_autoflush:  # the matcher knows this batch's own changes; nothing to flush per report
        matcher = _Matcher(db, [(rep.ip, rep.mac) for rep in keyed])
        for rep in keyed:
            count += _upsert(db, matcher, node_id, rep, now, changed)
    return count


def identity(asset: Asset) -> tuple[Any, ...]:
    """What vulnerability matching reads of an asset: vendor, model, firmware and the identities
    (order numbers, product codes, product names) its protocols reported."""
    extra = asset.extra or {}
    return (asset.vendor, asset.model, asset.firmware, extra.get("product_code"), extra.get("identities"))


def _merge_identity(asset: Asset, rep: AssetReport) -> None:
    """The report's identity values onto the stored asset by the one merge rule: a value replaces the
    stored one only if its source ranks at least as high (otwatch.inventory.merge)."""
    held = asset.field_sources or {}
    ranks = {f: int(v[1]) for f, v in held.items() if isinstance(v, list) and len(v) == 2}
    sources = {f: str(v[0]) for f, v in held.items() if isinstance(v, list) and len(v) == 2}
    order_number = next(
        (i.get("extra", {}).get("order_number") for i in rep.identities if isinstance(i.get("extra"), dict)),
        None,
    )
    for f in FIELDS:
        value = getattr(rep, f)
        if value in (None, ""):
            continue
        source = rep.sources.get(f) or "unknown"
        offer(asset, ranks, sources, f, str(value), source_rank(source, f, value, order_number), source)
    updated = {f: [sources[f], ranks[f]] for f in ranks}
    if updated != held:
        asset.field_sources = updated


def _upsert(
    db: Session,
    matcher: _Matcher,
    node_id: str,
    rep: AssetReport,
    now: datetime,
    changed: list[Asset] | None = None,
) -> int:
    """One reported asset: matched, created if new, updated with what the report knows."""
    ip, mac = rep.ip, rep.mac
    asset = matcher.find(ip, mac)
    old_ip = asset.ip if asset is not None else None
    before = identity(asset) if asset is not None else None
    if asset is None:
        asset = Asset(
            ip=ip,
            ip_num=_ip_num(ip),
            mac=mac,
            first_seen=now,
            open_ports=[],
            modules=[],
            extra={},
            field_sources={},
            protocols=[],
            sources=[],
        )
        db.add(asset)
    asset.ip = ip or asset.ip
    asset.ip_num = _ip_num(asset.ip)
    asset.mac = mac or asset.mac
    _merge_identity(asset, rep)
    if rep.open_ports:
        asset.open_ports = sorted({*asset.open_ports, *rep.open_ports})
    if rep.modules:
        asset.modules = [dict(m) for m in rep.modules]
    extra: dict[str, Any] = {
        k: v
        for k, v in (
            ("vendor_id", rep.vendor_id),
            ("product_code", rep.product_code),
            ("identities", rep.identities),
            ("banners", rep.banners),
        )
        if v
    }
    if extra:
        asset.extra = {**asset.extra, **extra}
    asset.last_seen = now
    have = {(p.protocol, p.role) for p in asset.protocols}
    for p in rep.protocols:
        if (p.name, p.role) not in have:
            asset.protocols.append(AssetProtocol(protocol=p.name, role=p.role))
            have.add((p.name, p.role))
    src = next((s for s in asset.sources if s.node_id == node_id), None)
    if src is None:
        asset.sources.append(AssetSource(node_id=node_id, first_seen=now, last_seen=now))
    else:
        src.last_seen = now
    matcher.seen(asset, old_ip)
    if changed is not None and identity(asset) != before and asset.vendor:
        changed.append(asset)
    return 1


def query(
    *,
    source: str | None = None,
    device_type: str | None = None,
    vendor: str | None = None,
    protocol: str | None = None,
    network: str | None = None,
    q: str | None = None,
) -> Select[Any]:
    """The inventory filters of the Inventory page, as one SQL query."""
    stmt = select(Asset).order_by(Asset.ip_num, Asset.ip, Asset.mac)
    if source:
        stmt = stmt.where(Asset.sources.any(AssetSource.node_id == source))
    if device_type:
        stmt = stmt.where(Asset.device_type == device_type)
    if vendor:
        stmt = stmt.where(Asset.vendor.ilike(f"%{vendor}%"))
    if protocol:
        stmt = stmt.where(Asset.protocols.any(AssetProtocol.protocol == protocol))
    if network:
        net = parse_cidr(network)
        if net.version == 4:
            lo, hi = int(net.network_address), int(net.broadcast_address)
            stmt = stmt.where(and_(Asset.ip_num >= lo, Asset.ip_num <= hi))
        else:
            ips = [str(h) for h in net.hosts()] if net.num_addresses <= 65536 else []
            stmt = stmt.where(Asset.ip.in_(ips))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(Asset.ip.ilike(like), Asset.name.ilike(like), Asset.mac.ilike(like), Asset.model.ilike(like))
        )
    return stmt
