"""The six setting groups a console pushes (seed 002, "Push system settings to OT sensors"), as the
sensor's own console validates them when a locally managed sensor is set up from its pages.

Field names and rules are the console's (``otwatch.console.fleet.schemas``: the three parts never
import each other, so the rules are written here again and a test checks both agree on the same
inputs). :func:`validate` returns the group as the sensor stores and applies it — the very dict a
console would push — or raises :class:`GroupErrors` naming every field that is wrong.

Secrets (the mail account's password, SNMP community and v3 keys, the AD bind password) are never
part of a group: they stay in :class:`~otwatch.sensor.config.syssettings.LocalSecrets`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

GROUP_LABELS: Final[dict[str, str]] = {
    "mail_server": "Mail server",
    "snmp_mib_monitoring": "SNMP MIB monitoring",
    "active_directory": "Active Directory",
    "dns_reverse_lookup": "DNS reverse lookup",
    "subnets": "Subnets",
    "port_aliases": "Port aliases",
}

_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$"
)
EMAIL: Final = r"^[^@\s<>,;]+@[^@\s<>,;]+$"
_EMAIL_RE: Final = re.compile(EMAIL)


def parse_cidr(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One network in CIDR notation, saying exactly what is wrong (host bits: the network meant)."""
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


def _host(v: str) -> str:
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


def email_address(v: str) -> str:
    """One e-mail address, trimmed; ValueError when it is not one."""
    v = v.strip()
    if not v or len(v) > 320 or not _EMAIL_RE.match(v):
        raise ValueError(f"{v!r} is not an e-mail address")
    return v


Host = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
IPText = Annotated[str, Field(min_length=1, max_length=45), AfterValidator(_ip)]
CIDRText = Annotated[str, Field(min_length=1, max_length=49), AfterValidator(_cidr)]
ConsoleRole = Literal["Admin", "Security Analyst", "Read Only"]


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MailServerSettings(_Group):
    address: Host
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(max_length=320, pattern=EMAIL)
    ssl: Literal["none", "starttls", "ssl"] = "none"
    username: str = Field(default="", max_length=320)


class SnmpMibMonitoringSettings(_Group):
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


class ActiveDirectorySettings(_Group):
    enabled: bool = False
    domain: str = Field(default="", max_length=253)
    servers: Annotated[list[Host], AfterValidator(_unique)] = Field(default_factory=list, max_length=8)
    port: int = Field(default=636, ge=1, le=65535)
    ldaps: bool = True
    starttls: bool = False
    base_dn: str = Field(default="", max_length=500)
    bind_dn: str = Field(default="", max_length=500)
    user_filter: str = Field(default="", max_length=500)
    group_roles: dict[str, ConsoleRole] = Field(default_factory=dict, max_length=100)

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
    enabled: bool = False
    servers: Annotated[list[IPText], AfterValidator(_unique)] = Field(default_factory=list, max_length=3)
    port: int = Field(default=53, ge=1, le=65535)
    subnets: Annotated[list[CIDRText], AfterValidator(_unique)] = Field(default_factory=list, max_length=256)
    timeout: float = Field(default=2.0, ge=0.1, le=30.0)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and (not self.servers or not self.subnets):
            raise ValueError("DNS reverse lookup needs at least one server and one subnet when enabled")
        return self


MODELS: Final[dict[str, type[_Group]]] = {
    "mail_server": MailServerSettings,
    "snmp_mib_monitoring": SnmpMibMonitoringSettings,
    "active_directory": ActiveDirectorySettings,
    "dns_reverse_lookup": DnsReverseLookupSettings,
}
MAX_SUBNETS: Final = 1000
MAX_ALIASES: Final = 1000


class GroupErrors(ValueError):
    """Every problem of one form: ``errors`` maps a field name ("" for the whole group) to a message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))


def _from_pydantic(exc: ValidationError) -> GroupErrors:
    errors: dict[str, str] = {}
    for e in exc.errors():
        loc = e.get("loc") or ()
        name = str(loc[0]) if loc else ""
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "string_pattern_mismatch" and name == "sender":
            msg = "enter an e-mail address (for example sensor@plant.example)"
        if len(loc) > 1:
            msg = f"entry {loc[1] + 1}: {msg}" if isinstance(loc[1], int) else f"{loc[1]}: {msg}"
        errors.setdefault(name, msg)
    return GroupErrors(errors)


def validate(group: str, data: Any) -> Any:
    """The group as stored and applied (a dict; a list for subnets; {port: name} for port aliases)."""
    if group == "subnets":
        return validate_subnets(data)
    if group == "port_aliases":
        return validate_port_aliases(data)
    model = MODELS.get(group)
    if model is None:
        raise GroupErrors({"": f"unknown setting group {group!r}"})
    try:
        return model.model_validate(data).model_dump()
    except ValidationError as exc:
        raise _from_pydantic(exc) from None


def validate_subnets(texts: list[str]) -> list[str]:
    """Monitored subnets in CIDR notation (empty: the private ranges count as local)."""
    out: list[str] = []
    problems: list[str] = []
    for n, text in enumerate(texts, start=1):
        if not text.strip():
            continue
        try:
            out.append(str(parse_cidr(text)))
        except ValueError as exc:
            problems.append(f"line {n}: {exc}")
    if len(out) > MAX_SUBNETS:
        problems.append(f"at most {MAX_SUBNETS} subnets")
    if problems:
        raise GroupErrors({"subnets": "; ".join(problems)})
    return _unique(out)


def validate_port_aliases(data: dict[Any, Any]) -> dict[int, str]:
    """{port: alias}: ports 1-65535, aliases of 1-64 characters (the console's rule)."""
    out: dict[int, str] = {}
    problems: list[str] = []
    for port, name in data.items():
        try:
            number = int(port)
        except (TypeError, ValueError):
            problems.append(f"{port!r} is not a port number")
            continue
        if not 0 < number < 65536:
            problems.append(f"port {number} is out of range (1-65535)")
        elif not str(name).strip() or len(str(name)) > 64:
            problems.append(f"alias for port {number} must be 1-64 characters")
        else:
            out[number] = str(name).strip()
    if len(out) > MAX_ALIASES:
        problems.append(f"at most {MAX_ALIASES} port aliases")
    if problems:
        raise GroupErrors({"port_aliases": "; ".join(problems)})
    return dict(sorted(out.items()))


def parse_alias_lines(text: str) -> dict[Any, Any]:
    """``502 = plant modbus`` lines -> {"502": "plant modbus"} (checked by :func:`validate_port_aliases`)."""
    out: dict[Any, Any] = {}
    problems: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        port, sep, name = (p.strip() for p in line.partition("="))
        if not sep:
            problems.append(f"line {n}: expected PORT = NAME, got {line!r}")
            continue
        if port in out:
            problems.append(f"line {n}: port {port} is given twice")
            continue
        out[port] = name
    if problems:
        raise GroupErrors({"port_aliases": "; ".join(problems)})
    return out


def parse_role_lines(text: str) -> dict[str, str]:
    """``OT Admins = Admin`` lines -> {"OT Admins": "Admin"} (roles checked by the model)."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        group, sep, role = (p.strip() for p in line.rpartition("="))
        if not sep or not group:
            problems.append(f"line {n}: expected GROUP = ROLE, got {line!r}")
            continue
        out[group] = role
    if problems:
        raise GroupErrors({"group_roles": "; ".join(problems)})
    return out
