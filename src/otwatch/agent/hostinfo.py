"""The agent's own host as inventory assets: hostname, OS and each interface's MAC and addresses.

The seed's agents run on gateways, HMIs and workstations that are devices of the plant too, so the
agent reports its host like any asset (source ``agent host``), one asset per interface (an asset is
one interface: a MAC and an IP). The console merges them by the one rule (MAC, else IP) with what a
sensor or a scan saw of the same interfaces, so the host is not listed twice, and Host Asset on the
Agents page links to it.

Interfaces come from psutil (Linux, Windows, macOS alike). Loopback, down interfaces, and interfaces
with neither a MAC nor a usable address are left out; link-local IPv6 addresses are never an
asset's address.
"""

from __future__ import annotations

import ipaddress
import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# A runtime dependency; an agent whose code was updated without its dependencies still scans and
# checks in, it only does not report its host.
try:
    import psutil
except ImportError:  # pragma: no cover
    psutil = None  # type: ignore[assignment]

from otwatch.inventory.mac import normalise_mac
from otwatch.inventory.oui import vendor_of

SOURCE: Final = "agent host"  # the source of the values, ranked by otwatch.inventory.merge
#: how often the host is reported again when nothing changed (the console's "last seen")
REPORT_EVERY_S: Final = 3600.0


@dataclass(frozen=True, slots=True)
class Interface:
    """One interface as the operating system lists it."""

    name: str
    up: bool
    loopback: bool
    mac: str | None
    addresses: tuple[str, ...]  # IPv4 first, then global IPv6


def _usable(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return None
    return str(ip)


def interfaces(
    addrs: Mapping[str, Sequence[Any]] | None = None, stats: Mapping[str, Any] | None = None
) -> list[Interface]:
    """The host's interfaces (``addrs``/``stats``: psutil's ``net_if_addrs()``/``net_if_stats()``, read
    when not given)."""
    if psutil is None and (addrs is None or stats is None):
        return []
    addrs = psutil.net_if_addrs() if addrs is None else addrs
    stats = psutil.net_if_stats() if stats is None else stats
    link_family = getattr(psutil, "AF_LINK", None)
    out: list[Interface] = []
    for name, entries in addrs.items():
        st = stats.get(name)
        flags = str(getattr(st, "flags", ""))
        mac: str | None = None
        v4: list[str] = []
        v6: list[str] = []
        for e in entries:
            if e.family == link_family or e.family == getattr(socket, "AF_PACKET", object()):
                mac = normalise_mac(e.address)
            elif e.family == socket.AF_INET and (a := _usable(e.address)):
                v4.append(a)
            elif e.family == socket.AF_INET6 and (a := _usable(e.address)):
                v6.append(a)
        if mac == "00:00:00:00:00:00":
            mac = None
        loopback = "loopback" in flags or name == "lo" or (not mac and any(a == "127.0.0.1" for a in v4))
        out.append(Interface(name, bool(getattr(st, "isup", False)), loopback, mac, tuple(v4 + v6)))
    return out


def host_os() -> str:
    """The OS as the Agents page shows it ("Linux 6.1.0-18-amd64", "Windows 10")."""
    return f"{platform.system()} {platform.release()}".strip()


def host_assets(
    hostname: str | None = None, os_name: str | None = None, found: Sequence[Interface] | None = None
) -> list[dict[str, Any]]:
    """The host as asset reports (``otwatch.wire.messages.AssetReport`` fields), one per interface that
    is up, not loopback, and has a MAC or an address; sorted by interface name (stable reports)."""
    hostname = hostname if hostname is not None else socket.gethostname()
    os_name = os_name if os_name is not None else host_os()
    found = interfaces() if found is None else found
    out: list[dict[str, Any]] = []
    for i in sorted(found, key=lambda i: i.name):
        if not i.up or i.loopback or not (i.mac or i.addresses):
            continue
        report: dict[str, Any] = {
            "ip": i.addresses[0] if i.addresses else None,
            "mac": i.mac,
            "name": hostname or None,
            "os": os_name or None,
            "sources": {"name": SOURCE, "os": SOURCE},
            "identities": [
                {
                    "protocol": SOURCE,
                    "name": hostname,
                    "extra": {"interface": i.name, "addresses": list(i.addresses), "os": os_name},
                }
            ],
        }
        vendor = vendor_of(i.mac)
        if vendor:  # the NIC maker, by the MAC's OUI (the lowest rank: any answer replaces it)
            report["vendor"] = vendor
            report["sources"]["vendor"] = "oui"
        out.append(report)
    return out


def own_macs(found: Sequence[Interface] | None = None) -> dict[str, str]:
    """address -> MAC of this host's interfaces: a scan that reaches the host itself learns no MAC for
    it (no ARP answer from ourselves), so the scan's asset would not match the host's own report."""
    found = interfaces() if found is None else found
    return {a: i.mac for i in found if i.mac and not i.loopback for a in i.addresses}
