"""API shapes of the fleet: pairing keys, nodes, configuration, bulk actions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otwatch.console.fleet.models import MAX_PAIRING_KEY_DAYS, MAX_PAIRING_KEY_USES
from otwatch.inventory import vocabulary
from otwatch.inventory.vocabulary import EngineName
from otwatch.wire.settings import (
    EMAIL,
    SETTING_GROUPS,
    ActiveDirectorySettings,
    DnsReverseLookupSettings,
    MailServerSettings,
    SettingGroup,
    SnmpMibMonitoringSettings,
    host_name,
    parse_cidr,
)


class PairingKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, max_length=255, description="ICP IP/Host (and port)")
    expires_days: int = Field(
        default=90, ge=1, le=MAX_PAIRING_KEY_DAYS, description="Expiration Period in days"
    )
    description: str = Field(default="", max_length=300)
    max_uses: int = Field(
        default=1, ge=1, le=MAX_PAIRING_KEY_USES, description="how many agents or sensors it may pair"
    )
    kind: Literal["agent", "sensor"] | None = Field(
        default=None, description="the node kind it pairs (none: the kind of its first node)"
    )


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
    max_uses: int
    kind: str | None


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


ENGINES = vocabulary.ENGINES
SENSOR_DEFAULTS: dict[str, Any] = {
    "learning": True,
    "smart_it_learning": True,
    "engines": list(ENGINES),
    "subnets": [],
    "port_aliases": {},
    "mail_server": None,
    "snmp_mib_monitoring": None,
    "active_directory": None,
    "dns_reverse_lookup": None,
}


class SensorConfigIn(BaseModel):
    """Sensor Engine Configuration: Learning Mode, analytics engines, the settings that shape reading,
    and the system settings a sensor shares with others (mail server, SNMP, AD, DNS reverse lookup)."""

    model_config = ConfigDict(extra="forbid")
    learning: bool | None = None
    smart_it_learning: bool | None = None
    engines: list[EngineName] | None = None
    subnets: list[str] | None = Field(default=None, max_length=1000)
    port_aliases: dict[int, str] | None = None
    mail_server: MailServerSettings | None = None
    snmp_mib_monitoring: SnmpMibMonitoringSettings | None = None
    active_directory: ActiveDirectorySettings | None = None
    dns_reverse_lookup: DnsReverseLookupSettings | None = None

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


class SensorNameIn(BaseModel):
    """A sensor's name and site, as the console shows them (the host name until named)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=200, description="empty: the sensor's host name")
    site: str | None = Field(default=None, max_length=200, description="the site or plant it listens in")

    @field_validator("name", "site")
    @classmethod
    def _stripped(cls, v: str | None) -> str | None:
        if v is not None and any(ord(c) < 32 for c in v):
            raise ValueError("no control characters")
        return None if v is None else v.strip()


class UpdateResultOut(BaseModel):
    """The node's latest update (OT Discovery engine or sensor version): where it stands and, when it
    failed, why, so a refused package is seen where the Update was asked for, not only in the audit log."""

    version: str
    kind: str
    state: str  # pending | delivered | running | done | failed | expired
    error: str | None = None
    rolled_back: bool = False
    requested_at: datetime
    finished_at: datetime | None = None


class NodeOut(BaseModel):
    id: str
    kind: str
    name: str
    site: str = ""
    ip: str
    hostname: str
    status: str
    status_colour: str
    disconnect_reason: str | None
    last_scan_result: str | None
    active_query_networks: list[str]
    # the agent's copies of duplicated networks, scanned too: "10.0.5.0/24 (duplicated, Plant A)"
    duplicated_networks: list[str] = Field(default_factory=list)
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
    threat_intel_version: str | None = None  # sensors: the threat-intelligence package in use
    last_update: UpdateResultOut | None = None
    host_asset_id: str | None = None  # agents: the inventory asset at the agent's own address
    config_version: int = 0  # the newest configuration the console holds for the node
    config_acked: int = 0  # the newest configuration the node has acknowledged


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


class PushSettingsIn(BaseModel):
    """Duplicate setting groups of one sensor to others (System Settings > Configure Sensors)."""

    model_config = ConfigDict(extra="forbid")
    source_id: str = Field(min_length=1, max_length=64)
    groups: list[SettingGroup] = Field(min_length=1, max_length=len(SETTING_GROUPS))
    target_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="null: every approved sensor but the source",
    )

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


PushOutcome = Literal["applied", "queued", "failed"]


class PushResult(BaseModel):
    sensor_id: str
    name: str
    status: str  # the sensor's connection status when the settings were pushed
    outcome: PushOutcome
    message: str
    config_version: int | None = None  # acknowledged by the sensor once its config_acked reaches it


class PushSettingsOut(BaseModel):
    source_id: str
    groups: list[SettingGroup]
    not_pushed: list[str]  # secrets that stay behind, per group
    results: list[PushResult]
    applied: int
    queued: int
    failed: int


class SettingGroupOut(BaseModel):
    sensor_id: str
    group: SettingGroup
    label: str
    configured: bool  # False: the sensor has never been given this group (value is the default)
    value: Any
    not_pushed: str | None = None


class FleetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auto_approve: bool
    auto_update: bool


class FleetSettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auto_approve: bool | None = None
    auto_update: bool | None = None


#: The setting groups whose form has a test button: each names a server the sensor will talk to.
TESTABLE_GROUPS: Final[dict[str, str]] = {
    "mail_server": "connects to the SMTP server (and, with a recipient, sends a test email)",
    "active_directory": "binds to each LDAP server and looks the base DN up",
    "dns_reverse_lookup": "asks each DNS server for a name",
}


class SettingTestIn(BaseModel):
    """Test the values in a settings form (saved or not) from the console.

    The secrets are used for this test only: the console never stores them (each sensor keeps its
    own), and they are neither returned nor written to the audit log."""

    model_config = ConfigDict(extra="forbid")
    settings: dict[str, Any] = Field(description="the group's values, as PUT .../settings/{group} takes them")
    password: str | None = Field(
        default=None,
        max_length=1000,
        description="mail account or AD bind password, for this test only (never stored)",
    )
    username: str = Field(
        default="",
        max_length=320,
        description="Active Directory without a bind DN: the account that binds as user@domain",
    )
    to: str | None = Field(
        default=None, max_length=320, pattern=EMAIL, description="mail: also send a test email here"
    )
    lookup: str | None = Field(
        default=None,
        max_length=253,
        description="DNS: an IP address (PTR) or host name (A/AAAA) to resolve; default: a PTR of the first subnet",
    )
    ca_pem: str | None = Field(
        default=None, max_length=20_000, description="AD over TLS: the CA of the servers' certificates"
    )

    @field_validator("lookup")
    @classmethod
    def _lookup(cls, v: str | None) -> str | None:
        return host_name(v) if v is not None and v.strip() else None
