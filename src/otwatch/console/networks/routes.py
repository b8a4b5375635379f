"""Environment Settings > Network Definitions > Monitored Networks."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select

from otwatch.console.audit import service as audit
from otwatch.console.deps import SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import conflict, not_found
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.networks.service import parse_cidr
from otwatch.console.pagination import Page, PageDep, paginate

router = APIRouter(prefix="/api/v1/networks", tags=["networks"])


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


@router.get("", response_model=Page[NetworkOut])
def list_networks(_: Viewer, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(MonitoredNetwork).order_by(MonitoredNetwork.cidr), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("", response_model=NetworkOut, status_code=201)
def add_network(body: NetworkIn, p: SettingsAdmin, db: SessionDep) -> MonitoredNetwork:
    if db.scalar(select(MonitoredNetwork).where(MonitoredNetwork.cidr == body.cidr)):
        raise conflict(f"{body.cidr} is already a monitored network")
    row = MonitoredNetwork(cidr=body.cidr, description=body.description)
    db.add(row)
    audit.record(db, p.actor, "network.added", body.cidr)
    db.commit()
    return row


@router.delete("/{network_id}", status_code=204)
def delete_network(network_id: str, p: SettingsAdmin, db: SessionDep) -> None:
    row = db.get(MonitoredNetwork, network_id)
    if row is None:
        raise not_found("network")
    db.delete(row)
    audit.record(db, p.actor, "network.deleted", row.cidr)
    db.commit()
