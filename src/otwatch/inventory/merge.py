"""Merge rules: many :class:`Identity` observations of one device -> one view of it.

The same PLC is described by several sources: an S7 SZL 0x0011 answer gives the order number and
firmware, SZL 0x001C the module type, serial and station name, 0x0424 the CPU mode; a List Identity
answer gives vendor, product name and revision; the MAC's OUI gives a vendor; an agent's banner grab a
guess. The rules, shared by sensor, agent and console:

1. Each value carries a rank: protocol answers (OT protocols) outrank IT protocols (SNMP), which
   outrank banner fingerprints, which outrank the OUI. A value is replaced only by one of higher or
   equal rank, so a guess never overwrites an answer and a fresh answer replaces a stale one. An
   agent's report of its own host (``agent host``: the hostname and OS as that OS gives them) ranks
   between the OT answers and SNMP.
2. A model that is only an order number (SZL 0x0011) ranks just below a module name (SZL 0x001C):
   "CPU 315-2 PN/DP" is shown, "6ES7 315-2EH14-0AB0" is kept as ``extra["order_number"]``.
3. A generic device type (``Unknown``) never replaces a specific one.
4. A value that changes *from the same source* (same protocol, same rank) is a change of the device
   itself, e.g. a new firmware after an update, and is reported as a :class:`FieldChange`; a value
   refined by a better source is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity

#: Field-wise merged attributes of :class:`Identity` (``modules`` and ``extra`` are merged separately).
MERGED_FIELDS: Final = (
    "vendor",
    "vendor_id",
    "model",
    "product_code",
    "firmware",
    "serial",
    "name",
    "device_type",
    "state",
)

#: Rank of a source; unknown protocols rank as a generic protocol answer.
SOURCE_RANKS: Final[dict[str, int]] = {
    "modbus": 90,
    "s7comm": 90,
    "s7comm_plus": 85,
    "enip": 90,
    "bacnet": 90,
    "dnp3": 90,
    "iec104": 90,
    "profinet_dcp": 90,  # the device's own configured name, vendor/device id and role
    "opcua": 80,
    # the agent's own host (otwatch.agent.hostinfo): its hostname and OS as the OS itself gives them
    "agent host": 75,
    "snmp": 70,
    "lldp": 60,  # what a device advertises about itself, but coarse (capabilities, not a model)
    "cdp": 60,
    "fingerprint": 30,
    # names a host gives itself on the LAN: better than nothing, below any industrial protocol
    "dhcp": 40,
    "nbns": 40,
    "mdns": 40,
    "llmnr": 40,
    "http": 20,  # a Server header is easy to fake and often a reverse proxy's
    "tls": 20,
    "behaviour": 35,  # the sensor's classification from what a station does (polls, programs, scans)
    "oui": 10,
}
DEFAULT_RANK: Final = 50
ORDER_NUMBER_PENALTY: Final = 5


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A value that one source reported differently than before (the device changed)."""

    field: str
    old: Any
    new: Any
    source: str


def source_rank(source: str | None, name: str, value: Any, order_number: Any = None) -> int:
    """Rank of ``value`` for field ``name`` as told by ``source`` (a protocol, ``fingerprint``, ``oui``).

    ``order_number`` is what the same source gave as the order number: a model that is only that
    ranks just below a module name (rule 2). Unknown sources rank :data:`DEFAULT_RANK`."""
    base = SOURCE_RANKS.get(source or "", DEFAULT_RANK)
    if name == "model" and value is not None and value == order_number:
        return base - ORDER_NUMBER_PENALTY
    if name == "device_type" and value == DeviceType.UNKNOWN:
        return 0
    return base


def rank(identity: Identity, name: str) -> int:
    return source_rank(identity.protocol, name, getattr(identity, name), identity.extra.get("order_number"))


def offer(
    target: Any, ranks: dict[str, int], sources: dict[str, str], name: str, value: Any, r: int, source: str
) -> FieldChange | None:
    """THE merge rule, for one field: put ``value`` (rank ``r``, from ``source``) on ``target`` unless
    ``target`` holds a value of higher rank. Sensor (:class:`MergedIdentity`), agent (scan results)
    and console (stored assets, ranks kept per field) all merge through this function.

    Returns a :class:`FieldChange` when the same source changed its own value (rule 4)."""
    if value is None or value == "":
        return None
    current = getattr(target, name)
    if current == value:
        if ranks.get(name, -1) < r:
            ranks[name], sources[name] = r, source
        return None
    held = ranks.get(name, -1)
    if r < held:
        return None
    change = None
    if current is not None and r == held and sources.get(name) == source:
        change = FieldChange(name, current, value, source)
    setattr(target, name, value)
    ranks[name], sources[name] = r, source
    return change


@dataclass(slots=True)
class MergedIdentity:
    """The merged view of one device, with the rank and source of every value it holds."""

    identity: Identity = field(default_factory=lambda: Identity(protocol="merged"))
    ranks: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    protocols: list[str] = field(default_factory=list)  # sources seen, first first

    def add(self, observation: Identity) -> list[FieldChange]:
        """Merge one observation; returns the values it changed from the same source."""
        merged = self.identity
        changes: list[FieldChange] = []
        source = observation.protocol
        if source not in self.protocols:
            self.protocols.append(source)
        for name in MERGED_FIELDS:
            value = getattr(observation, name)
            if value is None or value == "":
                continue
            change = offer(merged, self.ranks, self.sources, name, value, rank(observation, name), source)
            if change is not None:
                changes.append(change)
        if observation.modules:
            merged.modules = list(observation.modules)
        for key, value in observation.extra.items():
            if value is not None:
                merged.extra[key] = value
        return changes


def merge(identities: Iterable[Identity]) -> MergedIdentity:
    """Merge observations in the order they were made (later equal-rank values win)."""
    out = MergedIdentity()
    for identity in identities:
        out.add(identity)
    return out
