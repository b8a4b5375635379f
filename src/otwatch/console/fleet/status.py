"""Fleet statuses — the one place where they are named, coloured and derived.

The status is never stored: it is computed from a node's state and when it was last seen, so a
console restart or a second console process can never show a stale status.

Transitions (first matching rule wins)::

    enrolled, not approved ..................................... Pending Approval
    uninstalled (said goodbye), or seen before but silent > offline_after,
      or clock drift above the limit, or its last check-in could
      not be processed ......................................... Disconnected
    approved agent without a saved configuration ............... Pending Configuration
    approved, never checked in since enrolment or repair ........ Waiting for Connection
    paused by an operator ...................................... Paused
    reports an update in progress .............................. Updating
    reports a scan in progress ................................. Scanning
    has not yet acknowledged the newest configuration ........... Preparing Connection
    otherwise .................................................. Connected

Approve moves Pending Approval -> Pending Configuration (agents) or -> Connected (sensors need no
configuration); Configure > Save moves Pending Configuration -> Preparing Connection -> Connected once
the agent picks the configuration up in its next check-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import ColumnElement, and_, case, func, or_

from otwatch.console.fleet.models import Node


class NodeStatus(StrEnum):
    CONNECTED = "Connected"
    PAUSED = "Paused"
    DISCONNECTED = "Disconnected"
    PENDING_CONFIGURATION = "Pending Configuration"
    PENDING_APPROVAL = "Pending Approval"
    PREPARING_CONNECTION = "Preparing Connection"
    WAITING_FOR_CONNECTION = "Waiting for Connection"
    UPDATING = "Updating"
    SCANNING = "Scanning"

    @property
    def colour(self) -> str:
        return _COLOURS[self]


_COLOURS = {
    NodeStatus.CONNECTED: "green",
    NodeStatus.PAUSED: "grey",
    NodeStatus.DISCONNECTED: "red",
    NodeStatus.PENDING_CONFIGURATION: "orange",
    NodeStatus.PENDING_APPROVAL: "orange",
    NodeStatus.PREPARING_CONNECTION: "blue",
    NodeStatus.WAITING_FOR_CONNECTION: "blue",
    NodeStatus.UPDATING: "purple",
    NodeStatus.SCANNING: "purple",
}


class ScanResult(StrEnum):
    COMPLETED = "Completed"
    FAILED = "Failed"


class DisconnectReason(StrEnum):
    """Why a node is Disconnected. The first three are the disconnection messages of seed 002 (Site
    Management), in its words and punctuation; the others are ours (the seed has no such case)."""

    CANT_PROCESS = "The on-premises management console can’t process data received from the sensor."
    TIME_DRIFT = "Times drift detected. The on-premises management console has been disconnected from sensor."
    NOT_COMMUNICATING = (
        "Sensor not communicating with on-premises management console. "
        "Check network connectivity or certificate validation."
    )
    UNINSTALLED = "Uninstalled"
    VERSION_TOO_NEW = "The sensor runs a newer version than the console; update the console first"

    @property
    def short(self) -> str:
        """A few words for titles ("Sensor plant-a disconnected: Time drift detected")."""
        return _SHORT.get(self, self.value)

    def for_kind(self, kind: str) -> str:
        """The message for an agent speaks of the agent (the seed gives them for sensors only)."""
        if kind == "sensor":
            return self.value
        return self.value.replace("Sensor ", "Agent ").replace("sensor", "agent")


_SHORT: Final = {
    DisconnectReason.CANT_PROCESS: "Can’t process data received",
    DisconnectReason.TIME_DRIFT: "Time drift detected",
    DisconnectReason.NOT_COMMUNICATING: "Not communicating",
}

#: The texts earlier versions stored (nodes.disconnect_reason, node_watch.reason) -> today's reason.
LEGACY_REASONS: Final = {
    "The console can't process data received from the sensor": DisconnectReason.CANT_PROCESS,
    "Time drift detected": DisconnectReason.TIME_DRIFT,
    "Not communicating — check network connectivity or certificate validation": (
        DisconnectReason.NOT_COMMUNICATING
    ),
}


def short_reason(reason: str | None) -> str | None:
    """``DisconnectReason.short`` for a stored reason text (other texts as they are)."""
    if reason is None:
        return None
    reason = LEGACY_REASONS.get(reason, reason)
    try:
        return DisconnectReason(reason).short
    except ValueError:
        return reason


#: Reasons the console itself refused the node's last check-in: Disconnected until one is accepted.
REFUSED = (DisconnectReason.CANT_PROCESS, DisconnectReason.VERSION_TOO_NEW)
#: The stored texts that mean a refused check-in, an earlier version's wording included.
REFUSED_STORED: Final = (
    *(r.value for r in REFUSED),
    "The console can't process data received from the sensor",
)


@dataclass(frozen=True, slots=True)
class NodeState:
    kind: str
    approved: bool
    configured: bool
    paused: bool
    uninstalled: bool
    first_seen: datetime | None
    last_seen: datetime | None
    time_drift: bool
    activity: str | None
    config_version: int
    config_acked: int
    unprocessable: bool = False  # its last check-in was refused as malformed or could not be stored


def derive_status(s: NodeState, now: datetime, offline_after: float) -> NodeStatus:
    if not s.approved:
        return NodeStatus.PENDING_APPROVAL
    silent = s.last_seen is not None and (now - s.last_seen).total_seconds() > offline_after
    if s.uninstalled or silent or s.time_drift or s.unprocessable:
        return NodeStatus.DISCONNECTED
    if s.kind == "agent" and not s.configured:
        return NodeStatus.PENDING_CONFIGURATION
    if s.last_seen is None:
        return NodeStatus.WAITING_FOR_CONNECTION
    if s.paused:
        return NodeStatus.PAUSED
    if s.activity == "updating":
        return NodeStatus.UPDATING
    if s.activity == "scanning":
        return NodeStatus.SCANNING
    if s.config_acked < s.config_version:
        return NodeStatus.PREPARING_CONNECTION
    return NodeStatus.CONNECTED


def status_sql(now: datetime, offline_after: float, max_skew: float) -> ColumnElement[str]:
    """``derive_status`` as a SQL ``CASE`` over the ``nodes`` columns, to filter and count by status
    in the database (``GET /api/v1/agents?status=``) instead of deriving it for every node in Python.

    Rule for rule the same as ``derive_status`` — keep both in step (tests/console/test_status.py
    checks them against each other on every combination of states, on SQLite and PostgreSQL). The
    columns map to ``NodeState`` as in ``fleet.nodes.node_state``.
    """
    return case(
        (Node.approved_at.is_(None), NodeStatus.PENDING_APPROVAL.value),
        (
            or_(
                Node.uninstalled_at.is_not(None),
                Node.last_seen < now - timedelta(seconds=offline_after),  # silent > offline_after
                func.abs(Node.clock_skew) > max_skew,  # time drift
                Node.disconnect_reason.in_(REFUSED_STORED),  # refused check-in
            ),
            NodeStatus.DISCONNECTED.value,
        ),
        (and_(Node.kind == "agent", Node.configured_at.is_(None)), NodeStatus.PENDING_CONFIGURATION.value),
        (Node.last_seen.is_(None), NodeStatus.WAITING_FOR_CONNECTION.value),
        (Node.paused.is_(True), NodeStatus.PAUSED.value),
        (Node.activity == "updating", NodeStatus.UPDATING.value),
        (Node.activity == "scanning", NodeStatus.SCANNING.value),
        (Node.config_acked < Node.config_version, NodeStatus.PREPARING_CONNECTION.value),
        else_=NodeStatus.CONNECTED.value,
    )


def disconnect_reason(
    s: NodeState, stored_reason: str | None, now: datetime, offline_after: float
) -> str | None:
    """Why a Disconnected node is disconnected (None for any other status)."""
    if derive_status(s, now, offline_after) is not NodeStatus.DISCONNECTED:
        return None
    if s.uninstalled:
        return DisconnectReason.UNINSTALLED
    if s.time_drift:
        return DisconnectReason.TIME_DRIFT
    stored_reason = LEGACY_REASONS.get(stored_reason or "", stored_reason)
    if s.unprocessable:
        return stored_reason if stored_reason in REFUSED else DisconnectReason.CANT_PROCESS
    return stored_reason or DisconnectReason.NOT_COMMUNICATING
