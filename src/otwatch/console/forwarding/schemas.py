"""API shapes of forwarding rules, deliveries and test results."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, field_validator

from otwatch.inventory.vocabulary import EngineName, SeverityName

EMAIL_PATTERN = r"^[^@\s<>,;]+@[^@\s<>,;]+$"
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding", "connection"}
MASK = "********"


def redact_url(url: str) -> str:
    """A URL as anyone may see it: scheme, host and port; user info, path and query (where webhook
    receivers put their tokens) masked."""
    try:
        u = urlsplit(url)
        host = u.hostname or ""
        port = u.port
    except ValueError:
        return MASK
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{MASK}@" if u.username or u.password else "") + host + (f":{port}" if port else "")
    path = f"/{MASK}" if u.path not in ("", "/") else u.path
    query = f"?{MASK}" if u.query else ""
    return f"{u.scheme}://{netloc}{path}{query}"


def redact_text(text: str, url: str) -> str:
    """``text`` (an error, a log line) with ``url`` and the secrets in it replaced by the redacted URL."""
    if not url:
        return text
    safe = redact_url(url)
    text = text.replace(url, safe)
    try:
        u = urlsplit(url)
    except ValueError:
        return text
    for secret in (u.password, u.path if u.path not in ("", "/") else None, u.query):
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


Severity = SeverityName


def check_ca_pem(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        x509.load_pem_x509_certificates(value.encode())
    except ValueError as exc:
        raise ValueError("ca_pem is not a PEM certificate") from exc
    return value


class EmailAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["email"]
    to: list[Annotated[str, Field(max_length=320, pattern=EMAIL_PATTERN)]] = Field(
        min_length=1, max_length=50
    )


class SyslogAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["syslog"]
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=514, ge=1, le=65535)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    format: Literal["rfc5424", "cef", "leef"] = "cef"
    facility: int = Field(default=16, ge=0, le=23, description="syslog facility; 16 is local0")
    verify_tls: bool = True
    ca_pem: str | None = Field(default=None, max_length=20_000)

    _ca = field_validator("ca_pem")(check_ca_pem)


class WebhookAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["webhook"]
    url: str = Field(max_length=2000, description="https:// URL the JSON event is POSTed to")
    headers: dict[str, Annotated[str, Field(max_length=4000)]] = Field(
        default_factory=dict, description="extra headers (kept encrypted; shown masked)"
    )
    verify_tls: bool = True
    ca_pem: str | None = Field(default=None, max_length=20_000, description="CA the receiver's cert is from")

    _ca = field_validator("ca_pem")(check_ca_pem)

    @field_validator("url")
    @classmethod
    def _https(cls, v: str) -> str:
        try:
            url = httpx.URL(v)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from exc
        if url.scheme != "https" or not url.host:
            raise ValueError("webhooks are sent over HTTPS: give an https:// URL")
        return v

    @field_validator("headers")
    @classmethod
    def _headers(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 20:
            raise ValueError("at most 20 headers")
        for name, value in v.items():
            if not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} cannot be set")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} has a line break")
        return v


Action = Annotated[EmailAction | SyslogAction | WebhookAction, Field(discriminator="type")]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    report_alerts: bool = True
    report_system_notifications: bool = Field(
        default=False, description="also forward system notifications (e.g. a sensor disconnected)"
    )
    report_vulnerabilities: bool = Field(
        default=False,
        description="forward new vulnerability matches (an advisory import or a new asset identity)",
    )
    severities: list[Severity] = Field(default_factory=list, description="empty: any severity")
    engines: list[EngineName] = Field(default_factory=list, description="empty: any engine")
    protocols: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=100, description="empty: any protocol"
    )
    sensor_ids: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=list, max_length=1000, description="empty: any sensor"
    )
    action: Action


class RuleOut(BaseModel):
    id: str
    name: str
    enabled: bool
    report_alerts: bool
    report_system_notifications: bool
    report_vulnerabilities: bool
    severities: list[str]
    engines: list[str]
    protocols: list[str]
    sensor_ids: list[str]
    action: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    pending: int = 0
    sent: int = 0
    failed: int = 0


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    rule_id: str
    subject_kind: str
    subject_id: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    title: str = ""


class TestResult(BaseModel):
    __test__ = False  # not a pytest class
    ok: bool
    detail: str
    notes: list[str] = Field(default_factory=list)
