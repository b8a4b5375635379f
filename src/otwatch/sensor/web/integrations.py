"""The pages of the six setting groups a console can push (seed 002, "Push system settings"), for the
sensor's own console (Admin only):

* Integrations > **Mail server** (seed 003, "Configure SMTP mail server settings"), with recipients and
  **Send test e-mail**;
* Integrations > **Active Directory** (with **Test connection**) and **DNS reverse lookup** (with
  **Test lookup**);
* Sensor management > **SNMP MIB monitoring**;
* Network monitoring > **Subnets** and **Port aliases**.

A locally managed sensor edits them here: the form is checked in full (the console's rules,
:mod:`otwatch.sensor.config.sysgroups`), saved in the sensor's settings and applied at once (and at
every start). A console-managed sensor shows the console's values read-only ("managed by the
console"): only what is never pushed stays editable here — the sensor's own secrets (passwords,
community strings, CA certificates) and who receives its e-mail. Test buttons use the values in the
form, unsaved, so a setting can be tried before it is saved.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from otwatch.sensor.config.sysgroups import (
    GROUP_LABELS,
    GroupErrors,
    email_address,
    parse_alias_lines,
    parse_role_lines,
    validate,
)
from otwatch.sensor.config.syssettings import BOUND_SECRETS, MOVED, SECRETS
from otwatch.sensor.local import adauth
from otwatch.sensor.node.dnslookup import LookupConfig, ptr_query
from otwatch.sensor.node.mailer import MailError, mail_setup
from otwatch.sensor.web.deps import AdminUser, ConsoleDep, SensorConsole, check_csrf, flash, redirect

router = APIRouter(prefix="")
MAX_PEM: Final = 64 * 1024
MAX_RECIPIENTS: Final = 20


@dataclass(frozen=True, slots=True)
class Field:
    """One input of a settings form."""

    name: str
    label: str
    kind: str = "text"  # text | number | checkbox | select | lines | password | pem
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label) for a select
    local: bool = False  # kept on this sensor (never pushed): editable on a managed sensor too
    secret: str = ""  # the LocalSecrets name of a password / PEM field


@dataclass(frozen=True, slots=True)
class GroupPage:
    group: str
    path: str
    section: str  # the breadcrumb's middle part
    intro: str
    fields: tuple[Field, ...]
    test_label: str = ""
    test_fields: tuple[Field, ...] = ()
    to_group: Callable[[dict[str, Any]], Any] = lambda v: v
    to_form: Callable[[Any], dict[str, Any]] = lambda v: dict(v or {})
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return GROUP_LABELS[self.group]


# ---------------------------------------------------------------- form <-> group, per page


def _mail_to_group(v: dict[str, Any]) -> dict[str, Any]:
    auth = bool(v.get("authentication"))
    if auth and not v.get("username"):
        raise GroupErrors({"username": "enter the mail account's user name (or turn Authentication off)"})
    return {
        "address": v.get("address", ""),
        "port": v.get("port", 25),
        "sender": v.get("sender", ""),
        "ssl": v.get("ssl", "none"),
        "username": v.get("username", "") if auth else "",
        "ntlm": bool(v.get("ntlm")) and auth,
    }


def _mail_to_form(g: Any) -> dict[str, Any]:
    g = dict(g or {})
    return {**g, "authentication": bool(g.get("username")), "ntlm": bool(g.get("ntlm"))}


def _ad_to_group(v: dict[str, Any]) -> dict[str, Any]:
    transport = v.pop("transport", "ldaps")
    return {
        **v,
        "ldaps": transport == "ldaps",
        "starttls": transport == "starttls",
        "group_roles": parse_role_lines(str(v.get("group_roles") or "")),
    }


def _ad_to_form(g: Any) -> dict[str, Any]:
    g = dict(g or {})
    transport = "ldaps" if g.get("ldaps", True) else "starttls" if g.get("starttls") else "plain"
    roles = "\n".join(f"{k} = {r}" for k, r in dict(g.get("group_roles") or {}).items())
    return {**g, "transport": transport, "group_roles": roles}


def _aliases_to_form(g: Any) -> dict[str, Any]:
    return {"port_aliases": "\n".join(f"{p} = {n}" for p, n in dict(g or {}).items())}


ROLE_HELP = (
    "One mapping a line, GROUP = ROLE (roles: Admin, Security Analyst, Read Only); a group by name or full DN"
)

PAGES: Final[dict[str, GroupPage]] = {
    p.group: p
    for p in (
        GroupPage(
            "mail_server",
            "/system/mail",
            "Integrations",
            "The SMTP server the sensor sends its own e-mail through: SPAN monitoring-port failures (raised "
            "and cleared) and backup results, to the recipients below.",
            (
                Field("address", "SMTP Server Address", help="IP address or domain name of the SMTP server"),
                Field("port", "SMTP Server Port", "number", help="Default = 25"),
                Field("sender", "Outgoing Mail Account", help="the e-mail address the sensor sends from"),
                Field(
                    "ssl",
                    "SSL",
                    "select",
                    "secure connections from the sensor",
                    (("none", "Off"), ("starttls", "STARTTLS"), ("ssl", "SSL/TLS (implicit)")),
                ),
                Field("authentication", "Authentication", "checkbox"),
                Field("username", "User name", help="the mail account (with Authentication on)"),
                Field("mail_password", "Password", "password", local=True, secret="mail_password"),
                Field(
                    "ntlm",
                    "Use NTLM",
                    "checkbox",
                    "Python's smtplib cannot do NTLM: the sensor authenticates with LOGIN or PLAIN when the "
                    "server offers them too, and says so; it refuses a server that offers NTLM alone",
                ),
                Field(
                    "mail_ca_certificate",
                    "CA certificate (PEM)",
                    "pem",
                    "checks the server's certificate; empty: the system's trust store",
                    local=True,
                    secret="mail_ca_certificate",
                ),
                Field(
                    "recipients",
                    "Recipients",
                    "lines",
                    "one e-mail address a line: who receives the sensor's e-mail",
                    local=True,
                ),
            ),
            test_label="Send test e-mail",
            test_fields=(Field("test_to", "Send the test to", help="empty: the recipients above"),),
            to_group=_mail_to_group,
            to_form=_mail_to_form,
        ),
        GroupPage(
            "snmp_mib_monitoring",
            "/system/snmp",
            "Sensor management",
            "Serve the sensor's health (traffic, drops, CPU, memory, disk, interface state) over SNMP to "
            "the managers listed below; everyone else is ignored.",
            (
                Field("enabled", "Enabled", "checkbox"),
                Field("version", "SNMP version", "select", options=(("v2c", "SNMP v2c"), ("v3", "SNMP v3"))),
                Field("port", "Port", "number", help="UDP; default 161"),
                Field("allowed_managers", "Allowed managers", "lines", "IP addresses, one a line"),
                Field("snmp_community", "Community (v2c)", "password", local=True, secret="snmp_community"),
                Field("v3_user", "SNMPv3 user"),
                Field(
                    "v3_auth_protocol",
                    "Authentication protocol (v3)",
                    "select",
                    options=tuple((x, x) for x in ("none", "SHA", "SHA-256", "SHA-512")),
                ),
                Field(
                    "snmp_v3_auth_key",
                    "Authentication key (v3)",
                    "password",
                    "8 characters or more",
                    local=True,
                    secret="snmp_v3_auth_key",
                ),
                Field(
                    "v3_priv_protocol",
                    "Privacy protocol (v3)",
                    "select",
                    options=tuple((x, x) for x in ("none", "AES-128", "AES-256")),
                ),
                Field(
                    "snmp_v3_priv_key",
                    "Privacy key (v3)",
                    "password",
                    "8 characters or more",
                    local=True,
                    secret="snmp_v3_priv_key",
                ),
            ),
        ),
        GroupPage(
            "active_directory",
            "/system/active-directory",
            "Integrations",
            "Let Active Directory accounts sign in to this console: users of a group mapped to Admin sign "
            "in as admin. Local users keep working when Active Directory cannot be reached.",
            (
                Field("enabled", "Enabled", "checkbox"),
                Field("domain", "Domain", help="for example plant.local"),
                Field("servers", "Domain controllers", "lines", "host names or IP addresses, tried in order"),
                Field(
                    "transport",
                    "Connection",
                    "select",
                    options=(
                        ("ldaps", "LDAPS"),
                        ("starttls", "LDAP with StartTLS"),
                        ("plain", "LDAP (unencrypted)"),
                    ),
                ),
                Field("port", "Port", "number", help="636 for LDAPS, 389 for LDAP"),
                Field("base_dn", "Base DN", help="for example DC=plant,DC=local"),
                Field(
                    "bind_dn",
                    "Bind DN",
                    help="the account that looks users up; empty: users bind as user@domain",
                ),
                Field("ad_bind_password", "Bind password", "password", local=True, secret="ad_bind_password"),
                Field(
                    "user_filter", "User filter", help="LDAP filter holding {username}; empty: sAMAccountName"
                ),
                Field("group_roles", "Group roles", "lines", ROLE_HELP),
                Field(
                    "ad_ca_certificate",
                    "CA certificate (PEM)",
                    "pem",
                    "checks the servers' certificates; empty: the system's trust store",
                    local=True,
                    secret="ad_ca_certificate",
                ),
            ),
            test_label="Test connection",
            test_fields=(
                Field(
                    "test_user", "Test user name", help="optional: also sign this user in and show the role"
                ),
                Field("test_password", "Test user password", "password"),
            ),
            to_group=_ad_to_group,
            to_form=_ad_to_form,
        ),
        GroupPage(
            "dns_reverse_lookup",
            "/system/dns",
            "Integrations",
            "Name devices by reverse DNS (PTR) through these servers, for addresses inside these subnets. "
            "Names a device gives itself take precedence.",
            (
                Field("enabled", "Enabled", "checkbox"),
                Field("servers", "DNS servers", "lines", "IP addresses, one a line (at most 3)"),
                Field("port", "Port", "number", help="default 53"),
                Field("subnets", "Subnets", "lines", "CIDR, one a line: only these addresses are looked up"),
                Field("timeout", "Timeout (seconds)", "number", "per query, 0.1-30"),
            ),
            test_label="Test lookup",
            test_fields=(Field("test_ip", "IP address to look up"),),
        ),
        GroupPage(
            "subnets",
            "/system/subnets",
            "Network monitoring",
            "The subnets of the monitored network: addresses inside them are this site's devices (assets); "
            "others are outside hosts. Empty: the private address ranges count as local.",
            (Field("subnets", "Subnets", "lines", "CIDR, one a line (for example 10.1.0.0/16)"),),
            to_group=lambda v: list(v.get("subnets") or []),
            to_form=lambda g: {"subnets": list(g or [])},
        ),
        GroupPage(
            "port_aliases",
            "/system/port-aliases",
            "Network monitoring",
            "Names for server ports, shown instead of the number (Traffic By Port on the Overview).",
            (
                Field(
                    "port_aliases",
                    "Port aliases",
                    "lines",
                    "one a line, PORT = NAME (for example 8080 = historian web)",
                ),
            ),
            to_group=lambda v: parse_alias_lines(str(v.get("port_aliases") or "")),
            to_form=_aliases_to_form,
        ),
    )
}


# ---------------------------------------------------------------- reading the form


def _read(
    page: GroupPage, form: FormData, fields: tuple[Field, ...]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Form -> typed values (not yet the group), and the errors of the inputs themselves."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        raw = form.get(f.name)
        text = raw.strip() if isinstance(raw, str) else ""
        if f.kind == "checkbox":
            values[f.name] = raw == "on"
        elif f.kind == "number":
            try:
                values[f.name] = float(text) if f.name == "timeout" else int(text)
            except ValueError:
                errors[f.name] = f"enter a number, not {text!r}" if text else "enter a number"
        elif f.kind == "lines" and f.name not in ("group_roles", "port_aliases"):
            values[f.name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif f.kind in ("password", "pem"):
            values[f.name] = raw if isinstance(raw, str) else ""
        else:
            values[f.name] = text
        if f.kind == "select" and f.options and values[f.name] not in {o for o, _ in f.options}:
            errors[f.name] = f"choose one of {', '.join(label for _, label in f.options)}"
    return values, errors


def _to_group(page: GroupPage, values: dict[str, Any]) -> Any:
    group_fields = {f.name for f in page.fields if not f.local and not f.secret}
    data = {k: v for k, v in values.items() if k in group_fields}
    return validate(page.group, page.to_group(data))


def _local_values(
    page: GroupPage, values: dict[str, Any], form: FormData
) -> tuple[dict[str, str | None], list[str] | None, dict[str, str]]:
    """The sensor's own secrets (None: remove; absent: keep) and recipients; with their errors."""
    secrets: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for f in page.fields:
        if not f.secret:
            continue
        value = str(values.get(f.name) or "")
        if form.get(f"clear_{f.name}") == "on":
            secrets[f.secret] = None
        elif value:
            if f.kind == "pem":
                if len(value) > MAX_PEM or "-----BEGIN CERTIFICATE-----" not in value:
                    errors[f.name] = "paste a PEM certificate (-----BEGIN CERTIFICATE----- ...)"
                    continue
                import ssl

                try:
                    ssl.create_default_context(cadata=value)
                except ssl.SSLError as exc:
                    errors[f.name] = f"not a usable CA certificate: {exc}"
                    continue
            secrets[f.secret] = value
    recipients: list[str] | None = None
    if page.group == "mail_server":
        recipients = []
        bad: list[str] = []
        for r in values.get("recipients") or []:
            try:
                recipients.append(email_address(r))
            except ValueError as exc:
                bad.append(str(exc))
        if len(recipients) > MAX_RECIPIENTS:
            bad.append(f"at most {MAX_RECIPIENTS} recipients")
        if bad:
            errors["recipients"] = "; ".join(bad)
        recipients = list(dict.fromkeys(recipients))
    return secrets, recipients, errors


# ---------------------------------------------------------------- a stored password, for its server only

#: The stored password of a group, and what names the server it was entered for. Change one of these
#: and the password must be typed again: the test buttons and Save would otherwise hand the stored
#: one (never shown again) to whatever server the form names — one of the reader's own.
SECRET_SERVERS: Final[dict[str, tuple[str, str, tuple[str, ...]]]] = {
    "mail_server": ("mail_password", "mail_ca_certificate", ("address", "port", "ssl", "username")),
    "active_directory": (
        "ad_bind_password",
        "ad_ca_certificate",
        ("servers", "port", "ldaps", "starttls", "bind_dn", "domain"),
    ),
}
SECRET_MOVED: Final = (
    "enter the password again: the stored one was set for another server (address, port, TLS, CA "
    "certificate or account) and is sent only to that one"
)


def _secret_moved(c: SensorConsole, page: GroupPage, group: Any, typed: dict[str, str | None]) -> str | None:
    """The secret's field name when ``group`` names another server than the saved one and the stored
    password would go to it (nothing typed); else None."""
    spec = SECRET_SERVERS.get(page.group)
    if spec is None or not isinstance(group, dict):
        return None
    secret, ca, keys = spec
    if secret in typed or not c.secrets.get().get(secret):
        return None
    if ca in typed:  # another CA trusts another server under the same name (one that intercepts TLS)
        return secret
    if page.group == "mail_server" and not group.get("username"):
        return None  # no authentication: the password is not sent
    saved = c.group_in_force(page.group)
    saved = saved if isinstance(saved, dict) else {}
    if all(saved.get(k) == group.get(k) for k in keys):
        return None
    return secret


# ---------------------------------------------------------------- the page


def _status(c: SensorConsole, page: GroupPage) -> list[str]:
    """What the sensor does with the group now (told under the form)."""
    node = c.host.node
    lines: list[str] = []
    if page.group == "mail_server":
        for r in c.mailer.results()[:5]:
            when = c.fmt_time(r.at)
            lines.append(f"{when}: {'sent' if r.sent else 'not sent'} — {r.subject} ({r.detail})")
        if not lines:
            lines.append("No e-mail sent since the sensor started.")
    elif page.group == "snmp_mib_monitoring":
        if node is None:
            lines.append("Served by the sensor service (otwatch sensor run), not by this console alone.")
        else:
            st = node.snmp.status()
            if st.get("serving"):
                lines.append(f"Serving on UDP port {st.get('port')}.")
            else:
                lines.append(f"Not serving: {st.get('error')}." if st.get("error") else "Off.")
    elif page.group == "dns_reverse_lookup" and node is not None:
        st = node.dns.status()
        if st.get("active"):
            lines.append(
                f"On: {st['queries']} queries, {st['names']} names found, {st['misses']} addresses without a "
                f"name, {st['failures']} unanswered; {st['cached']} addresses cached."
            )
        else:
            lines.append(f"Off{': ' + st['error'] if st.get('error') else ''}.")
    return lines


def _render(
    request: Request,
    c: SensorConsole,
    user: AdminUser,
    page: GroupPage,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    editable = c.host.locally_managed()
    shown = page.to_form(c.group_in_force(page.group))
    if page.group == "mail_server":
        shown["recipients"] = c.store.mail_recipients
    if form is not None:
        shown = {
            **shown,
            **{
                k: v
                for k, v in form.items()
                if not any(f.kind == "password" and f.name == k for f in page.fields + page.test_fields)
            },
        }
    stored = c.secrets.get()
    return c.render(
        request,
        "group_settings.html",
        user,
        status_code,
        active=page.group,
        page=page,
        values=shown,
        secrets_set={f.name for f in page.fields if f.secret and stored.get(f.secret)},
        editable=editable,
        management_mode=c.host.management_mode(),
        errors=extra.pop("errors", {}),
        test_result=extra.pop("test_result", None),
        status=_status(c, page),
        secret_help=SECRETS,
        **extra,
    )


def _make_routes(page: GroupPage) -> None:
    @router.get(page.path, response_class=HTMLResponse, name=f"{page.group}_page")
    def show(request: Request, c: ConsoleDep, user: AdminUser) -> Response:
        return _render(request, c, user, page)

    @router.post(page.path, response_class=HTMLResponse, name=f"{page.group}_save")
    async def save(request: Request, c: ConsoleDep, user: AdminUser) -> Response:
        form = await request.form(max_files=0, max_fields=60, max_part_size=MAX_PEM * 2)
        check_csrf(request, str(form.get("csrf", "")))
        testing = form.get("action") == "test"
        editable = c.host.locally_managed()
        fields = page.fields if editable else tuple(f for f in page.fields if f.local)
        values, errors = _read(page, form, fields + (page.test_fields if testing else ()))
        group: Any = None
        if editable and not errors:
            try:
                group = _to_group(page, values)
            except GroupErrors as exc:
                errors.update(exc.errors)
        if not editable:
            group = c.group_in_force(page.group)
        secrets, recipients, local_errors = _local_values(page, values, form)
        errors.update(local_errors)
        shown = {k: v for k, v in values.items()}
        moved = None if errors else _secret_moved(c, page, group, secrets)
        if moved is not None and not testing:
            errors[moved] = SECRET_MOVED
        if errors:
            return _render(request, c, user, page, shown, 400, errors=errors)
        if moved is not None:
            what = "the bind password" if page.group == "active_directory" else "the password"
            result = TestResult(False, f"Enter {what} to test this server: {SECRET_MOVED.split(': ', 1)[1]}.")
            return _render(request, c, user, page, shown, test_result=result)
        if testing:
            result = await asyncio.to_thread(_run_test, c, page, group, values, secrets, recipients)
            return _render(request, c, user, page, shown, test_result=result)
        for name, value in secrets.items():
            c.secrets.set(name, value)
        if recipients is not None:
            c.store.set_mail_recipients(recipients)
        if editable:
            c.store.set_system_group(page.group, group)
            c.apply_system()
        elif page.group == "snmp_mib_monitoring" and c.host.node is not None:
            c.host.node.snmp.apply(c.host.node.system.snmp_mib_monitoring)  # a new community, at once
        for name, (group_name, _, _) in BOUND_SECRETS.items():
            if group_name == page.group and secrets.get(name):  # typed now: for the server in force
                c.secrets.bind(name, c.group_in_force(page.group))
        flash(
            request, f"{page.title} saved." if editable else f"{page.title}: this sensor's own values saved."
        )
        return redirect(page.path)


for _page in PAGES.values():
    _make_routes(_page)


# ---------------------------------------------------------------- test buttons


@dataclass(frozen=True, slots=True)
class TestResult:
    ok: bool
    message: str


def _secrets_with(
    c: SensorConsole, group_name: str, group: Any, typed: dict[str, str | None]
) -> dict[str, str]:
    """The stored secrets (a password only for the server it is bound to, finding 34), with what was
    typed in the form (unsaved) taking their place."""
    out = dict(c.secrets.for_use({group_name: group}))
    for k, v in typed.items():
        out.pop(k + MOVED, None)
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def _run_test(
    c: SensorConsole,
    page: GroupPage,
    group: Any,
    values: dict[str, Any],
    typed: dict[str, str | None],
    recipients: list[str] | None,
) -> TestResult:
    secrets = _secrets_with(c, page.group, group, typed)
    if group is None and page.group != "mail_server":
        return TestResult(False, f"There are no {page.title} settings to test yet.")
    if page.group == "mail_server":
        to = [t.strip() for t in str(values.get("test_to") or "").replace(",", " ").split() if t.strip()]
        try:
            to = [email_address(t) for t in to]
        except ValueError as exc:
            return TestResult(False, f"Send the test to: {exc}")
        setup = mail_setup(group, recipients or [], secrets)
        if setup is None:
            return TestResult(False, "Enter the SMTP server address first.")
        try:
            sent_to, notes = c.mailer.test(to or None, setup)
        except MailError as exc:
            return TestResult(False, f"The test e-mail was not sent: {exc}.")
        return TestResult(
            True, f"Test e-mail sent to {', '.join(sent_to)}." + "".join(f" Note: {n}." for n in notes)
        )
    if page.group == "active_directory":
        return _test_ad(
            group, secrets, str(values.get("test_user") or ""), str(values.get("test_password") or "")
        )
    if page.group == "dns_reverse_lookup":
        return _test_dns(group, str(values.get("test_ip") or ""))
    return TestResult(False, "This page has no test.")


def _test_ad(group: dict[str, Any], secrets: dict[str, str], user: str, password: str) -> TestResult:
    try:
        cfg = adauth.AdConfig.from_settings({**group, "enabled": True}, secrets)
    except ValueError as exc:
        return TestResult(False, f"The settings cannot be used: {exc}.")
    assert cfg is not None
    if cfg.bind_dn and secrets.get("ad_bind_password" + MOVED):
        return TestResult(False, f"Active Directory cannot be used: {secrets['ad_bind_password' + MOVED]}.")
    if user:
        try:
            found = adauth.authenticate(cfg, user, password)
        except adauth.AdRefused as exc:
            return TestResult(False, str(exc))
        except adauth.AdUnavailable as exc:
            return TestResult(False, f"Active Directory cannot be used: {exc}.")
        if found is None:
            return TestResult(False, f"{user}: unknown user or wrong password.")
        return TestResult(True, f"{found.username} signed in ({found.dn}); role {found.role}.")
    try:
        note = adauth.check_connection(cfg)
    except adauth.AdUnavailable as exc:
        return TestResult(False, f"Active Directory cannot be used: {exc}.")
    return TestResult(True, note)


def _test_dns(group: dict[str, Any], ip: str) -> TestResult:
    try:
        addr = str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return TestResult(False, f"IP address to look up: {ip.strip()!r} is not an IP address.")
    cfg = LookupConfig.from_settings({**group, "enabled": True})
    if not cfg.servers:
        return TestResult(False, "Enter at least one DNS server.")
    try:
        name = ptr_query(addr, cfg)
    except TimeoutError:
        return TestResult(False, f"No DNS server answered ({', '.join(cfg.servers)}, port {cfg.port}).")
    if name is None:
        return TestResult(False, f"{addr} has no name (no PTR record) on {', '.join(cfg.servers)}.")
    inside = not cfg.subnets or any(ipaddress.ip_address(addr) in n for n in cfg.subnets)
    return TestResult(
        True,
        f"{addr} is {name}."
        + (
            "" if inside else " Note: the address is outside the subnets, so devices there are not looked up."
        ),
    )


__all__ = ["PAGES", "TestResult", "router"]
