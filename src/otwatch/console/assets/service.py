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
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, and_, case, exists, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.orm import Session, aliased, lazyload, selectinload

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetConnection, AssetProtocol, AssetSource
from otwatch.console.assets.schemas import ConversationOut, TimelineEventOut
from otwatch.console.audit import service as audit
from otwatch.console.db import utcnow
from otwatch.console.errors import invalid
from otwatch.console.fleet.models import Node
from otwatch.console.networks.duplicated import copy_map
from otwatch.console.networks.service import parse_cidr
from otwatch.console.tables import Sorts, sort_by
from otwatch.inventory.merge import offer, source_rank
from otwatch.wire.messages import AssetReport, ConnectionReport

log = logging.getLogger(__name__)

#: the Inventory's sortable columns (?sort=): every column that is one value of the asset
SORTS: Sorts = {
    "ip": (Asset.ip_num, Asset.ip, Asset.mac),
    "mac": (Asset.mac,),
    "name": (Asset.name,),
    "type": (Asset.device_type,),
    "vendor": (Asset.vendor,),
    "model": (Asset.model,),
    "firmware": (Asset.firmware,),
    "serial": (Asset.serial,),
    "state": (Asset.state,),
    "os": (Asset.os,),
    "first_seen": (Asset.first_seen,),
    "last_seen": (Asset.last_seen,),
}

#: ?ghosts=: the Inventory hides addresses seen only as targets of unanswered probes unless asked
GHOSTS = ("exclude", "include", "only")

#: the source an agent names for the values of its own host (otwatch.agent.hostinfo.SOURCE), and the
#: ``extra`` key that then lists the node ids of the agents running there
SELF_SOURCE = "agent host"
AGENT_HOSTS = "agent_hosts"

MAX_IPV6_FILTER = 256
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
    reported IP — within one network copy: an asset in a copy of a duplicated network matches only
    reports attributed to that copy, an ordinary asset only reports outside every copy (``copy``
    None), so the same address at two sites is never one asset. Assets created or changed by the
    batch are matched by the reports after them."""

    CHUNK = 500  # bound parameters per IN list

    def __init__(self, db: Session, reports: list[tuple[str | None, str | None]]) -> None:
        self.by_mac: dict[tuple[str | None, str], Asset] = {}
        self.by_ip: dict[tuple[str | None, str], Asset] = {}  # MAC-less assets only
        macs = sorted({m for _, m in reports if m})
        ips = sorted({i for i, _ in reports if i})
        load = (selectinload(Asset.protocols), selectinload(Asset.sources))
        for i in range(0, len(macs), self.CHUNK):
            for a in db.scalars(select(Asset).where(Asset.mac.in_(macs[i : i + self.CHUNK])).options(*load)):
                self.by_mac.setdefault((a.network_copy_id, a.mac or ""), a)
        for i in range(0, len(ips), self.CHUNK):
            chunk = ips[i : i + self.CHUNK]
            for a in db.scalars(select(Asset).where(Asset.ip.in_(chunk), Asset.mac.is_(None)).options(*load)):
                self.by_ip.setdefault((a.network_copy_id, a.ip or ""), a)

    def find(self, ip: str | None, mac: str | None, copy: str | None = None) -> Asset | None:
        if mac and (copy, mac) in self.by_mac:
            return self.by_mac[(copy, mac)]
        return self.by_ip.get((copy, ip)) if ip else None

    def seen(self, asset: Asset, old_ip: str | None) -> None:
        copy = asset.network_copy_id
        if old_ip and self.by_ip.get((copy, old_ip)) is asset and (asset.mac or asset.ip != old_ip):
            del self.by_ip[(copy, old_ip)]
        if asset.mac:
            self.by_mac.setdefault((copy, asset.mac), asset)
        elif asset.ip:
            self.by_ip.setdefault((copy, asset.ip), asset)


def clean_ports(value: object) -> list[int]:
    """A stored ``open_ports`` as a sorted list of port numbers; anything else in it (a row stored
    unchecked by an older console) is left out, never a 500 for the page that shows it."""
    if not isinstance(value, list):
        return []
    return sorted({v for v in value if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 65535})


def clean_modules(value: object) -> list[dict[str, Any]]:
    """A stored ``modules`` as a list of dicts with text keys; other entries are left out."""
    if not isinstance(value, list):
        return []
    return [{str(k): v for k, v in m.items()} for m in value if isinstance(m, dict)]


def clean_dict(value: object) -> dict[str, Any]:
    """A stored JSON object column as a dict (anything else: empty)."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


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
    *,
    copies: bool = True,
) -> int:
    """Upsert reported assets with ``node_id`` as a discovery source; return how many were touched.
    ``changed`` collects the assets whose identity (what advisories are matched on) is new or changed.

    ``copies``: the reporter is an agent whose reports are attributed to its copies of duplicated
    networks (one more query); a report inside a duplicated range it has no copy of is left out,
    since whose device it is cannot be told. Sensors' reports are ordinary (``copies=False``)."""
    now = seen or utcnow()
    count = 0
    where = copy_map(db) if copies else None
    keyed: list[tuple[AssetReport, str | None]] = []
    left_out = 0
    for rep in reports:
        if not (rep.ip or rep.mac):
            continue
        copy, keep = where.attribute(node_id, rep.ip) if where else (None, True)
        if keep:
            keyed.append((rep, copy))
        else:
            left_out += 1
    if left_out:
        log.warning(
            "%d reported assets of node %s left out: inside another site's duplicated network",
            left_out,
            node_id,
        )
    with db.no_autoflush:  # the matcher knows this batch's own changes; nothing to flush per report
        matcher = _Matcher(db, [(rep.ip, rep.mac) for rep, _ in keyed])
        for rep, copy in keyed:
            count += _upsert(db, matcher, node_id, rep, now, changed, copy)
    return count


def ingest_connections(db: Session, node_id: str, reports: Iterable[ConnectionReport]) -> int:
    """Upsert the conversations a sensor reported, matched to assets by the same rule as its asset
    reports (sent before them); a conversation with an end the inventory does not hold is left out.
    Counts and times are the sensor's own totals, so a resend is harmless. Returns rows touched."""
    reports = list(reports)
    if not reports:
        return 0
    ends = [(r.client_ip, r.client_mac) for r in reports] + [(r.server_ip, r.server_mac) for r in reports]
    count = 0
    db.flush()  # the assets of this check-in's asset reports, matched below by SQL
    with db.no_autoflush:
        matcher = _Matcher(db, ends)
        pairs: list[tuple[Asset, Asset, ConnectionReport]] = []
        for r in reports:
            client, server = matcher.find(r.client_ip, r.client_mac), matcher.find(r.server_ip, r.server_mac)
            if client is not None and server is not None and client is not server:
                pairs.append((client, server, r))
        client_ids = sorted({c.id for c, _, _ in pairs})
        held: dict[tuple[str, str, str, str, int], AssetConnection] = {}
        for i in range(0, len(client_ids), _Matcher.CHUNK):
            stmt = select(AssetConnection).where(
                AssetConnection.node_id == node_id,
                AssetConnection.client_id.in_(client_ids[i : i + _Matcher.CHUNK]),
            )
            for held_row in db.scalars(stmt):
                k = (
                    held_row.client_id,
                    held_row.server_id,
                    held_row.protocol,
                    held_row.transport,
                    held_row.port,
                )
                held[k] = held_row
        for client, server, r in pairs:
            key = (client.id, server.id, r.protocol, r.transport, r.port)
            row = held.get(key)
            if row is None:
                row = held[key] = AssetConnection(
                    node_id=node_id,
                    client_id=client.id,
                    server_id=server.id,
                    protocol=r.protocol,
                    transport=r.transport,
                    port=r.port,
                    first_seen=r.first_seen,
                    last_seen=r.last_seen,
                )
                db.add(row)
            else:
                row.first_seen = min(row.first_seen, r.first_seen)
                row.last_seen = max(row.last_seen, r.last_seen)
            row.packets, row.bytes, row.messages = r.packets, r.bytes, r.messages
            if r.functions != row.functions:
                row.functions = dict(r.functions)
            count += 1
    return count


def host_assets(db: Session, agent_ids: Iterable[str]) -> dict[str, list[tuple[str, str | None]]]:
    """Agent id -> the assets its own host report made (id, IP), the last seen first: one statement,
    through the agents' discovery sources (indexed) and assets marked as some agent's host in ``extra``
    (the mark's list of agents is then read for those few rows only)."""
    ids = list(dict.fromkeys(agent_ids))  # one statement even for none: the count never depends on rows
    out: dict[str, list[tuple[str, str | None]]] = {}
    stmt = (
        select(AssetSource.node_id, Asset.id, Asset.ip, Asset.extra)
        .join(Asset, Asset.id == AssetSource.asset_id)
        .where(AssetSource.node_id.in_(ids), Asset.extra[AGENT_HOSTS].as_string().is_not(None))
        .order_by(Asset.last_seen.desc(), Asset.id)
    )
    for node_id, asset_id, ip, extra in db.execute(stmt):
        hosts = clean_dict(extra).get(AGENT_HOSTS)
        if isinstance(hosts, list) and node_id in hosts:
            out.setdefault(node_id, []).append((asset_id, ip))
    return out


def identity(asset: Asset) -> tuple[Any, ...]:
    """What vulnerability matching reads of an asset: vendor, model, firmware and the identities
    (order numbers, product codes, product names) its protocols reported."""
    extra = clean_dict(asset.extra)  # a row an older console stored unchecked may hold anything
    return (asset.vendor, asset.model, asset.firmware, extra.get("product_code"), extra.get("identities"))


def _merge_identity(asset: Asset, rep: AssetReport) -> None:
    """The report's identity values onto the stored asset by the one merge rule: a value replaces the
    stored one only if its source ranks at least as high (otwatch.inventory.merge)."""
    held = clean_dict(asset.field_sources)
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
    copy: str | None = None,
) -> int:
    """One reported asset: matched (within its network copy), created if new, updated with what the
    report knows."""
    ip, mac = rep.ip, rep.mac
    asset = matcher.find(ip, mac, copy)
    old_ip = asset.ip if asset is not None else None
    is_new = asset is None
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
            network_copy_id=copy,
        )
        db.add(asset)
    asset.ip = ip or asset.ip
    asset.ip_num = _ip_num(asset.ip)
    asset.mac = mac or asset.mac
    _merge_identity(asset, rep)
    asset.ghost = rep.ghost if is_new else asset.ghost and rep.ghost  # one answer makes it real
    held = clean_dict(asset.field_sources).get("device_type")
    if not isinstance(held, list) or not held or held[0] != "behaviour":
        asset.type_reason = None  # the device said what it is, or nobody typed it
    elif rep.type_reason and rep.device_type == asset.device_type:
        asset.type_reason = rep.type_reason
    if rep.open_ports:
        asset.open_ports = sorted({*clean_ports(asset.open_ports), *rep.open_ports})
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
    if SELF_SOURCE in rep.sources.values():  # an agent's own host: Host Asset on the Agents page
        held_hosts = clean_dict(asset.extra).get(AGENT_HOSTS)
        agents = [str(i) for i in held_hosts if isinstance(i, str)] if isinstance(held_hosts, list) else []
        if node_id not in agents:  # several agents may share one host (kept small: the newest 16)
            extra[AGENT_HOSTS] = [*agents, node_id][-16:]
    if extra:
        asset.extra = {**clean_dict(asset.extra), **extra}
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
    network_copy: str | None = None,
    q: str | None = None,
    new_days: int | None = None,
    now: datetime | None = None,
    sort: str | None = None,
    ghosts: str = "exclude",
) -> Select[Any]:
    """The inventory filters of the Inventory page, as one SQL query (``new_days``: first seen in the
    last so many days, the dashboard's "new assets this week"), ordered by ``sort`` (a key of
    ``SORTS``, ``-`` first for descending; ValueError for another) or by address."""
    stmt = sort_by(select(Asset).order_by(Asset.ip_num, Asset.ip, Asset.mac), sort, SORTS, Asset.id)
    if ghosts == "exclude":  # addresses only ever probed, never heard: not devices (GHOSTS)
        stmt = stmt.where(Asset.ghost.is_(False))
    elif ghosts == "only":
        stmt = stmt.where(Asset.ghost.is_(True))
    if new_days:
        stmt = stmt.where(Asset.first_seen >= (now or utcnow()) - timedelta(days=new_days))
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
        else:  # IPv6 has no numeric column: a bounded list of addresses (a /112 cost a second each)
            if net.num_addresses > MAX_IPV6_FILTER:
                raise ValueError(
                    f"an IPv6 network filter covers at most {MAX_IPV6_FILTER} addresses (/120 or longer)"
                )
            stmt = stmt.where(Asset.ip.in_([str(a) for a in net]))
    if network_copy:
        stmt = stmt.where(Asset.network_copy_id == network_copy)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(Asset.ip.ilike(like), Asset.name.ilike(like), Asset.mac.ilike(like), Asset.model.ilike(like))
        )
    return stmt


def conversations(
    db: Session, asset: Asset, limit: int = 200, names: dict[str, str] | None = None
) -> list[ConversationOut]:
    """The asset's conversations, as client or server, the most recent first: one statement for the
    rows with their peers, and one for the reporting sensors' names unless ``names`` has them all."""
    peer = aliased(Asset)
    side = case((AssetConnection.client_id == asset.id, "client"), else_="server")
    peer_id = case(
        (AssetConnection.client_id == asset.id, AssetConnection.server_id), else_=AssetConnection.client_id
    )
    stmt = (
        select(AssetConnection, side, peer)
        .join(peer, peer.id == peer_id)
        .where(or_(AssetConnection.client_id == asset.id, AssetConnection.server_id == asset.id))
        .order_by(AssetConnection.last_seen.desc())
        .limit(limit)
        .options(lazyload(peer.protocols), lazyload(peer.sources))  # not read here
    )
    rows = list(db.execute(stmt))
    names = dict(names or {})
    missing = {c.node_id for c, _, _ in rows} - set(names)
    if missing:
        stmt_names = select(Node.id, Node.name, Node.hostname).where(Node.id.in_(missing))
        names.update({i: n or h for i, n, h in db.execute(stmt_names)})
    return [
        ConversationOut(
            id=c.id,
            role=role,
            peer_id=p.id,
            peer_ip=p.ip,
            peer_mac=p.mac,
            peer_name=p.name,
            peer_type=p.device_type,
            protocol=c.protocol,
            transport=c.transport,
            port=c.port,
            functions=c.functions or {},
            packets=c.packets,
            bytes=c.bytes,
            messages=c.messages,
            first_seen=c.first_seen,
            last_seen=c.last_seen,
            sensor_id=c.node_id,
            sensor_name=names.get(c.node_id, ""),
        )
        for c, role, p in rows
    ]


def timeline(
    asset: Asset,
    conversations_seen: list[ConversationOut],
    alerts: list[Alert],
    node_names: dict[str, str],
    limit: int = 100,
) -> list[TimelineEventOut]:
    """What happened to the asset, newest first, from what the console stores: when it was first and
    last seen, when each source discovered it, each conversation's start, and its alerts (given: the
    caller has read them, newest first)."""
    events = [
        TimelineEventOut(time=asset.first_seen, kind="first_seen", title="First seen"),
        TimelineEventOut(time=asset.last_seen, kind="last_seen", title="Last seen"),
    ]
    for s in asset.sources:
        name = node_names.get(s.node_id) or "a deleted source"
        events.append(TimelineEventOut(time=s.first_seen, kind="discovered", title=f"Discovered by {name}"))
    for c in conversations_seen:
        peer = c.peer_ip or c.peer_mac or c.peer_id
        title = (
            f"Began talking {c.protocol} to {peer}"
            if c.role == "client"
            else f"{peer} began talking {c.protocol} to it"
        )
        events.append(
            TimelineEventOut(
                time=c.first_seen, kind="conversation", title=title, href=f"/inventory/{c.peer_id}"
            )
        )
    for a in alerts:
        events.append(
            TimelineEventOut(
                time=a.first_seen, kind="alert", title=a.title, severity=a.severity, href=f"/alerts/{a.id}"
            )
        )
    events.sort(key=lambda e: e.time, reverse=True)
    return events[:limit]


def delete(db: Session, actor: str, asset: Asset) -> None:
    """Remove an asset from the inventory (audited); a node that reports it again adds it back."""
    audit.record(db, actor, "asset.deleted", asset.id, ip=asset.ip, mac=asset.mac, name=asset.name)
    db.delete(asset)


def forget_source(db: Session, node_id: str) -> tuple[int, int]:
    """The inventory without what ``node_id`` reported (a sensor's Clear data, console data too): an
    asset only it saw is removed, an asset others saw too loses it as a source (their values stay: the
    console keeps no per-source copy of them), and its conversations go. Returns (removed, kept);
    bulk statements, whatever the inventory's size (the rows' children go by ON DELETE CASCADE)."""
    db.flush()  # nothing pending is lost to the expiry below
    other = aliased(AssetSource)
    mine = select(AssetSource.asset_id).where(AssetSource.node_id == node_id)
    only_mine = mine.where(~exists().where(other.asset_id == AssetSource.asset_id, other.node_id != node_id))
    removed_ids = list(db.scalars(only_mine))
    kept = int(db.scalar(select(func.count()).select_from(mine.subquery())) or 0) - len(removed_ids)
    db.execute(sql_delete(AssetConnection).where(AssetConnection.node_id == node_id))
    for i in range(0, len(removed_ids), _Matcher.CHUNK):
        chunk = removed_ids[i : i + _Matcher.CHUNK]
        db.execute(sql_delete(Asset).where(Asset.id.in_(chunk)))
    db.execute(sql_delete(AssetSource).where(AssetSource.node_id == node_id))
    db.expire_all()  # rows loaded before the bulk statements must not be written back
    return len(removed_ids), kept


def _move_conversations(db: Session, keep_id: str, other_id: str) -> None:
    """The conversations of a merged asset become ``keep``'s (they would go with its row): one that
    ``keep`` already has from the same sensor adds up into it, one between the two becomes none."""
    involved = or_(
        AssetConnection.client_id.in_((keep_id, other_id)), AssetConnection.server_id.in_((keep_id, other_id))
    )
    rows = list(db.scalars(select(AssetConnection).where(involved)))
    held = {
        (c.node_id, c.client_id, c.server_id, c.protocol, c.transport, c.port): c
        for c in rows
        if other_id not in (c.client_id, c.server_id)
    }
    for c in rows:
        if other_id not in (c.client_id, c.server_id):
            continue
        client = keep_id if c.client_id == other_id else c.client_id
        server = keep_id if c.server_id == other_id else c.server_id
        into = held.get((c.node_id, client, server, c.protocol, c.transport, c.port))
        if client == server:
            db.delete(c)
        elif into is not None:
            into.first_seen, into.last_seen = (
                min(into.first_seen, c.first_seen),
                max(into.last_seen, c.last_seen),
            )
            into.packets, into.bytes, into.messages = (
                into.packets + c.packets,
                into.bytes + c.bytes,
                into.messages + c.messages,
            )
            into.functions = {
                k: into.functions.get(k, 0) + c.functions.get(k, 0) for k in {*into.functions, *c.functions}
            }
            db.delete(c)
        else:
            c.client_id, c.server_id = client, server
            held[(c.node_id, client, server, c.protocol, c.transport, c.port)] = c
    db.flush()


def merge(db: Session, actor: str, keep: Asset, other: Asset) -> Asset:
    """Merge ``other`` into ``keep`` (one device seen as two rows) and delete ``other`` (audited).

    Identity values go through the one merge rule (the higher-ranked value wins, as if ``other``'s
    values had been reported to ``keep``); ports, protocols and discovery sources are united; the
    addresses ``keep`` lacks are taken from ``other``."""
    if keep.id == other.id:
        raise invalid("an asset cannot be merged into itself")
    if keep.mac and other.mac and keep.mac != other.mac:
        raise invalid(f"the assets have different MAC addresses ({keep.mac}, {other.mac}): not one device")
    if keep.network_copy_id != other.network_copy_id:
        raise invalid(
            "the assets are in different copies of a duplicated network (the same addresses at two "
            "sites): not one device"
        )
    held = clean_dict(keep.field_sources)
    ranks = {f: int(v[1]) for f, v in held.items() if isinstance(v, list) and len(v) == 2}
    sources = {f: str(v[0]) for f, v in held.items() if isinstance(v, list) and len(v) == 2}
    theirs = clean_dict(other.field_sources)
    for f in FIELDS:
        value = getattr(other, f)
        got = theirs.get(f)
        rank, source = (
            (int(got[1]), str(got[0])) if isinstance(got, list) and len(got) == 2 else (-1, "merged")
        )
        if value not in (None, ""):
            offer(keep, ranks, sources, f, value, rank, source)
    keep.field_sources = {f: [sources[f], ranks[f]] for f in ranks}
    other_ip, other_mac = other.ip, other.mac
    keep.open_ports = sorted({*clean_ports(keep.open_ports), *clean_ports(other.open_ports)})
    keep.modules = clean_modules(keep.modules) or clean_modules(other.modules)
    keep.extra = {**clean_dict(other.extra), **clean_dict(keep.extra)}
    keep.ghost = keep.ghost and other.ghost  # one of them answered: a device
    keep.first_seen = min(keep.first_seen, other.first_seen)
    keep.last_seen = max(keep.last_seen, other.last_seen)
    have = {(p.protocol, p.role) for p in keep.protocols}
    for p in other.protocols:
        if (p.protocol, p.role) not in have:
            keep.protocols.append(AssetProtocol(protocol=p.protocol, role=p.role))
            have.add((p.protocol, p.role))
    mine = {src.node_id: src for src in keep.sources}
    for src in other.sources:
        if src.node_id in mine:
            mine[src.node_id].first_seen = min(mine[src.node_id].first_seen, src.first_seen)
            mine[src.node_id].last_seen = max(mine[src.node_id].last_seen, src.last_seen)
        else:
            keep.sources.append(
                AssetSource(node_id=src.node_id, first_seen=src.first_seen, last_seen=src.last_seen)
            )
    _move_conversations(db, keep.id, other.id)
    audit.record(db, actor, "asset.merged", keep.id, merged=other.id, ip=other_ip, mac=other_mac)
    db.delete(other)
    db.flush()  # the other row (and its unique MAC) is gone before ``keep`` takes its addresses
    keep.ip = keep.ip or other_ip
    keep.ip_num = _ip_num(keep.ip)
    keep.mac = keep.mac or other_mac
    return keep
