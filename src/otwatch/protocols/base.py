"""The contract every protocol package fulfils, so the sensor and the agent need no per-protocol code.

A protocol package (``protocols/<name>/``) exports ``SPEC``, a :class:`ProtocolSpec`. The sensor picks
a dissector by ``SPEC.ports`` / ``SPEC.detect``; the agent runs ``SPEC.query`` (when present) against
a live host; both turn what they read into :class:`~otwatch.inventory.identity.Identity` through
``SPEC.identity_from``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from otwatch.inventory.identity import Identity

Transport = Literal["tcp", "udp", "eth"]


@dataclass(slots=True)
class Record:
    """One dissected protocol message (ICSNPP-style: common leading fields, then protocol fields).

    ``direction`` is "request" (client -> server) or "response"; ``fields`` uses the ICSNPP Zeek log
    column names where one exists (e.g. ``func``, ``unit``, ``exception``), so tests can compare
    against the answer-key logs directly.
    """

    protocol: str
    direction: Literal["request", "response", "unknown"]
    fields: dict[str, Any] = field(default_factory=dict)
    malformed: str | None = None  # why the bytes were out of spec; never an exception


class StreamDissector(Protocol):
    """Stateful per-flow dissector. ``feed`` never raises on wire bytes."""

    def feed(self, data: bytes, from_client: bool) -> list[Record]: ...


#: Spacing of a query's requests when its caller gives no pacer (PEERS.md: at most 10/s per host).
MIN_REQUEST_INTERVAL = 0.1

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(slots=True)
class QueryTarget:
    """Where a query asks, and the limits it keeps.

    ``pace`` is awaited before every request a query sends (the connect of a new connection counts as
    one): the agent's scan passes the host's rate limiter, so one host never sees more than the
    policy's requests per second however many protocols ask it. Without one, requests are spaced
    :data:`MIN_REQUEST_INTERVAL` apart. Queries call :meth:`wait_turn` rather than ``pace`` itself.

    ``connection`` is an already-open TCP connection to ``host:port`` (the scan's port check) that a
    query marked with :func:`shares_connection` runs on instead of connecting again; take it with
    :meth:`stream`, which also closes it with FIN when the query is done with it.
    """

    host: str
    port: int
    connect_timeout: float = 1.0
    response_timeout: float = 2.0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. credentials for SNMP
    pace: Callable[[], Awaitable[None]] | None = None
    connection: Streams | None = None
    _last_request: float = field(default=float("-inf"), init=False, repr=False, compare=False)

    async def wait_turn(self) -> None:
        """Await before each request (and each retry): the caller's pacer or the default spacing."""
        if self.pace is not None:
            await self.pace()
            return
        wait = self._last_request + MIN_REQUEST_INTERVAL - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_request = time.monotonic()

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[Streams]:
        """The handed-over connection (taken once), else a new one opened at the pace with
        ``connect_timeout``; closed with FIN on exit either way. Raises ``OSError`` / ``TimeoutError``
        when no connection can be had."""
        conn, self.connection = self.connection, None
        if conn is None or conn[1].is_closing():
            await self.wait_turn()
            conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.connect_timeout)
        writer = conn[1]
        try:
            yield conn
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


QueryFn = Callable[[QueryTarget], Awaitable[Identity | None]]

_SHARES_CONNECTION = "otwatch_shares_connection"
_SWEEP = "otwatch_sweep"


@dataclass(slots=True)
class SweepTarget:
    """One broadcast of a protocol's discovery request to a subnet (at most one per subnet per scan).

    ``pace`` is awaited before the broadcast (the scan's whole-scan rate and broadcast budget);
    ``hosts`` are the live hosts of the subnet, the only addresses whose answers count.
    """

    broadcast: str
    port: int
    hosts: frozenset[str]
    response_timeout: float = 2.0
    pace: Callable[[], Awaitable[None]] | None = None


#: A broadcast discovery: responding host -> hints merged into that host's ``QueryTarget.extra``.
#: Live hosts of a swept subnet that did not answer are not queried with this protocol.
SweepFn = Callable[[SweepTarget], Awaitable[dict[str, dict[str, Any]]]]


def shares_connection(query: QueryFn) -> QueryFn:
    """Mark a TCP query that runs on ``QueryTarget.connection`` (through :meth:`QueryTarget.stream`).

    The scan then skips the separate port check of the protocol's port: its connect is the check
    and the query's connection, so the device sees one TCP connection for both.
    """
    setattr(query, _SHARES_CONNECTION, True)
    return query


def query_shares_connection(query: QueryFn | None) -> bool:
    return bool(getattr(query, _SHARES_CONNECTION, False))


def with_sweep(sweep: SweepFn) -> Callable[[QueryFn], QueryFn]:
    """Attach a once-per-subnet broadcast discovery to a UDP query (e.g. BACnet Who-Is): the scan
    broadcasts it on each on-link subnet and queries only the hosts that answered."""

    def mark(query: QueryFn) -> QueryFn:
        setattr(query, _SWEEP, sweep)
        return query

    return mark


def query_sweep(query: QueryFn | None) -> SweepFn | None:
    sweep = getattr(query, _SWEEP, None)
    return sweep if callable(sweep) else None


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    name: str
    transport: Transport
    ports: tuple[int, ...]
    detect: Callable[[bytes], bool]
    dissector: Callable[[], StreamDissector]
    identity_from: Callable[[Record], Identity | None]
    ot: bool = True  # counts as an OT protocol in statistics ("Top 5 OT Protocols")
    query: QueryFn | None = None  # read-only active identification, None if the agent cannot ask
