"""Flow table: TCP/UDP conversations, in-order TCP reassembly, and the choice of dissector.

Protocol parsers frame messages themselves (MBAP lengths, DNP3 link headers ...), so reassembly
only has to hand each direction's bytes over in order and exactly once: retransmitted and
overlapping bytes are trimmed, out-of-order segments wait (bounded), and a hole that will never be
filled (the peer acknowledged bytes we did not capture, or too much is waiting) is skipped and the
dissector told to resynchronise. Memory is bounded per flow and in flow count, and idle flows are
evicted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from otwatch.protocols.base import ProtocolSpec, Record, StreamDissector
from otwatch.sensor.capture.decode import (
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Decoded,
    decode,
)
from otwatch.sensor.capture.pcapfile import CaptureReader

__all__ = ["Flow", "FlowKey", "FlowTable", "dissect_capture"]

FlowKey = tuple[int, str, int, str, int]  # proto, lower (ip, port), higher (ip, port)

MAX_PENDING_BYTES = 64 * 1024  # out-of-order bytes held per direction before we give up on a hole
MAX_PENDING_SEGMENTS = 64
DETECT_ATTEMPTS = 4  # payloads tried with SPEC.detect before a flow is left undissected ("unknown")
DETECT_MIN_BYTES = 8  # TCP: bytes gathered in a direction before a failed detect counts as an attempt
DETECT_BUFFER = 2048  # TCP: bytes held while the protocol is not known yet
TCP_IDLE = 600.0
UDP_IDLE = 120.0
MAX_FLOWS = 100_000
EXPIRE_EVERY = 4096  # packets between idle sweeps
_TCP_SPECIAL = TCP_SYN | TCP_FIN | TCP_RST
_NO_RECORDS: list[Record] = []  # shared empty result; never appended to


def _seq_diff(a: int, b: int) -> int:
    """Signed distance from ``b`` to ``a`` in 32-bit sequence space."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d & 0x80000000 else d


class _Direction:
    """Reassembly state of one direction of a TCP flow."""

    __slots__ = ("fin", "next_seq", "pending", "pending_bytes")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.pending: dict[int, bytes] = {}
        self.pending_bytes = 0
        self.fin = False

    def accept(self, seq: int, data: bytes) -> tuple[bytes, bool]:
        """Bytes now deliverable in order, and whether a hole had to be skipped to get them."""
        if self.next_seq is None:  # joined mid-stream: start here
            self.next_seq = seq
        rel = _seq_diff(seq, self.next_seq)
        if rel < 0:  # retransmission or overlap: keep only the new tail
            if -rel >= len(data):
                return b"", False
            data = data[-rel:]
            rel = 0
        if rel > 0:
            if seq not in self.pending or len(self.pending[seq]) < len(data):
                self.pending_bytes += len(data) - len(self.pending.get(seq, b""))
                self.pending[seq] = data
            if self.pending_bytes > MAX_PENDING_BYTES or len(self.pending) > MAX_PENDING_SEGMENTS:
                return self.skip_hole(), True
            return b"", False
        self.next_seq = (self.next_seq + len(data)) & 0xFFFFFFFF
        return data + self._drain(), False

    def skip_hole(self) -> bytes:
        """Give up on missing bytes: continue from the earliest waiting segment."""
        if not self.pending or self.next_seq is None:
            return b""
        base = self.next_seq
        first = min(self.pending, key=lambda s: _seq_diff(s, base))
        self.next_seq = first
        return self._drain()

    def _drain(self) -> bytes:
        out = bytearray()
        while self.pending and self.next_seq is not None:
            progressed = False
            for seq in list(self.pending):
                rel = _seq_diff(seq, self.next_seq)
                if rel > 0:
                    continue
                data = self.pending.pop(seq)
                self.pending_bytes -= len(data)
                if -rel < len(data):
                    tail = data[-rel:] if rel else data
                    out += tail
                    self.next_seq = (self.next_seq + len(tail)) & 0xFFFFFFFF
                progressed = True
            if not progressed:
                break
        return bytes(out)


@dataclass(slots=True, eq=False)
class Flow:
    """One conversation. ``server`` is the side on the protocol's port, else the SYN receiver.

    ``closed`` once the flow has left the table (FIN from both sides, RST, idle or over the flow
    limit): a later packet with the same key starts a new :class:`Flow`."""

    key: FlowKey
    proto: int
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    first_seen: float
    last_seen: float
    spec: ProtocolSpec | None = None
    dissector: StreamDissector | None = None
    packets: int = 0
    bytes_client: int = 0
    bytes_server: int = 0
    gaps: int = 0
    detect_attempts: int = 0
    # TCP bytes seen before the protocol was known, in arrival order: a first message cut into tiny
    # segments is detected once whole, and the dissector then reads it from its start.
    undetected: list[tuple[bool, bytes]] | None = None
    closed: bool = False
    _dirs: tuple[_Direction, _Direction] = field(default_factory=lambda: (_Direction(), _Direction()))

    @property
    def protocol(self) -> str | None:
        return self.spec.name if self.spec else None


class FlowTable:
    """Feed decoded packets in capture order; get back ``(flow, record)`` pairs."""

    def __init__(
        self,
        specs: Iterable[ProtocolSpec] | None = None,
        *,
        tcp_idle: float = TCP_IDLE,
        udp_idle: float = UDP_IDLE,
        max_flows: int = MAX_FLOWS,
    ) -> None:
        if specs is None:
            from otwatch.protocols.registry import PROTOCOLS

            specs = PROTOCOLS
        self.specs = tuple(specs)
        self.flows: OrderedDict[FlowKey, Flow] = OrderedDict()
        self.tcp_idle = tcp_idle
        self.udp_idle = udp_idle
        self.max_flows = max_flows
        self.evicted = 0
        self._since_sweep = 0
        self._by_port: dict[tuple[str, int], list[ProtocolSpec]] = {}
        for spec in self.specs:
            for port in spec.ports:
                self._by_port.setdefault((spec.transport, port), []).append(spec)

    def process(self, ts: float, linktype: int, data: bytes) -> list[tuple[Flow, Record]]:
        pkt = decode(linktype, data)
        if pkt is None:
            return []
        return self.process_decoded(ts, pkt)

    def process_decoded(self, ts: float, pkt: Decoded) -> list[tuple[Flow, Record]]:
        proto = pkt.proto
        if (proto != PROTO_TCP and proto != PROTO_UDP) or pkt.src_port is None or pkt.is_fragment:
            return []
        if pkt.dst_port is None or pkt.src_ip is None or pkt.dst_ip is None:
            return []
        src_ip, sport, dst_ip, dport = pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port
        key: FlowKey = (
            (proto, src_ip, sport, dst_ip, dport)
            if (src_ip, sport) <= (dst_ip, dport)
            else (proto, dst_ip, dport, src_ip, sport)
        )
        flow, records = self.packet(
            ts, key, proto, src_ip, sport, dst_ip, dport, pkt.tcp_flags, pkt.tcp_seq, pkt.tcp_ack, pkt.payload
        )
        return [(flow, record) for record in records]

    def packet(
        self,
        ts: float,
        key: FlowKey,
        proto: int,
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes | memoryview,
    ) -> tuple[Flow, list[Record]]:
        """One TCP/UDP packet whose headers the caller has already read; its flow and records.

        The sensor's hot path calls this with the fields it unpacked itself (no :class:`Decoded`),
        so it is written flat: one flow lookup, and for the common case of a TCP segment that is
        next in sequence with nothing waiting, the payload goes straight to the dissector without
        passing through the reassembly buffer. ``key`` must be the canonical :data:`FlowKey`.
        """
        flows = self.flows
        flow = flows.get(key)
        if flow is None:
            flow = self._new_flow(key, proto, src_ip, sport, dst_ip, dport, flags, ts)
        else:
            flows.move_to_end(key)
        flow.last_seen = ts
        flow.packets += 1
        from_client = sport == flow.client_port and src_ip == flow.client_ip
        records: list[Record] = _NO_RECORDS
        if proto == PROTO_TCP:
            if not flags & _TCP_SPECIAL:  # plain segment (ACK/PSH): no SYN, FIN or RST
                dirs = flow._dirs
                this = dirs[0] if from_client else dirs[1]
                other = dirs[1] if from_client else dirs[0]
                if this.next_seq == seq and not this.pending and not (flags & TCP_ACK and other.pending):
                    if payload:  # in order, nothing waiting: no reassembly copy
                        data = bytes(payload)
                        this.next_seq = (seq + len(data)) & 0xFFFFFFFF
                        records = self._deliver_one(flow, data, from_client)
                else:
                    out: list[tuple[Flow, Record]] = []
                    self._tcp_segment(flow, flags, seq, ack, payload, from_client, this, other, out)
                    if out:
                        records = [r for _f, r in out]
            else:
                out = []
                self._tcp(flow, flags, seq, ack, payload, from_client, out)
                if out:
                    records = [r for _f, r in out]
        elif payload:
            records = self._deliver_one(flow, bytes(payload), from_client)
        self._since_sweep += 1
        if self._since_sweep >= EXPIRE_EVERY:
            self.expire(ts)
        return flow, records

    def _new_flow(
        self,
        key: FlowKey,
        proto: int,
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        flags: int,
        ts: float,
    ) -> Flow:
        if self._sender_is_client(proto, sport, dport, flags):
            c_ip, c_port, s_ip, s_port = src_ip, sport, dst_ip, dport
        else:
            c_ip, c_port, s_ip, s_port = dst_ip, dport, src_ip, sport
        flow = Flow(key, proto, c_ip, c_port, s_ip, s_port, ts, ts)
        while len(self.flows) >= self.max_flows:
            _, old = self.flows.popitem(last=False)
            old.closed = True
            self.evicted += 1
        self.flows[key] = flow
        return flow

    def _sender_is_client(self, proto: int, sport: int, dport: int, flags: int) -> bool:
        """The protocol's well-known port marks the server, even on connections it opened itself
        (some devices dial out from port 502); otherwise the SYN sender, then the low-port rule."""
        transport = "tcp" if proto == PROTO_TCP else "udp"
        dst_known = (transport, dport) in self._by_port
        src_known = (transport, sport) in self._by_port
        if dst_known != src_known:
            return dst_known
        if proto == PROTO_TCP and flags & TCP_SYN:
            return not flags & TCP_ACK  # SYN from the client, SYN+ACK from the server
        if (sport < 1024) != (dport < 1024):
            return dport < 1024
        return True  # first packet seen: its sender is the best guess for the client

    def _tcp(
        self,
        flow: Flow,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes | memoryview,
        from_client: bool,
        out: list[tuple[Flow, Record]],
    ) -> None:
        this = flow._dirs[0 if from_client else 1]
        other = flow._dirs[1 if from_client else 0]
        if flags & TCP_SYN:
            this.next_seq = (seq + 1) & 0xFFFFFFFF
            this.pending.clear()
            this.pending_bytes = 0
        self._tcp_segment(flow, flags, seq, ack, payload, from_client, this, other, out)
        if flags & TCP_RST:
            flow.closed = True
            self.flows.pop(flow.key, None)
        elif flags & TCP_FIN:
            this.fin = True
            if other.fin:
                flow.closed = True
                self.flows.pop(flow.key, None)

    def _tcp_segment(
        self,
        flow: Flow,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes | memoryview,
        from_client: bool,
        this: _Direction,
        other: _Direction,
        out: list[tuple[Flow, Record]],
    ) -> None:
        # The peer acknowledged bytes we never saw: the hole will not be filled, move on.
        if (
            flags & TCP_ACK
            and other.pending
            and other.next_seq is not None
            and _seq_diff(ack, other.next_seq) > 0
        ):
            skipped = other.skip_hole()
            self._gap(flow, not from_client)
            if skipped:
                self._deliver(flow, skipped, not from_client, out)
        if payload:
            seq = (seq + 1) & 0xFFFFFFFF if flags & TCP_SYN else seq
            data, gap = this.accept(seq, bytes(payload))
            if gap:
                self._gap(flow, from_client)
            if data:
                self._deliver(flow, data, from_client, out)

    def _gap(self, flow: Flow, from_client: bool) -> None:
        flow.gaps += 1
        if flow.dissector is None:
            return
        gap = getattr(flow.dissector, "gap", None)
        if callable(gap):
            gap(from_client)
        elif flow.spec is not None:
            flow.dissector = flow.spec.dissector()  # no resync hook: start framing afresh

    def _deliver(self, flow: Flow, data: bytes, from_client: bool, out: list[tuple[Flow, Record]]) -> None:
        for record in self._deliver_one(flow, data, from_client):
            out.append((flow, record))

    def _deliver_one(self, flow: Flow, data: bytes, from_client: bool) -> list[Record]:
        if from_client:
            flow.bytes_client += len(data)
        else:
            flow.bytes_server += len(data)
        dissector = flow.dissector
        if dissector is None:
            if flow.detect_attempts >= DETECT_ATTEMPTS:
                return _NO_RECORDS
            if flow.proto != PROTO_TCP:  # a datagram is a whole message: detect on it alone
                flow.detect_attempts += 1
                spec = self._choose(flow, data)
                if spec is None:
                    return _NO_RECORDS
                flow.spec = spec
                dissector = flow.dissector = spec.dissector()
                return dissector.feed(data, from_client)
            return self._detect_stream(flow, data, from_client)
        return dissector.feed(data, from_client)

    def _detect_stream(self, flow: Flow, data: bytes, from_client: bool) -> list[Record]:
        held = flow.undetected
        if held is None:
            held = flow.undetected = []
        held.append((from_client, data))
        same = b"".join(d for c, d in held if c == from_client)
        if len(same) >= DETECT_MIN_BYTES:  # tiny first segments are tried but do not use up attempts
            flow.detect_attempts += 1
        spec = self._choose(flow, same)
        if spec is None:
            if flow.detect_attempts >= DETECT_ATTEMPTS or sum(len(d) for _, d in held) > DETECT_BUFFER:
                flow.detect_attempts = DETECT_ATTEMPTS
                flow.undetected = None
            return _NO_RECORDS
        flow.spec = spec
        dissector = flow.dissector = spec.dissector()
        flow.undetected = None
        if len(held) == 1:
            return dissector.feed(data, from_client)
        # Replay what came before, each direction's bytes in order (the other side's earlier bytes
        # first: they were sent before this direction's message was complete).
        out: list[Record] = []
        other = b"".join(d for c, d in held if c != from_client)
        if other:
            out += dissector.feed(other, not from_client)
        out += dissector.feed(same, from_client)
        return out

    def _choose(self, flow: Flow, payload: bytes) -> ProtocolSpec | None:
        """The protocol whose content this is: the port's protocols first, then any that detects.

        By content, never by port alone: a payload that no dissector claims stays undissected (the
        inventory calls it "unknown tcp/N") rather than being read as the port's protocol and raising
        Malformed alerts of a protocol it does not carry (MMS on TCP/102 is not S7comm; MELSOFT on
        5001 is not Modbus). The flow is tried on up to :data:`DETECT_ATTEMPTS` payloads.
        """
        transport = "tcp" if flow.proto == PROTO_TCP else "udp"
        by_port = self._by_port.get((transport, flow.server_port)) or self._by_port.get(
            (transport, flow.client_port)
        )
        if by_port:
            for spec in by_port:
                if _detects(spec, payload):
                    return spec
        for spec in self.specs:
            if spec.transport == transport and _detects(spec, payload) and not (by_port and spec in by_port):
                return spec
        return None

    def expire(self, now: float) -> int:
        """Evict flows idle longer than their protocol's timeout; returns how many went."""
        self._since_sweep = 0
        gone = 0
        while self.flows:
            flow = next(iter(self.flows.values()))  # least recently active first
            idle = self.tcp_idle if flow.proto == PROTO_TCP else self.udp_idle
            if now - flow.last_seen <= idle:
                break
            self.flows.popitem(last=False)
            flow.closed = True
            gone += 1
        self.evicted += gone
        return gone


def _detects(spec: ProtocolSpec, payload: bytes) -> bool:
    try:
        return bool(spec.detect(payload))
    except Exception:  # a detector bug must not stop the sensor
        return False


def dissect_capture(
    source: str | Path | BinaryIO | bytes, specs: Iterable[ProtocolSpec] | None = None
) -> Iterator[tuple[float, Flow, Record]]:
    """Replay a capture file through decode and the flow table: ``(timestamp, flow, record)``."""
    table = FlowTable(specs)
    for ts, linktype, data in CaptureReader(source):
        for flow, record in table.process(ts, linktype, data):
            yield ts, flow, record
