"""The status table of fleet/status.py, rule by rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from sqlalchemy import select

from otwatch.console.context import ConsoleContext
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.nodes import node_state
from otwatch.console.fleet.status import (
    DisconnectReason,
    NodeState,
    NodeStatus,
    derive_status,
    disconnect_reason,
    status_sql,
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


def test_sql_status_agrees_with_derive_status(ctx: ConsoleContext) -> None:
    """``status_sql`` (the filter of ``?status=``) and ``derive_status`` on every combination of the
    states that decide a status, including both sides of the ``offline_after`` and clock-skew limits."""
    offline_after, max_skew = 90.0, 120.0
    seen = [
        None,
        NOW - timedelta(seconds=5),
        NOW - timedelta(seconds=offline_after),  # exactly at the limit: still Connected
        NOW - timedelta(seconds=offline_after, microseconds=1),
    ]
    rows = []
    for i, (
        kind,
        approved,
        configured,
        uninstalled,
        last_seen,
        skew,
        reason,
        paused,
        activity,
        behind,
    ) in enumerate(
        product(
            ("agent", "sensor"),
            (False, True),
            (False, True),
            (False, True),
            seen,
            (0.0, -max_skew, max_skew + 0.5, -(max_skew + 0.5)),
            (None, DisconnectReason.CANT_PROCESS.value, DisconnectReason.NOT_COMMUNICATING.value),
            (False, True),
            (None, "scanning", "updating"),
            (False, True),
        )
    ):
        rows.append(
            Node(
                kind=kind,
                install_id=f"i{i}",
                approved_at=NOW if approved else None,
                configured_at=NOW if configured else None,
                uninstalled_at=NOW if uninstalled else None,
                first_seen=last_seen,
                last_seen=last_seen,
                clock_skew=skew,
                disconnect_reason=reason,
                paused=paused,
                activity=activity,
                config_version=2,
                config_acked=1 if behind else 2,
            )
        )
    with ctx.db.session() as db:
        db.add_all(rows)
        db.flush()
        expected = {n.id: derive_status(node_state(n, max_skew), NOW, offline_after).value for n in rows}
        got = {i: s for i, s in db.execute(select(Node.id, status_sql(NOW, offline_after, max_skew)))}
        db.rollback()
    assert len(expected) == 2 * 2 * 2 * 2 * 4 * 4 * 3 * 2 * 3 * 2
    assert {s for s in expected.values()} == {s.value for s in NodeStatus}  # every status is covered
    assert got == expected


def test_the_three_disconnection_messages_are_the_seeds_words() -> None:
    """Seed 002, "View OT sensor connection statuses", character for character (its apostrophe too)."""
    assert DisconnectReason.CANT_PROCESS == (
        "The on-premises management console can\u2019t process data received from the sensor."
    )
    assert DisconnectReason.TIME_DRIFT == (
        "Times drift detected. The on-premises management console has been disconnected from sensor."
    )
    assert DisconnectReason.NOT_COMMUNICATING == (
        "Sensor not communicating with on-premises management console. "
        "Check network connectivity or certificate validation."
    )
    assert DisconnectReason.TIME_DRIFT.short == "Time drift detected"
    assert DisconnectReason.NOT_COMMUNICATING.for_kind("agent").startswith("Agent not communicating")


def test_reasons_stored_in_an_earlier_wording_still_read_right() -> None:
    from otwatch.console.fleet.status import LEGACY_REASONS, short_reason

    silent = replace(HEALTHY, last_seen=NOW - timedelta(hours=1))
    old = "Not communicating \u2014 check network connectivity or certificate validation"
    assert disconnect_reason(silent, old, NOW, 90) == DisconnectReason.NOT_COMMUNICATING
    refused = replace(HEALTHY, unprocessable=True)
    old_refusal = "The console can't process data received from the sensor"
    assert disconnect_reason(refused, old_refusal, NOW, 90) == DisconnectReason.CANT_PROCESS
    assert set(LEGACY_REASONS.values()) == {
        DisconnectReason.CANT_PROCESS,
        DisconnectReason.TIME_DRIFT,
        DisconnectReason.NOT_COMMUNICATING,
    }
    assert short_reason("Time drift detected") == "Time drift detected"
    assert short_reason(None) is None and short_reason("anything else") == "anything else"
