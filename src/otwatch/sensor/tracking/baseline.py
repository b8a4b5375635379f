"""Learning mode: the baseline of devices, conversations, protocols, function codes and file transfers.

While learning is on, every observation is added here. When it is turned off the baseline is frozen
and the Policy Violation engine reports what it does not contain. Learning is per conversation
(client, server, protocol): which Modbus function codes and register ranges, DNP3 function codes, IEC
104 ASDU types, CIP classes and class services, S7 functions and data blocks a station normally uses,
so a deviation names exactly what is new.

:func:`activities` turns one dissected record into the small set of facts that are learned and
checked; the same function serves learning and detection, so they cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from otwatch.protocols.base import Record

ConvKey = tuple[str, str, str]  # client, server, protocol (name or port label)
Activity = tuple[Any, ...]

S7_DOWNLOAD: Final = frozenset({"0x1a", "0x1b", "0x1c"})
S7_UPLOAD: Final = frozenset({"0x1d", "0x1e", "0x1f"})
S7_AREA_DB: Final = 0x84
# Modbus function code -> data table it addresses (for learned register ranges).
MODBUS_TABLES: Final[dict[int, str]] = {
    1: "coils",
    5: "coils",
    15: "coils",
    2: "discrete_inputs",
    3: "holding_registers",
    6: "holding_registers",
    16: "holding_registers",
    22: "holding_registers",
    23: "holding_registers",
    24: "holding_registers",
    4: "input_registers",
}


#: The protocols :func:`activities` and :func:`register_range` find anything in.
ACTIVITY_PROTOCOLS: Final = frozenset({"modbus", "dnp3", "iec104", "s7comm", "enip"})


def activities(record: Record) -> list[Activity]:
    """Facts in a request that policy cares about; empty for most responses."""
    fields = record.fields
    protocol = record.protocol
    if protocol == "modbus" or protocol == "dnp3":
        if record.direction == "request" and "func_code" in fields:
            return [("fc", fields["func_code"])]
    elif protocol == "iec104":
        if "type_id" in fields:
            return [("asdu", fields["type_id"])]
    elif protocol == "s7comm":
        if record.direction != "request" or "function_code" not in fields:
            return []
        code = fields["function_code"]
        if fields.get("rosctr_code") == 7:  # user data: function group and sub-function
            return [("s7", fields.get("function_name", code), fields.get("subfunction_name"))]
        if code in S7_DOWNLOAD:
            return [("transfer", "download")]
        if code in S7_UPLOAD:
            return [("transfer", "upload")]
        out: list[Activity] = [("s7", fields.get("function_name", code))]
        for item in fields.get("items") or ():
            if item.get("area") == S7_AREA_DB:
                out.append(("db", item.get("db_number")))
        return out
    elif protocol == "enip":
        if fields.get("pdu") == "io":
            return [("io",)] if "connection_id" in fields else []
        out = []
        for svc in fields.get("cip") or ():
            if svc.get("direction") != "request" or "class_id" not in svc:
                continue
            out.append(("class", svc["class_id"], svc.get("class_name")))
            out.append(("service", svc["class_id"], svc["cip_service_code"], svc.get("cip_service")))
        return out
    return []


def register_range(record: Record) -> tuple[int, str, int, int] | None:
    """(unit, table, first, last) addressed by a Modbus request, or None."""
    if record.protocol != "modbus" or record.direction != "request":
        return None
    fields = record.fields
    table = MODBUS_TABLES.get(fields.get("func_code", -1))
    if table is None:
        return None
    if "address" in fields:
        first = fields["address"]
        quantity = fields.get("quantity") or 1
    elif "read_start_address" in fields:
        first, quantity = fields["read_start_address"], fields.get("read_quantity") or 1
    else:
        return None
    return fields.get("unit", 0), table, first, first + max(quantity, 1) - 1


@dataclass(slots=True)
class Baseline:
    assets: set[tuple[str | None, str | None]] = field(default_factory=set)
    conversations: dict[ConvKey, int] = field(default_factory=dict)  # messages seen while learning
    activities: dict[ConvKey, set[Activity]] = field(default_factory=dict)
    ranges: dict[tuple[ConvKey, int, str], list[int]] = field(default_factory=dict)
    protocols: set[str] = field(default_factory=set)
    max_minute_bytes: int = 0

    # -- learning ---------------------------------------------------------------------------------
    def learn_record(self, conv: ConvKey, record: Record) -> None:
        self.conversations[conv] = self.conversations.get(conv, 0) + 1
        protocol = record.protocol
        if protocol not in ACTIVITY_PROTOCOLS:  # nothing more to learn (BACnet, IT protocols)
            return
        acts = activities(record)
        if acts:
            learned = self.activities.get(conv)
            if learned is None:
                learned = self.activities[conv] = set()
            learned.update(acts)
        rng = register_range(record) if protocol == "modbus" else None
        if rng is not None:
            unit, table, first, last = rng
            key = (conv, unit, table)
            span = self.ranges.get(key)
            if span is None:
                self.ranges[key] = [first, last]
            else:
                span[0], span[1] = min(span[0], first), max(span[1], last)

    @property
    def transfers(self) -> list[tuple[ConvKey, str]]:
        """File transfers (program downloads/uploads) learned, per conversation."""
        return [(conv, a[1]) for conv, acts in self.activities.items() for a in acts if a[0] == "transfer"]

    # -- persistence ------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {
            "assets": sorted([list(k) for k in self.assets], key=lambda k: (str(k[1]), str(k[0]))),
            "conversations": [[*conv, n] for conv, n in sorted(self.conversations.items())],
            "activities": [
                [*conv, sorted((list(a) for a in acts), key=repr)]
                for conv, acts in sorted(self.activities.items())
            ],
            "ranges": [
                [*conv, unit, table, *span] for (conv, unit, table), span in sorted(self.ranges.items())
            ],
            "protocols": sorted(self.protocols),
            "file_transfers": [[*conv, kind] for conv, kind in sorted(self.transfers)],
            "max_minute_bytes": self.max_minute_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        out = cls()
        out.assets = {(a[0], a[1]) for a in data.get("assets", [])}
        out.conversations = {(c[0], c[1], c[2]): int(c[3]) for c in data.get("conversations", [])}
        for c in data.get("activities", []):
            out.activities[(c[0], c[1], c[2])] = {tuple(a) for a in c[3]}
        for r in data.get("ranges", []):
            out.ranges[((r[0], r[1], r[2]), int(r[3]), r[4])] = [int(r[5]), int(r[6])]
        out.protocols = set(data.get("protocols", []))
        out.max_minute_bytes = int(data.get("max_minute_bytes", 0))
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=1))

    def replace_with(self, other: Baseline) -> None:
        """Take ``other``'s content in place: the engines hold this object (a restored backup)."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))

    @classmethod
    def load(cls, path: Path) -> Baseline:
        return cls.from_dict(json.loads(path.read_text()))
