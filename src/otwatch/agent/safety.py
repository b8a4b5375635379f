"""Safety rails for active scanning: fragile PLCs must never see more than the policy allows.

Everything the agent sends goes through :meth:`ScanContext.before_send`, which checks the abort token
and the scope *right before* the packet and waits for both rate limiters. Protocol packages open their
own sockets, so a process audit hook (:func:`install_send_guard`) re-checks every ``connect`` and
``sendto`` made from inside a running scan: a bug in any query cannot reach an address outside the
configured networks, spend a second broadcast on a subnet, or keep sending after an abort.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

IPv4Net = ipaddress.IPv4Network
IPv4Addr = ipaddress.IPv4Address

#: Query implementations audited as read-only (PEERS.md allowlist). A protocol that lands in the
#: registry with a query is *not* run until its name is added here after review.
READ_ONLY_QUERIES: frozenset[str] = frozenset(
    {
        "modbus",
        "s7comm",
        "enip",
        "bacnet",
        "iec104",
        "dnp3",
        "snmp",
        "ads",
        "hartip",
        "melsec",
        "fins",
        "roc_plus",
    }
)


class ScopeError(Exception):
    """An address outside the configured networks (or an exhausted broadcast budget) was about to
    receive a packet. Deliberately not an ``OSError`` so that ``except OSError`` in a protocol query
    cannot swallow it."""


class ScanAborted(Exception):
    """The scan was aborted; raised instead of sending."""


@dataclass(slots=True)
class ScanPolicy:
    """Per-agent limits. Defaults are the SAFE LIMITS of PEERS.md (field incidents, vendor guidance)."""

    networks: tuple[str, ...] = ()
    exclusions: tuple[str, ...] = ()
    rate_pps: float = 100.0
    per_host_pps: float = 10.0
    max_hosts_in_flight: int = 16
    connect_timeout: float = 1.0
    response_timeout: float = 2.0
    retries: int = 1
    max_consecutive_timeouts: int = 2
    broadcasts_per_subnet: int = 1
    query_timeout: float = 30.0  # whole budget of one protocol query (several paced exchanges)
    # Off-link hosts silent to ICMP get TCP connect probes (OT firewalls often drop ping); on-link
    # hosts silent to ARP never do. Without raw sockets (not root) TCP probes are the only method.
    discovery_tcp_probes: bool = True
    max_hosts: int = 65536  # refuse to expand absurdly large targets (a /8 by mistake)
    read_only_queries: frozenset[str] = READ_ONLY_QUERIES
    disabled_queries: frozenset[str] = frozenset({"dnp3"})  # DNP3 off by default
    # The backplane walk goes past PEERS.md's allowlist with reads of the same kind: S7 SZL 0x0D91 /
    # 0x0091 (module status, at most 2 more requests) and CIP Get_Attributes_All on each slot's
    # Identity object routed through port 1 (at most 17). Off: the CPU / adapter itself only.
    backplane_modules: bool = True

    def query_allowed(self, protocol: str) -> bool:
        return protocol in self.read_only_queries and protocol not in self.disabled_queries


def _parse_networks(items: Iterable[str]) -> tuple[IPv4Net, ...]:
    nets: list[IPv4Net] = []
    for item in items:
        net = ipaddress.ip_network(item.strip(), strict=False)
        if not isinstance(net, IPv4Net):
            raise ValueError(f"only IPv4 networks can be scanned: {item}")
        nets.append(net)
    return tuple(nets)


def parse_ip(address: str) -> IPv4Addr:
    """Parse an IPv4 literal; anything else (hostname, IPv6) cannot be scope-checked, so refuse it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ScopeError(f"{address!r} is not an IPv4 address; refusing to send") from None
    if not isinstance(ip, IPv4Addr):
        raise ScopeError(f"{address} is not IPv4; refusing to send")
    return ip


class Scope:
    """Configured networks minus exclusions. Holds no state, so it is safe to share."""

    __slots__ = ("exclusions", "networks")

    def __init__(self, networks: Iterable[str], exclusions: Iterable[str] = ()) -> None:
        self.networks = _parse_networks(networks)
        self.exclusions = _parse_networks(exclusions)

    def __contains__(self, address: object) -> bool:
        try:
            ip = parse_ip(str(address))
        except ScopeError:
            return False
        return any(ip in n for n in self.networks) and not any(ip in n for n in self.exclusions)

    def check(self, address: str) -> IPv4Addr:
        """Return the parsed address or raise :class:`ScopeError`."""
        ip = parse_ip(address)
        if not any(ip in n for n in self.networks):
            raise ScopeError(f"{ip} is outside the configured networks; refusing to send")
        if any(ip in n for n in self.exclusions):
            raise ScopeError(f"{ip} is excluded from scanning; refusing to send")
        return ip

    def network_of(self, ip: IPv4Addr) -> IPv4Net | None:
        """The most specific configured network holding ``ip`` (for the broadcast budget)."""
        best: IPv4Net | None = None
        for net in self.networks:
            if ip in net and (best is None or net.prefixlen > best.prefixlen):
                best = net
        return best

    def expand(self, targets: Iterable[str], limit: int) -> tuple[list[str], list[str]]:
        """Host addresses of ``targets`` inside the scope, and the targets refused as outside it.

        A target partly inside is clipped to the part inside (the seed: an agent scans only the
        active-query addresses that lie within the monitored networks).
        """
        hosts: dict[str, None] = {}
        refused: list[str] = []
        for target in targets:
            net = _parse_networks([target])[0]
            # Intersect first so a huge target with a small scope never iterates the huge side.
            parts = [net if net.subnet_of(s) else s for s in self.networks if net.overlaps(s)]
            before = len(hosts)
            for part in parts:
                if part.num_addresses > limit + 2:
                    raise ScopeError(f"{part} has more than {limit} hosts; narrow the targets")
                candidates = [part.network_address] if part.num_addresses == 1 else part.hosts()
                for ip in candidates:
                    if ip in self:
                        hosts[str(ip)] = None
                if len(hosts) > limit:
                    raise ScopeError(f"more than {limit} hosts requested; narrow the targets")
            if len(hosts) == before:
                refused.append(str(net))
        return list(hosts), refused


Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """Async token bucket: ``acquire`` returns once per token, never faster than ``rate`` per second
    beyond an initial ``burst``. Waiters are served in arrival order (the lock is FIFO)."""

    def __init__(
        self, rate: float, burst: float = 1.0, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._last = clock()
        self._lock = asyncio.Lock()
        self.granted = 0

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # tolerate float rounding of the refill
                    self._tokens = max(0.0, self._tokens - 1)
                    self.granted += 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)


class AbortToken:
    """Cancellation shared by the scan and whoever may abort it (CLI signal, console link thread).

    ``abort()`` is thread-safe: it flips a flag the send guard reads synchronously, wakes the scan's
    event loop, and closes every tracked connection so nothing is left half-open on a PLC.
    """

    def __init__(self) -> None:
        self._aborted = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._open: set[asyncio.BaseTransport] = set()
        self._mutex = threading.Lock()

    @property
    def aborted(self) -> bool:
        return self._aborted

    def bind(self) -> asyncio.Event:
        """Attach to the running loop (called by the scanner) and return the event to await."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        if self._aborted:
            self._event.set()
        return self._event

    def abort(self) -> None:
        self._aborted = True
        loop, event = self._loop, self._event
        if loop is None or event is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake(event)
        else:
            loop.call_soon_threadsafe(self._wake, event)

    def _wake(self, event: asyncio.Event) -> None:
        event.set()
        self.close_all()

    def raise_if_aborted(self) -> None:
        if self._aborted:
            raise ScanAborted("scan aborted")

    def track(self, transport: asyncio.BaseTransport) -> None:
        with self._mutex:
            self._open.add(transport)

    def untrack(self, transport: asyncio.BaseTransport) -> None:
        with self._mutex:
            self._open.discard(transport)

    def close_all(self) -> None:
        with self._mutex:
            transports, self._open = list(self._open), set()
        for transport in transports:
            transport.close()

    @property
    def open_count(self) -> int:
        return len(self._open)


@dataclass(slots=True)
class HostGuard:
    """Per-host state: one connection and one request in flight, its own rate, and the timeout
    counter that makes the scan leave a host alone after two consecutive timeouts."""

    lock: asyncio.Lock
    bucket: TokenBucket
    consecutive_timeouts: int = 0
    gave_up: bool = False


class HostGaveUp(Exception):
    """The host timed out too often; the scan leaves it alone."""


@dataclass(slots=True)
class ScanContext:
    """The limits of one running scan, shared by all phases."""

    policy: ScanPolicy
    scope: Scope
    token: AbortToken = field(default_factory=AbortToken)
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    bucket: TokenBucket = field(init=False)
    hosts: dict[str, HostGuard] = field(init=False, default_factory=dict)
    broadcasts: dict[IPv4Net, int] = field(init=False, default_factory=dict)
    refused_sends: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.bucket = TokenBucket(self.policy.rate_pps, clock=self.clock, sleep=self.sleep)

    def guard(self, host: str) -> HostGuard:
        g = self.hosts.get(host)
        if g is None:
            g = HostGuard(
                asyncio.Lock(), TokenBucket(self.policy.per_host_pps, clock=self.clock, sleep=self.sleep)
            )
            self.hosts[host] = g
        return g

    def check_send(self, address: str) -> None:
        """Synchronous gate run right before a packet leaves: abort, scope, broadcast budget."""
        try:
            self.token.raise_if_aborted()
            ip = self.scope.check(address)
            net = self.scope.network_of(ip)
            if net is not None and net.prefixlen < 31 and ip == net.broadcast_address:
                used = self.broadcasts.get(net, 0)
                if used >= self.policy.broadcasts_per_subnet:
                    raise ScopeError(f"broadcast budget for {net} spent; refusing to send to {ip}")
                self.broadcasts[net] = used + 1
        except ScopeError as exc:
            self.refused_sends.append(str(exc))
            raise

    async def before_send(self, host: str) -> None:
        """Wait for the host's and the scan's rate, then check abort and scope again.

        The broadcast budget is charged by the send guard at the actual ``sendto``, so that one
        packet is never counted twice.
        """
        self.token.raise_if_aborted()
        self.scope.check(host)  # fail fast before waiting for tokens
        await self.guard(host).bucket.acquire()
        await self.bucket.acquire()
        try:
            self.token.raise_if_aborted()
            self.scope.check(host)
        except ScopeError as exc:
            self.refused_sends.append(str(exc))
            raise

    @contextlib.asynccontextmanager
    async def exclusive(self, host: str) -> AsyncIterator[HostGuard]:
        """Hold the host: one connection and one request in flight per device."""
        g = self.guard(host)
        async with g.lock:
            if g.gave_up:
                raise HostGaveUp(host)
            yield g

    def record_timeout(self, host: str) -> None:
        g = self.guard(host)
        g.consecutive_timeouts += 1
        if g.consecutive_timeouts >= self.policy.max_consecutive_timeouts:
            g.gave_up = True

    def record_answer(self, host: str) -> None:
        self.guard(host).consecutive_timeouts = 0

    async def open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect with the policy's connect timeout and one retry; track the socket for abort.

        Raises ``ConnectionRefusedError`` (host alive, port closed), ``TimeoutError`` after the retry
        (counted towards giving up on the host) or ``OSError``.
        """
        attempts = 1 + self.policy.retries
        for attempt in range(attempts):
            await self.before_send(host)
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), self.policy.connect_timeout
                )
            except TimeoutError:
                self.record_timeout(host)
                if attempt + 1 == attempts or self.guard(host).gave_up:
                    raise
                continue
            self.record_answer(host)
            self.token.track(writer.transport)
            return reader, writer
        raise AssertionError("unreachable")

    async def close_tcp(self, writer: asyncio.StreamWriter) -> None:
        """Close with FIN and wait briefly: connections left open take fragile PLCs offline."""
        self.token.untrack(writer.transport)
        writer.close()
        with contextlib.suppress(OSError, TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    @contextlib.asynccontextmanager
    async def tcp(
        self, host: str, port: int
    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        reader, writer = await self.open_tcp(host, port)
        try:
            yield reader, writer
        finally:
            await self.close_tcp(writer)


# --- process-wide send guard -------------------------------------------------------------------

_ACTIVE: ContextVar[ScanContext | None] = ContextVar("otwatch_scan_context", default=None)
_GUARDED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_installed = False
_install_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in _GUARDED_EVENTS:
        return
    ctx = _ACTIVE.get()
    if ctx is None or len(args) < 2:
        return
    address = args[1]
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        ctx.check_send(address[0])


def install_send_guard() -> None:
    """Install the audit hook once per process (audit hooks cannot be removed; it is inert outside a
    scan because it only acts while a :class:`ScanContext` is active in the current context)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True


@contextlib.contextmanager
def activate(ctx: ScanContext) -> Iterator[None]:
    """Make ``ctx`` the guard for every socket opened by tasks created inside this block."""
    install_send_guard()
    reset = _ACTIVE.set(ctx)
    try:
        yield
    finally:
        _ACTIVE.reset(reset)
