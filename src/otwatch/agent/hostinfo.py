"""The agent's own host as inventory assets: hostname, OS and each interface's MAC and address.

The seed's agents run on gateways, HMIs and workstations that are devices of the plant too, so the
agent reports its host like any asset (source ``agent host``), one asset per interface (an asset is
one interface: a MAC and an IP). The console merges them by the one rule (MAC, else IP) with what a
sensor or a scan saw of the same interfaces, so the host is not listed twice, and Host Asset on the
Agents page links to it.

Interfaces come from the agent's platform layer (:mod:`otwatch.agent.platform`: ioctls on Linux,
the IP Helper API on Windows). Loopback, down interfaces, and interfaces with neither a MAC nor an
address are left out.
"""

from __future__ import annotations

import ipaddress
import platform as _os
import socket
from collections.abc import Sequence
from typing import Any, Final

from otwatch.agent import platform
from otwatch.agent.platform import Interface
from otwatch.inventory.mac import normalise_mac
from otwatch.inventory.oui import vendor_of

SOURCE: Final = "agent host"  # the source of the values, ranked by otwatch.inventory.merge
#: how often the host is reported again when nothing changed (the console's "last seen")
REPORT_EVERY_S: Final = 3600.0


def _usable(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return None
    return str(ip)


def interfaces() -> list[Interface]:
    """This host's interfaces as the platform layer lists them (none when it cannot tell)."""
    try:
        found: list[Interface] = platform.current.interfaces()
    except OSError:
        return []
    return found


def host_os() -> str:
    """The OS as the Agents page shows it ("Linux 6.1.0-18-amd64", "Windows 10")."""
    return f"{_os.system()} {_os.release()}".strip()


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
        mac = normalise_mac(i.mac)
        mac = None if mac == "00:00:00:00:00:00" else mac
        addresses = [a for a in (_usable(addr) for addr, _ in i.addresses) if a]
        if not i.up or i.loopback or not (mac or addresses):
            continue
        report: dict[str, Any] = {
            "ip": addresses[0] if addresses else None,
            "mac": mac,
            "name": hostname or None,
            "os": os_name or None,
            "sources": {"name": SOURCE, "os": SOURCE},
            "identities": [
                {
                    "protocol": SOURCE,
                    "name": hostname,
                    "extra": {"interface": i.description or i.name, "addresses": addresses, "os": os_name},
                }
            ],
        }
        vendor = vendor_of(mac)
        if vendor:  # the NIC maker, by the MAC's OUI (the lowest rank: any answer replaces it)
            report["vendor"] = vendor
            report["sources"]["vendor"] = "oui"
        out.append(report)
    return out


def own_macs(found: Sequence[Interface] | None = None) -> dict[str, str]:
    """address -> MAC of this host's interfaces: a scan that reaches the host itself learns no MAC for
    it (no ARP answer from ourselves), so the scan's asset would not match the host's own report."""
    found = interfaces() if found is None else found
    out: dict[str, str] = {}
    for i in found:
        mac = normalise_mac(i.mac)
        if mac and mac != "00:00:00:00:00:00" and not i.loopback:
            out.update({addr: mac for addr, _ in i.addresses})
    return out
