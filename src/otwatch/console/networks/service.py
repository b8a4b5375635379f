"""CIDR validation and the "inside the Monitored Networks" rule for active queries."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.networks.models import MonitoredNetwork

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(text: str) -> Network:
    """Parse one network; explain exactly what is wrong when it cannot be used."""
    t = text.strip()
    if not t:
        raise ValueError("network is empty")
    try:
        return ipaddress.ip_network(t, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(t, strict=False)
        except ValueError:
            raise ValueError(f"{t!r} is not a network in CIDR notation (for example 192.168.1.0/24)") from exc
        raise ValueError(f"{t!r} has host bits set; did you mean {loose}?") from exc


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
