"""A node's life as the operator and the node change it: approval, pause and resume, deletion, and the
node's own goodbye when it is uninstalled."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.errors import conflict
from otwatch.console.fleet.certificates import forget_serials
from otwatch.console.fleet.models import DuplicatedNetwork, IssuedCertificate, Node
from otwatch.console.fleet.nodes import wake_after_commit
from otwatch.console.networks.duplicated import guard_message

__all__ = ["approve", "delete_node", "goodbye", "set_paused"]


def approve(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> None:
    if node.approved_at is not None:
        raise conflict("already approved")
    node.approved_at = utcnow()
    audit.record(db, actor, "node.approved", node.id)
    wake_after_commit(db, ctx, node.id)


def set_paused(db: Session, ctx: ConsoleContext, actor: str, node: Node, paused: bool) -> None:
    node.paused = paused
    audit.record(db, actor, "node.paused" if paused else "node.resumed", node.id)
    wake_after_commit(db, ctx, node.id)


def delete_node(db: Session, actor: str, node: Node) -> None:
    refused = guard_message(db, node)
    if refused is not None:
        ids = db.scalars(select(DuplicatedNetwork.id).where(DuplicatedNetwork.node_id == node.id))
        raise conflict(refused, {"duplicated_networks": list(ids)})
    db.execute(
        update(IssuedCertificate).where(IssuedCertificate.node_id == node.id).values(revoked_at=utcnow())
    )
    audit.record(db, actor, "node.deleted", node.id, name=node.name, kind=node.kind)
    forget_serials(node)
    db.delete(node)


def goodbye(db: Session, node: Node, reason: str) -> None:
    now = utcnow()
    node.uninstalled_at = now
    node.activity = None
    db.execute(update(IssuedCertificate).where(IssuedCertificate.node_id == node.id).values(revoked_at=now))
    forget_serials(node)
    audit.record(db, f"node:{node.id}", "node.uninstalled", node.id, reason=reason)
