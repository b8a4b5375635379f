"""Dissector shapes several protocol packages share, so each package writes only its parser.

* :class:`PerMessage`: one record per datagram or frame (DHCP, DNS, NetBIOS, LLDP, CDP, PROFINET DCP),
  stateless; ``SPEC.dissector = partial(PerMessage, dissect)``.
* :class:`FirstMessage`: the first message of each direction of a TCP flow and nothing after (HTTP
  headers, TLS hellos): at most ``limit`` bytes are buffered per direction, then the direction is
  ignored, so a long transfer costs one check per segment.
* :class:`LengthFramed`: messages whose header gives their length (C37.118, HART-IP), over TCP or UDP.
* :class:`TpktStream`: TPKT (RFC 1006) reassembly for the protocols on TCP/102 (S7comm, MMS).
"""

from __future__ import annotations

import struct
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


class LengthFramed:
    """Messages that carry their own length, over TCP (a partial message waits for the next segment)
    or UDP (``datagrams``: a message cut at the datagram's end is malformed). Subclasses write only
    :meth:`frame_size` and :meth:`message`; the loop stays one tight ``while`` for the hot path."""

    __slots__ = ("_buf", "_datagrams")
    protocol: str = ""
    header_size: int = 4
    cut_short: str = "message cut short"

    def __init__(self, datagrams: bool = False) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._datagrams = datagrams

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def frame_size(self, data: bytes, pos: int, from_client: bool) -> int | Record:
        """The whole message's size from its header at ``pos`` (at least ``header_size`` bytes are
        there), or a malformed Record when the header is not this protocol's (framing is lost)."""
        raise NotImplementedError

    def message(self, data: bytes, pos: int, size: int, from_client: bool) -> Record:
        """The Record of the whole message ``data[pos : pos + size]``; never raises."""
        raise NotImplementedError

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        records: list[Record] = []
        pos, n, header = 0, len(data), self.header_size
        while n - pos >= header:
            size = self.frame_size(data, pos, from_client)
            if isinstance(size, Record):
                records.append(size)  # out of step: the rest of this segment cannot be framed
                return records
            if n - pos < size:
                break
            records.append(self.message(data, pos, size, from_client))
            pos += size
        if pos < n:
            if self._datagrams:
                records.append(Record(self.protocol, "unknown", {}, malformed=self.cut_short))
            else:
                buf += data[pos:]
        return records


class TpktStream:
    """One direction of a TPKT (RFC 1006) stream cut into its TPDUs, for S7comm and MMS on TCP/102.

    ``feed`` returns the whole TPDUs and, when the stream is out of step (a header that is not TPKT
    version 3, or more than ``max_buffer`` bytes without a whole frame), the reason: the buffer is then
    dropped and framing resumes on the next segment."""

    __slots__ = ("_buf", "_max")
    _HEADER = struct.Struct(">BBH")  # version, reserved, length (header included)

    def __init__(self, max_buffer: int = 1 << 17) -> None:
        self._buf = bytearray()
        self._max = max_buffer

    def feed(self, data: bytes) -> tuple[list[bytes], str | None]:
        buf = self._buf
        buf += data
        tpdus: list[bytes] = []
        error: str | None = None
        pos, hsize, unpack = 0, self._HEADER.size, self._HEADER.unpack_from
        while len(buf) - pos >= hsize:
            version, _, length = unpack(buf, pos)
            if version != 3 or length < hsize + 3:  # RFC 1006: version 3, then a 3-octet COTP minimum
                error, pos = "not a TPKT frame", len(buf)
                break
            if len(buf) - pos < length:
                break
            tpdus.append(bytes(buf[pos + hsize : pos + length]))
            pos += length
        del buf[:pos]
        if len(buf) > self._max:
            buf.clear()
            error = error or "TPKT frame too long"
        return tpdus, error
