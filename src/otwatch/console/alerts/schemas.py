"""An alert as the API and the pages show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from otwatch.console.alerts.models import Alert

__all__ = ["AlertOut", "alert_out"]


class AlertOut(BaseModel):
    id: str
    sensor_id: str
    sensor_name: str
    code: str
    engine: str
    severity: str
    title: str
    description: str
    protocol: str | None
    technique: str | None
    technique_name: str | None
    source_ip: str | None
    source_mac: str | None
    destination_ip: str | None
    destination_mac: str | None
    first_seen: datetime
    last_seen: datetime
    count: int
    status: str
    status_by: str | None
    status_at: datetime | None
    details: dict[str, Any]
    has_pcap: bool


def alert_out(a: Alert, names: dict[str, str], has_pcap: bool) -> AlertOut:
    return AlertOut(
        id=a.id, sensor_id=a.node_id, sensor_name=names.get(a.node_id, ""), code=a.code, engine=a.engine,
        severity=a.severity, title=a.title, description=a.description, protocol=a.protocol,
        technique=a.technique, technique_name=a.technique_name, source_ip=a.source_ip, source_mac=a.source_mac, destination_ip=a.destination_ip,
        destination_mac=a.destination_mac, first_seen=a.first_seen, last_seen=a.last_seen, count=a.count,
        status=a.status, status_by=a.status_by, status_at=a.status_at, details=a.details, has_pcap=has_pcap,
    )  # fmt: skip
