"""Forensics: a short ring of recent packets per flow, and the PCAP attached to each alert.

Every flow keeps its last ``ring_packets`` frames (references to the captured bytes, no copies);
packets outside flows (ARP, ICMP, layer 2) share one ring. When an alert opens, the ring of the flow
it is about becomes the start of its PCAP, and the next :data:`POST_PACKETS` frames of that flow are
appended, so the file shows the packets around the alert. Later occurrences of an open alert add
their packets (:meth:`Forensics.add`): the newest packet of a flow the PCAP already covers, the whole
ring of a flow it does not (a scan's probes, a burst of new conversations), up to
:data:`MAX_ADDED_PACKETS` per alert; how many did not fit is in the alert's details
(``pcap_omitted_packets``). Memory is bounded by the number of flows tracked, the ring length and one
byte budget for all alert PCAPs together (:data:`MAX_PCAP_BYTES`, or the ``retention`` setting): when a
new PCAP does not fit, the oldest alerts' PCAPs are dropped first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from otwatch.sensor.capture.pcapfile import Frame, pcap_record, write_pcap
from otwatch.sensor.tracking.alerts import Alert

POST_PACKETS: Final = 8
MAX_ADDED_PACKETS: Final = 512  # packets later occurrences add to one alert's PCAP
MAX_EVIDENCE_FLOWS: Final = (
    256  # flows one alert's PCAP remembers covering (later ones add their newest packet)
)
MAX_PCAP_BYTES: Final = 64 * 1024 * 1024
SHARED_RING: Final = 64
Ring = deque[Frame]


class _Watch:
    __slots__ = ("alert", "linktype", "remaining")

    def __init__(self, alert: Alert, linktype: int, remaining: int) -> None:
        self.alert = alert
        self.linktype = linktype
        self.remaining = remaining


class _Evidence:
    """What one alert's PCAP already holds: the flows it covers and the last packet appended."""

    __slots__ = ("added", "flows", "last")

    def __init__(self) -> None:
        self.flows: set[object] = set()
        self.last: bytes | None = None
        self.added = 0


class Forensics:
    def __init__(self, ring_packets: int = 16, max_bytes: int = MAX_PCAP_BYTES) -> None:
        self.ring_packets = ring_packets
        self.shared: Ring = deque(maxlen=SHARED_RING)
        self.max_bytes = max_bytes
        self.bytes = 0
        self.watches: dict[object, list[_Watch]] = {}
        self.kept: OrderedDict[int, Alert] = OrderedDict()  # alerts with a PCAP, oldest first
        self.evidence: dict[int, _Evidence] = {}  # by alert id, for the alerts in kept
        self.dropped = 0

    def new_ring(self) -> Ring:
        return deque(maxlen=self.ring_packets)

    def attach(self, alert: Alert, ring: Sequence[Frame] | None, flow: object | None) -> None:
        """Give a new alert the packets that led to it and watch its flow for the ones that follow."""
        frames = list(ring) if ring else list(self.shared)[-self.ring_packets :]
        if not frames:
            return
        alert.pcap = write_pcap(frames)
        self.bytes += len(alert.pcap)
        self.kept[alert.id] = alert
        evidence = self.evidence[alert.id] = _Evidence()
        evidence.last = frames[-1][2]
        self.make_room(alert)
        if alert.pcap is None:
            return
        if flow is not None and ring is not None:
            evidence.flows.add(flow)
            self.watches.setdefault(flow, []).append(_Watch(alert, frames[0][1], POST_PACKETS))

    def add(self, alert: Alert, rings: Sequence[tuple[object, Ring]]) -> None:
        """More occurrences of an open alert, each in a flow with its ring: the packets join the PCAP
        (the ring's newest packet for a flow the PCAP covers, the whole ring for another), in time order."""
        evidence = self.evidence.get(alert.id)
        if evidence is None:
            evidence = _Evidence()
        elif evidence.added >= MAX_ADDED_PACKETS:  # full: only count what does not fit
            omitted = 0
            for flow, ring in rings:
                omitted += 1 if flow in evidence.flows else len(ring)
            alert.details["pcap_omitted_packets"] = alert.details.get("pcap_omitted_packets", 0) + omitted
            return
        frames: list[Frame] = []
        for flow, ring in rings:
            if not ring:
                continue
            if flow in evidence.flows or len(evidence.flows) >= MAX_EVIDENCE_FLOWS:
                if ring[-1][2] is not evidence.last:
                    frames.append(ring[-1])
            else:  # a flow new to the alert: what it carried so far, and the packets that follow
                evidence.flows.add(flow)
                frames.extend(ring)
                self.watches.setdefault(flow, []).append(_Watch(alert, ring[-1][1], POST_PACKETS))
        self._append(alert, evidence, frames, len(rings) > 1)

    def add_frames(self, alert: Alert, frames: Sequence[Frame]) -> None:
        """Packets an engine kept for an open alert (e.g. a scan's probes) join its PCAP, in time order."""
        evidence = self.evidence.get(alert.id) or _Evidence()
        self._append(alert, evidence, list(frames), True)

    def _append(self, alert: Alert, evidence: _Evidence, frames: list[Frame], unordered: bool) -> None:
        if not frames:
            return
        room = MAX_ADDED_PACKETS - evidence.added
        if len(frames) > room:
            omitted = len(frames) - max(room, 0)
            alert.details["pcap_omitted_packets"] = alert.details.get("pcap_omitted_packets", 0) + omitted
            if room <= 0:
                return
            frames.sort(key=lambda f: f[0])
            del frames[room:]
        elif unordered:
            frames.sort(key=lambda f: f[0])
        evidence.added += len(frames)
        evidence.last = frames[-1][2]
        if alert.pcap is None:
            alert.pcap = write_pcap(frames)
            self.bytes += len(alert.pcap)
            self.kept[alert.id] = alert
            self.evidence[alert.id] = evidence
        else:
            linktype = int.from_bytes(alert.pcap[20:24], "little")
            added = b"".join(pcap_record(ts, data) for ts, lt, data in frames if lt == linktype)
            alert.pcap += added
            self.bytes += len(added)
            self.evidence[alert.id] = evidence
        self.make_room(alert)

    def follow(self, flow: object, ts: float, linktype: int, data: bytes) -> None:
        """A packet of a watched flow: append it to the PCAPs of the alerts still collecting."""
        watches = self.watches.get(flow)
        if not watches:
            return
        record = pcap_record(ts, data)
        for watch in watches:
            alert = watch.alert
            evidence = self.evidence.get(alert.id)
            if evidence is not None:
                if evidence.last is data:  # the packet that opened the alert: already in its PCAP
                    continue
                evidence.last = data
            if watch.linktype == linktype and alert.pcap is not None:
                alert.pcap += record
                self.bytes += len(record)
                self.make_room(alert)
            watch.remaining -= 1
        alive = [w for w in watches if w.remaining > 0]
        if alive:
            self.watches[flow] = alive
        else:
            del self.watches[flow]

    def make_room(self, keep: Alert | None = None) -> int:
        """Drop the oldest PCAPs until the budget holds (``keep`` goes last); returns how many went."""
        gone = 0
        while self.bytes > self.max_bytes and self.kept:
            oldest = next(iter(self.kept.values()))
            if oldest is keep and len(self.kept) > 1:
                self.kept.move_to_end(oldest.id)
                continue
            self.forget(oldest)
            gone += 1
        self.dropped += gone
        return gone

    def forget(self, alert: Alert) -> None:
        """Drop one alert's PCAP (retention, or the alert itself was removed)."""
        if self.kept.pop(alert.id, None) is not None and alert.pcap is not None:
            self.bytes -= len(alert.pcap)
        self.evidence.pop(alert.id, None)
        alert.pcap = None

    def expire(self, days_cutoff: float) -> int:
        """Drop the PCAPs of alerts first seen before ``days_cutoff`` (epoch seconds)."""
        old = [a for a in self.kept.values() if a.first_seen < days_cutoff]
        for alert in old:
            self.forget(alert)
        self.dropped += len(old)
        return len(old)

    def newest(self) -> float:
        return max((a.first_seen for a in self.kept.values()), default=0.0)

    @staticmethod
    def save(alerts: Iterable[Alert], directory: Path) -> list[Path]:
        """Write ``alert-<id>.pcap`` for every alert that has packets; returns the files written."""
        directory.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for alert in alerts:
            if alert.pcap:
                path = directory / f"alert-{alert.id}.pcap"
                path.write_bytes(alert.pcap)
                written.append(path)
        return written
