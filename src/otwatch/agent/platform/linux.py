"""Linux: the kernel's tables under ``/proc/net``, interface ioctls, ``AF_PACKET`` and ``flock``.

This is the only agent module that imports ``fcntl``; it is imported only where ``sys.platform``
is not ``win32`` (:mod:`otwatch.agent.platform`).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
import struct
from pathlib import Path

from otwatch.agent.platform.base import Interface, Link, LockHeld, Neighbour, RawAccess, Route
from otwatch.inventory.mac import normalise_mac

NAME = "linux"
ARP_TABLE = Path("/proc/net/arp")
ROUTE_TABLE = Path("/proc/net/route")

ETH_P_ARP = 0x0806
_ARPHRD_ETHER = 1
_SIOCGIFFLAGS, _SIOCGIFADDR, _SIOCGIFNETMASK, _SIOCGIFHWADDR = 0x8913, 0x8915, 0x891B, 0x8927
_IFF_UP, _IFF_LOOPBACK, _IFF_NOARP = 0x1, 0x8, 0x80
_RTF_UP, _RTF_GATEWAY, _RTF_REJECT = 0x1, 0x2, 0x200
#: /proc/net/arp flags: ATF_COM (complete), ATF_PERM (static)
_ATF_COM, _ATF_PERM = 0x2, 0x4


def read_routes(table: Path = ROUTE_TABLE) -> list[Route]:
    """The kernel's main IPv4 routing table (usable routes only); empty where there is none."""
    routes: list[Route] = []
    with contextlib.suppress(OSError):
        for line in table.read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) < 8:
                continue
            try:
                dest, gateway, flags, mask = (int(cols[i], 16) for i in (1, 2, 3, 7))
            except ValueError:
                continue
            if not flags & _RTF_UP or flags & _RTF_REJECT:
                continue
            net = ipaddress.IPv4Network(
                (socket.inet_ntoa(struct.pack("<I", dest)), socket.inet_ntoa(struct.pack("<I", mask))),
                strict=False,
            )
            routes.append(Route(net, cols[0], not flags & _RTF_GATEWAY and gateway == 0))
    return routes


def _ifreq(sock: socket.socket, request: int, name: str) -> bytes:
    return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))


def link_of(interface: str) -> Link | None:
    """Address and MAC of an up Ethernet interface that does ARP; None for anything else."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            flags = struct.unpack_from("H", _ifreq(sock, _SIOCGIFFLAGS, interface), 16)[0]
            if not flags & _IFF_UP or flags & (_IFF_LOOPBACK | _IFF_NOARP):
                return None
            hw = _ifreq(sock, _SIOCGIFHWADDR, interface)
            if struct.unpack_from("H", hw, 16)[0] != _ARPHRD_ETHER:
                return None
            addr = socket.inet_ntoa(_ifreq(sock, _SIOCGIFADDR, interface)[20:24])
        except OSError:
            return None
    return Link(interface, addr, hw[18:24])


def interfaces() -> list[Interface]:
    """Every interface with its flags, MAC and (first) IPv4 address: what ``SIOCGIF*`` tell."""
    out: list[Interface] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, name in socket.if_nameindex():
            try:
                flags = struct.unpack_from("H", _ifreq(sock, _SIOCGIFFLAGS, name), 16)[0]
                hw = _ifreq(sock, _SIOCGIFHWADDR, name)
            except OSError:
                continue
            ether = struct.unpack_from("H", hw, 16)[0] == _ARPHRD_ETHER
            addresses: tuple[tuple[str, int], ...] = ()
            with contextlib.suppress(OSError):
                addr = socket.inet_ntoa(_ifreq(sock, _SIOCGIFADDR, name)[20:24])
                mask = socket.inet_ntoa(_ifreq(sock, _SIOCGIFNETMASK, name)[20:24])
                addresses = ((addr, ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen),)
            out.append(
                Interface(
                    name,
                    index,
                    ":".join(f"{b:02x}" for b in hw[18:24]) if ether else None,
                    bool(flags & _IFF_UP),
                    ether and not flags & _IFF_NOARP,
                    bool(flags & _IFF_LOOPBACK),
                    addresses,
                )
            )
    return out


def neighbours(table: Path = ARP_TABLE) -> list[Neighbour]:
    """The kernel's ARP table (complete entries only); empty where there is none."""
    out: list[Neighbour] = []
    indexes: dict[str, int] = {}
    with contextlib.suppress(OSError):
        indexes = {name: index for index, name in socket.if_nameindex()}
    with contextlib.suppress(OSError):
        for line in table.read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) < 6:
                continue
            try:
                flags = int(cols[2], 16)
            except ValueError:
                continue
            mac = normalise_mac(cols[3]) if flags & _ATF_COM else None
            if mac is not None and mac != "00:00:00:00:00:00":
                state = "permanent" if flags & _ATF_PERM else "reachable"
                out.append(Neighbour(cols[0], mac, indexes.get(cols[5], 0), state))
    return out


def arp_permitted() -> bool:
    """True when an ``AF_PACKET`` socket can be opened (root or CAP_NET_RAW)."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    except (OSError, AttributeError):
        return False
    s.close()
    return True


def raw_access(icmp: bool) -> RawAccess:
    arp = arp_permitted()
    return RawAccess(arp, icmp, "packet-socket" if arp else "none")


class FlockFile:
    """``flock(LOCK_EX | LOCK_NB)`` on ``path``: held while the file stays open in this process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise LockHeld(f"{self.path} is locked by another process") from exc
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def file_lock(path: Path) -> FlockFile:
    return FlockFile(path)
