"""Duplicated networks: the same address range at several sites, each copy told apart by the agent
that sees it (Environment Settings > Network Definitions).

A copy is (range, site, agent). Its agent scans it (the range is added to the agent's scan scope), the
assets that agent reports inside it belong to that copy (``Asset.network_copy_id``), and the same IP at
another site's copy is another asset. The rules that keep that unambiguous:

- a range is inside the Monitored Networks and IPv4 (what agents scan);
- one copy per site and one per agent of a range (an agent could not tell two copies apart);
- duplicated ranges do not overlap one another unless they are the same range, so an address lies in
  at most one duplicated range and its copy is the reporting agent's;
- an agent scans no other site's copy: the duplicated ranges it has no copy of are excluded from its
  scope, and anything it still reports there is left out of the inventory (not attributable);
- an agent cannot be deleted while a copy names it (the seed's rule, fleet/lifecycle.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from otwatch.console.assets.models import Asset, AssetSource
from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import conflict, invalid
from otwatch.console.fleet.models import DuplicatedNetwork, Node
from otwatch.console.fleet.nodes import wake_after_commit
from otwatch.console.networks.schemas import DuplicatedNetworkIn, DuplicatedNetworkPatch
from otwatch.console.networks.service import outside_monitored, parse_cidr

__all__ = [
    "CopyMap",
    "add_copy",
    "agent_scope",
    "asset_counts",
    "copy_map",
    "delete_copy",
    "guard_message",
    "update_copy",
]


@dataclass(frozen=True, slots=True)
class _Copy:
    id: str
    net: ipaddress.IPv4Network
    node_id: str


class CopyMap:
    """Which copy an address reported by an agent belongs to: read once per ingest (one query), and
    looked up per report by the range's prefix (one dict look-up per distinct prefix length)."""

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self.copies = [_Copy(i, ipaddress.IPv4Network(c), n) for i, c, n in rows]
        self._by_prefix: dict[int, dict[int, list[_Copy]]] = {}
        for c in self.copies:
            key = int(c.net.network_address) >> (32 - c.net.prefixlen)
            self._by_prefix.setdefault(c.net.prefixlen, {}).setdefault(key, []).append(c)

    def __bool__(self) -> bool:
        return bool(self.copies)

    def attribute(self, node_id: str, ip: str | None) -> tuple[str | None, bool]:
        """(copy id, keep): the reporting agent's copy holding ``ip``; (None, True) outside every
        duplicated range; (None, False) inside a range this agent has no copy of (whose device it is
        cannot be told, so it is left out)."""
        if not ip or not self.copies:
            return None, True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None, True
        if addr.version != 4:
            return None, True
        n = int(addr)
        inside = [c for plen, nets in self._by_prefix.items() for c in nets.get(n >> (32 - plen), ())]
        if not inside:
            return None, True
        mine = next((c for c in inside if c.node_id == node_id), None)
        return (mine.id, True) if mine is not None else (None, False)


def copy_map(db: Session) -> CopyMap:
    return CopyMap(
        [
            (i, c, n)
            for i, c, n in db.execute(
                select(DuplicatedNetwork.id, DuplicatedNetwork.cidr, DuplicatedNetwork.node_id)
            )
        ]
    )


def agent_scope(db: Session, node_id: str) -> tuple[list[dict[str, str]], list[str]]:
    """What an agent's configuration carries: its copies (scanned besides its active query networks)
    and the other duplicated ranges, excluded from its scope (another site's devices)."""
    rows = list(
        db.scalars(select(DuplicatedNetwork).order_by(DuplicatedNetwork.cidr, DuplicatedNetwork.site))
    )
    mine = [{"id": r.id, "cidr": r.cidr, "site": r.site} for r in rows if r.node_id == node_id]
    own = {m["cidr"] for m in mine}
    others = sorted({r.cidr for r in rows if r.cidr not in own}, key=lambda c: ipaddress.IPv4Network(c))
    return mine, others


def guard_message(db: Session, node: Node) -> str | None:
    """The seed's refusal to delete an agent a duplicated network references, naming them."""
    rows = list(db.scalars(select(DuplicatedNetwork).where(DuplicatedNetwork.node_id == node.id)))
    if not rows:
        return None
    names = ", ".join(f"{r.cidr} at {r.site}" if r.site else r.cidr for r in rows)
    return (
        f"If there are associated duplicated networks, you must first delete them before deleting the "
        f"agent: {node.name or node.hostname or node.id} is associated with {names}"
    )


def asset_counts(db: Session) -> dict[str, int]:
    """copy id -> the assets held in it (one grouped statement)."""
    stmt = (
        select(Asset.network_copy_id, func.count())
        .where(Asset.network_copy_id.is_not(None))
        .group_by(Asset.network_copy_id)
    )
    return {str(i): int(n) for i, n in db.execute(stmt)}


def _check_range(db: Session, text: str) -> ipaddress.IPv4Network:
    try:
        net = parse_cidr(text)
    except ValueError as exc:
        raise invalid(str(exc), [{"field": "cidr"}]) from exc
    if net.version != 4:
        raise invalid("only IPv4 networks can be scanned by agents", [{"field": "cidr"}])
    if outside_monitored(db, [net]):
        raise invalid(
            f"{net} must lie inside the Monitored Networks (add it there first)", [{"field": "cidr"}]
        )
    for other in set(db.scalars(select(DuplicatedNetwork.cidr))):
        o = ipaddress.IPv4Network(other)
        if o != net and o.overlaps(net):
            raise conflict(
                f"{net} overlaps the duplicated network {o}: an address must lie in one duplicated "
                "range only, or whose copy it is could not be told",
                [{"field": "cidr"}],
            )
    return net


def _agent(db: Session, agent_id: str) -> Node:
    node = db.get(Node, agent_id)
    if node is None or node.kind != "agent":
        raise invalid("unknown agent", [{"field": "agent_id"}])
    if node.approved_at is None:
        raise conflict("approve the agent before it sees a duplicated network", [{"field": "agent_id"}])
    return node


def _unique(db: Session, cidr: str, site: str, node: Node, skip: str | None = None) -> None:
    rows = [
        r for r in db.scalars(select(DuplicatedNetwork).where(DuplicatedNetwork.cidr == cidr)) if r.id != skip
    ]
    if any(r.site.casefold() == site.casefold() for r in rows):
        raise conflict(f"{cidr} already has a copy at {site}", [{"field": "site"}])
    if any(r.node_id == node.id for r in rows):
        raise conflict(
            f"the agent {node.name or node.hostname} already sees a copy of {cidr}; each copy is told "
            "apart by its own agent",
            [{"field": "agent_id"}],
        )


def _rescope(db: Session, ctx: ConsoleContext, cidr: str, node_ids: set[str]) -> None:
    """New configuration for the agents whose scope the change touches: the copy's agents (they scan
    it or stop) and every configured agent whose active query networks overlap the range (it is
    excluded from, or given back to, their scope)."""
    net = ipaddress.IPv4Network(cidr)
    for node in db.scalars(select(Node).where(Node.kind == "agent", Node.configured_at.is_not(None))):
        nets = []
        for n in node.config.get("active_query_networks") or []:
            try:
                nets.append(ipaddress.ip_network(str(n)))
            except ValueError:
                continue
        if node.id in node_ids or any(n.version == 4 and n.overlaps(net) for n in nets):
            node.config_version += 1
            wake_after_commit(db, ctx, node.id)


def add_copy(db: Session, ctx: ConsoleContext, actor: str, body: DuplicatedNetworkIn) -> DuplicatedNetwork:
    """One more site's copy of a range (the first copy defines the duplicated network)."""
    net = _check_range(db, body.cidr)
    node = _agent(db, body.agent_id)
    cidr = str(net)
    _unique(db, cidr, body.site, node)
    row = DuplicatedNetwork(cidr=cidr, site=body.site, node_id=node.id, description=body.description)
    db.add(row)
    db.flush()
    adopted = _adopt(db, row, net)
    audit.record(
        db,
        actor,
        "duplicated_network.added",
        row.id,
        cidr=cidr,
        site=body.site,
        agent=node.id,
        adopted=adopted,
    )
    _rescope(db, ctx, cidr, {node.id})
    return row


def _adopt(db: Session, row: DuplicatedNetwork, net: ipaddress.IPv4Network) -> int:
    """The ordinary assets in the range that only this copy's agent ever discovered are this copy's
    devices: they join it, so the agent's next scan updates them instead of adding them again. An
    asset other nodes discovered too stays as it is (whose site it is cannot be told)."""
    lo, hi = int(net.network_address), int(net.broadcast_address)
    mine = list(
        db.scalars(
            select(Asset.id).where(
                Asset.network_copy_id.is_(None),
                Asset.ip_num >= lo,
                Asset.ip_num <= hi,
                Asset.sources.any(AssetSource.node_id == row.node_id),
                ~Asset.sources.any(AssetSource.node_id != row.node_id),
            )
        )
    )
    for i in range(0, len(mine), 500):  # bound parameters per IN list
        db.execute(update(Asset).where(Asset.id.in_(mine[i : i + 500])).values(network_copy_id=row.id))
    count = len(mine)
    return count


def update_copy(
    db: Session, ctx: ConsoleContext, actor: str, row: DuplicatedNetwork, body: DuplicatedNetworkPatch
) -> None:
    """Another agent or site for a copy: its assets stay the copy's (a replaced gateway scans on)."""
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise invalid("nothing to change")
    node = _agent(db, changes["agent_id"]) if "agent_id" in changes else db.get(Node, row.node_id)
    assert node is not None  # RESTRICT: a copy's agent exists
    _unique(db, row.cidr, changes.get("site", row.site), node, skip=row.id)
    before = row.node_id
    row.node_id = node.id
    row.site = changes.get("site", row.site)
    row.description = changes.get("description", row.description)
    audit.record(db, actor, "duplicated_network.changed", row.id, cidr=row.cidr, **changes)
    _rescope(db, ctx, row.cidr, {before, node.id})


def delete_copy(db: Session, ctx: ConsoleContext, actor: str, row: DuplicatedNetwork) -> int:
    """Remove a copy; its assets stay in the inventory as ordinary assets. Returns how many."""
    held = select(func.count()).select_from(Asset).where(Asset.network_copy_id == row.id)
    kept = int(db.scalar(held) or 0)
    db.execute(update(Asset).where(Asset.network_copy_id == row.id).values(network_copy_id=None))
    audit.record(
        db, actor, "duplicated_network.deleted", row.id, cidr=row.cidr, site=row.site, agent=row.node_id,
        assets_kept=kept,
    )  # fmt: skip
    cidr, node_id = row.cidr, row.node_id
    db.delete(row)
    db.flush()
    _rescope(db, ctx, cidr, {node_id})
    return kept
