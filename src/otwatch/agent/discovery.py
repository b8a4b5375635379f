"""Phase 1, Discovery: which addresses are alive, so later phases connect only to live hosts.

Order per host (PEERS.md: discover first, then connect only to live hosts):

1. ICMP echo through a raw socket when the process may open one (root / CAP_NET_RAW); otherwise the
   step is skipped with a note.
2. TCP connect probes on a few common ports; a refused connection proves the host is alive as well as
   an accepted one. Connections are closed with FIN at once.
3. MAC addresses come from the kernel's neighbour (ARP) table: connecting to an on-link host makes
   the kernel resolve it, so no hand-made ARP frames are needed and nothing is sent off-link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from otwatch.agent.safety import HostGaveUp, ScanAborted, ScanContext, ScopeError

#: Ports probed when ICMP is unavailable or unanswered: the OT ports most devices listen on, then the
#: usual IT ones.
DISCOVERY_PORTS: tuple[int, ...] = (502, 102, 44818, 80, 443, 22, 445, 3389)

_ICMP_ECHO = 8
_ICMP_ECHO_REPLY = 0
_ARP_TABLE = Path("/proc/net/arp")


@dataclass(slots=True)
class LiveHost:
    ip: str
    method: str  # "icmp", "tcp-open", "tcp-refused"
    mac: str | None = None
    open_port: int | None = None  # a port the probe found open, saves work in the ports phase


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


async def icmp_echo(ctx: ScanContext, host: str, timeout: float) -> bool:
    """One echo request (plus the policy's retry); True when the host answered."""
    loop = asyncio.get_running_loop()
    ident = (os.getpid() ^ id(host)) & 0xFFFF
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        for seq in range(1 + ctx.policy.retries):
            await ctx.before_send(host)
            await loop.sock_sendto(sock, echo_request(ident, seq), (host, 0))
            deadline = loop.time() + timeout
            while (left := deadline - loop.time()) > 0:
                try:
                    packet, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 2048), left)
                except TimeoutError:
                    break
                reply = parse_echo_reply(packet)
                if reply is not None and reply[0] == host and reply[1] == ident:
                    return True
    return False


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


def neighbour_macs(table: Path = _ARP_TABLE) -> dict[str, str]:
    """IPv4 -> MAC from the kernel's ARP table (complete entries only); empty where there is none."""
    macs: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in table.read_text().splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 4 and cols[2] == "0x2" and cols[3] != "00:00:00:00:00:00":
                macs[cols[0]] = cols[3].lower()
    return macs


async def discover(
    ctx: ScanContext,
    hosts: Sequence[str],
    *,
    probe_ports: Sequence[int] = DISCOVERY_PORTS,
    use_icmp: bool | None = None,
    notes: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[LiveHost]:
    """Live hosts among ``hosts`` in input order, at most ``max_hosts_in_flight`` probed at once."""
    if use_icmp is None:
        use_icmp = icmp_permitted()
        if not use_icmp and notes is not None:
            notes.append("ICMP discovery skipped: raw sockets need root or CAP_NET_RAW")
    sem = asyncio.Semaphore(ctx.policy.max_hosts_in_flight)
    found: dict[str, LiveHost] = {}
    done = 0

    async def one(host: str) -> None:
        nonlocal done
        async with sem:
            try:
                async with ctx.exclusive(host):
                    live: LiveHost | None = None
                    if use_icmp and await icmp_echo(ctx, host, ctx.policy.response_timeout):
                        live = LiveHost(host, "icmp")
                    if live is None:
                        live = await tcp_probe(ctx, host, probe_ports)
                    if live is not None:
                        found[host] = live
            except (HostGaveUp, ScopeError) as exc:
                if isinstance(exc, ScopeError) and notes is not None:
                    notes.append(str(exc))
            finally:
                done += 1
                if progress is not None:
                    progress(done, len(hosts))

    try:
        async with asyncio.TaskGroup() as tg:
            for host in hosts:
                tg.create_task(one(host))
    except* ScanAborted:
        raise ScanAborted("scan aborted during discovery") from None
    macs = neighbour_macs()
    result = [found[h] for h in hosts if h in found]
    for live in result:
        live.mac = macs.get(live.ip)
    return result
