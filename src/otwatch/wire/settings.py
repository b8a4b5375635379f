"""The system setting groups a console pushes to its sensors (seed 002, "Push system settings to OT
sensors"): one definition, so the console's API and forms and the sensor's own pages judge a value the
same way and the sensor stores exactly what a console would push.

Secrets (the mail account's password, SNMP community and v3 keys, the AD bind password) are never part
of these settings: they would be shown to every viewer of the sensor and copied into the audit log.
They are entered on each sensor; pushing settings says so.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(text: str) -> Network:
    """Parse one network; explain exactly what is wrong when it cannot be used."""
    t = text.strip()
    if not t:
        raise ValueError("network is empty")
    try:
        return ipaddress.ip_network(t, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(t, strict=False)
        except ValueError:
            raise ValueError(f"{t!r} is not a network in CIDR notation (for example 192.168.1.0/24)") from exc
        raise ValueError(f"{t!r} has host bits set; did you mean {loose}?") from exc


_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$"
)
EMAIL: Final = r"^[^@\s<>,;]+@[^@\s<>,;]+$"


def host_name(v: str) -> str:
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


def unique(v: list[str]) -> list[str]:
    return list(dict.fromkeys(v))


Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(host_name)]
IPText = Annotated[str, Field(min_length=1, max_length=45), AfterValidator(_ip)]
CIDRText = Annotated[str, Field(min_length=1, max_length=49), AfterValidator(_cidr)]


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MailServerSettings(Group):
    """The mail server the sensor sends its own email through. The account's password is not pushed."""

    address: Host = Field(description="mail server host name or IP")
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(max_length=320, pattern=EMAIL, description="the outgoing account (From address)")
    ssl: Literal["none", "starttls", "ssl"] = "none"
    username: str = Field(default="", max_length=320, description="empty: no authentication")
    ntlm: bool = Field(default=False, description="Use NTLM (the seed's option; with authentication only)")

    @model_validator(mode="after")
    def _ntlm_needs_authentication(self) -> Self:
        """Use NTLM is an option of Authentication: without an account it means nothing."""
        if not self.username:
            self.ntlm = False
        return self


class SnmpMibMonitoringSettings(Group):
    """SNMP MIB monitoring of the sensor's health by the listed managers. Community strings and v3 keys
    are secrets and are not pushed."""

    enabled: bool = False
    version: Literal["v2c", "v3"] = "v2c"
    port: int = Field(default=161, ge=1, le=65535)
    v3_user: str = Field(default="", max_length=64)
    v3_auth_protocol: Literal["none", "SHA", "SHA-256", "SHA-512"] = "SHA-256"
    v3_priv_protocol: Literal["none", "AES-128", "AES-256"] = "AES-128"
    allowed_managers: Annotated[list[IPText], AfterValidator(unique)] = Field(
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


class ActiveDirectorySettings(Group):
    """Sign-in to the sensor with Active Directory accounts. The bind password is not pushed."""

    enabled: bool = False
    domain: str = Field(default="", max_length=253)
    servers: Annotated[list[Host], AfterValidator(unique)] = Field(default_factory=list, max_length=8)
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
        return host_name(v) if v.strip() else ""

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


class DnsReverseLookupSettings(Group):
    """Name assets by reverse DNS (PTR) through these servers, for addresses inside these subnets."""

    enabled: bool = False
    servers: Annotated[list[IPText], AfterValidator(unique)] = Field(default_factory=list, max_length=3)
    port: int = Field(default=53, ge=1, le=65535)
    subnets: Annotated[list[CIDRText], AfterValidator(unique)] = Field(default_factory=list, max_length=256)
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
