"""DNS reverse lookup: asset names from PTR records, resolved off the capture path.

The console's ``dns_reverse_lookup`` settings name the DNS servers and the subnets whose addresses are
looked up. The capture thread never waits on DNS: the reporter hands new addresses to
:meth:`ReverseLookup.submit` (a bounded queue; full means the address is tried on a later report), one
worker thread asks the servers at most ``rate`` queries per second, and the next report picks the
names up with :meth:`ReverseLookup.take_names`. Answers are cached — names for an hour, "no name"
for ten minutes — so a busy network costs one query per address per hour at most.

Queries go through dnspython (``dns.query.udp_with_fallback``: UDP, TCP when the answer is truncated).
"""

from __future__ import annotations

import ipaddress
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

log = logging.getLogger("otwatch.sensor.dns")

try:  # an optional dependency: without it the setting is accepted and reported as unavailable
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.reversename

    HAVE_DNSPYTHON = True
except ImportError:  # pragma: no cover - dnspython is installed wherever the tests run
    HAVE_DNSPYTHON = False

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NAME_TTL: Final = 3600.0  # seconds a resolved name is kept
MISS_TTL: Final = 600.0  # seconds "no name" (NXDOMAIN, no PTR, no answer) is kept
MAX_CACHE: Final = 100_000
MAX_QUEUE: Final = 4096


@dataclass(frozen=True, slots=True)
class LookupConfig:
    enabled: bool = False
    servers: tuple[str, ...] = ()
    port: int = 53
    subnets: tuple[IPNetwork, ...] = ()
    timeout: float = 2.0

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any] | None) -> LookupConfig:
        """The console's ``dns_reverse_lookup`` group (already validated there); None = off."""
        if not raw:
            return cls()
        return cls(
            enabled=bool(raw.get("enabled")),
            servers=tuple(str(s) for s in raw.get("servers", [])),
            port=int(raw.get("port", 53)),
            subnets=tuple(ipaddress.ip_network(str(n), strict=False) for n in raw.get("subnets", [])),
            timeout=float(raw.get("timeout", 2.0)),
        )

    @property
    def active(self) -> bool:
        return self.enabled and bool(self.servers) and bool(self.subnets)


Resolver = Callable[[str, LookupConfig], str | None]


def ptr_query(ip: str, cfg: LookupConfig) -> str | None:
    """The PTR name of ``ip`` from the first configured server that answers; None when there is none.

    Raises :class:`TimeoutError` when no server answered at all (tried again sooner than a miss)."""
    qname = dns.reversename.from_address(ip)
    answered = False
    for server in cfg.servers:
        query = dns.message.make_query(qname, dns.rdatatype.PTR)
        try:
            resp, _tcp = dns.query.udp_with_fallback(query, server, timeout=cfg.timeout, port=cfg.port)
        except (dns.exception.DNSException, OSError) as exc:
            log.debug("PTR %s via %s failed: %s", ip, server, exc)
            continue
        answered = True
        if resp.rcode() == dns.rcode.NXDOMAIN:
            return None
        if resp.rcode() != dns.rcode.NOERROR:
            continue  # SERVFAIL, REFUSED: ask the next server
        for rrset in resp.answer:
            if rrset.rdtype == dns.rdatatype.PTR and len(rrset):
                target = next(iter(rrset)).target
                text = str(target.to_text(omit_final_dot=True))
                return text or None
        return None
    if not answered:
        raise TimeoutError(f"no DNS server answered for {ip}")
    return None


@dataclass
class LookupStats:
    queries: int = 0
    names: int = 0
    misses: int = 0
    failures: int = 0
    dropped: int = 0  # addresses not queued because the queue was full

    def as_dict(self) -> dict[str, int]:
        return {
            "queries": self.queries,
            "names": self.names,
            "misses": self.misses,
            "failures": self.failures,
            "dropped": self.dropped,
        }


@dataclass
class ReverseLookup:
    """Resolve asset addresses to names on one worker thread, rate-bounded and cached."""

    rate: float = 10.0  # queries per second, at most
    resolver: Resolver = ptr_query
    config: LookupConfig = field(default_factory=LookupConfig)
    stats: LookupStats = field(default_factory=LookupStats)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[int, str]] = queue.Queue(MAX_QUEUE)
        self._pending: set[str] = set()
        self._cache: dict[str, tuple[str | None, float]] = {}  # ip -> (name or None, expires at)
        self._names: dict[str, str] = {}  # resolved since the last take_names()
        self._generation = 0  # bumped by configure(): work queued for an older configuration is dropped
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ settings
    def configure(self, raw: Mapping[str, Any] | None) -> bool:
        """Apply the console's settings; returns True when they changed what is looked up."""
        new = LookupConfig.from_settings(raw)
        with self._lock:
            if new == self.config:
                return False
            self.config = new
            self._generation += 1
            self._pending.clear()
            self._cache.clear()  # other servers may know other names
        if new.active and not HAVE_DNSPYTHON and self.resolver is ptr_query:
            log.warning("DNS reverse lookup is on but dnspython is not installed: no names are resolved")
        if new.active:
            self._start()
        return True

    @property
    def available(self) -> bool:
        return HAVE_DNSPYTHON or self.resolver is not ptr_query

    def wanted(self, ip: str | None) -> bool:
        """Whether ``ip`` lies inside the subnets to look up (and lookup is on)."""
        cfg = self.config
        if not cfg.active or not ip:
            return False
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in cfg.subnets)

    # ------------------------------------------------------------ the reporter's side (never blocks)
    def submit(self, ip: str) -> bool:
        """Queue ``ip`` for a lookup unless it is cached, already queued, or the queue is full."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(ip)
            if cached is not None and cached[1] > now:
                if cached[0] is not None:
                    self._names[ip] = cached[0]
                return False
            if ip in self._pending:
                return False
            try:
                self._queue.put_nowait((self._generation, ip))
            except queue.Full:
                self.stats.dropped += 1
                return False
            self._pending.add(ip)
            return True

    def take_names(self) -> dict[str, str]:
        """Names resolved since the last call, by address."""
        with self._lock:
            out, self._names = self._names, {}
            return out

    def status(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "enabled": cfg.enabled,
            "active": cfg.active and self.available,
            "servers": list(cfg.servers),
            "subnets": [str(n) for n in cfg.subnets],
            "pending": len(self._pending),
            "cached": len(self._cache),
            **self.stats.as_dict(),
            **({} if self.available else {"error": "dnspython is not installed"}),
        }

    # ------------------------------------------------------------ the worker
    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name="dns-reverse-lookup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None:
            t.join(timeout=5)

    def _work(self) -> None:
        next_at = 0.0
        while not self._stop.is_set():
            try:
                generation, ip = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            with self._lock:
                cfg, current = self.config, self._generation
            if generation != current or not cfg.active:
                continue  # queued under settings that no longer hold
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            next_at = time.monotonic() + 1.0 / max(self.rate, 0.01)
            name: str | None = None
            ttl = MISS_TTL
            self.stats.queries += 1
            try:
                name = self.resolver(ip, cfg) if self.available else None
            except TimeoutError:
                self.stats.failures += 1
                ttl = min(MISS_TTL, 60.0)  # nobody answered: ask again in a minute
            except Exception:  # a resolver bug must not stop the worker
                log.exception("reverse lookup of %s failed", ip)
                self.stats.failures += 1
            else:
                if name:
                    ttl = NAME_TTL
                    self.stats.names += 1
                else:
                    self.stats.misses += 1
            with self._lock:
                if generation != self._generation:
                    continue
                self._pending.discard(ip)
                if len(self._cache) >= MAX_CACHE:
                    self._cache.clear()  # crude but bounded; names already given stay on the assets
                self._cache[ip] = (name, time.monotonic() + ttl)
                if name:
                    self._names[ip] = name
