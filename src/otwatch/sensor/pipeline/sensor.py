"""The sensor pipeline: packets -> decode -> flows -> records -> inventory + engines + stats + forensics.

One :class:`Sensor` per capture source. :meth:`Sensor.process` takes one frame as read from a capture
(timestamp, link type, bytes) and never raises: an internal error is counted in ``errors`` and the
next packet is processed. The per-packet path reads the headers and, for a flow direction seen before,
does one dict lookup (by the raw addresses and ports) that gives the flow, its state and both assets,
one LRU move in the flow table and one in the states, and a few counter updates; everything else
happens per dissected record, per new flow, or once per minute of capture time (statistics, bandwidth,
scan evaluation, idle flow eviction).

Memory is bounded by flows and assets, not packets: flow states (with their forensic ring) are evicted
least-recently-used beyond ``settings.max_flow_states`` and when idle, assets stop at
``settings.max_assets``, and alert PCAPs share one byte budget. The data-mining stores (devices,
alerts, alert PCAPs, the event timeline) also follow :attr:`Sensor.retention` once one is set (the
sensor console sets it; a one-shot analysis of captures from different years keeps everything),
enforced oldest first once a minute of capture time.

Several cores are used by sharding: ``Sensor(shard=(i, n))`` keeps only the conversations whose
address pair hashes to ``i`` (packets outside IP go to shard 0), so ``n`` processes can each read the
same capture or tap and together see every flow once.
"""

from __future__ import annotations

import gc
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from socket import AF_INET, AF_INET6, inet_ntoa, inet_pton
from struct import Struct
from typing import Any, Final, cast

from otwatch.inventory.asset import Asset, Connection
from otwatch.inventory.vocabulary import Engine
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.protocols.operations import OPERATION_FIELD
from otwatch.protocols.registry import PROTOCOLS
from otwatch.sensor.capture.decode import (
    ETH_ARP,
    ETH_IPV4,
    LINKTYPE_ETHERNET,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_RST,
    TCP_SYN,
    decode,
)
from otwatch.sensor.capture.pcapfile import CaptureReader, Frame
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.engines.anomaly import AnomalyEngine
from otwatch.sensor.engines.malware import DNS_PORT, MalwareEngine, ThreatIntel
from otwatch.sensor.engines.malware import RECORD_PROTOCOLS as MW_PROTOCOLS
from otwatch.sensor.engines.operational import RECORD_PROTOCOLS as OP_PROTOCOLS
from otwatch.sensor.engines.operational import OperationalEngine
from otwatch.sensor.engines.policy import PolicyViolationEngine
from otwatch.sensor.engines.protocol import RECORD_PROTOCOLS as PV_PROTOCOLS
from otwatch.sensor.engines.protocol import ProtocolViolationEngine
from otwatch.sensor.engines.substation import SubstationEngine
from otwatch.sensor.pipeline import httpfiles
from otwatch.sensor.tracking.alerts import Alert, AlertStore
from otwatch.sensor.tracking.assets import IGNORED, InventoryBuilder
from otwatch.sensor.tracking.baseline import Baseline, ConvKey
from otwatch.sensor.tracking.flows import (
    _NO_RECORDS,
    _TCP_SPECIAL,
    EXPIRE_EVERY,
    Flow,
    FlowKey,
    FlowTable,
    _detects,
)
from otwatch.sensor.tracking.forensics import Forensics, Ring
from otwatch.sensor.tracking.retention import Retention
from otwatch.sensor.tracking.stats import Stats
from otwatch.sensor.tracking.timeline import EventType, Timeline

__all__ = ["Sensor"]

FLOW_IDLE: Final = 600.0
GC_YOUNG_THRESHOLD: Final = 20_000  # see process_capture
# Fast path headers: Ethernet dst, src, type; IPv4 version/IHL, total length, flags/fragment offset,
# protocol, source, destination (TOS, id, TTL and checksum skipped). Then TCP sport, dport, seq, ack,
# data offset, flags; UDP sport, dport, length.
_FAST_ETH_IPV4: Final = Struct("!6s6sHBxHxxHxBxx4s4s")
_FAST_TCP: Final = Struct("!HHIIBB")
_FAST_UDP: Final = Struct("!HHH")
SYN_ONLY: Final = TCP_SYN | TCP_ACK


def _packed(ip: str) -> bytes:
    return inet_pton(AF_INET6 if ":" in ip else AF_INET, ip)


class _FlowState:
    """What the pipeline keeps per flow beside the flow table: connection, conversation, ring, and
    the raw keys of its directions in :attr:`Sensor._tcp_directions` or :attr:`Sensor._udp_directions` (dropped with the state)."""

    __slots__ = (
        "answered",
        "client",
        "conn",
        "conv",
        "directions",
        "flow",
        "init_ip",
        "init_port",
        "key",
        "label",
        "last",
        "ring",
        "server",
        "transport",
    )

    def __init__(self, key: FlowKey, ring: Ring, init_ip: str, init_port: int, transport: str) -> None:
        self.key = key
        self.ring = ring
        self.init_ip = init_ip
        self.init_port = init_port
        self.transport = transport
        self.answered = False
        self.conn: Connection | None = None
        self.conv: ConvKey = ("", "", "")
        self.label = ""
        self.client: Asset | None = None
        self.server: Asset | None = None
        self.last = 0.0
        self.flow: Flow | None = None  # the table's flow for this key at the last packet
        self.directions: list[tuple[dict[bytes, _Direction], bytes]] = []


# One direction of a known flow, by its raw IPv4 addresses and ports (see Sensor.process): the flow
# state, the flow, whether the sender is the flow's client, both endpoints' assets and both MACs.
_Direction = tuple[_FlowState, Flow, bool, Asset | None, Asset | None, bytes, bytes]


#: What every sensor dissects, whether run by ``analyze``, Play PCAP or a managed node: the shared
#: registry plus HTTP file hashing on port 80, which only the passive side needs.
SENSOR_PROTOCOLS: Final[tuple[ProtocolSpec, ...]] = (*PROTOCOLS, httpfiles.SPEC)


class Sensor:
    def __init__(
        self,
        settings: SensorSettings | None = None,
        *,
        baseline: Baseline | None = None,
        intel: ThreatIntel | None = None,
        specs: Iterable[ProtocolSpec] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.settings = settings or SensorSettings()
        self.flows = FlowTable(SENSOR_PROTOCOLS if specs is None else specs)
        self.baseline = baseline or Baseline()
        self.inventory = InventoryBuilder(self.settings)
        self.alerts = AlertStore(self.settings.engines)
        self.stats = Stats()
        self.retention: Retention | None = None
        self.forensics = Forensics(self.settings.ring_packets)
        self.timeline = Timeline()
        self.protocol_engine = ProtocolViolationEngine(self.alerts)
        self.policy_engine = PolicyViolationEngine(self.alerts, self.baseline, self.settings)
        self.malware_engine = MalwareEngine(self.alerts, intel)
        self.anomaly_engine = AnomalyEngine(self.alerts, self.baseline)
        self.operational_engine = OperationalEngine(
            self.alerts, self.baseline, self.settings.inactive_after, self.inventory.asset_by_ip
        )
        self.substation_engine = SubstationEngine(self.alerts)
        self.inventory.on_new_asset = self._new_asset
        self.alerts.on_new = self._attach_pcap
        self.alerts.on_more = self._add_evidence
        self.alerts.on_frames = self.forensics.add_frames
        self._states: OrderedDict[FlowKey, _FlowState] = OrderedDict()
        # Known flow directions by raw source and destination address and port (the 12 bytes after
        # the IPv4 header's checksum), one dict per transport; see process(). ``fast_directions``
        # off sends every packet the general way (the tests compare both).
        self._tcp_directions: dict[bytes, _Direction] = {}
        self._udp_directions: dict[bytes, _Direction] = {}
        self.fast_directions = True
        self._port_specs: dict[tuple[str, int], str] = {}
        for spec in self.flows.specs:
            for port in spec.ports:
                self._port_specs.setdefault((spec.transport, port), spec.name)
        # Layer-2 protocols (LLDP, PROFINET DCP) by ethertype; those in LLC frames (CDP) by detect().
        self._eth_specs = {p: s for s in self.flows.specs if s.transport == "eth" for p in s.ports}
        self._llc_specs = tuple(s for s in self.flows.specs if s.transport == "eth" and not s.ports)
        self._shard = shard if shard is not None and shard[1] > 1 else None
        self.packets = 0
        self.bytes = 0
        self.errors = 0
        self.last_error: str | None = None
        self.warnings: list[str] = []
        self.first_ts: float | None = None
        self.last_ts = 0.0
        self._minute = -1
        self._minute_bytes = 0
        self._minute_packets = 0
        # Capture times in [start, end) need no per-packet decision beyond counting (see _count_slow).
        self._window_start = 0.0
        self._window_end = 0.0
        self._apply_engines()

    # -- settings ---------------------------------------------------------------------------------
    @property
    def learning(self) -> bool:
        return self.settings.learning

    @learning.setter
    def learning(self, on: bool) -> None:
        """Turning learning off freezes the baseline; turning it on resumes adding to it."""
        if on != self.settings.learning:
            what = "on: the baseline grows" if on else "off: the baseline is frozen"
            self.timeline.add(time.time(), EventType.LEARNING, f"Learning mode turned {what}", learning=on)
        self.settings.learning = on
        self.operational_engine.monitor_start = None
        self._window_end = 0.0  # the next packet decides when monitoring started
        self._apply_engines()

    def set_engine(self, engine: Engine, on: bool) -> None:
        if on != (engine in self.settings.engines):
            state = "on" if on else "off"
            self.timeline.add(
                time.time(),
                EventType.ENGINE,
                f"{engine.value} engine turned {state}",
                engine=engine.value,
                on=on,
            )
        if on:
            self.settings.engines.add(engine)
        else:
            self.settings.engines.discard(engine)
        self._apply_engines()

    def _apply_engines(self) -> None:
        on = self.settings.engines
        self.alerts.enabled = set(on)
        self._pv = self.protocol_engine if Engine.PROTOCOL_VIOLATION in on else None
        self._po = (
            self.policy_engine if Engine.POLICY_VIOLATION in on and not self.settings.learning else None
        )
        self._mw = self.malware_engine if Engine.MALWARE in on else None
        self._an = self.anomaly_engine if Engine.ANOMALY in on else None
        self._op = self.operational_engine if Engine.OPERATIONAL in on else None
        self._dns = self._mw is not None and self.malware_engine.watches_dns

    # -- the hot path -----------------------------------------------------------------------------
    def process(self, ts: float, linktype: int, data: bytes) -> None:
        """One captured frame. Never raises: an internal error is counted (``errors``, ``last_error``).

        Hand-written fast path for what nearly all OT traffic is: an untagged Ethernet frame with a
        whole, option-less IPv4 header and a well-formed TCP or UDP header. Those headers are read
        with two precompiled structs straight into locals (no :class:`~otwatch.sensor.capture.decode.Decoded`, no memoryview) and the
        packet counters are inlined. Then:

        * a packet of a known flow direction (its raw addresses and ports found in
          :attr:`_tcp_directions` (or :attr:`_udp_directions`), same MACs, the flow still in the table, and for TCP a plain segment
          next in sequence with nothing waiting) is handled here: one dict lookup finds the flow, its
          state, the sender's role and both assets; one LRU move each in the flow table and the
          states; the payload goes straight to the flow's dissector (:meth:`_known_direction`);
        * any other packet gets its addresses as text and both endpoint lookups, and goes on to
          :meth:`_transport` (the flow table, new flows and states), which then remembers the
          direction when it can take the fast path next time (:meth:`_remember`).

        Both have the same effects. Anything else (VLAN tags, IPv6, options, fragments, ARP,
        malformed or cut headers) takes :meth:`_general`, which decodes fully."""
        try:
            if self._shard is not None and not self._mine(linktype, data):
                return
            n = len(data)
            if linktype == LINKTYPE_ETHERNET and n >= 42:
                dmac, smac, etype, vihl, total, frag, proto, sip, dip = _FAST_ETH_IPV4.unpack_from(data)
                if etype == ETH_IPV4 and vihl == 0x45 and not frag & 0x3FFF and 20 <= total <= n - 14:
                    end = 14 + total
                    payload = None
                    if proto == PROTO_TCP:
                        if total >= 40:
                            sport, dport, seq, ack, doff, flags = _FAST_TCP.unpack_from(data, 34)
                            start = 34 + (doff >> 4) * 4
                            if start >= 54 and start <= end:
                                payload = data[start:end]
                    elif proto == PROTO_UDP and total >= 28:
                        sport, dport, ulen = _FAST_UDP.unpack_from(data, 34)
                        if ulen >= 8 and 34 + ulen <= end:
                            payload = data[42 : 34 + ulen]
                            flags = seq = ack = 0
                    if payload is not None:
                        # _count(), inlined: outside the current minute window it does the rest.
                        self.packets += 1
                        self.bytes += n
                        if not self._window_start <= ts < self._window_end:
                            self._count_slow(ts)
                        if ts > self.last_ts:
                            self.last_ts = ts
                        self._minute_bytes += n
                        self._minute_packets += 1
                        directions = self._tcp_directions if proto == PROTO_TCP else self._udp_directions
                        known_dir = directions.get(data[26:38])
                        if (
                            known_dir is not None
                            and known_dir[5] == smac
                            and known_dir[6] == dmac
                            and self._known_direction(ts, linktype, data, known_dir, proto, flags, seq, payload)
                        ):  # fmt: skip
                            return
                        src_ip = inet_ntoa(sip)
                        dst_ip = inet_ntoa(dip)
                        inventory = self.inventory
                        known = inventory.known
                        found = known.get((smac, src_ip))
                        if found is None or found is IGNORED:
                            src = inventory.endpoint(ts, smac, src_ip, n)
                        else:
                            asset: Asset = found  # type: ignore[assignment]  # known holds assets or IGNORED
                            asset.last_seen = ts
                            asset.packets += 1
                            asset.bytes += n
                            src = asset
                        found = known.get((dmac, dst_ip))
                        if found is None or found is IGNORED:
                            dst = inventory.endpoint(ts, dmac, dst_ip, n)
                        else:
                            asset = found  # type: ignore[assignment]
                            asset.last_seen = ts
                            asset.packets += 1
                            asset.bytes += n
                            dst = asset
                        st = self._transport(
                            ts, linktype, data, proto, src_ip, sport, dst_ip, dport,
                            flags, seq, ack, payload, src, dst,
                        )  # fmt: skip
                        if self.fast_directions:
                            self._remember(
                                data, st, proto, src_ip, sport, dst_ip, dport, smac, dmac, src, dst
                            )
                        return
            self._general(ts, linktype, data)
        except Exception as exc:  # a sensor must survive its own bugs; counted and reported
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    def _known_direction(
        self,
        ts: float,
        linktype: int,
        data: bytes,
        known_dir: _Direction,
        proto: int,
        flags: int,
        seq: int,
        payload: bytes,
    ) -> bool:
        """A packet of a remembered flow direction, with the effects of the endpoint lookups,
        :meth:`FlowTable.packet` and :meth:`_transport`. Returns False, having changed nothing, when
        the packet needs the general path: the flow has left the table, or a TCP segment is not a
        plain one next in sequence with nothing waiting in either direction."""
        st, flow, from_client, src, dst, _smac, _dmac = known_dir
        if flow.closed:
            return False
        if proto == PROTO_TCP:
            if flags & _TCP_SPECIAL:
                return False
            dirs = flow._dirs
            this, other = (dirs[0], dirs[1]) if from_client else (dirs[1], dirs[0])
            if this.next_seq != seq or this.pending or (flags & TCP_ACK and other.pending):
                return False
            if payload:
                this.next_seq = (seq + len(payload)) & 0xFFFFFFFF
        n = len(data)
        if src is not None:
            src.last_seen = ts
            src.packets += 1
            src.bytes += n
        if dst is not None:
            dst.last_seen = ts
            dst.packets += 1
            dst.bytes += n
        # FlowTable.packet, its in-order case
        key = st.key
        table = self.flows
        table.flows.move_to_end(key)
        flow.last_seen = ts
        flow.packets += 1
        records = _NO_RECORDS
        if payload:
            dissector = flow.dissector
            if dissector is None:
                records = table._deliver_one(flow, payload, from_client)
            else:
                if from_client:
                    flow.bytes_client += len(payload)
                else:
                    flow.bytes_server += len(payload)
                records = dissector.feed(payload, from_client)
        table._since_sweep += 1
        if table._since_sweep >= EXPIRE_EVERY:
            table.expire(ts)
        # _transport, for a known state
        self._states.move_to_end(key)
        st.last = ts
        st.ring.append((ts, linktype, data))
        conn = st.conn
        if conn is not None:
            conn.packets += 1
            conn.bytes += n
            conn.last_seen = ts
        watches = self.forensics.watches
        if watches and key in watches:
            self.forensics.follow(key, ts, linktype, data)
        if records:
            record_ = self._record
            for record in records:
                record_(ts, flow, record, src, dst, st, from_client)
        return True

    def _remember(
        self,
        data: bytes,
        st: _FlowState,
        proto: int,
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        smac: bytes,
        dmac: bytes,
        src: Asset | None,
        dst: Asset | None,
    ) -> None:
        """After the general handling of an untagged IPv4 packet: remember its direction for
        :meth:`_known_direction` when that has nothing else to decide. Not when the flow has left
        the table, an endpoint's lookup is not final (the asset table was full), the state still
        waits for its first answer from this side, or it is DNS (the Malware engine reads queries)."""
        flow = st.flow
        if flow is None or flow.closed or (proto == PROTO_UDP and dport == DNS_PORT):
            return
        if not st.answered and (sport != st.init_port or src_ip != st.init_ip):
            return
        known = self.inventory.known
        if known.get((smac, src_ip)) is None or known.get((dmac, dst_ip)) is None:
            return
        from_client = sport == flow.client_port and src_ip == flow.client_ip
        directions = self._tcp_directions if proto == PROTO_TCP else self._udp_directions
        raw = data[26:38]
        if raw not in directions:
            st.directions.append((directions, raw))
        directions[raw] = (st, flow, from_client, src, dst, smac, dmac)

    def _count(self, ts: float, n: int) -> None:
        """Per-packet totals, the capture's time span and the per-minute roll-over."""
        self.packets += 1
        self.bytes += n
        if not self._window_start <= ts < self._window_end:
            self._count_slow(ts)
        if ts > self.last_ts:
            self.last_ts = ts
        self._minute_bytes += n
        self._minute_packets += 1

    def _count_slow(self, ts: float) -> None:
        """A packet outside the current minute window: the first packet, the first one after learning
        was turned off, a new minute (roll-over) or one from the past. Re-opens the window when
        nothing else needs deciding per packet."""
        if self.first_ts is None:
            self.first_ts = ts
            if not self.settings.learning:
                self.operational_engine.monitor_start = ts
        elif self.operational_engine.monitor_start is None and not self.settings.learning:
            self.operational_engine.monitor_start = ts
        minute = int(ts) // 60
        if minute > self._minute:
            self._roll(minute)
        if self.settings.learning or self.operational_engine.monitor_start is not None:
            self._window_start = self._minute * 60.0
            self._window_end = self._window_start + 60.0
        else:
            self._window_start, self._window_end = 0.0, 0.0

    def _general(self, ts: float, linktype: int, data: bytes) -> None:
        """Every frame the fast path in :meth:`process` does not take, fully decoded."""
        pkt = decode(linktype, data)
        n = len(data)
        self._count(ts, n)
        if pkt is None:
            return
        inventory = self.inventory
        if pkt.ethertype == ETH_ARP and pkt.arp_sender_mac is not None:
            src = inventory.endpoint(ts, pkt.arp_sender_mac, pkt.arp_sender_ip, n)
            if pkt.arp_op == 1 and self._an is not None and pkt.arp_target_ip is not None:
                self._an.on_arp_request(ts, pkt.arp_sender_mac, pkt.arp_target_ip, src)
            self.forensics.shared.append((ts, linktype, data))
            return
        src = inventory.endpoint(ts, pkt.src_mac, pkt.src_ip, n)
        if pkt.malformed is not None and self._pv is not None and not pkt.malformed.startswith("truncated"):
            dst = inventory.endpoint(ts, pkt.dst_mac, pkt.dst_ip, n)
            self.forensics.shared.append((ts, linktype, data))
            self._pv.on_malformed_frame(ts, pkt.malformed, src, dst)
            return
        proto = pkt.proto
        if proto in (PROTO_TCP, PROTO_UDP) and pkt.src_port is not None and not pkt.is_fragment:
            dst = inventory.endpoint(ts, pkt.dst_mac, pkt.dst_ip, n)
            if pkt.src_ip is None or pkt.dst_ip is None or pkt.dst_port is None:
                return  # a transport header without addresses cannot happen with decode(); be safe
            self._transport(
                ts, linktype, data, proto, pkt.src_ip, pkt.src_port, pkt.dst_ip, pkt.dst_port,
                pkt.tcp_flags, pkt.tcp_seq, pkt.tcp_ack, pkt.payload, src, dst,
            )  # fmt: skip
        else:
            if pkt.dst_ip is not None:
                inventory.endpoint(ts, pkt.dst_mac, pkt.dst_ip, n)
            elif pkt.ip_version == 0 and (self._eth_specs or self._llc_specs):
                self._layer2(ts, pkt.ethertype, bytes(pkt.payload), src, pkt.dst_mac, n, pkt.src_mac)
            self.forensics.shared.append((ts, linktype, data))

    def _layer2(
        self,
        ts: float,
        ethertype: int,
        payload: bytes,
        src: Asset | None,
        dst_mac: bytes | None,
        n: int,
        src_mac: bytes | None = None,
    ) -> None:
        """A non-IP frame of a layer-2 protocol: its records give the sender's identity and roles
        (LLDP/CDP neighbours, PROFINET DCP identify answers); no flow, so no engine sees them."""
        spec = self._eth_specs.get(ethertype)
        if spec is None:
            spec = next((s for s in self._llc_specs if not ethertype and _detects(s, payload)), None)
            if spec is None:
                return
        dst = self.inventory.endpoint(ts, dst_mac, None, n)  # a DCP answer's controller; None if multicast
        for record in spec.dissector().feed(payload, True):
            from_client = record.direction == "request"  # an announcement (LLDP, CDP) is a server's
            if src is not None and dst is not None:  # unicast: who talks to whom, like an IP flow
                client, server = (src, dst) if from_client else (dst, src)
                conn, _new = self.inventory.connection(ts, client, server, spec.name, "eth", ethertype)
                conn.packets += 1
                conn.bytes += n
                conn.messages += 1
                conn.last_seen = ts
            changes = self.inventory.record(ts, spec, record, src, dst, from_client)
            if spec.name == "goose" and src_mac is not None:
                self.substation_engine.on_goose(ts, src_mac, src, record)
            if changes and self._op is not None and src is not None:
                self._op.on_identity_changes(ts, src, changes)
            if self._op is not None and OPERATION_FIELD in record.fields:  # e.g. a DCP Set
                src_mac_text = (src.mac or "") if src else ""
                dst_mac_text = (dst.mac or "") if dst else ""
                l2key: FlowKey = (0, src_mac_text, ethertype, dst_mac_text, ethertype)
                self._op.on_record(ts, record, src, dst, (dst.ip or "") if dst else "", l2key)

    def _transport(
        self,
        ts: float,
        linktype: int,
        data: bytes,
        proto: int,
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        flags: int,
        seq: int,
        ack: int,
        payload: bytes | memoryview,
        src: Asset | None,
        dst: Asset | None,
    ) -> _FlowState:
        key: FlowKey = (
            (proto, src_ip, sport, dst_ip, dport)
            if (src_ip, sport) <= (dst_ip, dport)
            else (proto, dst_ip, dport, src_ip, sport)
        )
        flow, records = self.flows.packet(
            ts, key, proto, src_ip, sport, dst_ip, dport, flags, seq, ack, payload
        )
        states = self._states
        st = states.get(key)
        frame = (ts, linktype, data)
        if st is None:  # its ring starts with this frame, so alerts about a new flow have their packet
            st = self._new_state(
                ts, key, flow, records, proto, src_ip, sport, dst_ip, dport, flags, src, dst, frame
            )
        else:
            st.ring.append(frame)
            states.move_to_end(key)
            if not st.answered and (sport != st.init_port or src_ip != st.init_ip):
                st.answered = True
                an = self._an
                if an is not None and (st.transport == "udp" or flags & SYN_ONLY == SYN_ONLY):
                    an.on_answer(dst_ip, src_ip, st.transport, sport, frame)
            if flags & TCP_RST and self._an is not None:
                self._reset(st, src_ip, sport, dst_ip, dport, frame)
        st.last = ts
        st.flow = flow
        conn = st.conn
        if conn is not None:
            conn.packets += 1
            conn.bytes += len(data)
            conn.last_seen = ts
        watches = self.forensics.watches
        if watches and key in watches:
            self.forensics.follow(key, ts, linktype, data)
        if self._dns and dport == DNS_PORT and proto == PROTO_UDP and self._mw is not None:
            self._mw.on_dns(ts, payload, src, dst, key)
        if records:
            sender_is_client = sport == flow.client_port and src_ip == flow.client_ip
            record_ = self._record
            for record in records:
                record_(ts, flow, record, src, dst, st, sender_is_client)
        return st

    def _reset(self, st: _FlowState, src_ip: str, sport: int, dst_ip: str, dport: int, frame: Frame) -> None:
        """A TCP reset: when no data was exchanged, the initiator's attempt was a probe (refused, or
        answered and abandoned) for scan counting."""
        flow = st.flow
        if self._an is None or (flow is not None and (flow.bytes_client or flow.bytes_server)):
            return
        if src_ip == st.init_ip and sport == st.init_port:
            self._an.on_reset(src_ip, dst_ip, "tcp", dport, frame)
        else:
            self._an.on_reset(dst_ip, src_ip, "tcp", sport, frame)

    def _new_state(
        self,
        ts: float,
        key: FlowKey,
        flow: Flow,
        records: list[Record],
        proto: int,
        src_ip: str,
        sport: int,
        dst_ip: str,
        dport: int,
        flags: int,
        src: Asset | None,
        dst: Asset | None,
        frame: Frame,
    ) -> _FlowState:
        transport = "tcp" if proto == PROTO_TCP else "udp"
        st = _FlowState(key, self.forensics.new_ring(), src_ip, sport, transport)
        st.ring.append(frame)
        states = self._states
        while len(states) >= self.settings.max_flow_states:
            old_key, old = states.popitem(last=False)
            self._drop_state(old_key, old)
        states[key] = st
        if key in self.flows.flows or records:
            client_is_src = flow.client_ip == src_ip and flow.client_port == sport
            server_port = flow.server_port
            label = flow.protocol
        else:  # closed by its first packet (a RST): the sender is the best guess for the client
            client_is_src = True
            server_port = dport
            label = None
        st.client, st.server = (src, dst) if client_is_src else (dst, src)
        if label is None:
            label = self._port_specs.get((transport, server_port)) or self.inventory.port_label(
                transport, server_port
            )
        first_contact = self._bind(ts, st, label, transport, server_port, key)
        first_is_attempt = transport == "udp" or flags & SYN_ONLY == TCP_SYN
        if self._mw is not None:
            self._mw.on_new_flow(ts, src_ip, dst_ip, transport, dport, src, dst, key)
        if self._an is not None and first_is_attempt and client_is_src and first_contact:
            self._an.on_attempt(ts, src_ip, dst_ip, transport, dport, src, dst, frame)
        return st

    def _bind(self, ts: float, st: _FlowState, label: str, transport: str, port: int, key: FlowKey) -> bool:
        """Attach a flow state to its connection (client, server, protocol, port) and conversation.
        Returns whether this is a first contact: a connection the inventory did not have (or cannot
        tell, an endpoint not being an asset)."""
        client, server = st.client, st.server
        st.label = label
        if client is None or server is None:
            return True
        conn, new = self.inventory.connection(ts, client, server, label, transport, port)
        conn.flows += 1
        st.conn = conn
        st.conv = (client.ip or client.mac or "", server.ip or server.mac or "", label)
        if new:
            if self.settings.learning:
                self.baseline.conversations.setdefault(st.conv, 0)
                self.baseline.protocols.add(label)
            elif self._po is not None:
                self._po.check_conversation(ts, st.conv, client, server, transport, port, key)
        return new

    def _record(
        self,
        ts: float,
        flow: Flow,
        record: Record,
        src: Asset | None,
        dst: Asset | None,
        st: _FlowState,
        sender_is_client: bool,
    ) -> None:
        spec = flow.spec
        if spec is not None and st.label != spec.name:  # detected by content on a port of its own
            self._relabel(ts, st, spec.name, flow)
        conn = st.conn
        if conn is not None:
            conn.messages += 1
        changes = self.inventory.record(ts, spec, record, src, dst, sender_is_client)
        if changes and self._op is not None and src is not None:
            self._op.on_identity_changes(ts, src, changes)
        conv = st.conv
        if self.settings.learning:
            self.baseline.learn_record(conv, record)
        else:
            self.operational_engine.last_seen[conv] = ts
            if self._po is not None:
                self._po.check_record(ts, conv, record, src, dst, flow.key)
        protocol = record.protocol
        if self._pv is not None and (protocol in PV_PROTOCOLS or record.malformed is not None):
            self._pv.on_record(ts, flow, record, src, dst)
        if self._op is not None and (protocol in OP_PROTOCOLS or OPERATION_FIELD in record.fields):
            self._op.on_record(ts, record, src, dst, flow.server_ip, flow.key)
        if self._mw is not None and protocol in MW_PROTOCOLS:
            self._mw.on_record(ts, record, src, dst, flow.key)

    def _relabel(self, ts: float, st: _FlowState, label: str, flow: Flow) -> None:
        old = st.conn
        if old is not None and st.client is not None and st.server is not None:
            old.flows -= 1
            if old.flows <= 0 and old.messages == 0:
                self.inventory.connections.pop(old.key, None)
        self._bind(ts, st, label, st.transport, flow.server_port, flow.key)
        if old is not None and st.conn is not None and st.conn is not old:
            # Move this flow's traffic so far (the ring is a lower bound, the old total an upper one).
            moved = min(old.packets, len(st.ring))
            moved_bytes = sum(len(f[2]) for f in list(st.ring)[-moved:]) if moved else 0
            old.packets -= moved
            old.bytes -= moved_bytes
            st.conn.packets += moved
            st.conn.bytes += moved_bytes

    def _new_asset(self, ts: float, asset: Asset) -> None:
        self.timeline.add(
            time.time(), EventType.NEW_ASSET, f"New asset {asset.label}", asset=asset.id, ip=asset.ip,
            mac=asset.mac, seen=ts,
        )  # fmt: skip
        if self.settings.learning:
            self.baseline.assets.add((asset.mac, asset.ip))
        elif self._po is not None:
            self._po.check_asset(ts, asset)

    def _attach_pcap(self, alert: Alert, flow: Hashable | None, frames: Sequence[Frame] = ()) -> None:
        if frames:
            self.forensics.attach(alert, sorted(frames, key=lambda f: f[0]), None)
        else:
            st = self._states.get(cast(FlowKey, flow)) if flow is not None else None
            self.forensics.attach(
                alert, st.ring if st is not None else None, flow if st is not None else None
            )
        self.timeline.add(
            time.time(), EventType.ALERT, alert.title, alert=alert.id, severity=str(alert.severity),
            engine=str(alert.engine), protocol=alert.protocol, source=alert.source_label,
            destination=alert.destination_label, seen=alert.first_seen,
        )  # fmt: skip

    def _add_evidence(self, alert: Alert, flows: Sequence[Hashable]) -> None:
        states = self._states
        rings = [(flow, st.ring) for flow in flows if (st := states.get(cast(FlowKey, flow))) is not None]
        if rings:
            self.forensics.add(alert, rings)

    # -- retention --------------------------------------------------------------------------------
    def set_retention(self, retention: Retention) -> dict[str, int]:
        """New limits for the data-mining stores, enforced at once; returns what each store dropped."""
        self.retention = retention
        self.forensics.max_bytes = retention.alert_pcaps.max_size
        self.timeline.limit = retention.timeline
        return self.enforce_retention()

    def enforce_retention(self) -> dict[str, int]:
        """Oldest first: devices and alerts by when last seen, alert PCAPs by when their alert opened,
        events by when recorded; each store's age measured from its own newest record."""
        r = self.retention
        if r is None:
            return {}
        inventory = self.inventory
        assets = inventory.assets
        gone = {"devices": 0, "alerts": 0, "alert_pcaps": 0, "timeline": 0}
        if assets:
            cutoff = r.devices.cutoff(max(a.last_seen for a in assets))
            old = {a.id for a in assets if a.last_seen < cutoff}
            excess = len(assets) - len(old) - r.devices.max_size
            if excess > 0:
                kept = sorted((a for a in assets if a.id not in old), key=lambda a: (a.last_seen, a.id))
                old.update(a.id for a in kept[:excess])
            if old:
                gone["devices"] = len(inventory.remove(old))
                # Remembered directions hold their endpoints' assets: learn them again.
                self._tcp_directions.clear()
                self._udp_directions.clear()
                for st in self._states.values():
                    st.directions.clear()
        alerts = self.alerts.alerts
        if alerts:
            cutoff = r.alerts.cutoff(max(a.last_seen for a in alerts.values()))
            old = {a.id for a in alerts.values() if a.last_seen < cutoff}
            excess = len(alerts) - len(old) - r.alerts.max_size
            if excess > 0:
                kept_alerts = sorted(
                    (a for a in alerts.values() if a.id not in old), key=lambda a: (a.last_seen, a.id)
                )
                old.update(a.id for a in kept_alerts[:excess])
            if old:
                for alert in self.alerts.remove(old):
                    self.forensics.forget(alert)
                gone["alerts"] = len(old)
        forensics = self.forensics
        if forensics.kept:
            gone["alert_pcaps"] = forensics.expire(r.alert_pcaps.cutoff(forensics.newest()))
            gone["alert_pcaps"] += forensics.make_room()
        gone["timeline"] = self.timeline.expire()
        return gone

    def _mine(self, linktype: int, data: bytes) -> bool:
        """Is this packet's address pair in this shard? Untagged Ethernet/IPv4 is read in place (a
        shard skips the others' packets without decoding them); anything else is decoded first."""
        assert self._shard is not None
        index, count = self._shard
        if linktype == LINKTYPE_ETHERNET and len(data) >= 34 and data[12:14] == b"\x08\x00":
            a, b = data[26:30], data[30:34]
        else:
            pkt = decode(linktype, data)
            if pkt is None or pkt.src_ip is None or pkt.dst_ip is None:
                return index == 0
            a, b = _packed(pkt.src_ip), _packed(pkt.dst_ip)
        return zlib.crc32(a + b if a <= b else b + a) % count == index

    # -- once a minute ------------------------------------------------------------------------------
    def _roll(self, minute: int) -> None:
        if self._minute >= 0:
            self._close_minute(self._minute * 60.0, (self._minute + 1) * 60.0)
        self._minute = minute
        self._minute_bytes = 0
        self._minute_packets = 0

    def _close_minute(self, start: float, now: float) -> None:
        self.stats.add_minute(start, self._minute_bytes, self._minute_packets)
        if self.settings.learning:
            if self._minute_bytes > self.baseline.max_minute_bytes:
                self.baseline.max_minute_bytes = self._minute_bytes
        elif self._an is not None:
            self._an.on_minute(start, self._minute_bytes)
        self.tick(now)
        self._evict(now)
        self.enforce_retention()

    def tick(self, now: float, final: bool = False) -> None:
        """Time-driven checks (scans, quiet channels); called each minute of capture time and at the end
        (``final``: no answer to an attempt is coming any more)."""
        if self._an is not None:
            self._an.tick(now, final)
        if self._op is not None and not self.settings.learning:
            self._op.tick(now)

    def _evict(self, now: float) -> None:
        states = self._states
        while states:
            key, st = next(iter(states.items()))
            if now - st.last <= FLOW_IDLE:
                break
            states.popitem(last=False)
            self._drop_state(key, st)

    def _drop_state(self, key: FlowKey, st: _FlowState) -> None:
        """A flow state evicted (least recently used, or idle): its watches and directions go too."""
        self.forensics.watches.pop(key, None)
        for directions, raw in st.directions:
            directions.pop(raw, None)

    def finish(self) -> None:
        """End of input: close the partial minute and run the time-driven checks at the last timestamp."""
        try:
            if self._minute >= 0:
                self.stats.add_minute(self._minute * 60.0, self._minute_bytes, self._minute_packets)
                if self.settings.learning and self._minute_bytes > self.baseline.max_minute_bytes:
                    self.baseline.max_minute_bytes = self._minute_bytes
                self._minute_bytes = 0
                self._minute_packets = 0
            self.tick(self.last_ts, final=True)
            self.inventory.classify()
            self.enforce_retention()
        except Exception as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"

    # -- captures ---------------------------------------------------------------------------------
    def process_capture(
        self, source: str | Path | bytes, progress: Callable[[int], None] | None = None
    ) -> list[str]:
        """Replay one capture file; returns its warnings (a truncated tail is a warning, not an error).

        ``progress`` is called now and then with the number of file bytes consumed since the last call.
        Raises :class:`~otwatch.sensor.capture.pcapfile.PcapError` only when the input is not a capture at all.
        """
        reader = CaptureReader(source)
        process = self.process
        pending = 0
        # Nearly every object made per packet dies young by reference counting; with the default
        # young-generation threshold (700) the collector runs every few packets and promotes the
        # frames still in flow rings, which then makes full collections over every flow and asset
        # frequent. A larger threshold while replaying keeps the collector's share small; restored after.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_YOUNG_THRESHOLD), *thresholds[1:])
        mine = self._mine if self._shard is not None else None
        try:
            for ts, linktype, data in reader.frames():
                if progress is not None:
                    pending += len(data) + 16
                    if pending >= 1 << 20:
                        progress(pending)
                        pending = 0
                if mine is not None and not mine(linktype, data):
                    continue  # another shard's: skipped before the per-packet call and its try
                process(ts, linktype, data)
        finally:
            gc.set_threshold(*thresholds)
        if progress is not None and pending:
            progress(pending)
        self.warnings.extend(reader.warnings)
        return reader.warnings

    # -- results ----------------------------------------------------------------------------------
    def report(self, *, with_pcap: bool = False) -> dict[str, Any]:
        self.inventory.classify()
        alerts = sorted(self.alerts.alerts.values(), key=lambda a: a.id)
        return {
            "summary": {
                "packets": self.packets,
                "bytes": self.bytes,
                "first_seen": self.first_ts,
                "last_seen": self.last_ts,
                "assets": len(self.inventory.assets),
                "connections": len(self.inventory.connections),
                "alerts": len(alerts),
                "learning": self.settings.learning,
                "smart_it_learning": self.settings.smart_it_learning,
                "engines": sorted(str(e) for e in self.settings.engines),
                "errors": self.errors,
            },
            "assets": [a.as_dict() for a in self.inventory.assets],
            "connections": [c.as_dict() for c in self.inventory.connections.values()],
            "protocols": dict(self.stats.protocol_messages(self.inventory).most_common()),
            "alerts": [a.as_dict(with_pcap=with_pcap) for a in alerts],
            "statistics": self.stats.report(self.inventory, self.alerts),
            "warnings": list(self.warnings),
        }
