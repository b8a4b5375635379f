"""A small plant for the Network Map's tests (API and Chromium): two sites, three sensors, a
Monitored Network, typed assets, a ghost, an asset without conversations, and who talks to whom."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import timedelta

from otwatch.console.alerts.models import Alert
from otwatch.console.assets.models import Asset, AssetConnection, AssetSource
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node
from otwatch.console.networks.models import MonitoredNetwork

# name: (ip, device type, ghost)
ASSETS: dict[str, tuple[str, str | None, bool]] = {
    "hmi-1": ("10.1.1.10", "HMI", False),
    "ews": ("10.1.1.20", "Engineering Station", False),
    "plc-1": ("10.1.2.1", "PLC", False),
    "plc-2": ("10.1.2.2", "PLC", False),
    "plc-3": ("10.1.2.3", "PLC", False),
    "plc-4": ("10.1.2.4", "PLC", False),
    "historian": ("10.1.2.50", "Historian", False),
    "ghost": ("10.1.2.99", None, True),
    "laptop": ("10.1.3.5", "IT Host", False),  # discovered, never heard talking
    "rtu": ("192.168.5.1", "RTU", False),
    "hmi-south": ("192.168.5.10", "HMI", False),
    "scanner": ("192.168.5.77", "Scanner", False),
}
SENSORS = {"north-1": "North", "north-2": "North", "south-1": "South"}
# (sensor, client, server, protocol, port, packets)
CONVERSATIONS = [
    ("north-1", "hmi-1", "plc-1", "modbus", 502, 100),
    ("north-1", "hmi-1", "plc-1", "modbus", 5020, 10),
    ("north-2", "hmi-1", "plc-1", "modbus", 502, 1000),  # the same conversation, a second sensor
    ("north-1", "hmi-1", "plc-2", "modbus", 502, 100),
    ("north-1", "hmi-1", "plc-3", "modbus", 502, 100),
    ("north-1", "hmi-1", "plc-4", "modbus", 502, 100),
    ("north-1", "ews", "plc-1", "s7comm", 102, 50),
    ("north-1", "ews", "plc-3", "s7comm", 102, 50),
    ("north-1", "historian", "plc-2", "enip", 44818, 70),
    ("north-1", "ews", "ghost", "s7comm", 102, 2),
    ("south-1", "hmi-south", "rtu", "dnp3", 20000, 300),
    ("south-1", "scanner", "rtu", "modbus", 502, 5),
    ("south-1", "scanner", "hmi-south", "http", 80, 5),
    # a sweep: traffic no dissector named, labelled by its port
    ("south-1", "scanner", "rtu", "tcp/1", 1, 1),
    ("south-1", "scanner", "rtu", "tcp/2", 2, 1),
    ("south-1", "scanner", "rtu", "tcp/3", 3, 1),
]


def seed(ctx: ConsoleContext) -> dict[str, str]:
    """Fill the console; return asset and sensor names -> ids."""
    now = utcnow()
    ids: dict[str, str] = {}
    with ctx.db.session() as db:
        db.add(MonitoredNetwork(cidr="10.1.0.0/16", description="north plant"))
        for name, site in SENSORS.items():
            n = Node(
                kind="sensor",
                install_id=uuid.uuid4().hex,
                name=name,
                site=site,
                approved_at=now,
                last_seen=now,
            )
            db.add(n)
            db.flush()
            ids[name] = n.id
        for name, (ip, device_type, ghost) in ASSETS.items():
            a = Asset(
                ip=ip,
                ip_num=int(ipaddress.ip_address(ip)),
                name=name,
                device_type=device_type,
                ghost=ghost,
                vendor="Siemens" if device_type == "PLC" else None,
                first_seen=now - timedelta(days=1),
                last_seen=now,
            )
            site = "south-1" if ip.startswith("192.") else "north-1"
            a.sources.append(AssetSource(node_id=ids[site], first_seen=now, last_seen=now))
            db.add(a)
            db.flush()
            ids[name] = a.id
        for i, (sensor, client, server, protocol, port, packets) in enumerate(CONVERSATIONS):
            db.add(
                AssetConnection(
                    node_id=ids[sensor],
                    client_id=ids[client],
                    server_id=ids[server],
                    protocol=protocol,
                    transport="tcp",
                    port=port,
                    first_seen=now - timedelta(hours=2),
                    last_seen=now - timedelta(minutes=i),
                    packets=packets,
                    bytes=packets * 64,
                    messages=packets // 2,
                    functions={},
                )
            )
        # an open alert from the engineering station to plc-1, a closed one on the RTU
        for key, (src, dst, status) in enumerate((("ews", "plc-1", "open"), ("scanner", "rtu", "closed"))):
            db.add(
                Alert(
                    node_id=ids["north-1"] if status == "open" else ids["south-1"],
                    sensor_key=f"k{key}",
                    code="C",
                    engine="Operational",
                    severity="Major",
                    title=f"{src} -> {dst}",
                    status=status,
                    source_ip=ASSETS[src][0],
                    destination_ip=ASSETS[dst][0],
                    first_seen=now,
                    last_seen=now,
                )
            )
        db.commit()
    return ids
