"""The contract every protocol package fulfils, so the sensor and the agent need no per-protocol code.

A protocol package (``protocols/<name>/``) exports ``SPEC``, a :class:`ProtocolSpec`. The sensor picks
a dissector by ``SPEC.ports`` / ``SPEC.detect``; the agent runs ``SPEC.query`` (when present) against
a live host; both turn what they read into :class:`~otwatch.inventory.identity.Identity` through
``SPEC.identity_from``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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


@dataclass(slots=True)
class QueryTarget:
    host: str
    port: int
    connect_timeout: float = 1.0
    response_timeout: float = 2.0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. credentials for SNMP


QueryFn = Callable[[QueryTarget], Awaitable[Identity | None]]


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
