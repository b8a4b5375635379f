"""Push settings: duplicate setting groups of one sensor to others (Site Management > Push settings)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.errors import APIError, conflict, invalid
from otwatch.console.fleet.configuration import configure_sensor
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.nodes import get_node, status_of
from otwatch.console.fleet.schemas import (
    SENSOR_DEFAULTS,
    PushResult,
    PushSettingsIn,
    PushSettingsOut,
    SensorConfigIn,
    SettingGroupOut,
)
from otwatch.console.fleet.status import NodeStatus
from otwatch.wire.settings import (
    NOT_PUSHED,
    SETTING_GROUPS,
    SettingGroup,
)

__all__ = ["group_value", "push_settings", "save_setting_group", "setting_group"]

#: Statuses of a sensor that is checking in now: pushed settings reach it within one long-poll.
_LIVE = (
    NodeStatus.CONNECTED,
    NodeStatus.PREPARING_CONNECTION,
    NodeStatus.PAUSED,  # a paused sensor still checks in and takes configuration
    NodeStatus.UPDATING,
    NodeStatus.SCANNING,
)


def setting_group(node: Node, group: SettingGroup) -> SettingGroupOut:
    """One sensor's current value of one setting group (defaults when never set)."""
    configured = node.config.get(group) is not None
    return SettingGroupOut(
        sensor_id=node.id,
        group=group,
        label=SETTING_GROUPS[group],
        configured=configured,
        value=node.config[group] if configured else SENSOR_DEFAULTS[group],
        not_pushed=NOT_PUSHED.get(group),
    )


def group_value(group: SettingGroup, value: Any) -> SensorConfigIn:
    """``value`` checked as the ``group`` part of a sensor configuration.

    A 422 names each field inside the group (``port``, ``servers.1``; the group's own name for a list or
    a rule over several fields), so a settings form can show each problem next to its field."""
    try:
        return SensorConfigIn.model_validate({group: value})
    except ValidationError as exc:
        details = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ())][1:]
            field = ".".join(loc) if loc else group
            details.append({"field": field, "problem": str(e.get("msg", "")).removeprefix("Value error, ")})
        label = SETTING_GROUPS[group]
        message = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        raise invalid(f"{label}: {message}", details) from None


def save_setting_group(
    db: Session, ctx: ConsoleContext, actor: str, node: Node, group: SettingGroup, value: Any
) -> None:
    """Save one setting group of one sensor from its settings form.

    Goes through :func:`configure_sensor`, the same write as PATCH .../configuration and Push settings:
    one audit record, a new configuration version, the sensor woken to take it."""
    configure_sensor(db, ctx, actor, node, group_value(group, value))


def push_settings(db: Session, ctx: ConsoleContext, actor: str, body: PushSettingsIn) -> PushSettingsOut:
    """Duplicate the chosen setting groups of the source sensor to each target, each on its own.

    A target that is checking in gets them within one long-poll ("applied"; acknowledged once its
    config_acked reaches the returned config_version); any other gets them on its next check-in
    ("queued"), because the configuration is the node's, not a one-shot command."""
    source = get_node(db, body.source_id, "sensor")
    changes: dict[str, Any] = {}
    for group in body.groups:
        value = source.config.get(group)
        if value is None:
            if SENSOR_DEFAULTS[group] is None:
                raise conflict(
                    f"sensor {source.name or source.hostname} has no {SETTING_GROUPS[group]} settings to push",
                    {"group": group},
                )
            value = SENSOR_DEFAULTS[group]
        changes[group] = value
    update_body = SensorConfigIn.model_validate(changes)  # what was stored is still valid today
    if body.target_ids is None:
        targets: list[str] = list(
            db.scalars(
                select(Node.id)
                .where(Node.kind == "sensor", Node.approved_at.is_not(None), Node.id != source.id)
                .order_by(Node.enrolled_at)
            )
        )
    else:
        targets = list(dict.fromkeys(body.target_ids))
    now = utcnow()
    results: list[PushResult] = []
    for target_id in targets:
        node = db.get(Node, target_id)
        if node is None or node.kind != "sensor":
            results.append(
                PushResult(
                    sensor_id=target_id, name="", status="", outcome="failed", message="sensor not found"
                )
            )
            continue
        name = node.name or node.hostname
        st = status_of(ctx, node, now)
        if node.id == source.id:
            outcome, message = "failed", "this is the source sensor"
        elif node.approved_at is None:
            outcome, message = "failed", "pending approval: approve the sensor before pushing settings to it"
        elif node.uninstalled_at is not None:
            outcome, message = "failed", "the sensor was uninstalled; pair it again"
        else:
            try:
                with db.begin_nested():
                    configure_sensor(db, ctx, actor, node, update_body)
            except APIError as exc:
                results.append(
                    PushResult(
                        sensor_id=node.id, name=name, status=st.value, outcome="failed", message=exc.message
                    )
                )
                continue
            if st in _LIVE:
                outcome, message = (
                    "applied",
                    "sent to the connected sensor; it applies the settings on receipt",
                )
            else:
                outcome, message = "queued", "queued — delivered when the sensor reconnects"
            results.append(
                PushResult(
                    sensor_id=node.id,
                    name=name,
                    status=st.value,
                    outcome=outcome,
                    message=message,
                    config_version=node.config_version,
                )
            )
            continue
        results.append(
            PushResult(sensor_id=node.id, name=name, status=st.value, outcome=outcome, message=message)
        )
    counts = {o: sum(1 for r in results if r.outcome == o) for o in ("applied", "queued", "failed")}
    audit.record(
        db,
        actor,
        "sensor.settings_pushed",
        source.id,
        groups=list(body.groups),
        targets={r.sensor_id: r.outcome for r in results},
        **counts,
    )
    return PushSettingsOut(
        source_id=source.id,
        groups=list(body.groups),
        not_pushed=[NOT_PUSHED[g] for g in body.groups if g in NOT_PUSHED],
        results=results,
        **counts,
    )
