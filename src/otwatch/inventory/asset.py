"""Assets and connections as every part of OTWatch sees them: keyed by MAC and IP.

An asset is one network interface of a device: a MAC and an IP together. Either half may be missing:
a host behind a router is seen only by its IP (the MAC on the wire is the router's), a layer-2 only
device (PROFINET DCP, a switch's spanning-tree frames) only by its MAC. The identity is a
:class:`~otwatch.inventory.merge.MergedIdentity` fed by protocol answers and the MAC's OUI.

Slotted dataclasses: the sensor updates ``last_seen`` and counters on every packet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from otwatch.inventory.identity import DeviceType
from otwatch.inventory.merge import MergedIdentity


class AssetKey(NamedTuple):
    mac: str | None  # "aa:bb:cc:dd:ee:ff"
    ip: str | None

    def __str__(self) -> str:
        if self.mac and self.ip:
            return f"{self.ip} ({self.mac})"
        return self.ip or self.mac or "?"


class Role(StrEnum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(slots=True)
class ProtocolUse:
    """One protocol an asset speaks, in one role."""

    protocol: str
    role: Role
    first_seen: float
    last_seen: float
    messages: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "role": str(self.role),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "messages": self.messages,
        }


@dataclass(slots=True, eq=False)
class Asset:
    id: int
    mac: str | None
    ip: str | None
    first_seen: float
    last_seen: float
    local: bool = True  # inside the monitored subnets (its MAC is its own)
    packets: int = 0
    bytes: int = 0
    identity: MergedIdentity = field(default_factory=MergedIdentity)
    protocols: dict[tuple[str, Role], ProtocolUse] = field(default_factory=dict)
    device_type: DeviceType | None = None  # classified (identity first, then behaviour)
    type_reason: str | None = None  # why, when behaviour decided the type ("probed 40 ports ...")
    notes: set[str] = field(default_factory=set)  # behaviour facts, e.g. "programming", "router"
    # it sent something of its own (began a flow, answered one, or a frame of its own): an address
    # that never did is a "ghost", seen only as the target of probes nobody answered
    heard: bool = False

    @property
    def key(self) -> AssetKey:
        return AssetKey(self.mac, self.ip)

    @property
    def typed_by_behaviour(self) -> bool:
        """Its type is what its behaviour says, not what the device told (then ``type_reason`` says
        why): the one rule for the console's report and ``otwatch sensor analyze``."""
        return self.device_type is not None and self.device_type != self.identity.identity.device_type

    @property
    def ghost(self) -> bool:
        """Only ever the target of probes nobody answered: an address and nothing else (a MAC on
        the wire is a network card, so never a ghost)."""
        return not self.heard and self.mac is None

    @property
    def label(self) -> str:
        return str(self.key)

    def use(self, protocol: str, role: Role, ts: float) -> ProtocolUse:
        entry = self.protocols.get((protocol, role))
        if entry is None:
            entry = self.protocols[(protocol, role)] = ProtocolUse(protocol, role, ts, ts)
        else:
            entry.last_seen = ts
        entry.messages += 1
        return entry

    def as_dict(self) -> dict[str, Any]:
        ident = self.identity.identity
        device_type = self.device_type or ident.device_type
        out: dict[str, Any] = {
            "id": self.id,
            "mac": self.mac,
            "ip": self.ip,
            "local": self.local,
            "vendor": ident.vendor,
            "vendor_source": self.identity.sources.get("vendor"),
            "model": ident.model,
            "firmware": ident.firmware,
            "serial": ident.serial,
            "name": ident.name,
            "device_type": str(device_type) if device_type else None,
            "type_reason": self.type_reason if self.typed_by_behaviour else None,
            "ghost": self.ghost,
            "state": ident.state,
            "protocols": [p.as_dict() for p in self.protocols.values()],
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "packets": self.packets,
            "bytes": self.bytes,
        }
        if ident.vendor_id is not None:
            out["vendor_id"] = ident.vendor_id
        if ident.product_code is not None:
            out["product_code"] = ident.product_code
        if ident.modules:
            out["modules"] = ident.modules
        if ident.extra:
            out["extra"] = ident.extra
        return out


MAX_FUNCTIONS = 64  # function names kept per connection (a fuzzer must not grow it without bound)


class ConnectionKey(NamedTuple):
    client: int  # asset ids
    server: int
    protocol: str  # dissected protocol name, or a port label ("tcp/8080", or its alias)
    transport: str  # "tcp" / "udp"
    port: int  # the server's port


@dataclass(slots=True, eq=False)
class Connection:
    """Who talks to whom: one client, one server, one protocol on one server port."""

    key: ConnectionKey
    first_seen: float
    last_seen: float
    flows: int = 0
    packets: int = 0
    bytes: int = 0
    messages: int = 0  # dissected protocol messages
    # requests per function (Modbus/DNP3 function, S7 function, ...), at most MAX_FUNCTIONS names
    functions: dict[str, int] = field(default_factory=dict)

    def count_function(self, name: str) -> None:
        functions = self.functions
        if name in functions:
            functions[name] += 1
        elif len(functions) < MAX_FUNCTIONS:
            functions[name] = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "client": self.key.client,
            "server": self.key.server,
            "protocol": self.key.protocol,
            "transport": self.key.transport,
            "port": self.key.port,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "flows": self.flows,
            "packets": self.packets,
            "bytes": self.bytes,
            "messages": self.messages,
            "functions": dict(self.functions),
        }
