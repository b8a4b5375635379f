"""API shapes of the fleet: pairing keys, nodes, configuration, bulk actions."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from otwatch.console.fleet.models import MAX_PAIRING_KEY_DAYS, MAX_PAIRING_KEY_USES
from otwatch.console.networks.service import parse_cidr
from otwatch.inventory import vocabulary
from otwatch.inventory.vocabulary import EngineName


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

# ---------------------------------------------------------------- system settings a sensor can share
# Secrets (the mail account's password, SNMP community and v3 keys, the AD bind password) are never part
# of these settings: they would be shown to every viewer of the sensor and copied into the audit log.
# They are entered on each sensor; pushing settings says so.

_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$"
)
_EMAIL = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


def _host(v: str) -> str:
    """A host name or an IP address (IPv6 without brackets)."""
    v = v.strip()
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        pass
    if not _HOST.match(v):
        raise ValueError(f"{v!r} is not a host name or IP address")
    return v.lower()


def _ip(v: str) -> str:
    try:
        return str(ipaddress.ip_address(v.strip()))
    except ValueError:
        raise ValueError(f"{v!r} is not an IP address") from None


def _cidr(v: str) -> str:
    return str(parse_cidr(v))


def _unique(v: list[str]) -> list[str]:
    return list(dict.fromkeys(v))


Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
IPText = Annotated[str, Field(min_length=1, max_length=45), AfterValidator(_ip)]
CIDRText = Annotated[str, Field(min_length=1, max_length=49), AfterValidator(_cidr)]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MailServerSettings(_Group):
    """The mail server the sensor sends its own email through. The account's password is not pushed."""

    address: Host = Field(description="mail server host name or IP")
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(max_length=320, pattern=_EMAIL, description="the outgoing account (From address)")
    ssl: Literal["none", "starttls", "ssl"] = "none"
    username: str = Field(default="", max_length=320, description="empty: no authentication")


class SnmpMibMonitoringSettings(_Group):
    """SNMP MIB monitoring of the sensor's health by the listed managers. Community strings and v3 keys
    are secrets and are not pushed."""

    enabled: bool = False
    version: Literal["v2c", "v3"] = "v2c"
    port: int = Field(default=161, ge=1, le=65535)
    v3_user: str = Field(default="", max_length=64)
    v3_auth_protocol: Literal["none", "SHA", "SHA-256", "SHA-512"] = "SHA-256"
    v3_priv_protocol: Literal["none", "AES-128", "AES-256"] = "AES-128"
    allowed_managers: Annotated[list[IPText], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=32
    )

    @field_validator("v3_user")
    @classmethod
    def _user(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9._@-]+", v):
            raise ValueError("the SNMPv3 user name may hold letters, digits and . _ @ - only")
        return v

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and self.version == "v3" and not self.v3_user:
            raise ValueError("SNMPv3 needs a user name")
        return self


ConsoleRole = Literal["Admin", "Security Analyst", "Read Only"]


class ActiveDirectorySettings(_Group):
    """Sign-in to the sensor with Active Directory accounts. The bind password is not pushed."""

    enabled: bool = False
    domain: str = Field(default="", max_length=253)
    servers: Annotated[list[Host], AfterValidator(_unique)] = Field(default_factory=list, max_length=8)
    port: int = Field(default=636, ge=1, le=65535)
    ldaps: bool = True
    starttls: bool = Field(default=False, description="StartTLS on plain LDAP (when LDAPS is off)")
    base_dn: str = Field(default="", max_length=500)
    bind_dn: str = Field(
        default="", max_length=500, description="account that looks users up; empty: user@domain binds"
    )
    user_filter: str = Field(
        default="", max_length=500, description="LDAP filter with {username}; empty: sAMAccountName"
    )
    group_roles: dict[str, ConsoleRole] = Field(
        default_factory=dict, max_length=100, description="AD group name -> sensor role"
    )

    @field_validator("user_filter")
    @classmethod
    def _filter(cls, v: str) -> str:
        v = v.strip()
        if v and (not v.startswith("(") or not v.endswith(")") or "{username}" not in v):
            raise ValueError("the user filter must be an LDAP filter in parentheses holding {username}")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return _host(v) if v.strip() else ""

    @field_validator("base_dn", "bind_dn")
    @classmethod
    def _dn(cls, v: str) -> str:
        v = v.strip()
        if v and not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*=[^,=]+(,\s*[A-Za-z][A-Za-z0-9-]*=[^,=]+)*", v):
            raise ValueError(f"{v!r} is not a distinguished name (for example DC=plant,DC=local)")
        return v

    @field_validator("group_roles")
    @classmethod
    def _groups(cls, v: dict[str, str]) -> dict[str, str]:
        for group in v:
            if not group.strip() or len(group) > 256:
                raise ValueError("AD group names must be 1-256 characters")
        return v

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and (not self.domain or not self.servers):
            raise ValueError("Active Directory needs a domain and at least one server when enabled")
        if self.ldaps and self.starttls:
            raise ValueError("choose LDAPS or StartTLS, not both")
        return self


class DnsReverseLookupSettings(_Group):
    """Name assets by reverse DNS (PTR) through these servers, for addresses inside these subnets."""

    enabled: bool = False
    servers: Annotated[list[IPText], AfterValidator(_unique)] = Field(default_factory=list, max_length=3)
    port: int = Field(default=53, ge=1, le=65535)
    subnets: Annotated[list[CIDRText], AfterValidator(_unique)] = Field(default_factory=list, max_length=256)
    timeout: float = Field(default=2.0, ge=0.1, le=30.0, description="seconds per query")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and (not self.servers or not self.subnets):
            raise ValueError("DNS reverse lookup needs at least one server and one subnet when enabled")
        return self


#: The setting groups that "Push settings" copies from one sensor to others, with their labels.
SETTING_GROUPS: Final[dict[str, str]] = {
    "mail_server": "Mail server",
    "snmp_mib_monitoring": "SNMP MIB monitoring",
    "active_directory": "Active Directory",
    "dns_reverse_lookup": "DNS reverse lookup",
    "subnets": "Subnets",
    "port_aliases": "Port aliases",
}
SettingGroup = Literal[
    "mail_server", "snmp_mib_monitoring", "active_directory", "dns_reverse_lookup", "subnets", "port_aliases"
]
#: What is never pushed, per group (told in the dialog and in the push result).
NOT_PUSHED: Final[dict[str, str]] = {
    "mail_server": "the mail account's password",
    "snmp_mib_monitoring": "the SNMP community string and SNMPv3 keys",
    "active_directory": "the bind password",
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
