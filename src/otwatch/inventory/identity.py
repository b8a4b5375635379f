"""What one observation says about a device, whoever made it (sensor, agent or console).

`Identity` is deliberately flat: the same fields are filled by passive dissection (sensor), by active
queries (agent) and merged in the console inventory. Unknown stays ``None``; merge rules live in
``otwatch.inventory.merge``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class DeviceType(StrEnum):
    PLC = "PLC"
    RTU = "RTU"
    HMI = "HMI"
    ENGINEERING_STATION = "Engineering Station"
    SCANNER = "Scanner"  # a station that probes addresses or ports (typed by behaviour only)
    HISTORIAN = "Historian"
    SWITCH = "Switch"
    IT_HOST = "IT Host"
    IO_MODULE = "I/O Module"
    CONTROLLER = "Controller"
    IED = "IED"  # intelligent electronic device: a substation protection relay or bay controller
    UNKNOWN = "Unknown"


@dataclass(slots=True)
class Identity:
    """Identity facts about one device as told by one protocol answer or one passive record."""

    protocol: str
    vendor: str | None = None
    vendor_id: int | None = None
    model: str | None = None
    product_code: int | None = None
    firmware: str | None = None
    serial: str | None = None
    name: str | None = None
    device_type: DeviceType | None = None
    state: str | None = None  # e.g. "Run", "Stop" for a PLC CPU
    modules: list[dict[str, Any]] = field(default_factory=list)  # backplane / component list
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.device_type is not None:
            d["device_type"] = str(self.device_type)
        return {k: v for k, v in d.items() if v not in (None, [], {})}
