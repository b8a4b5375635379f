"""Mail server settings and sending through smtplib (plain, STARTTLS or implicit TLS; AUTH).

NTLM: Python's smtplib implements AUTH CRAM-MD5, PLAIN and LOGIN only. With the NTLM option set the
console says so plainly: it authenticates with one of those when the server also offers it (and
reports the fallback), and refuses with a clear error when the server offers NTLM alone.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy.orm import Session

from otwatch.console.credentials.vault import Vault, VaultError
from otwatch.console.db import utcnow
from otwatch.console.forwarding.senders import SendError, tls_context
from otwatch.console.mail.models import MailServer

SMTPLIB_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")  # what smtplib.SMTP.login can do
NTLM_UNSUPPORTED = "NTLM authentication is not supported by Python's smtplib"


class MailError(SendError):
    pass


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int = 25
    from_address: str = ""
    security: str = "none"  # none | starttls | ssl
    verify_tls: bool = True
    ca_pem: str | None = None
    authentication: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    ntlm: bool = False


def get_row(db: Session) -> MailServer | None:
    return db.get(MailServer, 1)


def load_config(db: Session, vault: Vault) -> MailConfig | None:
    """The mail server as senders need it (password decrypted), or None when none is set up."""
    row = get_row(db)
    if row is None or not row.host:
        return None
    password = ""
    if row.password:
        try:
            password = str(vault.open(row.password).get("password", ""))
        except VaultError as exc:
            raise MailError(f"the mail server password cannot be decrypted: {exc}") from exc
    return MailConfig(
        host=row.host,
        port=row.port,
        from_address=row.from_address,
        security=row.security,
        verify_tls=row.verify_tls,
        ca_pem=row.ca_pem,
        authentication=row.authentication,
        username=row.username,
        password=password,
        ntlm=row.ntlm,
    )


def save(
    db: Session, vault: Vault, actor: str, values: dict[str, object], password: str | None
) -> MailServer:
    """Store the settings; ``password=None`` keeps the stored one, ``""`` clears it."""
    row = get_row(db)
    if row is None:
        row = MailServer(id=1)
        db.add(row)
    for k, v in values.items():
        setattr(row, k, v)
    if password is not None:
        row.password = vault.seal({"password": password}) if password else None
    row.updated_by, row.updated_at = actor, utcnow()
    return row


def _auth_mechanisms(server: smtplib.SMTP) -> list[str]:
    return server.esmtp_features.get("auth", "").upper().split()


def _login(server: smtplib.SMTP, cfg: MailConfig) -> list[str]:
    """Authenticate; return notes for the operator (e.g. the NTLM fallback)."""
    notes: list[str] = []
    offered = _auth_mechanisms(server)
    if not server.has_extn("auth"):
        raise MailError(
            f"the mail server {cfg.host}:{cfg.port} does not offer authentication (no AUTH in EHLO)"
            + ("; it may require STARTTLS first" if cfg.security == "none" else ""),
            permanent=True,
        )
    usable = [m for m in SMTPLIB_MECHANISMS if m in offered]
    if cfg.ntlm or "NTLM" in offered:
        if not usable:
            raise MailError(
                f"the mail server offers only {', '.join(offered) or 'no'} authentication; "
                f"{NTLM_UNSUPPORTED} (it implements {', '.join(SMTPLIB_MECHANISMS)}). "
                "Enable AUTH LOGIN or PLAIN (over TLS) on the server, or relay without authentication",
                permanent=True,
            )
        if cfg.ntlm:
            notes.append(f"{NTLM_UNSUPPORTED}; authenticated with AUTH {usable[0]} instead")
    elif not usable:
        raise MailError(
            f"the mail server offers AUTH {' '.join(offered)}, none of which Python's smtplib supports",
            permanent=True,
        )
    try:
        server.login(cfg.username, cfg.password)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"authentication failed for {cfg.username!r}: {_smtp_text(exc)}") from exc
    return notes


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    """What the server answered; a reply that is not SMTP is not repeated (a test of a mail server must
    not read the banners of other services: SSH, databases)."""
    if not 100 <= exc.smtp_code < 600:
        return "a reply that is not SMTP"
    msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
    return f"{exc.smtp_code} {msg}".strip()


def send_mail(
    cfg: MailConfig,
    to: list[str],
    subject: str,
    body: str,
    *,
    timeout: float,
    message_id: str | None = None,
) -> list[str]:
    """Send one plain-text email; return notes. Raises MailError saying what the server said."""
    if not to:
        raise MailError("no recipients", permanent=True)
    sender = cfg.from_address or f"otwatch@{socket.getfqdn()}"
    msg = build_message(sender, to, subject, body, message_id)

    def deliver(server: smtplib.SMTP) -> list[str]:
        refused = server.send_message(msg, from_addr=sender, to_addrs=to)
        if refused:
            return ["refused recipients: " + ", ".join(f"{k} ({v[0]})" for k, v in refused.items())]
        return []

    return _converse(cfg, timeout, sender, deliver)


def check_server(cfg: MailConfig, *, timeout: float) -> list[str]:
    """Connect, greet, start TLS and sign in as a delivery would, then quit without sending.

    Why: a settings form's "Test connection" must fail for the same reasons a real delivery would."""
    sender = cfg.from_address or f"otwatch@{socket.getfqdn()}"

    def noop(server: smtplib.SMTP) -> list[str]:
        code, text = server.noop()
        if code != 250:
            raise smtplib.SMTPResponseException(code, text)
        return []

    return _converse(cfg, timeout, sender, noop)


def _converse(
    cfg: MailConfig, timeout: float, sender: str, action: Callable[[smtplib.SMTP], list[str]]
) -> list[str]:
    """One SMTP session (TLS and AUTH as configured) running ``action``; errors become MailError."""
    where = f"{cfg.host}:{cfg.port}"
    notes: list[str] = []
    ctx: ssl.SSLContext | None = None
    if cfg.security in ("ssl", "starttls"):
        ctx = tls_context(cfg.verify_tls, cfg.ca_pem)
    try:
        server: smtplib.SMTP
        if cfg.security == "ssl":
            server = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=timeout, context=ctx)
        else:
            server = smtplib.SMTP(cfg.host, cfg.port, timeout=timeout)
        with server:
            server.ehlo()
            if cfg.security == "starttls":
                if not server.has_extn("starttls"):
                    raise MailError(f"the mail server {where} does not offer STARTTLS", permanent=True)
                server.starttls(context=ctx)
                server.ehlo()
            if cfg.authentication:
                notes += _login(server, cfg)
            notes += action(server)
    except MailError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        detail = "; ".join(f"{k}: {c} {m.decode(errors='replace')}" for k, (c, m) in exc.recipients.items())
        raise MailError(f"the mail server {where} refused all recipients ({detail})", permanent=True) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(f"the mail server {where} refused the sender {sender}: {_smtp_text(exc)}") from exc
    except smtplib.SMTPResponseException as exc:
        if not 100 <= exc.smtp_code < 600:
            raise MailError(f"{where} answered, but not as a mail server", permanent=True) from exc
        raise MailError(f"the mail server {where} answered {_smtp_text(exc)}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise MailError(f"TLS with {where}: certificate verification failed: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise MailError(f"TLS with {where} failed: {exc}") from exc
    except smtplib.SMTPException as exc:
        raise MailError(f"SMTP with {where} failed: {exc}") from exc
    except TimeoutError as exc:
        raise MailError(f"the mail server {where} did not answer within {timeout:g} s") from exc
    except OSError as exc:
        raise MailError(f"cannot connect to the mail server {where}: {exc.strerror or exc}") from exc
    return notes


def build_message(
    sender: str, to: list[str], subject: str, body: str, message_id: str | None = None
) -> EmailMessage:
    """The plain-text message. The subject is one line: line breaks and other control characters
    (from an alert title a sensor chose) become spaces, so the message is always sent."""
    msg = EmailMessage()
    clean = " ".join(
        "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in subject).split()
    )
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), clean
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain="otwatch")
    msg.set_content(body)
    return msg
