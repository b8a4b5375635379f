"""The six setting groups a console pushes (seed 002, "Push system settings to OT sensors"), as the
sensor's own console validates them when a locally managed sensor is set up from its pages.

The groups themselves are defined once, in :mod:`otwatch.wire.settings`, for the console and the sensor
alike; this module turns a form's values into the group as stored and applied — the very value a
console would push — or raises :class:`GroupErrors` naming every field that is wrong.

Secrets (the mail account's password, SNMP community and v3 keys, the AD bind password) are never
part of a group: they stay in :class:`~otwatch.sensor.config.syssettings.LocalSecrets`.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import ValidationError

from otwatch.wire.settings import (
    EMAIL,
    SETTING_GROUPS,
    ActiveDirectorySettings,
    DnsReverseLookupSettings,
    Group,
    MailServerSettings,
    SnmpMibMonitoringSettings,
    parse_cidr,
    unique,
)

GROUP_LABELS: Final = SETTING_GROUPS
_EMAIL_RE: Final = re.compile(EMAIL)


def email_address(v: str) -> str:
    """One e-mail address, trimmed; ValueError when it is not one."""
    v = v.strip()
    if not v or len(v) > 320 or not _EMAIL_RE.match(v):
        raise ValueError(f"{v!r} is not an e-mail address")
    return v


MODELS: Final[dict[str, type[Group]]] = {
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
    return unique(out)


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
