"""Mail server settings, and sending through the SMTP session the sensor uses too
(:mod:`otwatch.wire.smtp`: plain, STARTTLS or implicit TLS; AUTH; what happens with NTLM).
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from otwatch.console.credentials.vault import Vault, VaultError
from otwatch.console.db import utcnow
from otwatch.console.forwarding.senders import SendError
from otwatch.console.mail.models import MailServer
from otwatch.wire import smtp


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


#: What names the server the stored password was entered for (finding 31, as finding 24 on the
#: sensor): change one and the password must be typed again, or Save and Send test email would hand
#: the stored one (never shown again) to whatever server the form names. Verification off or another
#: CA lets a reader's certificate stand in for the same name; ``authentication`` is here so that a
#: save with it off (the password not sent) cannot carry the password to a new server for later.
SERVER_IDENTITY: tuple[str, ...] = (
    "host",
    "port",
    "security",
    "verify_tls",
    "ca_pem",
    "username",
    "authentication",
)
PASSWORD_AGAIN = (
    "enter the password again: the stored one was set for another server (address, port, SSL, "
    "certificate checks, CA certificate or account) and is sent only to that one"
)


def password_moved(row: MailServer | None, values: dict[str, object], password: str | None) -> bool:
    """True when ``values`` name another server than ``row`` and the stored password would go with it
    (nothing typed). With authentication off the password is not sent, so it may stay."""
    if password is not None or row is None or row.password is None:
        return False
    if not values.get("authentication", row.authentication):
        return False
    return any(k in values and values[k] != getattr(row, k) for k in SERVER_IDENTITY)


def save(
    db: Session, vault: Vault, actor: str, values: dict[str, object], password: str | None
) -> MailServer:
    """Store the settings; ``password=None`` keeps the stored one, ``""`` clears it.

    Raises MailError (nothing stored) when the stored password would move to another server."""
    row = get_row(db)
    if password_moved(row, values, password):
        raise MailError(PASSWORD_AGAIN, permanent=True)
    if row is None:
        row = MailServer(id=1)
        db.add(row)
    for k, v in values.items():
        setattr(row, k, v)
    if password is not None:
        row.password = vault.seal({"password": password}) if password else None
    row.updated_by, row.updated_at = actor, utcnow()
    return row


def _server(cfg: MailConfig) -> smtp.SmtpServer:
    return smtp.SmtpServer(
        host=cfg.host,
        port=cfg.port,
        security=cfg.security,
        verify_tls=cfg.verify_tls,
        ca_pem=cfg.ca_pem,
        authenticate=cfg.authentication,
        username=cfg.username,
        password=cfg.password,
        ntlm=cfg.ntlm,
    )


def _converse(
    cfg: MailConfig, timeout: float, sender: str, action: Callable[[smtplib.SMTP], list[str]]
) -> list[str]:
    """One SMTP session (:func:`otwatch.wire.smtp.converse`); its errors become MailError, which the
    delivery worker knows (permanent ones are not retried)."""
    try:
        return smtp.converse(_server(cfg), timeout, sender, action)
    except smtp.SmtpError as exc:
        raise MailError(str(exc), permanent=exc.permanent) from exc


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
    return _converse(cfg, timeout, sender, smtp.deliver(msg, sender, to))


def check_server(cfg: MailConfig, *, timeout: float) -> list[str]:
    """Connect, greet, start TLS and sign in as a delivery would, then quit without sending.

    Why: a settings form's "Test connection" must fail for the same reasons a real delivery would."""
    return _converse(cfg, timeout, cfg.from_address or f"otwatch@{socket.getfqdn()}", smtp.noop)


build_message = smtp.build_message
