"""API shapes of the fleet: pairing keys, nodes, configuration, bulk actions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otwatch.console.networks.service import parse_cidr


class PairingKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, max_length=255, description="ICP IP/Host (and port)")
    expires_days: int = Field(default=90, ge=1, le=3650, description="Expiration Period in days")
    description: str = Field(default="", max_length=300)


class PairingKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    description: str
    address: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    uses: int


class PairingKeyCreated(PairingKeyOut):
    pairing_key: str  # shown once


class Unit(StrEnum):
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"


UNIT_SECONDS = {Unit.MINUTES: 60, Unit.HOURS: 3600, Unit.DAYS: 86400, Unit.WEEKS: 604800}


class Schedule(BaseModel):
    """Run Schedule Scan + Repeats Every. The bulk "Enable" default repeats every minute (seed)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    every: int = Field(default=1, ge=1, le=1000)
    unit: Unit = Unit.MINUTES

    @property
    def seconds(self) -> int:
        return self.every * UNIT_SECONDS[self.unit]

    def label(self) -> str:
        if not self.enabled:
            return "Disabled"
        unit = self.unit.value[:-1] if self.every == 1 else self.unit.value
        return f"Every {self.every} {unit}"


class AgentConfigIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    active_query_networks: list[str] = Field(min_length=1, max_length=256)
    schedule: Schedule = Field(default_factory=Schedule)
    credential_ids: list[str] = Field(default_factory=list, max_length=50)
    policy: dict[str, Any] = Field(default_factory=dict, description="scan safety overrides")

    @field_validator("active_query_networks")
    @classmethod
    def _nets(cls, v: list[str]) -> list[str]:
        return [str(parse_cidr(x)) for x in v]


ENGINES = ("Protocol Violation", "Policy Violation", "Malware", "Anomaly", "Operational")
EngineName = Literal["Protocol Violation", "Policy Violation", "Malware", "Anomaly", "Operational"]
SENSOR_DEFAULTS: dict[str, Any] = {
    "learning": True,
    "smart_it_learning": True,
    "engines": list(ENGINES),
    "subnets": [],
    "port_aliases": {},
}


class SensorConfigIn(BaseModel):
    """Sensor Engine Configuration: Learning Mode, analytics engines, and the settings that shape reading."""

    model_config = ConfigDict(extra="forbid")
    learning: bool | None = None
    smart_it_learning: bool | None = None
    engines: list[EngineName] | None = None
    subnets: list[str] | None = Field(default=None, max_length=1000)
    port_aliases: dict[int, str] | None = None

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [str(parse_cidr(x)) for x in v]

    @field_validator("port_aliases")
    @classmethod
    def _aliases(cls, v: dict[int, str] | None) -> dict[int, str] | None:
        if v is not None:
            for port, name in v.items():
                if not 0 < port < 65536:
                    raise ValueError(f"port {port} is out of range")
                if not name.strip() or len(name) > 64:
                    raise ValueError(f"alias for port {port} must be 1-64 characters")
        return v


class NodeOut(BaseModel):
    id: str
    kind: str
    name: str
    ip: str
    hostname: str
    status: str
    status_colour: str
    disconnect_reason: str | None
    last_scan_result: str | None
    active_query_networks: list[str]
    scan_schedule: str
    last_scan: datetime | None
    last_scan_duration: float | None
    credentials: list[str]
    reported_assets: int
    version: str
    engine_version: str
    host_os: str
    enrolled_at: datetime
    approved_at: datetime | None
    last_seen: datetime | None
    clock_skew: float
    paused: bool
    progress: dict[str, Any]
    settings: dict[str, Any] = Field(default_factory=dict)  # sensors: learning mode, engines, ...
    stats: dict[str, Any] = Field(default_factory=dict)  # sensors: the latest traffic statistics


BulkAction = Literal[
    "approve",
    "scan_now",
    "abort_scan",
    "update",
    "delete",
    "enable_schedule",
    "disable_schedule",
    "set_schedule",
    "pause",
    "resume",
    "set_sensor_settings",
]


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=10_000)
    action: BulkAction
    schedule: Schedule | None = None
    sensor_settings: SensorConfigIn | None = None


class BulkOut(BaseModel):
    results: dict[str, str]  # node id -> "ok" or the reason it was refused
    succeeded: int
    failed: int


class FleetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auto_approve: bool
    auto_update: bool


class FleetSettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auto_approve: bool | None = None
    auto_update: bool | None = None
