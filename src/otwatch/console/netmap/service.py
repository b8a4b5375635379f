"""The Network Map: assets and the conversations sensors saw between them (``asset_connections``),
grouped by subnet or by Purdue level, and one asset's neighbourhood (its peers, and theirs).

A few hundred assets stay readable, a few thousand do not: the graph is capped on the server. The
assets kept are the most connected ones (the most conversations under the filters), so what is left
out is the periphery; the answer says how many of how many are shown. Each asset drawn carries its
open alerts (as source or destination). Conversations are added up per
client, server and protocol (every port and every reporting sensor): one edge per protocol spoken.
Ghost assets (only ever the target of probes nobody answered) are left out unless asked for, as
on the Inventory.
"""

from __future__ import annotations

import heapq
import ipaddress
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetConnection, AssetSource
from otwatch.console.fleet.models import Node
from otwatch.console.netmap.schemas import GraphOut, MapEdgeOut, MapGroupOut, MapNodeOut
from otwatch.console.networks.service import Network, monitored

__all__ = [
    "DEFAULT_LIMIT",
    "GROUPINGS",
    "MAX_EDGES",
    "MAX_LIMIT",
    "PURDUE_LEVELS",
    "Filters",
    "neighbourhood",
    "network_map",
    "options",
    "purdue_level",
]

GroupBy = Literal["subnet", "purdue"]
GROUPINGS: tuple[GroupBy, ...] = ("subnet", "purdue")
DEFAULT_LIMIT = 300  # assets drawn: readable with group boxes; the Chromium layout takes about a second
MAX_LIMIT = 500  # beyond, neither the browser's layout nor the 300 ms budget (bench/pages.py) hold
MAX_EDGES = 3000  # edges drawn at most (the busiest first)
CHUNK = 500  # bound parameters per IN list
#: the sensor's label of traffic no dissector named ("tcp/8080"); drawn as one edge per pair
PORT_LABEL = re.compile(r"^(tcp|udp)/\d+$")
OTHER = "other"

#: Purdue levels by device type (the type a device told, else the one its behaviour gave), top to
#: bottom as the model draws them; network gear and untyped assets get boxes of their own.
PURDUE_LEVELS: list[tuple[str, str, frozenset[str]]] = [
    ("L4", "Level 4-5: Enterprise / IT", frozenset({"IT Host"})),
    ("L3", "Level 3: Site operations", frozenset({"Historian", "Scanner"})),
    ("L2", "Level 2: Supervisory control", frozenset({"HMI", "Engineering Station"})),
    ("L1", "Level 0-1: Basic control and process", frozenset({"PLC", "RTU", "Controller", "IED", "I/O Module", "Drive"})),
    ("NET", "Network infrastructure", frozenset({"Switch", "Router", "Firewall", "Gateway"})),
    ("UNK", "Unclassified (type unknown)", frozenset()),
]  # fmt: skip
_LEVEL_OF = {t: i for i, (_, _, types) in enumerate(PURDUE_LEVELS) for t in types}


def purdue_level(device_type: str | None) -> tuple[str, str, int]:
    """(id, label, order) of the Purdue level an asset of this type sits at."""
    i = _LEVEL_OF.get(device_type or "", len(PURDUE_LEVELS) - 1)
    key, label, _ = PURDUE_LEVELS[i]
    return key, label, i


@dataclass(frozen=True, slots=True)
class Filters:
    """What the map shows: one protocol, the conversations of one site's or one sensor's sensors,
    ghosts or not, and the assets that have no conversation (under the same site or sensor)."""

    protocol: str | None = None
    site: str | None = None
    sensor: str | None = None
    ghosts: bool = False
    isolated: bool = False


@dataclass(slots=True)
class _Edge:
    client: str
    server: str
    protocol: str
    ports: set[str] = field(default_factory=set)
    rows: int = 0
    packets: int = 0
    bytes: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None


def _where(f: Filters, ghosts_in_sql: bool = True) -> list[ColumnElement[bool]]:
    """The filters as SQL conditions on ``asset_connections``; ghosts are left out by the caller
    when not ``ghosts_in_sql`` (a test on both ends of every row doubled the map's time)."""
    c = AssetConnection
    where: list[ColumnElement[bool]] = []
    if f.protocol:
        where.append(c.protocol == f.protocol)
    if f.sensor:
        where.append(c.node_id == f.sensor)
    if f.site:
        where.append(c.node_id.in_(select(Node.id).where(Node.site == f.site)))
    if not f.ghosts and ghosts_in_sql:
        ghosts = select(Asset.id).where(Asset.ghost.is_(True))
        where.extend((c.client_id.not_in(ghosts), c.server_id.not_in(ghosts)))
    return where


def _edges(db: Session, where: Iterable[ColumnElement[bool]]) -> dict[tuple[str, str, str], _Edge]:
    """The conversations matching ``where``, one per client, server and protocol (ports and sensors
    added up in SQL per port, then per protocol here); traffic no dissector named (a sensor labels
    it ``tcp/8080``) is one ``OTHER`` edge per pair, else a port sweep drew one edge per port."""
    c = AssetConnection
    stmt = (
        select(
            c.client_id,
            c.server_id,
            c.protocol,
            c.transport,
            c.port,
            func.sum(c.packets),
            func.sum(c.bytes),
            func.min(c.first_seen),
            func.max(c.last_seen),
            func.count(),
        )
        .where(*where)
        .group_by(c.client_id, c.server_id, c.protocol, c.transport, c.port)
    )
    out: dict[tuple[str, str, str], _Edge] = {}
    for client, server, raw, transport, port, packets, nbytes, first, last, n in db.execute(stmt):
        protocol = OTHER if PORT_LABEL.match(raw) else raw
        e = out.get((client, server, protocol))
        if e is None:
            e = out[(client, server, protocol)] = _Edge(client, server, protocol)
        e.ports.add(f"{transport}/{port}")
        e.packets += int(packets or 0)
        e.bytes += int(nbytes or 0)
        e.rows += int(n)
        e.first_seen = first if e.first_seen is None else min(e.first_seen, first)
        e.last_seen = last if e.last_seen is None else max(e.last_seen, last)
    return out


def _counts(edges: Iterable[_Edge]) -> dict[str, int]:
    """asset id -> the conversations it takes part in, among ``edges``."""
    counts: Counter[str] = Counter()
    for e in edges:
        counts[e.client] += e.rows
        counts[e.server] += e.rows
    return dict(counts)


def _isolated(db: Session, f: Filters) -> list[str]:
    """The assets that may be drawn without a conversation (the caller leaves out those with one; a
    protocol filter leaves none, they speak nothing): discovered by the site's or the sensor's nodes
    when one is chosen, in address order."""
    if f.protocol:
        return []
    stmt = select(Asset.id)
    if not f.ghosts:
        stmt = stmt.where(Asset.ghost.is_(False))
    if f.sensor:
        stmt = stmt.where(Asset.sources.any(AssetSource.node_id == f.sensor))
    elif f.site:
        at_site = select(Node.id).where(Node.site == f.site)
        stmt = stmt.where(Asset.sources.any(AssetSource.node_id.in_(at_site)))
    return list(db.scalars(stmt.order_by(Asset.ip_num, Asset.ip, Asset.mac)))


_COLUMNS = (
    Asset.id,
    Asset.ip,
    Asset.mac,
    Asset.name,
    Asset.device_type,
    Asset.type_reason,
    Asset.vendor,
    Asset.model,
    Asset.ghost,
)


def _open_alerts(db: Session, ips: list[str]) -> dict[str, int]:
    """address -> the open alerts it is the source or the destination of (two grouped statements
    per 500 addresses, on the alerts' address indexes)."""
    counts: Counter[str] = Counter()
    for i in range(0, len(ips), CHUNK):
        chunk = ips[i : i + CHUNK]
        for end in (Alert.source_ip, Alert.destination_ip):
            stmt = select(end, func.count()).where(Alert.status == "open", end.in_(chunk)).group_by(end)
            for ip, n in db.execute(stmt):
                counts[str(ip)] += int(n)
    return dict(counts)


def _assets(db: Session, ids: list[str]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for i in range(0, len(ids), CHUNK):
        for r in db.execute(select(*_COLUMNS).where(Asset.id.in_(ids[i : i + CHUNK]))):
            rows[r.id] = r
    return rows


class _Subnets:
    """An address's subnet box: the narrowest Monitored Network holding it, else its /24 (IPv4) or
    /64 (IPv6); an asset known by its MAC alone goes to a box of its own. Networks are compared as
    integers (``ipaddress``'s own containment test was most of the map's Python time)."""

    NO_IP = ("no-ip", "No IP address (seen at layer 2)", 1 << 130)

    def __init__(self, networks: list[Network]) -> None:
        ordered = sorted(networks, key=lambda n: n.prefixlen, reverse=True)
        self.ranges = [(n.version, int(n.network_address), int(n.broadcast_address), n) for n in ordered]
        self.boxes: dict[tuple[int, int], tuple[str, str, int]] = {}
        # a /24 (/64) is one box unless a narrower Monitored Network splits it
        self.cacheable = all(n.prefixlen <= (24 if n.version == 4 else 64) for n in ordered)

    def of(self, ip: str | None) -> tuple[str, str, int]:
        if not ip:
            return self.NO_IP
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return self.NO_IP
        v, a = addr.version, int(addr)
        own = a >> 8 if v == 4 else a >> 64  # its /24 or /64
        found = self.boxes.get((v, own))
        if found is not None:
            return found
        net = next((n for nv, lo, hi, n in self.ranges if nv == v and lo <= a <= hi), None)
        if net is None:
            net = ipaddress.ip_network(f"{addr}/{24 if v == 4 else 64}", strict=False)
            label = f"{net}"
        else:
            label = f"{net} (Monitored Network)"
        box = (f"net-{net}", label, int(net.network_address) + (0 if v == 4 else 1 << 32))
        if self.cacheable:
            self.boxes[(v, own)] = box
        return box


def _label(r: Any) -> str:
    return str(r.name or r.ip or r.mac or r.id)


def _graph(
    db: Session,
    group_by: GroupBy,
    edges: dict[tuple[str, str, str], _Edge],
    order: list[str],
    limit: int,
    degree: dict[str, int],
    total_nodes: int,
    total_conversations: int,
    hops: dict[str, int] | None = None,
    center: str | None = None,
) -> GraphOut:
    """The graph of the first ``limit`` assets of ``order`` (ranked by the caller) and the edges
    between them, the busiest first, at most ``MAX_EDGES``; ``degree`` (each asset's conversations)
    and the totals are counted
    over everything the filters select."""
    shown = order[:limit]
    keep = set(shown)
    drawn = sorted(
        (e for e in edges.values() if e.client in keep and e.server in keep),
        key=lambda e: (-e.packets, e.client, e.server, e.protocol),
    )
    rows = _assets(db, shown)
    alerts = _open_alerts(db, sorted({r.ip for r in rows.values() if r.ip}))
    subnets = _Subnets(monitored(db)) if group_by == "subnet" else None
    groups: dict[str, MapGroupOut] = {}
    nodes: list[MapNodeOut] = []
    for asset_id in shown:
        r = rows.get(asset_id)
        if r is None:  # deleted meanwhile
            continue
        gid, glabel, gorder = subnets.of(r.ip) if subnets is not None else purdue_level(r.device_type)
        g = groups.get(gid)
        if g is None:
            g = groups[gid] = MapGroupOut(id=gid, label=glabel, order=gorder, nodes=0)
        g.nodes += 1
        nodes.append(
            MapNodeOut(
                id=r.id,
                label=_label(r),
                ip=r.ip,
                mac=r.mac,
                name=r.name,
                device_type=r.device_type,
                type_reason=r.type_reason,
                vendor=r.vendor,
                model=r.model,
                ghost=bool(r.ghost),
                group=gid,
                conversations=degree.get(r.id, 0),
                open_alerts=alerts.get(r.ip, 0) if r.ip else 0,
                hop=(hops or {}).get(r.id, 0),
                href=f"/inventory/{r.id}",
            )
        )
    present = {n.id for n in nodes}
    out_edges = [
        MapEdgeOut(
            id=f"{e.client}-{e.server}-{e.protocol}",
            source=e.client,
            target=e.server,
            protocol=e.protocol,
            ports=sorted(e.ports),
            conversations=e.rows,
            packets=e.packets,
            bytes=e.bytes,
            first_seen=e.first_seen,  # set with the edge's first row
            last_seen=e.last_seen,
        )
        for e in drawn
        if e.client in present and e.server in present
    ][:MAX_EDGES]
    drawn_conversations = sum(e.conversations for e in out_edges)
    return GraphOut(
        group_by=group_by,
        nodes=nodes,
        edges=out_edges,
        groups=sorted(groups.values(), key=lambda g: (g.order, g.label)),
        total_nodes=total_nodes,
        shown_nodes=len(nodes),
        total_conversations=total_conversations,
        shown_conversations=drawn_conversations,
        shown_edges=len(out_edges),
        capped=len(nodes) < total_nodes or drawn_conversations < total_conversations,
        center=center,
    )


def _between(
    db: Session, where: list[ColumnElement[bool]], ids: list[str]
) -> dict[tuple[str, str, str], _Edge]:
    """The conversations whose both ends are among ``ids`` (read by the client and server indexes)."""
    c = AssetConnection
    out: dict[tuple[str, str, str], _Edge] = {}
    for i in range(0, len(ids), CHUNK):
        out.update(_edges(db, [*where, c.client_id.in_(ids[i : i + CHUNK]), c.server_id.in_(ids)]))
    return out


def network_map(
    db: Session, f: Filters, group_by: GroupBy = "subnet", limit: int = DEFAULT_LIMIT
) -> GraphOut:
    """Every conversation the filters select, drawn for the ``limit`` most connected assets (the
    most conversations, probes of ghosts included; ties: by id); with ``f.isolated``, assets without
    a conversation fill what is left.

    The ranking counts each asset's conversations as client and as server, two grouped statements,
    and only the conversations between the assets drawn are read whole. At 10,000 assets and 30,000 conversations (bench/pages.py), reading them all into Python
    took most of a second, ranking by distinct peers in SQL (a sort of both ends of every row) 200
    to 400 ms, leaving ghosts out row by row in SQL doubled that: the few ghosts are taken out of
    the ranking and the totals here instead."""
    c = AssetConnection
    where = _where(f, ghosts_in_sql=False)
    ghosts = set() if f.ghosts else set(db.scalars(select(Asset.id).where(Asset.ghost.is_(True))))
    counts: Counter[str] = Counter()
    for end in (c.client_id, c.server_id):
        # unfiltered, the column's index alone answers (8 ms); filtered, grouping by an expression
        # makes SQLite scan only the rows the filters select instead of walking the whole index and
        # looking up every row (S7 only: 25 -> 5 ms; Modbus, its server side: 220 -> 28 ms)
        key = func.coalesce(end, "") if where else end
        for asset_id, n in db.execute(select(key, func.count()).where(*where).group_by(key)):
            counts[asset_id] += int(n)
    conversations = int(db.scalar(select(func.count()).select_from(c).where(*where)) or 0) if counts else 0
    if ghosts and counts:  # the ghosts (probed) and their conversations are not counted
        is_ghost = select(Asset.id).where(Asset.ghost.is_(True))
        ghostly = or_(c.client_id.in_(is_ghost), c.server_id.in_(is_ghost))
        conversations -= int(db.scalar(select(func.count()).select_from(c).where(*where, ghostly)) or 0)
    talking = [a for a in counts if a not in ghosts]
    order = heapq.nsmallest(limit, talking, key=lambda a: (-counts[a], a))
    padding: list[str] = []
    if f.isolated:
        padding = [a for a in _isolated(db, f) if a not in counts]
        order += padding[: max(0, limit - len(order))]
    edges = _between(db, where, order)
    return _graph(db, group_by, edges, order, limit, dict(counts), len(talking) + len(padding), conversations)


def neighbourhood(
    db: Session, asset: Asset, f: Filters, hops: int = 1, group_by: GroupBy = "subnet", limit: int = 150
) -> GraphOut:
    """The asset, its peers (``hops`` 1) and their peers (``hops`` 2), the nearest first; within a
    hop, the most connected first. Drawn: the asset's conversations and its peers' (with each other,
    and with the second hop when asked for); not those between two assets of the second hop."""
    where = _where(f)
    c = AssetConnection
    edges = _edges(db, [*where, or_(c.client_id == asset.id, c.server_id == asset.id)])
    dist: dict[str, int] = {asset.id: 0}
    ring = sorted({a for e in edges.values() for a in (e.client, e.server)} - {asset.id})
    for a in ring:
        dist[a] = 1
    if hops >= 2 and ring:
        ring = ring[: max(limit, 1)]  # the second hop of at most as many peers as may be drawn
        for i in range(0, len(ring), CHUNK):
            chunk = ring[i : i + CHUNK]
            more = _edges(db, [*where, or_(c.client_id.in_(chunk), c.server_id.in_(chunk))])
            for k, e in more.items():
                edges.setdefault(k, e)
        for e in edges.values():
            for a in (e.client, e.server):
                dist.setdefault(a, 2)
    else:  # the edges between its peers too: who of them talk to each other
        for k, e in _between(db, where, ring[:limit]).items():
            edges.setdefault(k, e)
    degree = _counts(edges.values())
    order = sorted(dist, key=lambda a: (dist[a], -degree.get(a, 0), a))
    total = sum(e.rows for e in edges.values())
    return _graph(db, group_by, edges, order, limit, degree, len(order), total, hops=dist, center=asset.id)


def options(db: Session) -> dict[str, list[Any]]:
    """The filters' choices: protocols conversations use, sites of sensors, sensors (id, name)."""
    named = select(AssetConnection.protocol).distinct().order_by(AssetConnection.protocol)
    protocols = [p for p in db.scalars(named) if not PORT_LABEL.match(p)]  # not one per port of a sweep
    sites = list(
        db.scalars(
            select(Node.site)
            .where(and_(Node.kind == "sensor", Node.site != ""))
            .distinct()
            .order_by(Node.site)
        )
    )
    sensors = [
        (i, n or h)
        for i, n, h in db.execute(
            select(Node.id, Node.name, Node.hostname)
            .where(Node.kind == "sensor")
            .order_by(Node.name, Node.hostname)
        )
    ]
    return {"protocols": protocols, "sites": sites, "sensors": sensors}
