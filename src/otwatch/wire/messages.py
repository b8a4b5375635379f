"""Messages between agents/sensors and the console (pydantic: validated at both ends)."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from otwatch.inventory.mac import normalise_mac
from otwatch.inventory.vocabulary import EngineName, SeverityName

NodeKind = Literal["agent", "sensor"]


class EnrollMethod(StrEnum):
    PAIRING_KEY = "pairing_key"
    PASSWORD = "password"
    API_KEY = "api_key"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


_J = TypeVar("_J")


def _finite(value: _J) -> _J:
    """Free-form JSON (a command result, statistics, details) without Infinity or NaN anywhere: JSON
    has no such numbers, Python's parser accepts them, and one stored broke every page showing it."""
    stack: list[object] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("numbers must be finite (no Infinity, no NaN)")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return value


def finite_only(value: Any) -> Any:
    """``value`` with every Infinity or NaN (anywhere inside) replaced by None: what a node applies to
    the statistics and details it builds, so that one odd division does not stop its reports (the
    console refuses non-finite numbers, `_finite`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_only(v) for v in value]
    return value


#: a free-form JSON object from a node: any content, but only finite numbers
FiniteDict = Annotated[dict[str, Any], AfterValidator(_finite)]


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
    result: FiniteDict = Field(default_factory=dict)
    error: str | None = None


class AlertReport(Strict):
    """One sensor alert as the console stores it; re-sending it updates, never duplicates."""

    key: str = Field(min_length=1, max_length=64)  # the sensor's own id for this alert
    code: str = Field(max_length=64)
    engine: EngineName
    severity: SeverityName
    title: str = Field(max_length=300)
    description: str = Field(default="", max_length=5000)
    protocol: str | None = Field(default=None, max_length=50)
    # MITRE ATT&CK for ICS technique, e.g. "T0843" "Program Download" (optional: older sensors omit it)
    technique: str | None = Field(default=None, pattern=r"^T\d{4}(\.\d{3})?$")
    technique_name: str | None = Field(default=None, max_length=100)
    source_ip: str | None = Field(default=None, max_length=64)
    source_mac: str | None = Field(default=None, max_length=17)
    destination_ip: str | None = Field(default=None, max_length=64)
    destination_mac: str | None = Field(default=None, max_length=17)
    first_seen: datetime
    last_seen: datetime
    count: int = Field(default=1, ge=1)
    details: FiniteDict = Field(default_factory=dict)
    pcap_b64: str | None = Field(default=None, max_length=16 * 1024 * 1024)


def _clip(value: object) -> object:
    """Device-told text (a model, a banner) is clipped, not refused: one odd PLC must not stop a report."""
    return value[:255] if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_clip)]
Scalar = Annotated[str, Field(max_length=1000)] | int | float | bool | None


class ProtocolReport(Strict):
    name: str = Field(min_length=1, max_length=50)
    role: Literal["server", "client"] = "server"


class AssetReport(BaseModel):
    """One asset as a node reports it: what it is, what it speaks, and where each value came from.

    ``sources`` names, per identity field, the protocol (or ``fingerprint``, ``oui``, ``behaviour``)
    that gave the value, so the console applies the one merge rule of :mod:`otwatch.inventory.merge`
    and a banner guess never overwrites a vendor read from Modbus Device Identification.

    Unknown keys are ignored rather than refused: the console is updated before its sensors and
    agents, so it must take what an older node sends. Numbers must be finite (no NaN, no Infinity).
    """

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    ip: str | None = Field(default=None, max_length=64)
    mac: str | None = Field(default=None, max_length=32)
    name: Text | None = None
    vendor: Text | None = None
    vendor_id: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    model: Text | None = None
    product_code: int | None = Field(default=None, ge=0, le=0xFFFFFFFF)
    firmware: Text | None = None
    serial: Text | None = None
    device_type: str | None = Field(default=None, max_length=50)
    type_reason: Text | None = None  # why, when the node typed it by behaviour ("polls modbus as a client")
    state: str | None = Field(default=None, max_length=50)
    os: Text | None = None
    # a sensor saw the address only as the target of probes nobody answered: it never sent anything
    # and no frame carried a MAC of its own (an address and nothing else)
    ghost: bool = False
    open_ports: list[Annotated[int, Field(ge=0, le=65535)]] = Field(default_factory=list, max_length=65536)
    protocols: list[ProtocolReport] = Field(default_factory=list, max_length=500)
    modules: list[dict[Annotated[str, Field(max_length=100)], Scalar]] = Field(
        default_factory=list, max_length=256
    )
    banners: dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=100
    )
    identities: list[Annotated[dict[Annotated[str, Field(max_length=100)], Any], AfterValidator(_finite)]] = (
        Field(default_factory=list, max_length=50)
    )
    sources: dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=50)]] = Field(
        default_factory=dict, max_length=50
    )

    @field_validator("mac", mode="before")
    @classmethod
    def _mac(cls, value: object) -> str | None:
        return normalise_mac(value)

    @field_validator("protocols", mode="before")
    @classmethod
    def _protocol_names(cls, value: object) -> object:
        """Older agents sent protocol names only; those are servers."""
        if isinstance(value, list):
            return [{"name": v, "role": "server"} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _addressed(self) -> AssetReport:
        if not self.ip and not self.mac:
            raise ValueError("an asset report needs an IP or a MAC address")
        return self


class ConnectionReport(BaseModel):
    """One conversation a sensor saw: a client and a server (each by IP and/or MAC, as in its asset
    reports), the protocol on the server's port, when, how much, and which functions the client asked
    for. Counts and times are absolute, so a resend is harmless. Unknown keys are ignored (the console
    is updated before its sensors)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    client_ip: str | None = Field(default=None, max_length=64)
    client_mac: str | None = Field(default=None, max_length=32)
    server_ip: str | None = Field(default=None, max_length=64)
    server_mac: str | None = Field(default=None, max_length=32)
    protocol: str = Field(min_length=1, max_length=50)
    transport: str = Field(max_length=8)
    port: int = Field(ge=0, le=65535)
    first_seen: datetime
    last_seen: datetime
    packets: int = Field(default=0, ge=0)
    bytes: int = Field(default=0, ge=0)
    messages: int = Field(default=0, ge=0)
    functions: dict[Annotated[str, Field(max_length=100)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=64
    )

    @field_validator("client_mac", "server_mac", mode="before")
    @classmethod
    def _mac(cls, value: object) -> str | None:
        return normalise_mac(value)

    @model_validator(mode="after")
    def _addressed(self) -> ConnectionReport:
        if not (self.client_ip or self.client_mac) or not (self.server_ip or self.server_mac):
            raise ValueError("a connection report needs an address for its client and its server")
        return self


class Report(Strict):
    """Data a node sends up with a check-in: assets, alerts, stats, connections; or ``cleared``: the
    sensor's Clear data, asking the console to forget what the sensor reported before it (its assets,
    conversations and alerts); the reports after it in the queue are the fresh sensor's."""

    id: str = Field(min_length=1, max_length=64)
    kind: Literal["assets", "alerts", "stats", "connections", "cleared"]
    assets: list[AssetReport] = Field(default_factory=list, max_length=50_000)
    connections: list[ConnectionReport] = Field(default_factory=list, max_length=50_000)
    alerts: list[AlertReport] = Field(default_factory=list, max_length=10_000)
    stats: FiniteDict = Field(default_factory=dict)


class CheckinRequest(Strict):
    client_time: datetime
    version: str = Field(default="", max_length=50)
    engine_version: str = Field(default="", max_length=50)
    host_os: str = Field(default="", max_length=200)
    hostname: str = Field(default="", max_length=255)
    config_version: int = 0
    activity: Literal["scanning", "updating"] | None = None
    progress: FiniteDict = Field(default_factory=dict)
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
