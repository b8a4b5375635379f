"""Messages between agents/sensors and the console (pydantic: validated at both ends)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NodeKind = Literal["agent", "sensor"]


class EnrollMethod(StrEnum):
    PAIRING_KEY = "pairing_key"
    PASSWORD = "password"
    API_KEY = "api_key"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnrollRequest(Strict):
    method: EnrollMethod
    kind: NodeKind
    install_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    csr_pem: str = Field(min_length=100, max_length=10_000)
    hostname: str = Field(default="", max_length=255)
    host_os: str = Field(default="", max_length=200)
    version: str = Field(default="", max_length=50)
    engine_version: str = Field(default="", max_length=50)
    key_id: str | None = Field(default=None, max_length=64)
    secret: str | None = Field(default=None, max_length=200)
    username: str | None = Field(default=None, max_length=150)
    password: str | None = Field(default=None, max_length=1000)
    api_key: str | None = Field(default=None, max_length=200)
    repair: bool = False

    @model_validator(mode="after")
    def _method_fields(self) -> EnrollRequest:
        need = {
            EnrollMethod.PAIRING_KEY: ("key_id", "secret"),
            EnrollMethod.PASSWORD: ("username", "password"),
            EnrollMethod.API_KEY: ("api_key",),
        }[self.method]
        missing = [f for f in need if not getattr(self, f)]
        if missing:
            raise ValueError(f"method {self.method.value} needs {', '.join(missing)}")
        return self


class EnrollResponse(Strict):
    node_id: str
    status: str
    certificate_pem: str
    ca_pem: str
    server_time: datetime
    release_keys: list[str] = Field(default_factory=list)  # PEM Ed25519 keys packages must be signed with


class CommandMessage(Strict):
    id: str
    type: str
    args: dict[str, Any] = Field(default_factory=dict)
    expires_at: datetime


class CommandResult(Strict):
    id: str
    state: Literal["running", "done", "failed"]
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class AlertReport(Strict):
    """One sensor alert as the console stores it; re-sending it updates, never duplicates."""

    key: str = Field(min_length=1, max_length=64)  # the sensor's own id for this alert
    code: str = Field(max_length=64)
    engine: Literal["Protocol Violation", "Policy Violation", "Malware", "Anomaly", "Operational"]
    severity: Literal["Critical", "Major", "Minor", "Warning"]
    title: str = Field(max_length=300)
    description: str = Field(default="", max_length=5000)
    protocol: str | None = Field(default=None, max_length=50)
    source_ip: str | None = Field(default=None, max_length=64)
    source_mac: str | None = Field(default=None, max_length=17)
    destination_ip: str | None = Field(default=None, max_length=64)
    destination_mac: str | None = Field(default=None, max_length=17)
    first_seen: datetime
    last_seen: datetime
    count: int = Field(default=1, ge=1)
    details: dict[str, Any] = Field(default_factory=dict)
    pcap_b64: str | None = Field(default=None, max_length=16 * 1024 * 1024)


class Report(Strict):
    """Data a node sends up with a check-in: assets (dicts as the inventory takes them), alerts, stats."""

    id: str = Field(min_length=1, max_length=64)
    kind: Literal["assets", "alerts", "stats"]
    assets: list[dict[str, Any]] = Field(default_factory=list, max_length=50_000)
    alerts: list[AlertReport] = Field(default_factory=list, max_length=10_000)
    stats: dict[str, Any] = Field(default_factory=dict)


class CheckinRequest(Strict):
    client_time: datetime
    version: str = Field(default="", max_length=50)
    engine_version: str = Field(default="", max_length=50)
    host_os: str = Field(default="", max_length=200)
    hostname: str = Field(default="", max_length=255)
    config_version: int = 0
    activity: Literal["scanning", "updating"] | None = None
    progress: dict[str, Any] = Field(default_factory=dict)
    results: list[CommandResult] = Field(default_factory=list, max_length=1000)
    reports: list[Report] = Field(default_factory=list, max_length=100)
    wait: float = Field(default=0.0, ge=0.0, le=60.0)


class CheckinResponse(Strict):
    server_time: datetime
    node_id: str
    status: str
    config_version: int
    config: dict[str, Any] | None = None
    commands: list[CommandMessage] = Field(default_factory=list)
    poll_after: float = 0.0


class GoodbyeRequest(Strict):
    reason: str = Field(default="uninstalled", max_length=200)
