"""A node's configuration: an agent's active queries and scan schedule, a sensor's engines, and the
agent's configuration as it is delivered (credentials opened)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.credentials.models import Credential
from otwatch.console.db import utcnow
from otwatch.console.errors import conflict, invalid
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.nodes import wake_after_commit
from otwatch.console.fleet.schemas import (
    SENSOR_DEFAULTS,
    AgentConfigIn,
    Schedule,
    SensorConfigIn,
    SensorNameIn,
)
from otwatch.console.networks.duplicated import agent_scope
from otwatch.console.networks.service import outside_monitored

__all__ = ["agent_config_payload", "configure", "configure_sensor", "name_sensor", "set_schedule"]


def configure(db: Session, ctx: ConsoleContext, actor: str, node: Node, body: AgentConfigIn) -> None:
    if node.kind != "agent":
        raise conflict("only agents take an active-query configuration")
    if node.approved_at is None:
        raise conflict("approve the agent before configuring it")
    nets = [ipaddress.ip_network(n) for n in body.active_query_networks]
    outside = outside_monitored(db, nets)
    if outside:
        raise invalid(
            "active query networks must lie inside the Monitored Networks "
            "(Environment Settings > Network Definitions): " + ", ".join(outside),
            {"outside": outside},
        )
    known = set(db.scalars(select(Credential.id).where(Credential.id.in_(body.credential_ids))))
    missing = [c for c in body.credential_ids if c not in known]
    if missing:
        raise invalid("unknown credentials: " + ", ".join(missing))
    node.name = body.name
    node.config = body.model_dump(mode="json")
    node.config_version += 1
    node.configured_at = node.configured_at or utcnow()
    audit.record(db, actor, "agent.configured", node.id, **node.config)
    wake_after_commit(db, ctx, node.id)


def configure_sensor(db: Session, ctx: ConsoleContext, actor: str, node: Node, body: SensorConfigIn) -> None:
    """Change a sensor's engine configuration; it reaches the sensor on its next check-in."""
    if node.kind != "sensor":
        raise conflict("Learning Mode and analytics engines are sensor settings")
    changes = body.model_dump(exclude_none=True, mode="json")
    if not changes:
        raise invalid("nothing to change")
    node.config = {**SENSOR_DEFAULTS, **node.config, **changes}
    node.config_version += 1
    node.configured_at = node.configured_at or utcnow()
    audit.record(db, actor, "sensor.configured", node.id, **changes)
    wake_after_commit(db, ctx, node.id)


def name_sensor(db: Session, actor: str, node: Node, body: SensorNameIn) -> None:
    """A sensor's name and site: the console's own labels (nothing is sent to the sensor)."""
    if node.kind != "sensor":
        raise conflict("only sensors are named here; an agent's name is part of its configuration")
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise invalid("nothing to change")
    for field, value in changes.items():
        setattr(node, field, value)
    audit.record(db, actor, "sensor.named", node.id, **changes)


def set_schedule(db: Session, ctx: ConsoleContext, actor: str, node: Node, schedule: Schedule) -> None:
    if node.kind != "agent" or node.configured_at is None:
        raise conflict("configure the agent before scheduling its scans")
    node.config = {**node.config, "schedule": schedule.model_dump(mode="json")}
    node.config_version += 1
    audit.record(db, actor, "agent.schedule_set", node.id, schedule=schedule.label())
    wake_after_commit(db, ctx, node.id)


def agent_config_payload(db: Session, ctx: ConsoleContext, node: Node) -> dict[str, Any]:
    """The configuration as the agent needs it: credentials decrypted, only over the mTLS link."""
    creds = []
    for cid in node.config.get("credential_ids", []):
        row = db.get(Credential, cid)
        if row is not None:
            creds.append({"id": row.id, "name": row.name, "kind": row.kind, **ctx.vault.open(row.secret)})
    out = {**{k: v for k, v in node.config.items() if k != "credential_ids"}, "credentials": creds}
    copies, others = agent_scope(db, node.id)
    if copies or others:
        # its copies of duplicated networks are scanned too; another site's copies never are
        policy = dict(out.get("policy") or {})
        policy["exclusions"] = [*(policy.get("exclusions") or []), *others]
        out["policy"] = policy
        out["duplicated_networks"] = copies
    return out
