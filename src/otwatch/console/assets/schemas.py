"""An asset's conversations and timeline as the API and its page show them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

__all__ = ["ConversationOut", "TimelineEventOut"]


class ConversationOut(BaseModel):
    """One conversation of the asset, seen from it: ``role`` is the asset's side (client: it asked)."""

    id: str
    role: Literal["client", "server"]
    peer_id: str
    peer_ip: str | None
    peer_mac: str | None
    peer_name: str | None
    peer_type: str | None
    protocol: str
    transport: str
    port: int
    functions: dict[str, int]  # requests per function (Modbus/DNP3/S7 ...), when the protocol has them
    packets: int
    bytes: int
    messages: int
    first_seen: datetime
    last_seen: datetime
    sensor_id: str
    sensor_name: str


class TimelineEventOut(BaseModel):
    """One thing that happened to the asset, newest first: ``kind`` says what, ``href`` where to look."""

    time: datetime
    kind: Literal["first_seen", "discovered", "conversation", "alert", "last_seen"]
    title: str
    severity: str | None = None
    href: str | None = None
