"""The status table of fleet/status.py, rule by rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from otwatch.console.fleet.status import (
    DisconnectReason,
    NodeState,
    NodeStatus,
    derive_status,
    disconnect_reason,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HEALTHY = NodeState(
    kind="agent",
    approved=True,
    configured=True,
    paused=False,
    uninstalled=False,
    first_seen=NOW,
    last_seen=NOW - timedelta(seconds=5),
    time_drift=False,
    activity=None,
    config_version=1,
    config_acked=1,
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, NodeStatus.CONNECTED),
        ({"approved": False}, NodeStatus.PENDING_APPROVAL),
        ({"approved": False, "uninstalled": True}, NodeStatus.PENDING_APPROVAL),
        ({"uninstalled": True}, NodeStatus.DISCONNECTED),
        ({"last_seen": NOW - timedelta(seconds=91)}, NodeStatus.DISCONNECTED),
        ({"time_drift": True}, NodeStatus.DISCONNECTED),
        ({"configured": False}, NodeStatus.PENDING_CONFIGURATION),
        ({"configured": False, "kind": "sensor"}, NodeStatus.CONNECTED),
        ({"last_seen": None, "first_seen": None}, NodeStatus.WAITING_FOR_CONNECTION),
        ({"paused": True}, NodeStatus.PAUSED),
        ({"activity": "updating"}, NodeStatus.UPDATING),
        ({"activity": "scanning"}, NodeStatus.SCANNING),
        ({"config_version": 2}, NodeStatus.PREPARING_CONNECTION),
        ({"paused": True, "activity": "scanning"}, NodeStatus.PAUSED),
        ({"activity": "scanning", "config_version": 2}, NodeStatus.SCANNING),
    ],
)
def test_derive_status(change: dict[str, object], expected: NodeStatus) -> None:
    assert derive_status(replace(HEALTHY, **change), NOW, offline_after=90) is expected  # type: ignore[arg-type]


def test_status_words_are_the_seeds() -> None:
    assert {s.value for s in NodeStatus} == {
        "Connected",
        "Paused",
        "Disconnected",
        "Pending Configuration",
        "Pending Approval",
        "Preparing Connection",
        "Waiting for Connection",
        "Updating",
        "Scanning",
    }


def test_disconnect_reasons() -> None:
    stale = replace(HEALTHY, last_seen=NOW - timedelta(hours=1))
    assert disconnect_reason(stale, None, NOW, 90) == DisconnectReason.NOT_COMMUNICATING
    assert disconnect_reason(replace(HEALTHY, time_drift=True), None, NOW, 90) == DisconnectReason.TIME_DRIFT
    assert (
        disconnect_reason(replace(HEALTHY, uninstalled=True), None, NOW, 90) == DisconnectReason.UNINSTALLED
    )
    assert disconnect_reason(HEALTHY, "old reason", NOW, 90) is None
