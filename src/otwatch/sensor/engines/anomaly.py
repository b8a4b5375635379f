"""Anomaly: scans, sweeps and traffic spikes, whatever the baseline says.

Scan detection counts *failed* connection attempts: a TCP SYN that got a RST or no answer, a UDP
datagram that got no reply. An HMI opening sessions to thirty PLCs at start-up is answered by each of
them and never counts; a scanner probing closed ports and absent hosts does. Counts are kept per
minute of capture time and evaluated when the minute ends (:meth:`AnomalyEngine.tick`), so an answer
that arrives a little after its attempt is still seen.

* Port Scan: one source, one destination, at least :data:`SCAN_PORTS` failed ports in a minute.
* PLC Scan / Address Scan: one source, one port, at least :data:`SWEEP_HOSTS` failed hosts in a
  minute; PLC Scan when the port is an OT protocol's.
* ARP Address Scan: one MAC asking for at least :data:`ARP_TARGETS` different addresses in a minute.
* Abnormal Traffic Bandwidth: a minute carrying more than :data:`BANDWIDTH_FACTOR` times the busiest
  minute learned (and at least :data:`BANDWIDTH_MIN_BYTES`).
"""

from __future__ import annotations

from typing import Final, TypeVar

from otwatch.inventory.asset import Asset
from otwatch.sensor.tracking.alerts import AlertStore
from otwatch.sensor.tracking.baseline import Baseline

SCAN_PORTS: Final = 20
SWEEP_HOSTS: Final = 20
ARP_TARGETS: Final = 30
ANSWER_GRACE: Final = 2.0  # seconds an attempt may wait for its answer before it counts as failed
MAX_TRACKED: Final = 50_000  # sources x targets tracked per minute; beyond, the minute is sampled
BANDWIDTH_FACTOR: Final = 3.0
BANDWIDTH_MIN_BYTES: Final = 64 * 1024
K = TypeVar("K")
OT_PORTS: Final = frozenset({102, 502, 789, 1911, 2222, 2404, 4840, 9600, 20000, 34962, 44818, 47808})


class _Attempts:
    __slots__ = ("asset", "peer", "targets")

    def __init__(self, asset: Asset | None) -> None:
        self.asset = asset
        self.peer: Asset | None = None
        self.targets: dict[object, float] = {}


def _scanner(asset: Asset | None) -> None:
    """The station behind a scan is typed by it (tracking.assets.classify: a Scanner, with the reason)."""
    if asset is not None:
        asset.notes.add("scanner")


class AnomalyEngine:
    def __init__(self, alerts: AlertStore, baseline: Baseline) -> None:
        self.alerts = alerts
        self.baseline = baseline
        self._ports: dict[tuple[str, str], _Attempts] = {}
        self._sweeps: dict[tuple[str, str, int], _Attempts] = {}
        self._arp: dict[bytes, _Attempts] = {}
        self._tracked = 0

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
    ) -> None:
        if self._tracked >= MAX_TRACKED:
            return
        by_host = self._ports.get((src_ip, dst_ip))
        if by_host is None:
            by_host = self._ports[(src_ip, dst_ip)] = _Attempts(src)
            by_host.peer = dst
        by_host.targets[(transport, port)] = ts
        by_port = self._sweeps.get((src_ip, transport, port))
        if by_port is None:
            by_port = self._sweeps[(src_ip, transport, port)] = _Attempts(src)
        by_port.targets[dst_ip] = ts
        self._tracked += 2

    def on_answer(self, src_ip: str, dst_ip: str, transport: str, port: int) -> None:
        """The destination of an attempt answered it (SYN+ACK, or any UDP reply)."""
        by_host = self._ports.get((src_ip, dst_ip))
        if by_host is not None:
            by_host.targets.pop((transport, port), None)
        by_port = self._sweeps.get((src_ip, transport, port))
        if by_port is not None:
            by_port.targets.pop(dst_ip, None)

    def on_arp_request(self, ts: float, sender: bytes, target_ip: str, src: Asset | None) -> None:
        if self._tracked >= MAX_TRACKED:
            return
        entry = self._arp.get(sender)
        if entry is None:
            entry = self._arp[sender] = _Attempts(src)
        entry.targets[target_ip] = ts
        self._tracked += 1

    # -- per minute --------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Evaluate the minute that just ended, then start counting afresh."""
        cutoff = now - ANSWER_GRACE
        for (src_ip, dst_ip), entry in self._ports.items():
            failed = sorted(
                str(t[1]) for t, at in entry.targets.items() if at <= cutoff and isinstance(t, tuple)
            )
            if len(failed) >= SCAN_PORTS:
                _scanner(entry.asset)
                self.alerts.raise_alert(
                    "PORT_SCAN",
                    now,
                    f"{src_ip} probed {len(failed)} ports of {dst_ip} that refused or did not answer "
                    f"within a minute (e.g. {', '.join(failed[:8])}).",
                    src=entry.asset,
                    dst=entry.peer,
                    details={"ports": len(failed)},
                )
        for (src_ip, transport, port), entry in self._sweeps.items():
            hosts = [str(h) for h, at in entry.targets.items() if at <= cutoff]
            if len(hosts) >= SWEEP_HOSTS:
                _scanner(entry.asset)
                code = "PLC_SCAN" if port in OT_PORTS else "ADDRESS_SCAN"
                self.alerts.raise_alert(
                    code,
                    now,
                    f"{src_ip} tried {transport}/{port} on {len(hosts)} addresses that did not answer within "
                    f"a minute (e.g. {', '.join(sorted(hosts)[:5])}).",
                    src=entry.asset,
                    subject=(transport, port),
                    details={"port": port, "hosts": len(hosts)},
                )
        for sender, entry in self._arp.items():
            if len(entry.targets) >= ARP_TARGETS:
                _scanner(entry.asset)
                self.alerts.raise_alert(
                    "ARP_SCAN",
                    now,
                    f"{sender.hex(':')} asked ARP for {len(entry.targets)} different addresses within a minute.",
                    src=entry.asset,
                    protocol="arp",
                    details={"targets": len(entry.targets)},
                )
        # Attempts still inside their grace period carry over into the next minute.
        self._ports = _carry(self._ports, cutoff)
        self._sweeps = _carry(self._sweeps, cutoff)
        self._arp.clear()
        self._tracked = sum(len(e.targets) for e in self._ports.values()) * 2

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


def _carry(table: dict[K, _Attempts], cutoff: float) -> dict[K, _Attempts]:
    out: dict[K, _Attempts] = {}
    for key, entry in table.items():
        young = {t: at for t, at in entry.targets.items() if at > cutoff}
        if young:
            entry.targets = young
            out[key] = entry
    return out
