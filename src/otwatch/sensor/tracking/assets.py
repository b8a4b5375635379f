"""Inventory builder: packets and dissected records -> assets (MAC + IP), identities and connections.

Hot path first: :meth:`InventoryBuilder.endpoint` is one dict lookup for a known (MAC, IP) pair; only a
pair never seen before takes the slow path that decides how to key it:

* a local address (inside the configured subnets, or a private address when none are configured) is
  keyed by its MAC and IP together;
* a remote address is keyed by IP alone, since the MAC on the wire is the router's;
* a MAC that carries more than :data:`ROUTER_IPS` addresses is a router: further addresses behind it
  are keyed by IP alone;
* broadcast and multicast destinations are not assets.

Several lookup keys may point at one asset (that is how a router's MAC + a remote IP finds the
IP-only asset). Identity facts come from ``SPEC.identity_from`` and the MAC's OUI and are merged by
:mod:`otwatch.inventory.merge`; the device type is classified when the inventory is reported.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Final

from otwatch.inventory.asset import Asset, AssetKey, Connection, ConnectionKey, ProtocolUse, Role
from otwatch.inventory.identity import DeviceType, Identity
from otwatch.inventory.mac import format_mac
from otwatch.inventory.merge import FieldChange
from otwatch.inventory.oui import VendorKind, kind_of, vendor_of
from otwatch.protocols.base import ProtocolSpec, Record
from otwatch.sensor.config.settings import SensorSettings

ROUTER_IPS: Final = 4
# Protocol -> device type of its server (outstations are RTUs) when no identity says better.
SERVER_TYPES: Final[dict[str, DeviceType]] = {
    "modbus": DeviceType.PLC,
    "s7comm": DeviceType.PLC,
    "s7comm_plus": DeviceType.PLC,
    "enip": DeviceType.PLC,
    "dnp3": DeviceType.RTU,
    "iec104": DeviceType.RTU,
    "bacnet": DeviceType.CONTROLLER,
    "mms": DeviceType.IED,
}
IGNORED: Final = object()

NewAssetHook = Callable[[float, Asset], None]


class InventoryBuilder:
    def __init__(self, settings: SensorSettings | None = None) -> None:
        self.settings = settings or SensorSettings()
        self.assets: list[Asset] = []
        # (MAC bytes, IP) as seen on the wire -> its asset, or IGNORED. The pipeline's fast path reads
        # this directly (``known``): a known pair is one lookup; only a new pair calls endpoint().
        self.known: dict[tuple[bytes | None, str | None], object] = {}
        self._by_canonical: dict[AssetKey, Asset] = {}
        self._mac_ips: dict[bytes, set[str]] = {}
        self._by_mac: dict[bytes, Asset] = {}  # first asset seen with each MAC
        self._routers: set[bytes] = set()
        self._local_cache: dict[str, bool] = {}
        self.connections: dict[ConnectionKey, Connection] = {}
        self.on_new_asset: NewAssetHook | None = None
        self.dropped_assets = 0
        # (asset id, protocol, is client) -> the asset's ProtocolUse: what Asset.use() finds, without
        # hashing the Role enum (a Python-level __hash__) twice per dissected record.
        self._uses: dict[tuple[int, str, bool], ProtocolUse] = {}
        self._next_id = 1
        self.removed_assets = 0

    # -- assets ------------------------------------------------------------------------------------
    def endpoint(self, ts: float, mac: bytes | None, ip: str | None, nbytes: int) -> Asset | None:
        """The asset behind one end of a packet (counted), or None for broadcast/multicast."""
        found = self.known.get((mac, ip))
        if found is None:
            found = self._resolve(ts, mac, ip)
        if found is IGNORED:
            return None
        asset: Asset = found  # type: ignore[assignment]
        asset.last_seen = ts
        asset.packets += 1
        asset.bytes += nbytes
        return asset

    def _resolve(self, ts: float, mac: bytes | None, ip: str | None) -> object:
        lookup = (mac, ip)
        if mac is not None and (mac[0] & 1 or mac == b"\x00" * 6):  # group address or null MAC
            mac = None
        if ip is not None and not self._unicast(ip):
            ip = None
        if mac is None and ip is None:
            self.known[lookup] = IGNORED
            return IGNORED
        local = ip is None or self._local(ip)
        if mac is not None and ip is not None:
            if not local or mac in self._routers:
                mac = None
            else:
                ips = self._mac_ips.setdefault(mac, set())
                ips.add(ip)
                if len(ips) > ROUTER_IPS:
                    self._routers.add(mac)
                    text = format_mac(mac)
                    for other in self.assets:
                        if other.mac == text:
                            other.notes.add("router")
                    mac = None
        key = AssetKey(format_mac(mac) if mac is not None else None, ip)
        asset = self._by_canonical.get(key)
        if asset is None and mac is not None:
            first = self._by_mac.get(mac)
            if first is not None and ip is None:
                asset = first  # a layer-2 frame of a device already known with its IP
            elif first is not None and first.ip is None:
                asset = first  # first seen at layer 2 only: it now has its IP
                del self._by_canonical[first.key]
                first.ip = ip
                first.local = local
                self._by_canonical[key] = first
        if asset is None:
            if len(self.assets) >= self.settings.max_assets:
                self.dropped_assets += 1
                return IGNORED  # not cached: a later look may find room after nothing; keep bounded
            asset = Asset(self._next_id, key.mac, key.ip, ts, ts, local=local)
            self._next_id += 1
            if key.mac is not None:
                vendor = vendor_of(key.mac)
                if vendor is not None:
                    asset.identity.add(Identity(protocol="oui", vendor=vendor))
            self.assets.append(asset)
            self._by_canonical[key] = asset
            if mac is not None:
                self._by_mac.setdefault(mac, asset)
            if self.on_new_asset is not None:
                self.on_new_asset(ts, asset)
        self.known[lookup] = asset
        return asset

    def remove(self, ids: set[int]) -> list[Asset]:
        """Forget these assets and their connections (retention). Ids are never reused, so alerts
        that name a removed asset keep pointing at nothing rather than at a newcomer."""
        gone = [a for a in self.assets if a.id in ids]
        if not gone:
            return []
        dead = {id(a) for a in gone}
        self.assets = [a for a in self.assets if id(a) not in dead]
        for k in [k for k, v in self.known.items() if id(v) in dead]:
            del self.known[k]  # in place: the pipeline holds no copy, but keep one dict for good
        self._by_canonical = {k: v for k, v in self._by_canonical.items() if id(v) not in dead}
        self._by_mac = {k: v for k, v in self._by_mac.items() if id(v) not in dead}
        self._uses = {k: v for k, v in self._uses.items() if k[0] not in ids}
        self.connections = {
            k: c for k, c in self.connections.items() if k.client not in ids and k.server not in ids
        }
        self.removed_assets += len(gone)
        return gone

    def _unicast(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.is_multicast or addr.is_unspecified:
            return False
        if isinstance(addr, ipaddress.IPv4Address):
            if ip == "255.255.255.255":
                return False
            for net in self.settings.subnets:
                if addr in net and isinstance(net, ipaddress.IPv4Network):
                    return addr != net.broadcast_address or net.prefixlen >= 31
            return not ip.endswith(".255")  # a /24 broadcast when no subnet says otherwise
        return True

    def _local(self, ip: str) -> bool:
        cached = self._local_cache.get(ip)
        if cached is None:
            addr = ipaddress.ip_address(ip)
            if self.settings.subnets:
                cached = any(addr in net for net in self.settings.subnets)
            else:
                cached = addr.is_private or addr.is_link_local
            if len(self._local_cache) < 1_000_000:
                self._local_cache[ip] = cached
        return cached

    def asset_by_ip(self, ip: str) -> Asset | None:
        for asset in self.assets:
            if asset.ip == ip:
                return asset
        return None

    # -- records ------------------------------------------------------------------------------------
    def record(
        self,
        ts: float,
        spec: ProtocolSpec | None,
        record: Record,
        sender: Asset | None,
        receiver: Asset | None,
        sender_is_client: bool,
    ) -> list[FieldChange]:
        """Protocol roles and identity from one record sent by ``sender``; returns identity changes."""
        protocol = record.protocol
        uses = self._uses
        if sender is not None:
            key = (sender.id, protocol, sender_is_client)
            entry = uses.get(key)
            if entry is None:
                uses[key] = sender.use(protocol, Role.CLIENT if sender_is_client else Role.SERVER, ts)
            else:
                entry.last_seen = ts
                entry.messages += 1
        if receiver is not None:
            key = (receiver.id, protocol, not sender_is_client)
            entry = uses.get(key)
            if entry is None:
                uses[key] = receiver.use(protocol, Role.SERVER if sender_is_client else Role.CLIENT, ts)
            else:
                entry.last_seen = ts
                entry.messages += 1
        if spec is None or sender is None or record.malformed:
            return []
        try:
            identity = spec.identity_from(record)
        except Exception:  # an identity mapper bug must not stop the sensor
            return []
        if identity is None:
            return []
        return sender.identity.add(identity)

    # -- connections -----------------------------------------------------------------------------
    def connection(
        self, ts: float, client: Asset, server: Asset, protocol: str, transport: str, port: int
    ) -> tuple[Connection, bool]:
        key = ConnectionKey(client.id, server.id, protocol, transport, port)
        conn = self.connections.get(key)
        if conn is None:
            conn = self.connections[key] = Connection(key, ts, ts)
            return conn, True
        return conn, False

    def port_label(self, transport: str, port: int) -> str:
        return self.settings.port_aliases.get(port) or f"{transport}/{port}"

    # -- classification -----------------------------------------------------------------------------
    def classify(self) -> None:
        """Device type per asset: the identity's own word first, then behaviour (with the reason),
        then the OUI."""
        served_ports: dict[int, set[int]] = {}
        for key in self.connections:
            served_ports.setdefault(key.server, set()).add(key.port)
        for asset in self.assets:
            asset.device_type, asset.type_reason = classify(asset, served_ports.get(asset.id, set()))


OT_PROTOCOLS: Final = frozenset(SERVER_TYPES)


# Historian servers by port: OSIsoft/AVEVA PI Data Archive, PI AF, PI Web API (when no identity says)
HISTORIAN_PORTS: Final = frozenset({5450, 5457, 5459})


def _names(protocols: list[str]) -> str:
    return ", ".join(sorted(set(protocols)))


def classify(
    asset: Asset, served_ports: set[int] | frozenset[int] = frozenset()
) -> tuple[DeviceType, str | None]:
    """The asset's device type and, when its behaviour decided it, why (shown to the analyst).

    Order: what the device says of itself; a server of an OT protocol (PLC, RTU, ...); a station
    that probed ports or addresses (a scanner, even if it also speaks OT protocols); one that sent
    program transfers or controller commands (an engineering station); a historian's server port; an
    OT client (an HMI); then the vendor's kind."""
    ident = asset.identity.identity
    if ident.device_type is not None and ident.device_type != DeviceType.UNKNOWN:
        return ident.device_type, None
    served = [p for (p, role) in asset.protocols if role == Role.SERVER and p in SERVER_TYPES]
    clients = [p for (p, role) in asset.protocols if role == Role.CLIENT and p in OT_PROTOCOLS]
    if served:
        return SERVER_TYPES[served[0]], f"serves {_names(served)}"
    if "scanner" in asset.notes:  # the anomaly engine saw it probe (port, address or ARP scan)
        return DeviceType.SCANNER, "probed ports or addresses that did not answer (a scan)"
    if "programming" in asset.notes:  # sent program downloads/uploads or PLC control
        return DeviceType.ENGINEERING_STATION, "sent program transfers or controller commands"
    historian = sorted(served_ports & HISTORIAN_PORTS)
    if historian:
        return DeviceType.HISTORIAN, f"serves a historian port (tcp/{historian[0]})"
    if clients:
        return DeviceType.HMI, f"polls {_names(clients)} as a client"
    kind = kind_of(ident.vendor)
    if "router" in asset.notes:
        return DeviceType.SWITCH, "routes traffic for several addresses"
    if kind == VendorKind.NETWORK:
        return DeviceType.SWITCH, None
    if kind == VendorKind.IT or (kind is None and asset.ip is not None):
        return DeviceType.IT_HOST, None
    return DeviceType.UNKNOWN, None
