"""Sensor settings: learning switches, engines, subnets, port aliases and the threat-intelligence package.

The same settings the console pushes to a fleet of sensors ("Subnet settings", "Port aliases",
"Learning", "Smart IT Learning", the five engines).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Final

from otwatch.inventory.vocabulary import Engine

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Ports of nondeterministic IT chatter that Smart IT Learning keeps out of policy alerts.
IT_NOISE_PORTS: Final = frozenset({53, 67, 68, 80, 123, 137, 138, 443, 1900, 5353, 5355, 8080, 8443})


@dataclass(slots=True)
class SensorSettings:
    learning: bool = True
    smart_it_learning: bool = True
    engines: set[Engine] = field(default_factory=lambda: set(Engine))
    subnets: list[IPNetwork] = field(default_factory=list)  # monitored subnets; empty = private ranges
    port_aliases: dict[int, str] = field(default_factory=dict)  # 8080 -> "historian web"
    inactive_after: float = 600.0  # seconds before a learned channel counts as inactive
    ring_packets: int = 16  # packets kept per flow for alert PCAPs
    max_flow_states: int = 65_536
    max_assets: int = 100_000

    @staticmethod
    def parse_subnets(texts: list[str]) -> list[IPNetwork]:
        return [ipaddress.ip_network(t.strip(), strict=False) for t in texts if t.strip()]

    @staticmethod
    def parse_port_aliases(texts: list[str]) -> dict[int, str]:
        """``502=plant modbus`` entries -> {502: "plant modbus"}; ValueError on anything else."""
        out: dict[int, str] = {}
        for text in texts:
            port, sep, name = text.partition("=")
            if not sep or not port.strip().isdigit() or not 0 < int(port) < 65536 or not name.strip():
                raise ValueError(f"expected PORT=NAME, got {text!r}")
            out[int(port)] = name.strip()
        return out
