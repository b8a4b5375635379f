"""Environment Settings > Network Definitions > Monitored Networks."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from otwatch.console.audit import service as audit
from otwatch.console.deps import CtxDep, SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import conflict, not_found
from otwatch.console.fleet.models import DuplicatedNetwork, Node
from otwatch.console.networks import duplicated as dup
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.networks.schemas import DuplicatedNetworkIn, DuplicatedNetworkPatch
from otwatch.console.networks.service import outside_monitored, parse_cidr
from otwatch.console.pagination import Page, PageDep, paginate

networks = APIRouter(prefix="/api/v1/networks", tags=["networks"])
duplicated = APIRouter(prefix="/api/v1/duplicated-networks", tags=["networks"])


class NetworkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cidr: str = Field(max_length=64)
    description: str = Field(default="", max_length=300)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return str(parse_cidr(v))


class NetworkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    cidr: str
    description: str
    created_at: datetime


@networks.get("", response_model=Page[NetworkOut])
def list_networks(_: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(MonitoredNetwork).order_by(MonitoredNetwork.cidr), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@networks.post("", response_model=NetworkOut, status_code=201)
def add_network(body: NetworkIn, p: SettingsAdmin, db: SessionDep) -> MonitoredNetwork:
    if db.scalar(select(MonitoredNetwork).where(MonitoredNetwork.cidr == body.cidr)):
        raise conflict(f"{body.cidr} is already a monitored network")
    row = MonitoredNetwork(cidr=body.cidr, description=body.description)
    db.add(row)
    audit.record(db, p.actor, "network.added", body.cidr)
    db.commit()
    return row


@networks.delete("/{network_id}", status_code=204)
def delete_network(network_id: str, p: SettingsAdmin, db: SessionDep) -> None:
    row = db.get(MonitoredNetwork, network_id)
    if row is None:
        raise not_found("network")
    db.delete(row)
    db.flush()
    copies = sorted({c for c in db.scalars(select(DuplicatedNetwork.cidr))})
    stranded = outside_monitored(db, [parse_cidr(c) for c in copies])
    if stranded:
        raise conflict(
            f"the duplicated networks {', '.join(stranded)} lie in {row.cidr}: delete them first",
            {"duplicated_networks": stranded},
        )
    audit.record(db, p.actor, "network.deleted", row.cidr)
    db.commit()


# ---------------------------------------------------------------- duplicated networks


class DuplicatedNetworkOut(BaseModel):
    id: str
    cidr: str
    site: str
    agent_id: str
    agent_name: str
    description: str
    assets: int = Field(description="assets held in this copy")
    created_at: datetime


def _out(db: SessionDep, rows: list[DuplicatedNetwork]) -> list[DuplicatedNetworkOut]:
    ids = {r.node_id for r in rows}
    names = {
        i: n or h for i, n, h in db.execute(select(Node.id, Node.name, Node.hostname).where(Node.id.in_(ids)))
    }
    counts = dup.asset_counts(db)
    return [
        DuplicatedNetworkOut(
            id=r.id,
            cidr=r.cidr,
            site=r.site,
            agent_id=r.node_id,
            agent_name=names.get(r.node_id, ""),
            description=r.description,
            assets=counts.get(r.id, 0),
            created_at=r.created_at,
        )
        for r in rows
    ]


@duplicated.get("", response_model=Page[DuplicatedNetworkOut])
def list_duplicated(_: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    stmt = select(DuplicatedNetwork).order_by(DuplicatedNetwork.cidr, DuplicatedNetwork.site)
    rows, total = paginate(db, stmt, page)
    return {"items": _out(db, list(rows)), "total": total, "limit": page.limit, "offset": page.offset}


@duplicated.post("", response_model=DuplicatedNetworkOut, status_code=201)
def add_duplicated(
    body: DuplicatedNetworkIn, p: SettingsAdmin, ctx: CtxDep, db: SessionDep
) -> DuplicatedNetworkOut:
    row = dup.add_copy(db, ctx, p.actor, body)
    db.commit()
    return _out(db, [row])[0]


@duplicated.patch("/{copy_id}", response_model=DuplicatedNetworkOut)
def change_duplicated(
    copy_id: str, body: DuplicatedNetworkPatch, p: SettingsAdmin, ctx: CtxDep, db: SessionDep
) -> DuplicatedNetworkOut:
    row = db.get(DuplicatedNetwork, copy_id)
    if row is None:
        raise not_found("duplicated network")
    dup.update_copy(db, ctx, p.actor, row, body)
    db.commit()
    return _out(db, [row])[0]


@duplicated.delete("/{copy_id}", status_code=204)
def delete_duplicated(copy_id: str, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> None:
    """Remove a copy (the agent it names can then be deleted); its assets stay, as ordinary assets."""
    row = db.get(DuplicatedNetwork, copy_id)
    if row is None:
        raise not_found("duplicated network")
    dup.delete_copy(db, ctx, p.actor, row)
    db.commit()


router = APIRouter()
router.include_router(networks)
router.include_router(duplicated)
