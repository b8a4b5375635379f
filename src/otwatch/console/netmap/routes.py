"""Network Map API: the map's graph and an asset's neighbourhood, for the pages' graph (viewer role)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from otwatch.console.assets.models import Asset
from otwatch.console.deps import SessionDep, Viewer
from otwatch.console.errors import not_found
from otwatch.console.netmap import service
from otwatch.console.netmap.schemas import GraphOut

router = APIRouter(prefix="/api/v1", tags=["network map"])


def _filters(
    protocol: Annotated[
        str | None, Query(max_length=50, description="conversations of this protocol only")
    ] = None,
    site: Annotated[str | None, Query(max_length=200, description="seen by the sensors of this site")] = None,
    sensor: Annotated[str | None, Query(max_length=32, description="seen by this sensor (id)")] = None,
    ghosts: Annotated[
        Literal["exclude", "include"], Query(description="addresses only ever probed, never heard")
    ] = "exclude",
    isolated: Annotated[bool, Query(description="also the assets without a conversation")] = False,
) -> service.Filters:
    return service.Filters(
        protocol=protocol or None,
        site=site or None,
        sensor=sensor or None,
        ghosts=ghosts == "include",
        isolated=isolated,
    )


FiltersDep = Annotated[service.Filters, Depends(_filters)]
GroupQuery = Annotated[
    Literal["subnet", "purdue"],
    Query(description="boxes: subnet (Monitored Networks, else /24) or Purdue level"),
]


@router.get("/map", response_model=GraphOut)
def get_map(
    _: Viewer,
    db: SessionDep,
    f: FiltersDep,
    group: GroupQuery = "subnet",
    limit: Annotated[
        int, Query(ge=1, le=service.MAX_LIMIT, description="assets drawn at most")
    ] = service.DEFAULT_LIMIT,
) -> GraphOut:
    """Assets and their conversations as a graph: the ``limit`` most connected assets under the
    filters and the conversations between them (one edge per client, server and protocol), grouped
    by subnet or Purdue level. ``total_*`` say how much matched, ``capped`` when not all is drawn."""
    return service.network_map(db, f, group, limit)


@router.get("/assets/{asset_id}/neighbourhood", response_model=GraphOut)
def get_neighbourhood(
    asset_id: str,
    _: Viewer,
    db: SessionDep,
    f: FiltersDep,
    hops: Annotated[int, Query(ge=1, le=2, description="1: its peers; 2: their peers too")] = 1,
    group: GroupQuery = "subnet",
    limit: Annotated[int, Query(ge=1, le=500, description="assets drawn at most")] = 150,
) -> GraphOut:
    """The asset and the assets it talks to (and, with ``hops=2``, those they talk to), with the
    conversations between them; the nearest and most connected are kept when capped."""
    a = db.get(Asset, asset_id)
    if a is None:
        raise not_found("asset")
    if a.ghost and not f.ghosts:  # a ghost's own page shows who probed it
        f = service.Filters(protocol=f.protocol, site=f.site, sensor=f.sensor, ghosts=True)
    return service.neighbourhood(db, a, f, hops, group, limit)
