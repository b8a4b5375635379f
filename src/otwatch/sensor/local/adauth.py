"""Active Directory sign-in (LDAP, ldap3) for the sensor's own console, with group-to-role mapping.

The pushed ``active_directory`` settings name the servers (tried in order), port, transport (LDAPS,
or StartTLS on plain LDAP, or neither), base DN, domain, bind DN, user filter and the AD group ->
role mapping; the bind password and an optional CA certificate for the servers stay on the sensor
(:class:`otwatch.sensor.config.syssettings.LocalSecrets`).

Sign-in: with a bind DN, the bind account looks the user up with the user filter and the user's
own password is then checked by binding as the user's DN; without one, the user binds directly as
``user@domain`` (Active Directory's user principal name) and looks itself up. Groups are the
user's ``memberOf`` values plus the groups that list the user as ``member``/``uniqueMember``; each
is matched by its CN or full DN (case-insensitive) against the mapping, and the highest mapped role
wins.

Outcomes: a user (:class:`AdUser`), None (unknown user or wrong password), :class:`AdRefused`
(right password but no mapped group — told to the user) or :class:`AdUnavailable` (no server
answered, or the bind account was refused — the console falls back to its local users).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from otwatch.sensor.local.store import Role

__all__ = ["ROLE_ORDER", "AdConfig", "AdRefused", "AdUnavailable", "AdUser", "authenticate", "sign_in"]

log = logging.getLogger("otwatch.sensor.ad")

#: Roles the mapping may name, highest first (the console's role names).
ROLE_ORDER: Final = ("Admin", "Security Analyst", "Read Only")
DEFAULT_FILTER: Final = "(&(objectClass=user)(sAMAccountName={username}))"
MAX_NAME: Final = 256


class AdUnavailable(Exception):
    """No Active Directory server could be used; local users can still sign in."""


class AdRefused(Exception):
    """The user is known to Active Directory but may not sign in (no mapped group)."""


@dataclass(frozen=True, slots=True)
class AdUser:
    username: str
    dn: str
    groups: tuple[str, ...]
    role: str  # one of ROLE_ORDER


@dataclass(frozen=True, slots=True)
class AdConfig:
    servers: tuple[str, ...]
    port: int = 636
    transport: str = "ldaps"  # ldaps | starttls | plain
    base_dn: str = ""
    domain: str = ""
    bind_dn: str = ""
    bind_password: str = ""
    user_filter: str = DEFAULT_FILTER
    group_roles: tuple[tuple[str, str], ...] = ()  # (group CN or DN, casefolded; role)
    ca_pem: str = ""
    timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None, secrets: dict[str, str]) -> AdConfig | None:
        """None unless enabled; ValueError when the settings cannot work."""
        if not settings or not settings.get("enabled"):
            return None
        servers = tuple(str(s) for s in settings.get("servers", []) if str(s).strip())
        if not servers:
            raise ValueError("Active Directory needs at least one server")
        ldaps, starttls = bool(settings.get("ldaps", True)), bool(settings.get("starttls", False))
        if ldaps and starttls:
            raise ValueError("choose LDAPS or StartTLS, not both")
        user_filter = str(settings.get("user_filter") or DEFAULT_FILTER)
        if "{username}" not in user_filter or not user_filter.startswith("("):
            raise ValueError("the user filter must be an LDAP filter holding {username}")
        roles = tuple(
            (str(group).strip().casefold(), str(role))
            for group, role in dict(settings.get("group_roles", {})).items()
            if role in ROLE_ORDER
        )
        return cls(
            servers=servers,
            port=int(settings.get("port", 636 if ldaps else 389)),
            transport="ldaps" if ldaps else "starttls" if starttls else "plain",
            base_dn=str(settings.get("base_dn", "")),
            domain=str(settings.get("domain", "")),
            bind_dn=str(settings.get("bind_dn", "")),
            bind_password=secrets.get("ad_bind_password", ""),
            user_filter=user_filter,
            group_roles=roles,
            ca_pem=secrets.get("ad_ca_certificate", ""),
            timeout=float(settings.get("timeout", 5.0)),
        )

    def role_for(self, groups: list[str], named: Mapping[str, set[str]] | None = None) -> str | None:
        """The highest role mapped to any of the groups, or None.

        A mapping by full DN matches that DN exactly (normalised). A mapping by name matches a group
        with that CN only when the name is unique in the directory (``named``: CN, casefolded -> the
        normalised DNs of every group with that CN): a look-alike "OT Admins" in another OU makes
        the bare name ambiguous, and it then maps nothing until the mapping names the full DN."""
        dns = {_norm_dn(g) for g in groups}
        mapped: set[str] = set()
        for key, role in self.group_roles:
            if "=" in key:
                if _norm_dn(key) in dns:
                    mapped.add(role)
                continue
            holders = {d for d in dns if _cn(d).casefold() == key}
            if not holders:
                continue
            if named is not None and named.get(key, set()) != holders:
                log.warning("Active Directory group name %r is not unique; map it by its full DN", key)
                continue
            mapped.add(role)
        return next((r for r in ROLE_ORDER if r in mapped), None)

    def bare_names(self) -> list[str]:
        """The group names (not DNs) the mapping uses."""
        return [key for key, _ in self.group_roles if "=" not in key]


def _server(cfg: AdConfig, host: str) -> ldap3.Server:
    tls = None
    if cfg.transport != "plain":
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            version=ssl.PROTOCOL_TLS_CLIENT,
            ca_certs_data=cfg.ca_pem or None,
        )
    return ldap3.Server(
        host,
        port=cfg.port,
        use_ssl=cfg.transport == "ldaps",
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=cfg.timeout,
    )


def _connect(cfg: AdConfig, server: ldap3.Server, user: str, password: str) -> ldap3.Connection | None:
    """A bound connection, or None when the credentials are refused. Transport problems raise
    LDAPException (the caller tries the next server)."""
    conn = ldap3.Connection(
        server,
        user=user,
        password=password,
        receive_timeout=max(1, round(cfg.timeout)),
        raise_exceptions=False,
    )
    conn.open()
    if cfg.transport == "starttls" and not conn.start_tls():
        conn.unbind()
        raise ldap_errors.LDAPStartTLSError(f"StartTLS refused: {conn.result.get('description')}")
    if not conn.bind():
        result = conn.result or {}
        conn.unbind()
        if result.get("result") == 49:  # invalidCredentials
            return None
        raise ldap_errors.LDAPBindError(f"bind refused: {result.get('description')} {result.get('message')}")
    return conn


def authenticate(cfg: AdConfig, username: str, password: str) -> AdUser | None:
    username = username.strip()
    if not username or not password or len(username) > MAX_NAME or any(ord(c) < 32 for c in username):
        return None  # an empty password would be an anonymous bind: never a sign-in
    problems: list[str] = []
    for host in cfg.servers:
        try:
            return _authenticate_on(cfg, _server(cfg, host), username, password)
        except ldap_errors.LDAPException as exc:
            problems.append(f"{host}:{cfg.port}: {exc}")
            log.warning("Active Directory server %s:%d unusable: %s", host, cfg.port, exc)
    raise AdUnavailable(f"no Active Directory server could be used ({'; '.join(problems)})")


def _authenticate_on(cfg: AdConfig, server: ldap3.Server, username: str, password: str) -> AdUser | None:
    if cfg.bind_dn:
        looker = _connect(cfg, server, cfg.bind_dn, cfg.bind_password)
        if looker is None:
            raise ldap_errors.LDAPBindError("the bind account (bind DN and its password) was refused")
    else:
        principal = f"{username}@{cfg.domain}" if cfg.domain and "@" not in username else username
        looker = _connect(cfg, server, principal, password)
        if looker is None:
            return None
    try:
        user_filter = cfg.user_filter.format(
            username=escape_filter_chars(username), domain=escape_filter_chars(cfg.domain)
        )
        looker.search(cfg.base_dn, user_filter, attributes=["memberOf"], size_limit=2)
        entries = [e for e in looker.response or [] if e.get("type") == "searchResEntry"]
        if len(entries) != 1:
            if len(entries) > 1:
                log.warning("Active Directory user filter matched several entries for %r", username)
            return None
        dn = str(entries[0]["dn"])
        groups = [str(g) for g in entries[0].get("attributes", {}).get("memberOf", []) or []]
        if cfg.bind_dn:
            own = _connect(cfg, server, dn, password)
            if own is None:
                return None
            own.unbind()
        esc = escape_filter_chars(dn)
        looker.search(
            cfg.base_dn, f"(|(member={esc})(uniqueMember={esc}))", attributes=["cn"], size_limit=1000
        )
        groups += [str(e["dn"]) for e in looker.response or [] if e.get("type") == "searchResEntry"]
        groups = list(dict.fromkeys(groups))
        named = _groups_named(looker, cfg, groups)
    finally:
        looker.unbind()
    role = cfg.role_for(groups, named)
    if role is None:
        names = ", ".join(_cn(g) for g in groups) or "none"
        raise AdRefused(
            f"{username} is known to Active Directory but none of their groups ({names}) is mapped to "
            "a role on this sensor; ask an administrator to map one of them."
        )
    return AdUser(username, dn, tuple(groups), role)


def check_connection(cfg: AdConfig) -> str:
    """The Active Directory page's Test connection: reach every server (TLS as configured) and, with
    a bind DN, bind with it and read the base DN. Returns what worked; AdUnavailable says what did not."""
    problems: list[str] = []
    done: list[str] = []
    for host in cfg.servers:
        where = f"{host}:{cfg.port} ({cfg.transport.upper() if cfg.transport != 'plain' else 'LDAP'})"
        try:
            server = _server(cfg, host)
            if cfg.bind_dn:
                conn = _connect(cfg, server, cfg.bind_dn, cfg.bind_password)
                if conn is None:
                    raise ldap_errors.LDAPBindError("the bind account (bind DN and its password) was refused")
                try:
                    if cfg.base_dn and not conn.search(
                        cfg.base_dn, "(objectClass=*)", search_scope=ldap3.BASE
                    ):
                        raise ldap_errors.LDAPException(f"base DN {cfg.base_dn!r} not found")
                finally:
                    conn.unbind()
                done.append(
                    f"{where}: bind as {cfg.bind_dn} accepted" + (", base DN found" if cfg.base_dn else "")
                )
            else:
                conn = ldap3.Connection(
                    server, receive_timeout=max(1, round(cfg.timeout)), raise_exceptions=False
                )
                conn.open()
                if cfg.transport == "starttls" and not conn.start_tls():
                    conn.unbind()
                    raise ldap_errors.LDAPStartTLSError(f"StartTLS refused: {conn.result.get('description')}")
                conn.unbind()
                done.append(f"{where}: reachable (no bind DN: give a test user to check a sign-in)")
        except ldap_errors.LDAPException as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise AdUnavailable("; ".join(problems + done))
    return "; ".join(done) + "."


#: The sensor console's users: an AD group mapped to Admin signs in as ``admin``. The sensor console
#: has no read-only user, so the other console roles do not open it.
SENSOR_ROLES: Final = {"Admin": Role.ADMIN}


def sign_in(
    settings: dict[str, Any] | None, secrets: dict[str, str], username: str, password: str
) -> tuple[Role, AdUser] | None:
    """Sign in to the sensor console with an AD account: None when AD is off, the user unknown or
    the password wrong; AdRefused / AdUnavailable as :func:`authenticate`."""
    try:
        cfg = AdConfig.from_settings(settings, secrets)
    except ValueError as exc:
        raise AdUnavailable(f"the Active Directory settings cannot be used: {exc}") from exc
    if cfg is None:
        return None
    if cfg.bind_dn and secrets.get("ad_bind_password@moved"):  # neither password goes to this server
        raise AdUnavailable(secrets["ad_bind_password@moved"])
    user = authenticate(cfg, username, password)
    if user is None:
        return None
    role = SENSOR_ROLES.get(user.role)
    if role is None:
        raise AdRefused(
            f"{user.username}'s Active Directory group maps to {user.role}; the sensor console opens "
            "only to groups mapped to Admin."
        )
    return role, user


def _groups_named(looker: ldap3.Connection, cfg: AdConfig, groups: list[str]) -> dict[str, set[str]]:
    """For each bare group name of the mapping that one of the user's groups carries: the DNs of every
    group in the directory with that CN (to tell a unique name from a look-alike)."""
    mine = {_cn(g).casefold() for g in groups}
    out: dict[str, set[str]] = {}
    for name in cfg.bare_names():
        if name not in mine:
            continue
        looker.search(
            cfg.base_dn,
            f"(&(cn={escape_filter_chars(name)})"
            "(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)))",
            attributes=["cn"],
            size_limit=100,
        )
        out[name] = {
            _norm_dn(str(e["dn"])) for e in looker.response or [] if e.get("type") == "searchResEntry"
        }
    return out


def _norm_dn(dn: str) -> str:
    """A DN compared case-insensitively and without the spaces around its separators."""
    try:
        return ",".join(f"{a.strip().casefold()}={v.strip().casefold()}" for a, v, _ in parse_dn(dn))
    except ldap_errors.LDAPInvalidDnError:
        return dn.strip().casefold()


def _cn(dn: str) -> str:
    try:
        return str(parse_dn(dn)[0][1])
    except (ldap_errors.LDAPInvalidDnError, IndexError):
        return dn
