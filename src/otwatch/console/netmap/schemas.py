"""The Network Map and an asset's neighbourhood as the API sends them to the page's graph."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

__all__ = ["GraphOut", "MapEdgeOut", "MapGroupOut", "MapNodeOut"]


class MapNodeOut(BaseModel):
    """One asset drawn: ``group`` is the id of its subnet or Purdue level box, ``hop`` its distance
    from the asset a neighbourhood is centred on (0 for that asset; always 0 on the map)."""

    id: str
    label: str
    ip: str | None
    mac: str | None
    name: str | None
    device_type: str | None
    type_reason: str | None
    vendor: str | None
    model: str | None
    ghost: bool
    group: str
    conversations: int  # it takes part in under the filters (the map: drawn or not; a neighbourhood: its own)
    open_alerts: int = 0  # open alerts it is the source or the destination of (by its address)
    hop: int = 0
    href: str


class MapEdgeOut(BaseModel):
    """The conversations of one client with one server over one protocol, every port and every
    reporting sensor added up: ``source`` asked, ``target`` answered."""

    id: str
    source: str
    target: str
    protocol: str
    ports: list[str]  # transport/port, e.g. tcp/502
    conversations: int  # stored conversations added up: one per port and reporting sensor
    packets: int
    bytes: int
    first_seen: datetime
    last_seen: datetime


class MapGroupOut(BaseModel):
    """A box of the map: a subnet (a Monitored Network, else the /24 or /64) or a Purdue level."""

    id: str
    label: str
    order: int  # where the box goes: Purdue levels top (enterprise) to bottom (control)
    nodes: int  # assets of the box drawn


class GraphOut(BaseModel):
    """What one map or neighbourhood request draws, and how much of what matched was left out:
    conversations as stored (one per client, server, protocol, port and sensor), of which the
    ``shown_edges`` drawn add up ``shown_conversations``; ``capped`` when not all is drawn."""

    group_by: Literal["subnet", "purdue"]
    nodes: list[MapNodeOut]
    edges: list[MapEdgeOut]
    groups: list[MapGroupOut]
    total_nodes: int
    shown_nodes: int
    total_conversations: int
    shown_conversations: int
    shown_edges: int
    capped: bool
    center: str | None = None  # the neighbourhood's asset
