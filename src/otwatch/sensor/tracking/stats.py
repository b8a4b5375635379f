"""Traffic statistics for the sensor's overview widgets.

* Traffic Monitoring: Mbps per hour (bytes counted per minute by the pipeline, folded into hours).
* Top 5 OT Protocols: the protocols with the most devices using them (any role).
* Traffic By Port: bytes per server port (its alias when one is set), from the connection map.
* Top open alerts: the most severe open alerts.

Nothing here runs per packet: the pipeline hands over one total per minute.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Final

from otwatch.protocols.registry import PROTOCOLS
from otwatch.sensor.tracking.alerts import AlertStore
from otwatch.sensor.tracking.assets import InventoryBuilder

OT_PROTOCOLS: Final = frozenset({s.name for s in PROTOCOLS if s.ot} | {"s7comm_plus"})
TOP: Final = 5


class Stats:
    def __init__(self) -> None:
        self.hours: dict[int, list[int]] = {}  # hour start (epoch s) -> [bytes, packets]

    def add_minute(self, start: float, nbytes: int, packets: int) -> None:
        hour = int(start) // 3600 * 3600
        entry = self.hours.get(hour)
        if entry is None:
            self.hours[hour] = [nbytes, packets]
        else:
            entry[0] += nbytes
            entry[1] += packets

    def traffic_per_hour(self) -> list[dict[str, Any]]:
        return [
            {
                "hour": datetime.fromtimestamp(hour, UTC).isoformat(),
                "mbps": round(b * 8 / 3600 / 1e6, 6),
                "bytes": b,
                "packets": p,
            }
            for hour, (b, p) in sorted(self.hours.items())
        ]

    @staticmethod
    def protocol_devices(inventory: InventoryBuilder) -> Counter[str]:
        counts: Counter[str] = Counter()
        for asset in inventory.assets:
            for protocol in {p for (p, _role) in asset.protocols}:
                counts[protocol] += 1
        return counts

    @staticmethod
    def protocol_messages(inventory: InventoryBuilder) -> Counter[str]:
        counts: Counter[str] = Counter()
        for conn in inventory.connections.values():
            if conn.messages:
                counts[conn.key.protocol] += conn.messages
        return counts

    @staticmethod
    def traffic_by_port(inventory: InventoryBuilder) -> Counter[str]:
        counts: Counter[str] = Counter()
        for conn in inventory.connections.values():
            counts[inventory.port_label(conn.key.transport, conn.key.port)] += conn.bytes
        return counts

    def report(self, inventory: InventoryBuilder, alerts: AlertStore) -> dict[str, Any]:
        devices = self.protocol_devices(inventory)
        return {
            "traffic_per_hour": self.traffic_per_hour(),
            "top_ot_protocols": [
                {"protocol": p, "devices": n} for p, n in devices.most_common() if p in OT_PROTOCOLS
            ][:TOP],
            "traffic_by_port": [
                {"port": p, "bytes": b} for p, b in self.traffic_by_port(inventory).most_common()
            ],
            "top_open_alerts": [a.as_dict() for a in alerts.open_alerts()[:TOP]],
        }
