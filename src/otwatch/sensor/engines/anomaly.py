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
still seen. Memory is bounded: :data:`MAX_SOURCES` sources (the least recently active forgotten
first) with :data:`MAX_TARGETS` targets each (beyond, probes are only counted).

* ARP Address Scan: one MAC asking for at least :data:`ARP_TARGETS` different addresses in a minute.
* Abnormal Traffic Bandwidth: a minute carrying more than :data:`BANDWIDTH_FACTOR` times the busiest
  minute learned (and at least :data:`BANDWIDTH_MIN_BYTES`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any, Final

from otwatch.inventory.asset import Asset
from otwatch.inventory.vocabulary import AlertStatus
from otwatch.sensor.tracking.alerts import Alert, AlertStore, listing
from otwatch.sensor.tracking.baseline import Baseline

SCAN_PORTS: Final = 15
SWEEP_HOSTS: Final = 15
SCAN_WINDOW: Final = 300.0  # seconds (Zeek's port and address scan intervals)
ARP_TARGETS: Final = 30
ANSWER_GRACE: Final = 2.0  # seconds an attempt may wait for its answer before it counts as failed
MAX_SOURCES: Final = 4096
MAX_TARGETS: Final = 2048
MAX_ARP_SENDERS: Final = 4096
BANDWIDTH_FACTOR: Final = 3.0
BANDWIDTH_MIN_BYTES: Final = 64 * 1024
OT_PORTS: Final = frozenset({102, 502, 789, 1911, 2222, 2404, 4840, 9600, 20000, 34962, 44818, 47808})

Target = tuple[str, str, int]  # destination address, transport, port


class _Probe:
    __slots__ = ("answered", "dst", "flow", "ts")

    def __init__(self, ts: float, flow: Hashable | None, dst: Asset | None) -> None:
        self.ts = ts
        self.flow = flow
        self.dst = dst
        self.answered = False


class _Source:
    """One source's attempts awaiting their fate, its probes in the window, and its scan episode."""

    __slots__ = (
        "alert",
        "asset",
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
        flow: Hashable | None = None,
    ) -> None:
        """A first contact: ``src_ip`` opened a conversation with ``dst_ip`` it had never had before."""
        if is_group_address(dst_ip):
            return
        sources = self._sources
        entry = sources.get(src_ip)
        if entry is None:
            entry = sources[src_ip] = _Source(src)
            while len(sources) > MAX_SOURCES:
                sources.popitem(last=False)
        else:
            sources.move_to_end(src_ip)
        target = (dst_ip, transport, port)
        if target in entry.pending or target in entry.failed:
            return
        if len(entry.pending) + len(entry.failed) >= MAX_TARGETS:
            entry.overflow += 1
            return
        entry.pending[target] = _Probe(ts, flow, dst)

    def on_answer(self, src_ip: str, dst_ip: str, transport: str, port: int) -> None:
        """The destination of an attempt answered it (SYN+ACK, or any UDP reply)."""
        entry = self._sources.get(src_ip)
        if entry is not None:
            probe = entry.pending.get((dst_ip, transport, port))
            if probe is not None:
                probe.answered = True

    def on_reset(self, src_ip: str, dst_ip: str, transport: str, port: int) -> None:
        """An attempt ended in a reset (from either side) before any data: a probe, refused or abandoned."""
        entry = self._sources.get(src_ip)
        if entry is not None:
            target = (dst_ip, transport, port)
            probe = entry.pending.pop(target, None)
            if probe is not None:
                entry.failed[target] = probe

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
            pending = entry.pending
            for target, probe in list(pending.items()):
                if probe.ts <= cutoff:
                    del pending[target]
                    if not probe.answered:
                        entry.failed[target] = probe
            failed = entry.failed
            if failed:
                old = [t for t, p in failed.items() if p.ts < horizon]
                for target in old:
                    del failed[target]
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
            if not pending and not failed and entry.alert is None:
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

    def _still_open(self, alert: Alert) -> bool:
        return self.alerts.alerts.get(alert.id) is alert and alert.status != AlertStatus.CLOSED

    def _report(self, src_ip: str, entry: _Source, ports: set[tuple[str, int]]) -> None:
        """A source's probes reached a threshold: open the episode's alert with all of them."""
        probes = sorted(entry.failed.items(), key=lambda item: item[1].ts)
        first = probes[0][1]
        entry.hosts, entry.ports, entry.probes = {}, {}, 0
        entry.first = entry.last = first.ts
        self._fold(entry, probes)
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
            flow=first.flow,
            details=self._details(entry),
        )
        if alert is None:
            return
        entry.alert = alert
        self._label(entry)
        self.alerts.add_occurrence(
            alert, entry.last, [p.flow for _t, p in probes[1:] if p.flow is not None], n=len(probes) - 1
        )

    def _extend(self, src_ip: str, entry: _Source) -> None:
        """More probes of a source already reported in this episode: the same alert lists them."""
        alert = entry.alert
        assert alert is not None
        probes = sorted(entry.failed.items(), key=lambda item: item[1].ts)
        self._fold(entry, probes)
        alert.description = self._describe(src_ip, entry)
        alert.details.update(self._details(entry))
        self._label(entry)
        self.alerts.add_occurrence(
            alert, entry.last, [p.flow for _t, p in probes if p.flow is not None], n=len(probes)
        )

    @staticmethod
    def _fold(entry: _Source, probes: list[tuple[Target, _Probe]]) -> None:
        """Move probes into the episode's tallies (hosts and ports bounded by MAX_TARGETS)."""
        hosts, ports = entry.hosts, entry.ports
        for (host, transport, port), probe in probes:
            if host not in hosts and len(hosts) < MAX_TARGETS:
                hosts[host] = probe.dst
            if (transport, port) not in ports and len(ports) < MAX_TARGETS:
                ports[(transport, port)] = None
            entry.last = max(entry.last, probe.ts)
        entry.probes += len(probes) + entry.overflow
        entry.overflow = 0
        entry.failed.clear()

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
