"""Anomaly: scans, sweeps and traffic spikes, whatever the baseline says.

Scans are counted the way Zeek's scan policy counts them: per source, the distinct hosts and ports it
*probed* within :data:`SCAN_WINDOW`, where a probe is a first contact (a conversation the inventory had
never seen between the two, to a unicast address) that did not become a conversation: a UDP datagram
or TCP SYN that got no answer within :data:`ANSWER_GRACE`, a SYN refused with a reset, or a SYN
answered and then reset without a byte of data (a half-open or connect scan of an open port). So a
scan is seen whether its targets answer or not, while an HMI polling twenty PLCs is not a scanner:
its conversations carry data, and the second time round they are not first contacts. Broadcast and
multicast destinations (BACnet, MELSOFT or vendor discovery to 255.255.255.255 or x.x.x.255) are
never probes.

One alert per scan episode: the first time a source's probes in the window reach :data:`SCAN_PORTS`
distinct ports (on one host or several) or :data:`SWEEP_HOSTS` distinct hosts, one alert opens:

* Port Scan, when the ports reached the threshold (whether or not the hosts did too);
* otherwise PLC Scan when every port probed is an OT protocol's, else Address Scan.

Its details list the hosts and ports probed (bounded, with totals), its count is the number of
probes and its PCAP holds their packets. Later probes of the same source extend the same alert until
the source has been quiet for :data:`SCAN_WINDOW`. Probes are decided and counted once a minute of
capture time (:meth:`AnomalyEngine.tick`), so an answer that arrives a little after its attempt is
still seen. Each probe keeps its own packets (the attempt, the answer, the reset: references to the
captured bytes), so the alert's PCAP shows the probes even when their flows have long left the flow
table. Memory is bounded: :data:`MAX_SOURCES` sources (the least recently active forgotten first),
:data:`MAX_TARGETS` targets each and :data:`MAX_TRACKED` in all (beyond, probes are only counted).

* ARP Address Scan: one MAC asking for at least :data:`ARP_TARGETS` different addresses in a minute.
* Abnormal Traffic Bandwidth: a minute carrying more than :data:`BANDWIDTH_FACTOR` times the busiest
  minute learned (and at least :data:`BANDWIDTH_MIN_BYTES`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Final

from otwatch.inventory.asset import Asset
from otwatch.inventory.vocabulary import AlertStatus
from otwatch.sensor.capture.pcapfile import Frame
from otwatch.sensor.tracking.alerts import Alert, AlertStore, listing
from otwatch.sensor.tracking.baseline import Baseline

SCAN_PORTS: Final = 15
SWEEP_HOSTS: Final = 15
SCAN_WINDOW: Final = 300.0  # seconds (Zeek's port and address scan intervals)
ARP_TARGETS: Final = 30
ANSWER_GRACE: Final = 2.0  # seconds an attempt may wait for its answer before it counts as failed
MAX_SOURCES: Final = 4096
MAX_TARGETS: Final = 8192
MAX_TRACKED: Final = 50_000  # attempts and probes awaiting a decision, all sources together
MAX_ARP_SENDERS: Final = 4096
BANDWIDTH_FACTOR: Final = 3.0
BANDWIDTH_MIN_BYTES: Final = 64 * 1024
OT_PORTS: Final = frozenset({102, 502, 789, 1911, 2222, 2404, 4840, 9600, 20000, 34962, 44818, 47808})

Target = tuple[str, str, int]  # destination address, transport, port


class _Probe:
    __slots__ = ("answered", "dst", "frames", "ts")

    def __init__(self, ts: float, dst: Asset | None, frame: Frame | None) -> None:
        self.ts = ts
        self.dst = dst
        self.answered = False
        self.frames: list[Frame] = [frame] if frame is not None else []


class _Source:
    """One source's attempts awaiting their fate, its probes in the window, and its scan episode."""

    __slots__ = (
        "alert",
        "asset",
        "decided",
        "failed",
        "first",
        "hosts",
        "last",
        "overflow",
        "pending",
        "ports",
        "probes",
    )

    def __init__(self, asset: Asset | None) -> None:
        self.asset = asset
        self.pending: dict[Target, _Probe] = {}
        self.failed: dict[Target, _Probe] = {}  # probes not yet in an episode
        self.overflow = 0  # attempts beyond MAX_TARGETS
        self.decided = 0.0  # when its attempts were last decided early (see on_attempt)
        # The episode, once reported: its alert, its distinct hosts and ports (insertion order), probes.
        self.alert: Alert | None = None
        self.hosts: dict[str, Asset | None] = {}
        self.ports: dict[tuple[str, int], None] = {}
        self.probes = 0
        self.first = 0.0
        self.last = 0.0


def is_group_address(ip: str) -> bool:
    """Broadcast or multicast (IPv4 x.x.x.255, 224.0.0.0/3, IPv6 ff00::/8): discovery, not a probe."""
    if ":" in ip:
        return ip[:2].lower() == "ff"
    return ip.endswith(".255") or int(ip[: ip.find(".")]) >= 224


class _Attempts:
    __slots__ = ("asset", "targets")

    def __init__(self, asset: Asset | None) -> None:
        self.asset = asset
        self.targets: dict[object, float] = {}


class AnomalyEngine:
    def __init__(self, alerts: AlertStore, baseline: Baseline) -> None:
        self.alerts = alerts
        self.baseline = baseline
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._tracked = 0  # pending and failed probes of all sources
        self._arp: dict[bytes, _Attempts] = {}

    # -- per flow ---------------------------------------------------------------------------------
    def on_attempt(
        self,
        ts: float,
        src_ip: str,
        dst_ip: str,
        transport: str,
        port: int,
        src: Asset | None,
        dst: Asset | None,
        frame: Frame | None = None,
    ) -> None:
        """A first contact: ``src_ip`` opened a conversation with ``dst_ip`` it had never had before
        (``frame``: its first packet)."""
        if is_group_address(dst_ip):
            return
        sources = self._sources
        entry = sources.get(src_ip)
        if entry is None:
            entry = sources[src_ip] = _Source(src)
            while len(sources) > MAX_SOURCES:
                _ip, gone = sources.popitem(last=False)
                self._tracked -= len(gone.pending) + len(gone.failed)
        else:
            sources.move_to_end(src_ip)
        target = (dst_ip, transport, port)
        if target in entry.pending or target in entry.failed:
            return
        if len(entry.pending) + len(entry.failed) >= MAX_TARGETS and ts - entry.decided >= ANSWER_GRACE:
            # A source this busy is decided now rather than at the next tick, to make room (at most
            # once per grace period, so a flood costs one pass over its targets per period).
            entry.decided = ts
            self._decide(src_ip, entry, ts - ANSWER_GRACE, ts - SCAN_WINDOW)
        if len(entry.pending) + len(entry.failed) >= MAX_TARGETS or self._tracked >= MAX_TRACKED:
            entry.overflow += 1
            return
        entry.pending[target] = _Probe(ts, dst, frame)
        self._tracked += 1

    def on_answer(
        self, src_ip: str, dst_ip: str, transport: str, port: int, frame: Frame | None = None
    ) -> None:
        """The destination of an attempt answered it (SYN+ACK, or any UDP reply)."""
        entry = self._sources.get(src_ip)
        if entry is not None:
            probe = entry.pending.get((dst_ip, transport, port))
            if probe is not None:
                probe.answered = True
                if frame is not None:
                    probe.frames.append(frame)

    def on_reset(
        self, src_ip: str, dst_ip: str, transport: str, port: int, frame: Frame | None = None
    ) -> None:
        """An attempt ended in a reset (from either side) before any data: a probe, refused or abandoned."""
        entry = self._sources.get(src_ip)
        if entry is not None:
            target = (dst_ip, transport, port)
            probe = entry.pending.pop(target, None)
            if probe is not None:
                entry.failed[target] = probe
                if frame is not None:
                    probe.frames.append(frame)

    def on_arp_request(self, ts: float, sender: bytes, target_ip: str, src: Asset | None) -> None:
        entry = self._arp.get(sender)
        if entry is None:
            if len(self._arp) >= MAX_ARP_SENDERS:
                return
            entry = self._arp[sender] = _Attempts(src)
        if len(entry.targets) < MAX_TARGETS:
            entry.targets[target_ip] = ts

    # -- per minute --------------------------------------------------------------------------------
    def tick(self, now: float, final: bool = False) -> None:
        """Decide the attempts whose grace has passed (all of them when ``final``: the capture ended),
        report or extend scan episodes, and forget what is older than the window."""
        cutoff = now if final else now - ANSWER_GRACE
        horizon = now - SCAN_WINDOW
        for src_ip, entry in list(self._sources.items()):
            if not self._decide(src_ip, entry, cutoff, horizon):
                del self._sources[src_ip]
        for sender, arp in self._arp.items():
            if len(arp.targets) >= ARP_TARGETS:
                self.alerts.raise_alert(
                    "ARP_SCAN",
                    now,
                    f"{sender.hex(':')} asked ARP for {len(arp.targets)} different addresses within a minute.",
                    src=arp.asset,
                    protocol="arp",
                    details={"targets": len(arp.targets)},
                )
        self._arp.clear()

    def _decide(self, src_ip: str, entry: _Source, cutoff: float, horizon: float) -> bool:
        """One source: attempts made by ``cutoff`` are decided (answered, or probes), probes before
        ``horizon`` forgotten, the episode reported or extended. Returns whether to keep the source."""
        pending = entry.pending
        for target, probe in list(pending.items()):
            if probe.ts <= cutoff:
                del pending[target]
                if probe.answered:
                    self._tracked -= 1
                else:
                    entry.failed[target] = probe
        failed = entry.failed
        if failed:
            old = [t for t, p in failed.items() if p.ts < horizon]
            for target in old:
                del failed[target]
            self._tracked -= len(old)
        if failed:
            if entry.alert is not None and self._still_open(entry.alert):
                self._extend(src_ip, entry)
            else:
                entry.alert = None
                hosts = {t[0] for t in failed}
                ports = {(t[1], t[2]) for t in failed}
                if len(ports) >= SCAN_PORTS or len(hosts) >= SWEEP_HOSTS:
                    self._report(src_ip, entry, ports)
        elif entry.alert is not None and entry.last < horizon:
            entry.alert = None  # quiet for a window: the episode is over
        return bool(pending or failed or entry.alert is not None)

    def _still_open(self, alert: Alert) -> bool:
        return self.alerts.alerts.get(alert.id) is alert and alert.status != AlertStatus.CLOSED

    def _report(self, src_ip: str, entry: _Source, ports: set[tuple[str, int]]) -> None:
        """A source's probes reached a threshold: open the episode's alert with all of them."""
        probes = sorted(entry.failed.items(), key=lambda item: item[1].ts)
        first = probes[0][1]
        entry.hosts, entry.ports, entry.probes = {}, {}, 0
        entry.first = entry.last = first.ts
        overflow = self._fold(entry, probes)
        port_scan = len(ports) >= SCAN_PORTS
        if port_scan:
            code = "PORT_SCAN"
        elif all(p in OT_PORTS for _t, p in ports):
            code = "PLC_SCAN"
        else:
            code = "ADDRESS_SCAN"
        one_host = len(entry.hosts) == 1
        alert = self.alerts.raise_alert(
            code,
            first.ts,
            self._describe(src_ip, entry),
            src=entry.asset,
            dst=first.dst if one_host else None,
            subject=("scan", first.ts),
            details=self._details(entry),
            frames=first.frames,
        )
        if alert is None:
            return
        entry.alert = alert
        self._label(entry)
        rest = [f for _t, p in probes[1:] for f in p.frames]
        self.alerts.add_occurrence(alert, entry.last, n=len(probes) - 1 + overflow, frames=rest)

    def _extend(self, src_ip: str, entry: _Source) -> None:
        """More probes of a source already reported in this episode: the same alert lists them."""
        alert = entry.alert
        assert alert is not None
        probes = sorted(entry.failed.items(), key=lambda item: item[1].ts)
        overflow = self._fold(entry, probes)
        alert.description = self._describe(src_ip, entry)
        alert.details.update(self._details(entry))
        self._label(entry)
        frames = [f for _t, p in probes for f in p.frames]
        self.alerts.add_occurrence(alert, entry.last, n=len(probes) + overflow, frames=frames)

    def _fold(self, entry: _Source, probes: list[tuple[Target, _Probe]]) -> int:
        """Move probes into the episode's tallies (hosts and ports bounded by MAX_TARGETS); returns
        how many more attempts there were beyond the tracked ones."""
        hosts, ports = entry.hosts, entry.ports
        for (host, transport, port), probe in probes:
            if host not in hosts and len(hosts) < MAX_TARGETS:
                hosts[host] = probe.dst
            if (transport, port) not in ports and len(ports) < MAX_TARGETS:
                ports[(transport, port)] = None
            entry.last = max(entry.last, probe.ts)
        overflow = entry.overflow
        entry.probes += len(probes) + overflow
        entry.overflow = 0
        self._tracked -= len(entry.failed)
        entry.failed.clear()
        return overflow

    def _label(self, entry: _Source) -> None:
        alert = entry.alert
        if alert is not None and len(entry.hosts) > 1:
            alert.destination = None
            alert.destination_label = f"{len(entry.hosts)} hosts"

    @staticmethod
    def _kind(entry: _Source) -> str:
        port_scan, sweep = len(entry.ports) >= SCAN_PORTS, len(entry.hosts) >= SWEEP_HOSTS
        return (
            "port scan and address sweep"
            if port_scan and sweep
            else "port scan"
            if port_scan
            else "address sweep"
        )

    def _details(self, entry: _Source) -> dict[str, Any]:
        return {
            "kind": self._kind(entry),
            "hosts": len(entry.hosts),
            "ports": len(entry.ports),
            "probes": entry.probes,
            "targets": listing(entry.hosts, len(entry.hosts)),
            "port_list": listing(port_ranges(entry.ports)),
            "duration_seconds": round(entry.last - entry.first, 3),
        }

    def _describe(self, src_ip: str, entry: _Source) -> str:
        hosts, ports = len(entry.hosts), len(entry.ports)
        return (
            f"{src_ip} probed {ports} port{'s' * (ports != 1)} on {hosts} host{'s' * (hosts != 1)} "
            f"({self._kind(entry)}) within {entry.last - entry.first:.1f} s: {entry.probes} attempts that were "
            f"refused, unanswered or abandoned without data. Hosts: {listing(entry.hosts, hosts)}. "
            f"Ports: {listing(port_ranges(entry.ports))}."
        )

    def on_minute(self, start: float, nbytes: int) -> None:
        learned = self.baseline.max_minute_bytes
        if learned <= 0 or nbytes < BANDWIDTH_MIN_BYTES or nbytes <= BANDWIDTH_FACTOR * learned:
            return
        self.alerts.raise_alert(
            "BANDWIDTH",
            start + 60.0,
            f"{nbytes * 8 / 60 / 1e6:.2f} Mbps in the minute starting at {start:.0f}, "
            f"{nbytes / learned:.1f}x the busiest minute learned ({learned * 8 / 60 / 1e6:.2f} Mbps).",
            details={"bytes": nbytes, "learned_max_bytes": learned},
        )


def port_ranges(ports: Iterable[tuple[str, int]]) -> list[str]:
    """``tcp/1-15, tcp/502, udp/161``: sorted ports, runs of consecutive ones as ranges."""
    out: list[str] = []
    run: tuple[str, int, int] | None = None
    for transport, port in sorted(ports):
        if run is not None and run[0] == transport and port == run[2] + 1:
            run = (transport, run[1], port)
            continue
        if run is not None:
            out.append(_run_text(run))
        run = (transport, port, port)
    if run is not None:
        out.append(_run_text(run))
    return out


def _run_text(run: tuple[str, int, int]) -> str:
    transport, low, high = run
    return f"{transport}/{low}" if low == high else f"{transport}/{low}-{high}"
