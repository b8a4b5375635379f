"""One SMTP session for every e-mail OTWatch sends: the console's notifications and setting tests,
and the sensor's own mail. Both parts called the same smtplib dance with the same error wording; it
lives here, below both, so a fix to TLS, AUTH or an error message reaches both.

Transport: :mod:`smtplib` — plain, STARTTLS or implicit TLS; certificates checked against the system
roots or a given CA. NTLM: smtplib implements AUTH CRAM-MD5, PLAIN and LOGIN only. With the NTLM option
set a session authenticates with one of those when the server also offers it (and says so in its
notes), and refuses with a clear error when the server offers NTLM alone.

Errors are :class:`SmtpError`; ``permanent`` ones (refusals, a wrong password, a certificate that does
not verify) are not worth retrying: the next try meets the same answer, and repeated failed sign-ins
can lock a directory account.
"""

from __future__ import annotations

import smtplib
import ssl
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Final

from otwatch.wire.tls import tls_context

SMTPLIB_MECHANISMS: Final = ("CRAM-MD5", "PLAIN", "LOGIN")  # what smtplib.SMTP.login can do
NTLM_UNSUPPORTED: Final = "NTLM authentication is not supported by Python's smtplib"


class SmtpError(Exception):
    """An SMTP session failed; ``permanent`` when trying again cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach a mail server."""

    host: str
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    verify_tls: bool = True
    ca_pem: str | None = None
    authenticate: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    ntlm: bool = False

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_text(exc: smtplib.SMTPResponseException) -> str:
    """What the server answered; a reply that is not SMTP is not repeated (a test of a mail server must
    not read the banners of other services: SSH, databases)."""
    if not 100 <= exc.smtp_code < 600:
        return "a reply that is not SMTP"
    msg = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
    return f"{exc.smtp_code} {msg}".strip()


def login(server: smtplib.SMTP, cfg: SmtpServer) -> list[str]:
    """Authenticate; return notes for the operator (e.g. the NTLM fallback)."""
    if not server.has_extn("auth"):
        raise SmtpError(
            f"the mail server {cfg.where} does not offer authentication (no AUTH in EHLO)"
            + ("; it may require STARTTLS first" if cfg.security == "none" else ""),
            permanent=True,
        )
    offered = server.esmtp_features.get("auth", "").upper().split()
    usable = [m for m in SMTPLIB_MECHANISMS if m in offered]
    if not usable:
        raise SmtpError(
            f"the mail server offers only {', '.join(offered) or 'no'} authentication; "
            + (f"{NTLM_UNSUPPORTED} " if "NTLM" in offered or cfg.ntlm else "")
            + f"(it implements {', '.join(SMTPLIB_MECHANISMS)}). "
            "Enable AUTH LOGIN or PLAIN (over TLS) on the server, or relay without authentication",
            permanent=True,
        )
    notes = [f"{NTLM_UNSUPPORTED}; authenticated with AUTH {usable[0]} instead"] if cfg.ntlm else []
    try:
        server.login(cfg.username, cfg.password)
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpError(
            f"authentication failed for {cfg.username!r}: {smtp_text(exc)}", permanent=True
        ) from exc
    return notes


def converse(
    cfg: SmtpServer, timeout: float, sender: str, action: Callable[[smtplib.SMTP], list[str]]
) -> list[str]:
    """One SMTP session (TLS and AUTH as configured) running ``action``; returns the operator notes.
    Every failure becomes an :class:`SmtpError` that says where and what."""
    where = cfg.where
    notes: list[str] = []
    ctx = tls_context(cfg.verify_tls, cfg.ca_pem) if cfg.security in ("ssl", "starttls") else None
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
                    raise SmtpError(f"the mail server {where} does not offer STARTTLS", permanent=True)
                server.starttls(context=ctx)
                server.ehlo()
            if cfg.authenticate:
                notes += login(server, cfg)
            notes += action(server)
    except SmtpError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        detail = "; ".join(f"{k}: {c} {m.decode(errors='replace')}" for k, (c, m) in exc.recipients.items())
        raise SmtpError(f"the mail server {where} refused all recipients ({detail})", permanent=True) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise SmtpError(
            f"the mail server {where} refused the sender {sender}: {smtp_text(exc)}",
            permanent=500 <= exc.smtp_code < 600,
        ) from exc
    except smtplib.SMTPResponseException as exc:
        if not 100 <= exc.smtp_code < 600:
            raise SmtpError(f"{where} answered, but not as a mail server", permanent=True) from exc
        raise SmtpError(
            f"the mail server {where} answered {smtp_text(exc)}", permanent=500 <= exc.smtp_code < 600
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        raise SmtpError(
            f"TLS with {where}: certificate verification failed: {exc.verify_message}", permanent=True
        ) from exc
    except ssl.SSLError as exc:
        raise SmtpError(f"TLS with {where} failed: {exc}") from exc
    except smtplib.SMTPException as exc:
        raise SmtpError(f"SMTP with {where} failed: {exc}") from exc
    except TimeoutError as exc:
        raise SmtpError(f"the mail server {where} did not answer within {timeout:g} s") from exc
    except OSError as exc:
        raise SmtpError(f"cannot connect to the mail server {where}: {exc.strerror or exc}") from exc
    return notes


def deliver(msg: EmailMessage, sender: str, to: Sequence[str]) -> Callable[[smtplib.SMTP], list[str]]:
    """The :func:`converse` action that sends ``msg``; recipients the server refused become a note."""

    def send(server: smtplib.SMTP) -> list[str]:
        refused = server.send_message(msg, from_addr=sender, to_addrs=list(to))
        if refused:
            return ["refused recipients: " + ", ".join(f"{k} ({v[0]})" for k, v in refused.items())]
        return []

    return send


def noop(server: smtplib.SMTP) -> list[str]:
    """The :func:`converse` action of a connection test: greet, TLS and sign in, send nothing."""
    code, text = server.noop()
    if code != 250:
        raise smtplib.SMTPResponseException(code, text)
    return []


def build_message(
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    message_id: str | None = None,
    domain: str = "otwatch",
) -> EmailMessage:
    """The plain-text message. The subject is one line: line breaks and other control characters
    (from an alert title a sensor chose) become spaces, so the message is always sent."""
    msg = EmailMessage()
    clean = " ".join(
        "".join(" " if unicodedata.category(c)[0] in "CZ" and c != " " else c for c in subject).split()
    )
    msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), clean
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain=domain)
    msg.set_content(body)
    return msg
