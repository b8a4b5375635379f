"""CIDR validation and the "inside the Monitored Networks" rule for active queries."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.networks.models import MonitoredNetwork
from otwatch.wire.settings import Network, parse_cidr

__all__ = ["Network", "monitored", "outside_monitored", "parse_cidr"]


def monitored(db: Session) -> list[Network]:
    return [ipaddress.ip_network(c) for c in db.scalars(select(MonitoredNetwork.cidr))]


def outside_monitored(db: Session, networks: list[Network]) -> list[str]:
    """The networks that do not lie inside any Monitored Network."""
    mons = monitored(db)
    return [
        str(n)
        for n in networks
        if not any(n.version == m.version and n.subnet_of(m) for m in mons)  # type: ignore[arg-type]
    ]
