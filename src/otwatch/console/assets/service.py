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
from sqlalchemy.orm import Session

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


def _find(db: Session, ip: str | None, mac: str | None) -> Asset | None:
    if mac:
        found = db.scalar(select(Asset).where(Asset.mac == mac))
        if found is not None:
            return found
    if ip:
        return db.scalar(select(Asset).where(Asset.ip == ip, or_(Asset.mac.is_(None), Asset.mac == mac)))
    return None


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
    for rep in reports:
        ip = rep.get("ip") if isinstance(rep.get("ip"), str) else None
        mac = _norm_mac(rep.get("mac"))
        if not ip and not mac:
            continue
        asset = _find(db, ip, mac)
        if asset is None:
            asset = Asset(
                ip=ip, ip_num=_ip_num(ip), mac=mac, first_seen=now, open_ports=[], modules=[], extra={}
            )
            db.add(asset)
            db.flush()
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
        count += 1
    return count


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
