"""What the agent needs from its operating system, as plain data, the same on Linux and Windows.

Discovery only asks these questions (where is a target: on a local subnet or behind a gateway; which
address and MAC do we have there; what does the neighbour table say; may this process send raw
frames); each platform module answers them its own way (``linux.py``: ``/proc/net`` and ioctls;
``windows.py``: the IP Helper API through ctypes). Nothing here imports a platform-only module.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Route:
    network: ipaddress.IPv4Network
    interface: str
    on_link: bool  # no gateway: the destination is reached directly, so it answers ARP


@dataclass(frozen=True, slots=True)
class Link:
    """An Ethernet interface that can ARP, with our address and MAC on it."""

    interface: str
    address: str
    mac: bytes


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface: its name (Linux: ``eth0``; Windows: the adapter's GUID name), index,
    MAC, state and IPv4 addresses with their on-link prefix lengths."""

    name: str
    index: int
    mac: str | None
    up: bool
    ethernet: bool  # Ethernet or Wi-Fi: a link that answers ARP
    loopback: bool = False
    addresses: tuple[tuple[str, int], ...] = ()
    description: str = ""

    def networks(self) -> list[ipaddress.IPv4Network]:
        return [ipaddress.IPv4Network((a, p), strict=False) for a, p in self.addresses]


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One entry of the neighbour (ARP) table."""

    ip: str
    mac: str
    interface_index: int
    state: str  # "reachable", "stale", "permanent", "incomplete", ... (the platform's word, lowercased)


@dataclass(frozen=True, slots=True)
class RawAccess:
    """Which raw sends this process may make, and how ARP is done here."""

    arp: bool
    icmp: bool
    arp_method: str  # "packet-socket" (Linux AF_PACKET), "sendarp" (Windows IP Helper), "none"
    npcap: bool = False  # Windows: Npcap's wpcap.dll is installed
    notes: tuple[str, ...] = field(default=())


class LockHeld(RuntimeError):
    """Another process holds the lock (a second agent on the same installation)."""


class FileLock(Protocol):
    """An exclusive, non-blocking lock on a file, released on close or at process exit."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...
