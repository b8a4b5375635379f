"""Ingesting what agents and sensors report, and querying the inventory.

Matching: an asset is the same device when the MAC matches, or, lacking a MAC on either side, when
the IP matches. A repeated scan therefore updates an asset instead of duplicating it. Reported
values overwrite stored ones only when they are known (a later answer without a firmware does not
erase the firmware an earlier query read).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, selectinload

from otwatch.console.assets.models import Asset, AssetProtocol, AssetSource
from otwatch.console.db import utcnow
from otwatch.console.networks.service import parse_cidr

FIELDS = ("name", "vendor", "model", "firmware", "serial", "device_type", "state", "os")


def _ip_num(ip: str | None) -> int | None:
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return int(addr) if addr.version == 4 else None


def _norm_mac(mac: object) -> str | None:
    if not isinstance(mac, str) or not mac:
        return None
    hexes = "".join(c for c in mac if c.isalnum()).lower()
    if len(hexes) != 12:
        return None
    return ":".join(hexes[i : i + 2] for i in range(0, 12, 2))


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


def _protocols(report: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for p in report.get("protocols") or []:
        if isinstance(p, str):
            out.append((p, "server"))
        elif isinstance(p, dict) and isinstance(p.get("name"), str):
            out.append((p["name"], str(p.get("role") or "server")))
    return out


def ingest(db: Session, node_id: str, reports: Iterable[dict[str, Any]], seen: datetime | None = None) -> int:
    """Upsert reported assets with ``node_id`` as a discovery source; return how many were touched."""
    now = seen or utcnow()
    count = 0
    keyed = [
        (rep, rep.get("ip") if isinstance(rep.get("ip"), str) else None, _norm_mac(rep.get("mac")))
        for rep in reports
    ]
    keyed = [k for k in keyed if k[1] or k[2]]
    with db.no_autoflush:  # the matcher knows this batch's own changes; nothing to flush per report
        matcher = _Matcher(db, [(ip, mac) for _, ip, mac in keyed])
        for rep, ip, mac in keyed:
            count += _upsert(db, matcher, node_id, rep, ip, mac, now)
    return count


def _upsert(
    db: Session,
    matcher: _Matcher,
    node_id: str,
    rep: dict[str, Any],
    ip: str | None,
    mac: str | None,
    now: datetime,
) -> int:
    """One reported asset: matched, created if new, updated with what the report knows."""
    asset = matcher.find(ip, mac)
    old_ip = asset.ip if asset is not None else None
    if asset is None:
        asset = Asset(
            ip=ip,
            ip_num=_ip_num(ip),
            mac=mac,
            first_seen=now,
            open_ports=[],
            modules=[],
            extra={},
            protocols=[],
            sources=[],
        )
        db.add(asset)
    asset.ip = ip or asset.ip
    asset.ip_num = _ip_num(asset.ip)
    asset.mac = mac or asset.mac
    for f in FIELDS:
        val = rep.get(f)
        if val not in (None, ""):
            setattr(asset, f, str(val))
    if rep.get("open_ports"):
        asset.open_ports = sorted({*asset.open_ports, *(int(p) for p in rep["open_ports"])})
    if rep.get("modules"):
        asset.modules = list(rep["modules"])
    extra = {k: rep[k] for k in ("vendor_id", "product_code", "identities", "banners") if rep.get(k)}
    if extra:
        asset.extra = {**asset.extra, **extra}
    asset.last_seen = now
    have = {(p.protocol, p.role) for p in asset.protocols}
    for name, role in _protocols(rep):
        if (name, role) not in have:
            asset.protocols.append(AssetProtocol(protocol=name, role=role))
            have.add((name, role))
    src = next((s for s in asset.sources if s.node_id == node_id), None)
    if src is None:
        asset.sources.append(AssetSource(node_id=node_id, first_seen=now, last_seen=now))
    else:
        src.last_seen = now
    matcher.seen(asset, old_ip)
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
