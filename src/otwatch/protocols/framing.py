"""Dissector shapes several protocol packages share, so each package writes only its parser.

* :class:`PerMessage`: one record per datagram or frame (DHCP, DNS, NetBIOS, LLDP, CDP, PROFINET DCP),
  stateless; ``SPEC.dissector = partial(PerMessage, dissect)``.
* :class:`FirstMessage`: the first message of each direction of a TCP flow and nothing after (HTTP
  headers, TLS hellos): at most ``limit`` bytes are buffered per direction, then the direction is
  ignored, so a long transfer costs one check per segment.
"""

from __future__ import annotations

from collections.abc import Callable

from otwatch.protocols.base import Record


class PerMessage:
    """Stateless per-datagram dissector around a ``bytes -> Record`` parser that never raises."""

    __slots__ = ("_dissect",)

    def __init__(self, dissect: Callable[[bytes], Record]) -> None:
        self._dissect = dissect

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        return [self._dissect(data)]


class FirstMessage:
    """Buffers each direction until :meth:`complete` has a record for it (or ``limit`` is reached)."""

    __slots__ = ("_bufs", "_done")
    limit = 16 * 1024

    def __init__(self) -> None:
        self._bufs = (bytearray(), bytearray())  # server -> client, client -> server
        self._done = [False, False]

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        side = 1 if from_client else 0
        if self._done[side]:
            return []
        buf = self._bufs[side]
        buf += data[: self.limit - len(buf)]
        records = self.complete(bytes(buf), from_client, len(buf) >= self.limit)
        if records is None:
            return []
        self._done[side] = True
        buf.clear()
        return records

    def complete(self, buf: bytes, from_client: bool, full: bool) -> list[Record] | None:
        """The direction's records once ``buf`` holds the first message, else None to wait for more;
        ``full`` says no more bytes will come (the limit is reached)."""
        raise NotImplementedError
