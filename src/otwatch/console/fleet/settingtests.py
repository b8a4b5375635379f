"""The test buttons of a sensor's settings forms: reach the servers the form names, from the console.

Why from the console and not as a command to the sensor: the sensor has no handler for such a test,
a command waits for the sensor's next long-poll and cannot run on a sensor that is offline or not
installed yet, which is when its settings are usually filled in. The console's network view can
differ from the sensor's (a firewall between the sensor's management port and the server), so the
form and every answer say where the test ran.

The secrets given for a test (mail or bind password, CA certificate) are used for that test only:
never stored, returned or audited.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Final

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import ldap3
from ldap3.core import exceptions as ldap_errors

from otwatch.console.fleet.schemas import (
    SensorConfigIn,
    SettingTestIn,
)
from otwatch.console.forwarding.schemas import TestResult
from otwatch.console.mail import service as mail
from otwatch.wire.settings import (
    ActiveDirectorySettings,
    DnsReverseLookupSettings,
    MailServerSettings,
)

__all__ = ["WHERE", "check_ad", "check_dns", "check_mail", "run_check", "targets"]

#: Said with every answer: the console ran the test, not the sensor.
WHERE: Final = "tested from the console; the sensor connects from its own management port"
AD_TIMEOUT: Final = 5.0


def targets(values: SensorConfigIn) -> list[str]:
    """The servers a test reaches (host:port), for its audit entry: a test is a connection from the
    console to an address an Admin chose, so the log says which."""
    if values.mail_server is not None:
        return [f"{values.mail_server.address}:{values.mail_server.port}"]
    if values.active_directory is not None:
        return [f"{h}:{values.active_directory.port}" for h in values.active_directory.servers]
    if values.dns_reverse_lookup is not None:
        port = values.dns_reverse_lookup.port
        return [f"[{h}]:{port}" if ":" in h else f"{h}:{port}" for h in values.dns_reverse_lookup.servers]
    return []


def run_check(group: str, values: SensorConfigIn, body: SettingTestIn, mail_timeout: float) -> TestResult:
    """Run the test of ``group`` with the (validated) form values."""
    if group == "mail_server" and values.mail_server is not None:
        return check_mail(values.mail_server, body, mail_timeout)
    if group == "active_directory" and values.active_directory is not None:
        return check_ad(values.active_directory, body)
    if group == "dns_reverse_lookup" and values.dns_reverse_lookup is not None:
        return check_dns(values.dns_reverse_lookup, body)
    raise ValueError(f"no test for {group}")


def check_mail(s: MailServerSettings, body: SettingTestIn, timeout: float) -> TestResult:
    """Connect (TLS and sign-in as set) and, with a recipient, send a test email."""
    notes = [WHERE]
    sign_in = bool(s.username) and bool(body.password)
    if s.username and not body.password:
        notes.append("sign-in not tested: enter the account's password to test it")
    cfg = mail.MailConfig(
        host=s.address,
        port=s.port,
        from_address=s.sender,
        security=s.ssl,
        authentication=sign_in,
        username=s.username,
        password=body.password or "",
        ntlm=s.ntlm,
    )
    where = f"{s.address}:{s.port}"
    try:
        if body.to:
            notes += mail.send_mail(
                cfg,
                [body.to],
                "[OTWatch] Test email for a sensor's mail server",
                "This is a test email of the mail server settings of an OTWatch sensor.\n\n"
                f"Mail server: {where} ({s.ssl})\nSent by the console: the sensor sends from its own "
                "management port.\n",
                timeout=timeout,
            )
            detail = f"test email sent to {body.to} through {where}"
        else:
            notes += mail.check_server(cfg, timeout=timeout)
            detail = f"connected to {where}" + (f" and signed in as {s.username}" if sign_in else "")
    except mail.MailError as exc:
        return TestResult(ok=False, detail=str(exc), notes=notes)
    return TestResult(ok=True, detail=detail, notes=notes)


def check_ad(s: ActiveDirectorySettings, body: SettingTestIn) -> TestResult:
    """Bind to every server in turn as the bind DN (or user@domain) and look the base DN up."""
    if not s.servers:
        return TestResult(ok=False, detail="enter at least one server to test")
    if s.bind_dn:
        user = s.bind_dn
    elif body.username.strip():
        name = body.username.strip()
        user = f"{name}@{s.domain}" if s.domain and "@" not in name else name
    else:
        return TestResult(ok=False, detail="enter a bind DN, or an account to bind with, to test")
    if not body.password:
        return TestResult(ok=False, detail="enter the password to bind with (used for this test only)")
    lines: list[str] = []
    failed = 0
    for host in s.servers:
        ok, line = _bind(s, host, user, body.password, body.ca_pem)
        failed += not ok
        lines.append(line)
    summary = (
        f"bound to all {len(s.servers)} server(s) as {user}"
        if not failed
        else f"{failed} of {len(s.servers)} server(s) failed"
    )
    return TestResult(ok=not failed, detail=summary, notes=[*lines, WHERE])


def _bind(
    s: ActiveDirectorySettings, host: str, user: str, password: str, ca_pem: str | None
) -> tuple[bool, str]:
    where = f"{host}:{s.port}"
    transport = "LDAPS" if s.ldaps else "StartTLS" if s.starttls else "LDAP"
    tls = None
    if s.ldaps or s.starttls:
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED, version=ssl.PROTOCOL_TLS_CLIENT, ca_certs_data=ca_pem or None
        )
    server = ldap3.Server(
        host, port=s.port, use_ssl=s.ldaps, tls=tls, get_info=ldap3.NONE, connect_timeout=AD_TIMEOUT
    )
    conn = ldap3.Connection(
        server, user=user, password=password, receive_timeout=round(AD_TIMEOUT), raise_exceptions=False
    )
    try:
        conn.open()
        if s.starttls and not conn.start_tls():
            return False, f"{where}: StartTLS refused: {conn.result.get('description')}"
        if not conn.bind():
            result = conn.result or {}
            why = result.get("description") or "refused"
            if result.get("result") == 49:
                why = "invalid credentials"
            return False, f"{where} ({transport}): bind as {user} refused: {why}"
        if s.base_dn:
            conn.search(s.base_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[])
            if not conn.entries:
                return False, f"{where} ({transport}): bound, but the base DN {s.base_dn} was not found"
            return True, f"{where} ({transport}): bound as {user}; base DN {s.base_dn} found"
        return True, f"{where} ({transport}): bound as {user}"
    except ldap_errors.LDAPException as exc:
        return False, f"{where} ({transport}): {exc}"
    finally:
        if conn.bound or not conn.closed:
            conn.unbind()


def _default_lookup(s: DnsReverseLookupSettings) -> str | None:
    """The first address of the first subnet to resolve: what the sensor would ask first."""
    if not s.subnets:
        return None
    net = ipaddress.ip_network(s.subnets[0], strict=False)
    return str(next(iter(net.hosts()), net.network_address))


def check_dns(s: DnsReverseLookupSettings, body: SettingTestIn) -> TestResult:
    """Ask every server for the PTR of an address (or A/AAAA of a name); each must answer."""
    if not s.servers:
        return TestResult(ok=False, detail="enter at least one DNS server to test")
    target = body.lookup or _default_lookup(s)
    if target is None:
        return TestResult(ok=False, detail="enter an address or name to look up, or a subnet to resolve")
    try:
        ipaddress.ip_address(target)
        qname, rdtypes = dns.reversename.from_address(target), [dns.rdatatype.PTR]
    except ValueError:
        qname, rdtypes = dns.name.from_text(target), [dns.rdatatype.A, dns.rdatatype.AAAA]
    lines: list[str] = []
    failed = 0
    for server in s.servers:
        ok, line = _ask(server, s.port, s.timeout, qname, rdtypes, target)
        failed += not ok
        lines.append(line)
    summary = (
        f"all {len(s.servers)} DNS server(s) answered for {target}"
        if not failed
        else f"{failed} of {len(s.servers)} DNS server(s) did not answer for {target}"
    )
    return TestResult(ok=not failed, detail=summary, notes=[*lines, WHERE])


def _ask(
    server: str,
    port: int,
    timeout: float,
    qname: dns.name.Name,
    rdtypes: list[dns.rdatatype.RdataType],
    target: str,
) -> tuple[bool, str]:
    where = f"{server}:{port}" if ":" not in server else f"[{server}]:{port}"
    found: list[str] = []
    for rdtype in rdtypes:
        try:
            resp, _tcp = dns.query.udp_with_fallback(
                dns.message.make_query(qname, rdtype), server, timeout=timeout, port=port
            )
        except (dns.exception.DNSException, OSError) as exc:
            return False, f"{where}: no answer within {timeout:g} s ({exc.__class__.__name__}: {exc})"
        rcode = resp.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return True, f"{where}: answered, no name for {target} (NXDOMAIN)"
        if rcode != dns.rcode.NOERROR:
            return False, f"{where}: answered {dns.rcode.to_text(rcode)}"
        for rrset in resp.answer:
            if rrset.rdtype == rdtype:
                found += [r.to_text().rstrip(".") for r in rrset]
    if not found:
        return True, f"{where}: answered, no record for {target}"
    return True, f"{where}: {target} → {', '.join(found)}"
