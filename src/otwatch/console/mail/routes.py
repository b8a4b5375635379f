"""System Settings > Mail server: address, port, outgoing account, SSL, authentication, NTLM, Send test email."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from otwatch.console.audit import service as audit
from otwatch.console.deps import CtxDep, SessionDep, SettingsAdmin, Viewer
from otwatch.console.errors import conflict, invalid
from otwatch.console.forwarding.schemas import EMAIL_PATTERN, TestResult, check_ca_pem
from otwatch.console.mail import service
from otwatch.console.mail.models import MailServer

router = APIRouter(prefix="/api/v1/mail", tags=["mail"])


class MailSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str = Field(min_length=1, max_length=255, description="mail server address")
    port: int = Field(default=25, ge=1, le=65535)
    from_address: str = Field(
        max_length=320, pattern=EMAIL_PATTERN, description="the outgoing account (From address)"
    )
    security: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="SSL: none, STARTTLS on the plain port, or implicit TLS (port 465)"
    )
    verify_tls: bool = True
    ca_pem: str | None = Field(default=None, max_length=20_000, description="CA to verify the server with")
    authentication: bool = False
    username: str = Field(default="", max_length=320)
    password: str | None = Field(
        default=None,
        max_length=1000,
        description="omit to keep the stored password (only while the server, port, SSL, certificate "
        "checks, CA and account stay the same: another server needs it typed again); empty clears it",
    )
    ntlm: bool = Field(
        default=False,
        description="the server expects NTLM; Python's smtplib cannot do NTLM, so LOGIN/PLAIN is used "
        "when the server also offers it, and sending fails with a clear error otherwise",
    )

    _ca = field_validator("ca_pem")(check_ca_pem)


class MailSettingsOut(BaseModel):
    configured: bool
    host: str = ""
    port: int = 25
    from_address: str = ""
    security: str = "none"
    verify_tls: bool = True
    ca_pem: str | None = None
    authentication: bool = False
    username: str = ""
    has_password: bool = False
    ntlm: bool = False
    ntlm_supported: bool = False  # always False: said plainly rather than pretended
    updated_by: str | None = None
    updated_at: datetime | None = None


class MailTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(max_length=320, pattern=EMAIL_PATTERN)


def settings_out(row: MailServer | None) -> MailSettingsOut:
    if row is None or not row.host:
        return MailSettingsOut(configured=False)
    return MailSettingsOut(
        configured=True,
        host=row.host,
        port=row.port,
        from_address=row.from_address,
        security=row.security,
        verify_tls=row.verify_tls,
        ca_pem=row.ca_pem,
        authentication=row.authentication,
        username=row.username,
        has_password=row.password is not None,
        ntlm=row.ntlm,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


@router.get("", response_model=MailSettingsOut)
def get_settings(_: Viewer, db: SessionDep) -> MailSettingsOut:
    return settings_out(service.get_row(db))


@router.put("", response_model=MailSettingsOut)
def put_settings(body: MailSettingsIn, p: SettingsAdmin, ctx: CtxDep, db: SessionDep) -> MailSettingsOut:
    values = body.model_dump(exclude={"password"})
    try:
        row = service.save(db, ctx.vault, p.actor, values, body.password)
    except service.MailError as exc:  # the stored password is bound to its server (finding 31)
        raise invalid(str(exc), [{"field": "password"}]) from exc
    audit.record(
        db,
        p.actor,
        "mail.updated",
        body.host,
        port=body.port,
        security=body.security,
        authentication=body.authentication,
        ntlm=body.ntlm,
        password_changed=body.password is not None,
    )
    db.commit()
    return settings_out(row)


@router.post("/test", response_model=TestResult)
async def send_test_email(body: MailTestIn, p: SettingsAdmin, ctx: CtxDep) -> TestResult:
    """Send test email: the result says what the SMTP server answered when it fails."""

    def run() -> TestResult:
        with ctx.db.session() as db:
            cfg = service.load_config(db, ctx.vault)
            if cfg is None:
                raise conflict("set up the mail server first")
            audit.record(db, p.actor, "mail.test", body.to)
        try:
            notes = service.send_mail(
                cfg,
                [body.to],
                "[OTWatch] Test email",
                "This is a test email from the OTWatch console.\n\n"
                f"Mail server: {cfg.host}:{cfg.port} ({cfg.security})\n",
                timeout=ctx.settings.delivery_timeout,
            )
        except service.MailError as exc:
            return TestResult(ok=False, detail=str(exc))
        return TestResult(ok=True, detail=f"test email sent to {body.to}", notes=notes)

    return await run_in_threadpool(run)
