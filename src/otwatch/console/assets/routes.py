"""Inventory: the asset list with filters and the asset page data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, load_only

from otwatch.console.alerts import service as alerts_service
from otwatch.console.alerts.schemas import AlertOut
from otwatch.console.assets import service
from otwatch.console.assets.models import Asset
from otwatch.console.assets.schemas import ConversationOut, TimelineEventOut
from otwatch.console.deps import SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import invalid, not_found
from otwatch.console.fleet.models import DuplicatedNetwork, Node
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.tables import csv_response, joined
from otwatch.console.vulnerabilities import service as vulnerabilities

router = APIRouter(prefix="/api/v1/assets", tags=["inventory"])


class ProtocolOut(BaseModel):
    protocol: str
    role: str


class SourceOut(BaseModel):
    node_id: str
    kind: str
    name: str
    first_seen: datetime
    last_seen: datetime


class NetworkCopyOut(BaseModel):
    """The copy of a duplicated network an asset lives in: the range, its site and the agent seeing it."""

    id: str
    cidr: str
    site: str
    agent_id: str


class AssetOut(BaseModel):
    id: str
    ip: str | None
    mac: str | None
    name: str | None
    vendor: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    device_type: str | None
    type_reason: str | None = None  # why, when a sensor typed it by behaviour
    ghost: bool = False  # only ever the target of probes nobody answered
    state: str | None
    os: str | None
    open_ports: list[int]
    modules: list[dict[str, Any]]
    protocols: list[ProtocolOut]
    sources: list[SourceOut]
    first_seen: datetime
    last_seen: datetime
    network_copy: NetworkCopyOut | None = None  # in a duplicated network: which site's copy


def asset_out(
    a: Asset, nodes: dict[str, Node], copies: dict[str, DuplicatedNetwork] | None = None
) -> AssetOut:
    c = (copies or {}).get(a.network_copy_id or "")
    return AssetOut(
        id=a.id, ip=a.ip, mac=a.mac, name=a.name, vendor=a.vendor, model=a.model, firmware=a.firmware,
        serial=a.serial, device_type=a.device_type, type_reason=a.type_reason, ghost=a.ghost, state=a.state, os=a.os,
        open_ports=service.clean_ports(a.open_ports), modules=service.clean_modules(a.modules), first_seen=a.first_seen, last_seen=a.last_seen,
        protocols=[ProtocolOut(protocol=p.protocol, role=p.role) for p in a.protocols],
        sources=[
            SourceOut(
                node_id=s.node_id,
                kind=nodes[s.node_id].kind if s.node_id in nodes else "deleted",
                name=(nodes[s.node_id].name or nodes[s.node_id].hostname) if s.node_id in nodes else "",
                first_seen=s.first_seen,
                last_seen=s.last_seen,
            )
            for s in a.sources
        ],
        network_copy=NetworkCopyOut(id=c.id, cidr=c.cidr, site=c.site, agent_id=c.node_id) if c else None,
    )  # fmt: skip


def _nodes(db: SessionDep, assets: list[Asset]) -> dict[str, Node]:
    ids = {s.node_id for a in assets for s in a.sources}
    if not ids:
        return {}
    stmt = select(Node).options(load_only(Node.kind, Node.name, Node.hostname)).where(Node.id.in_(ids))
    return {n.id: n for n in db.scalars(stmt)}


def copies_of(db: Session, assets: list[Asset]) -> dict[str, DuplicatedNetwork]:
    """The network copies of these assets (no statement when none is in a duplicated network)."""
    ids = {a.network_copy_id for a in assets if a.network_copy_id}
    if not ids:
        return {}
    return {c.id: c for c in db.scalars(select(DuplicatedNetwork).where(DuplicatedNetwork.id.in_(ids)))}


def _filters(
    source: Annotated[str | None, Query(description="discovery source: agent or sensor id")] = None,
    device_type: Annotated[str | None, Query(alias="type")] = None,
    vendor: Annotated[str | None, Query(max_length=200)] = None,
    protocol: Annotated[str | None, Query(max_length=50)] = None,
    network: Annotated[str | None, Query(max_length=64, description="CIDR")] = None,
    network_copy: Annotated[
        str | None,
        Query(max_length=64, description="a duplicated network's copy id: the assets of that site"),
    ] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    new: Annotated[int | None, Query(ge=1, le=3650, description="first seen in the last N days")] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=20,
            description="column to sort by, - first for descending: " + ", ".join(service.SORTS),
        ),
    ] = None,
    ghosts: Annotated[
        Literal["exclude", "include", "only"],
        Query(description="addresses seen only as targets of unanswered probes: hidden unless asked"),
    ] = "exclude",
    vuln: Annotated[
        str | None,
        Query(
            max_length=100,
            description="any | affected | possibly_affected | Critical | High | Medium | Low | none | an advisory id",
        ),
    ] = None,
) -> Select[Any]:
    """The Inventory's filters and order as one query (the list and its CSV export share it)."""
    try:
        stmt = service.query(
            source=source,
            device_type=device_type,
            vendor=vendor,
            protocol=protocol,
            network=network,
            network_copy=network_copy,
            q=q,
            new_days=new,
            sort=sort,
            ghosts=ghosts,
        )
    except ValueError as exc:
        raise invalid(str(exc)) from exc
    return vulnerabilities.where_vulnerable(stmt, vuln) if vuln else stmt


FiltersDep = Annotated[Select[Any], Depends(_filters)]

EXPORT_COLUMNS: list[tuple[str, Callable[[AssetOut], object]]] = [
    ("IP", lambda a: a.ip),
    ("MAC", lambda a: a.mac),
    ("Name", lambda a: a.name),
    ("Type", lambda a: a.device_type),
    ("Type reason", lambda a: a.type_reason),
    ("Ghost", lambda a: "yes" if a.ghost else ""),
    ("Vendor", lambda a: a.vendor),
    ("Model", lambda a: a.model),
    ("Firmware", lambda a: a.firmware),
    ("Serial", lambda a: a.serial),
    ("State", lambda a: a.state),
    ("OS", lambda a: a.os),
    ("Protocols", lambda a: joined(f"{p.protocol} ({p.role})" for p in a.protocols)),
    ("Open ports", lambda a: joined(a.open_ports)),
    ("Discovery sources", lambda a: joined(s.name or s.node_id for s in a.sources)),
    ("Site", lambda a: a.network_copy.site if a.network_copy else ""),
    ("First seen (UTC)", lambda a: a.first_seen),
    ("Last seen (UTC)", lambda a: a.last_seen),
]


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_assets(_: Viewer, db: SessionDep, stmt: FiltersDep) -> Response:
    """Every asset the filters select, in the same order, as CSV (the Inventory's Export CSV)."""

    def prepare(rows: list[Asset]) -> Callable[[Asset], AssetOut]:
        nodes, copies = _nodes(db, rows), copies_of(db, rows)
        return lambda a: asset_out(a, nodes, copies)

    return csv_response(db, stmt, EXPORT_COLUMNS, "inventory.csv", prepare)


@router.get("", response_model=Page[AssetOut])
def list_assets(
    _: Viewer,
    db: SessionDep,
    page: PageDep,
    stmt: FiltersDep,
) -> dict[str, object]:
    rows, total = paginate(db, stmt, page)
    nodes, copies = _nodes(db, rows), copies_of(db, rows)
    return {
        "items": [asset_out(a, nodes, copies) for a in rows],
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/{asset_id}", response_model=AssetOut)
def get_asset(asset_id: str, _: Viewer, db: SessionDep) -> AssetOut:
    a = db.get(Asset, asset_id)
    if a is None:
        raise not_found("asset")
    return asset_out(a, _nodes(db, [a]), copies_of(db, [a]))


def _asset(db: SessionDep, asset_id: str) -> Asset:
    a = db.get(Asset, asset_id)
    if a is None:
        raise not_found("asset")
    return a


@router.get("/{asset_id}/conversations", response_model=list[ConversationOut])
def asset_conversations(
    asset_id: str, _: Viewer, db: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[ConversationOut]:
    """Who the asset talks to: peer, protocol and port, the functions asked for (Modbus, DNP3, S7 ...
    when the protocol has them), traffic, first and last seen; the most recent first."""
    return service.conversations(db, _asset(db, asset_id), limit)


@router.get("/{asset_id}/alerts", response_model=Page[AlertOut])
def asset_alerts(asset_id: str, _: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    """Alerts the asset is the source or the destination of, the newest first, in every status."""
    a = _asset(db, asset_id)
    rows, total = paginate(db, alerts_service.for_asset(a.ip, a.mac), page)
    return {
        "items": alerts_service.alert_outs(db, rows),
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
    }


@router.get("/{asset_id}/timeline", response_model=list[TimelineEventOut])
def asset_timeline(asset_id: str, _: Viewer, db: SessionDep) -> list[TimelineEventOut]:
    """First and last seen, discoveries, conversations begun and alerts, the newest first."""
    a = _asset(db, asset_id)
    nodes = _nodes(db, [a])
    names = {i: n.name or n.hostname for i, n in nodes.items()}
    alerts = list(db.scalars(alerts_service.for_asset(a.ip, a.mac).limit(100)))
    return service.timeline(a, service.conversations(db, a), alerts, names)


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_id: str = Field(
        min_length=1, max_length=32, description="the asset merged into this one, then deleted"
    )


@router.delete("/{asset_id}", status_code=204, response_class=Response)
def delete_asset(asset_id: str, p: SettingsAdmin, db: SessionDep) -> Response:
    """Remove an asset from the inventory (audited). A node that reports it again adds it back."""
    a = db.get(Asset, asset_id)
    if a is None:
        raise not_found("asset")
    service.delete(db, p.actor, a)
    db.commit()
    return Response(status_code=204)


@router.post("/{asset_id}/merge", response_model=AssetOut)
def merge_assets(asset_id: str, body: MergeIn, p: SettingsAdmin, db: SessionDep) -> AssetOut:
    """Merge another asset (one device seen as two) into this one; the other is deleted (audited)."""
    keep, other = db.get(Asset, asset_id), db.get(Asset, body.from_id)
    if keep is None:
        raise not_found("asset")
    if other is None:
        raise invalid(f"no asset {body.from_id!r} to merge")
    service.merge(db, p.actor, keep, other)
    db.commit()
    db.refresh(keep)
    return asset_out(keep, _nodes(db, [keep]), copies_of(db, [keep]))
