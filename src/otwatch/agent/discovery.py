"""Phase 1, Discovery: which addresses are alive, so later phases connect only to live hosts.

PEERS.md: discover first (ARP on-link, ICMP off-link), then connect only to live hosts.

1. On-link targets (a subnet of a local Ethernet interface: the kernel's main routing table
   ``/proc/net/route`` on Linux, the adapters' on-link prefixes on Windows; see
   :mod:`otwatch.agent.platform`): one ARP who-has per address through an ``AF_PACKET`` socket, sent
   at the scan's rates, and the replies collected until a second after the last request. An on-link
   host that does not answer ARP cannot receive IP either, so it costs one frame and no timeout. The
   replies give the MAC addresses. Needs root or CAP_NET_RAW; without it on-link targets take the
   off-link path. On Windows (no packet sockets) each who-has is a ``SendARP`` call instead, at most
   ``max_hosts_in_flight`` at once, each paced and checked the same way.
2. Off-link targets: one ICMP echo per address through one raw socket (root / CAP_NET_RAW), the
   replies collected until ``connect_timeout`` after the last request.
3. Hosts that answered neither, when ICMP could not be used or ``ScanPolicy.discovery_tcp_probes``
   asks for it: TCP connect probes on a few common ports, at most ``max_hosts_in_flight`` hosts at
   once; a refused connection proves the host alive as well as an accepted one. Connections are
   closed with FIN at once.

Every frame passes :meth:`ScanContext.before_send` (abort, scope, per-host and whole-scan rate). ARP
frames leave through ``send`` on a bound packet socket, which the process send guard cannot see, so
:func:`arp_sweep` calls :meth:`ScanContext.check_send` itself right before each one. MAC addresses of
hosts found by ICMP or TCP come from the system's neighbour (ARP) table.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from otwatch.agent import platform
from otwatch.agent.platform import Link, Route
from otwatch.agent.safety import HostGaveUp, ScanAborted, ScanContext, ScopeError

#: Ports probed when ICMP is unavailable or unanswered: the OT ports most devices listen on, then the
#: usual IT ones.
DISCOVERY_PORTS: tuple[int, ...] = (502, 102, 44818, 80, 443, 22, 445, 3389)

#: How long ARP replies are collected after the last who-has (PEERS.md connect timeout is 1 s).
ARP_WAIT_S = 1.0

_ICMP_ECHO = 8
_ICMP_ECHO_REPLY = 0

_ETH_P_ARP = 0x0806
_ETH_P_IP = 0x0800
_ARPHRD_ETHER = 1
_ARP_REQUEST, _ARP_REPLY = 1, 2
_PACKET_OUTGOING = 4
_BROADCAST_MAC = b"\xff" * 6


@dataclass(slots=True)
class LiveHost:
    ip: str
    method: str  # "arp", "icmp", "tcp-open", "tcp-refused"
    mac: str | None = None
    open_port: int | None = None  # a port the probe found open, saves work in the ports phase


# --- where a target is: routes and interfaces (the platform layer answers) ---------------------------


def read_routes() -> list[Route]:
    """The IPv4 routes that tell on-link from off-link: the kernel's main table on Linux, the
    adapters' on-link subnets on Windows; empty where there is none."""
    routes: list[Route] = platform.current.read_routes()
    return routes


def route_for(address: str, routes: Iterable[Route]) -> Route | None:
    """The longest-prefix route to ``address``."""
    ip = ipaddress.IPv4Address(address)
    best: Route | None = None
    for route in routes:
        if ip in route.network and (best is None or route.network.prefixlen > best.network.prefixlen):
            best = route
    return best


def link_of(interface: str) -> Link | None:
    """Address and MAC of an up Ethernet interface that does ARP; None for anything else."""
    link: Link | None = platform.current.link_of(interface)
    return link


@dataclass(slots=True)
class OnLink:
    """Targets that share one on-link route, and the interface to reach them on."""

    route: Route
    link: Link
    hosts: list[str]


def on_link_groups(hosts: Iterable[str], routes: Sequence[Route] | None = None) -> list[OnLink]:
    """``hosts`` grouped by the on-link route (a subnet of a local Ethernet interface) they lie in, in
    input order; hosts reached through a gateway, or through an interface without ARP, are left out."""
    routes = read_routes() if routes is None else routes
    groups: dict[Route, OnLink] = {}
    links: dict[str, Link | None] = {}
    for host in hosts:
        route = route_for(host, routes)
        if route is None or not route.on_link:
            continue
        if route.interface not in links:
            links[route.interface] = link_of(route.interface)
        link = links[route.interface]
        if link is not None and link.address != host:  # our own address answers no ARP of ours
            groups.setdefault(route, OnLink(route, link, [])).hosts.append(host)
    return list(groups.values())


# --- ARP --------------------------------------------------------------------------------------------


def arp_permitted() -> bool:
    """True when this process can ARP: an ``AF_PACKET`` socket opens (Linux: root or CAP_NET_RAW),
    or ``SendARP`` is there (Windows)."""
    allowed: bool = platform.current.arp_permitted()
    return allowed


def arp_request(link: Link, target: str) -> bytes:
    """An Ethernet broadcast ARP who-has ``target``, asked from ``link``'s address and MAC."""
    eth = _BROADCAST_MAC + link.mac + struct.pack("!H", _ETH_P_ARP)
    arp = struct.pack("!HHBBH", _ARPHRD_ETHER, _ETH_P_IP, 6, 4, _ARP_REQUEST)
    arp += link.mac + socket.inet_aton(link.address) + b"\0" * 6 + socket.inet_aton(target)
    return eth + arp


def parse_arp_reply(frame: bytes) -> tuple[str, str] | None:
    """(sender ip, sender mac) of an Ethernet ARP reply, else None. Never raises."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, op = struct.unpack_from("!HHBBH", frame, 14)
    if (htype, ptype, hlen, plen, op) != (_ARPHRD_ETHER, _ETH_P_IP, 6, 4, _ARP_REPLY):
        return None
    mac = ":".join(f"{b:02x}" for b in frame[22:28])
    return socket.inet_ntoa(frame[28:32]), mac


async def arp_sweep(
    ctx: ScanContext,
    link: Link,
    hosts: Sequence[str],
    *,
    wait: float = ARP_WAIT_S,
    notes: list[str] | None = None,
) -> dict[str, str]:
    """One ARP who-has per host of ``hosts`` (all on ``link``'s subnet) at the scan's rates; the
    hosts that answered, with their MAC. Replies are collected until ``wait`` after the last request
    (or until every host answered). An address outside the scope raises no frame: it is noted and
    skipped (``before_send`` and ``check_send`` both refuse it)."""
    if platform.is_windows():
        return await _sendarp_sweep(ctx, link, hosts, notes=notes)
    loop = asyncio.get_running_loop()
    pending = set(hosts)
    found: dict[str, str] = {}
    all_found = asyncio.Event()
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ARP)) as sock:
        sock.bind((link.interface, _ETH_P_ARP))
        sock.setblocking(False)

        async def collect() -> None:
            while True:
                frame, addr = await loop.sock_recvfrom(sock, 2048)
                if len(addr) > 2 and addr[2] == _PACKET_OUTGOING:
                    continue
                reply = parse_arp_reply(frame)
                if reply is not None and reply[0] in pending and reply[0] not in found:
                    found[reply[0]] = reply[1]
                    if len(found) == len(pending):
                        all_found.set()

        receiver = asyncio.create_task(collect())
        try:
            for host in hosts:
                try:
                    await ctx.before_send(host)
                    ctx.check_send(host)  # the audit hook does not see send() on a packet socket
                except ScopeError as exc:
                    pending.discard(host)
                    if notes is not None:
                        notes.append(str(exc))
                    continue
                await loop.sock_sendall(sock, arp_request(link, host))
            if pending and len(found) < len(pending):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_found.wait(), wait)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await receiver
    return found


async def _sendarp_sweep(
    ctx: ScanContext, link: Link, hosts: Sequence[str], *, notes: list[str] | None = None
) -> dict[str, str]:
    """Windows: one ``SendARP`` per host (a blocking call in a worker thread, at most
    ``max_hosts_in_flight`` at once), each paced by ``before_send`` and checked by ``check_send``."""
    found: dict[str, str] = {}
    sem = asyncio.Semaphore(ctx.policy.max_hosts_in_flight)

    async def one(host: str) -> None:
        async with sem:
            try:
                await ctx.before_send(host)
                ctx.check_send(host)
            except ScopeError as exc:
                if notes is not None:
                    notes.append(str(exc))
                return
            mac = await asyncio.to_thread(platform.current.send_arp, host, link.address)
            if mac is not None:
                found[host] = mac

    try:
        async with asyncio.TaskGroup() as tg:
            for host in hosts:
                tg.create_task(one(host))
    except* ScanAborted:
        raise ScanAborted("scan aborted during ARP discovery") from None
    return found


# --- ICMP -------------------------------------------------------------------------------------------


def icmp_permitted() -> bool:
    """True when a raw ICMP socket can be opened (root or CAP_NET_RAW)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except OSError:
        return False
    s.close()
    return True


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"otwatch") -> bytes:
    header = struct.pack("!BBHHH", _ICMP_ECHO, 0, 0, ident, seq)
    csum = _checksum(header + payload)
    return struct.pack("!BBHHH", _ICMP_ECHO, 0, csum, ident, seq) + payload


def parse_echo_reply(packet: bytes) -> tuple[str, int, int] | None:
    """(source ip, ident, seq) of an echo reply in a raw IPv4 packet, else None. Never raises."""
    if len(packet) < 20:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return None
    icmp_type, _code, _csum, ident, seq = struct.unpack_from("!BBHHH", packet, ihl)
    if icmp_type != _ICMP_ECHO_REPLY:
        return None
    return socket.inet_ntoa(packet[12:16]), ident, seq


async def icmp_sweep(
    ctx: ScanContext, hosts: Sequence[str], *, wait: float, notes: list[str] | None = None
) -> set[str]:
    """One echo request per host at the scan's rates; the hosts that answered within ``wait`` after
    the last request (or as soon as all did)."""
    loop = asyncio.get_running_loop()
    ident = (os.getpid() ^ random.getrandbits(16)) & 0xFFFF
    pending = set(hosts)
    found: set[str] = set()
    all_found = asyncio.Event()
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        if platform.is_windows():
            sock.bind(("0.0.0.0", 0))  # Winsock delivers nothing to an unbound raw socket
        sock.setblocking(False)

        async def collect() -> None:
            while True:
                packet, _ = await loop.sock_recvfrom(sock, 2048)
                reply = parse_echo_reply(packet)
                if reply is not None and reply[1] == ident and reply[0] in pending:
                    found.add(reply[0])
                    if len(found) == len(pending):
                        all_found.set()

        receiver = asyncio.create_task(collect())
        try:
            for seq, host in enumerate(hosts):
                try:
                    await ctx.before_send(host)
                    await loop.sock_sendto(sock, echo_request(ident, seq & 0xFFFF), (host, 0))
                except ScopeError as exc:
                    pending.discard(host)
                    if notes is not None:
                        notes.append(str(exc))
            if pending and len(found) < len(pending):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_found.wait(), wait)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await receiver
    return found


async def icmp_echo(ctx: ScanContext, host: str, timeout: float) -> bool:
    """One echo request to one host; True when it answered within ``timeout``."""
    return host in await icmp_sweep(ctx, [host], wait=timeout)


# --- TCP --------------------------------------------------------------------------------------------


async def tcp_probe(ctx: ScanContext, host: str, ports: Sequence[int]) -> LiveHost | None:
    """Connect to ``ports`` in turn until one answers (accepted or refused)."""
    guard = ctx.guard(host)
    for port in ports:
        if guard.gave_up:
            return None
        try:
            _reader, writer = await ctx.open_tcp(host, port)
        except ConnectionRefusedError:
            return LiveHost(host, "tcp-refused")
        except (TimeoutError, OSError):
            continue
        await ctx.close_tcp(writer)
        return LiveHost(host, "tcp-open", open_port=port)
    return None


def neighbour_macs() -> dict[str, str]:
    """IPv4 -> MAC from the system's neighbour (ARP) table; empty where there is none."""
    return {n.ip: n.mac for n in platform.current.neighbours()}


async def discover(
    ctx: ScanContext,
    hosts: Sequence[str],
    *,
    probe_ports: Sequence[int] = DISCOVERY_PORTS,
    use_icmp: bool | None = None,
    use_arp: bool | None = None,
    notes: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    routes: Sequence[Route] | None = None,
) -> list[LiveHost]:
    """Live hosts among ``hosts`` in input order: ARP on-link, ICMP off-link, then TCP probes.

    ``use_arp`` / ``use_icmp``: None uses the method when the process may (root or CAP_NET_RAW),
    False never. ``routes`` replaces the kernel's routing table (tests).
    """
    found: dict[str, LiveHost] = {}
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, len(hosts))

    def note(text: str) -> None:
        if notes is not None:
            notes.append(text)

    rest = list(hosts)
    if use_arp is None:
        use_arp = arp_permitted()
        if not use_arp and on_link_groups(hosts, routes):
            note("ARP discovery skipped: packet sockets need root or CAP_NET_RAW; using ICMP/TCP on-link")
    if use_arp and platform.is_windows():
        for text in platform.current.raw_access(False).notes:
            note(text)  # how ARP is done there
    if use_arp:
        groups = on_link_groups(hosts, routes)
        if groups:
            answers = await asyncio.gather(
                *(arp_sweep(ctx, g.link, g.hosts, wait=ARP_WAIT_S, notes=notes) for g in groups)
            )
            for answered in answers:
                for ip, mac in answered.items():
                    found[ip] = LiveHost(ip, "arp", mac)
            on_link = {h for g in groups for h in g.hosts}
            rest = [h for h in hosts if h not in on_link]  # silent to ARP means not there at all
            advance(len(on_link))

    if use_icmp is None:
        use_icmp = icmp_permitted()
        if not use_icmp and rest:
            note("ICMP discovery skipped: raw sockets need root or CAP_NET_RAW")
    silent = rest
    if use_icmp and rest:
        answered_icmp = await icmp_sweep(ctx, rest, wait=ctx.policy.connect_timeout, notes=notes)
        for ip in answered_icmp:
            found[ip] = LiveHost(ip, "icmp")
        silent = [h for h in rest if h not in answered_icmp]
        advance(len(rest) - len(silent))

    if silent and probe_ports and (not use_icmp or ctx.policy.discovery_tcp_probes):
        sem = asyncio.Semaphore(ctx.policy.max_hosts_in_flight)

        async def one(host: str) -> None:
            async with sem:
                try:
                    async with ctx.exclusive(host):
                        live = await tcp_probe(ctx, host, probe_ports)
                        if live is not None:
                            found[host] = live
                except HostGaveUp:
                    pass
                except ScopeError as exc:
                    note(str(exc))
                finally:
                    advance(1)

        try:
            async with asyncio.TaskGroup() as tg:
                for host in silent:
                    tg.create_task(one(host))
        except* ScanAborted:
            raise ScanAborted("scan aborted during discovery") from None
    if done < len(hosts):
        advance(len(hosts) - done)
    macs = neighbour_macs()
    result = [found[h] for h in hosts if h in found]
    for live in result:
        live.mac = live.mac or macs.get(live.ip)
    return result
