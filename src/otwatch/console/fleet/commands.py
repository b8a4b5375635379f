"""Commands queued for a node (delivered at its next check-in): the queue itself, and the agent's
Scan Now and Abort Scan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.errors import conflict
from otwatch.console.fleet.models import Command, Node
from otwatch.console.fleet.nodes import status_of, wake_after_commit
from otwatch.console.fleet.status import NodeStatus, ScanResult

__all__ = ["COMMAND_TTL", "OPEN_STATES", "abort_scan", "queue_command", "scan_now"]

COMMAND_TTL = timedelta(hours=1)
OPEN_STATES = ("pending", "delivered", "running")


def queue_command(
    db: Session, ctx: ConsoleContext, actor: str, node: Node, ctype: str, args: dict[str, Any] | None = None
) -> Command:
    cmd = Command(
        node_id=node.id, type=ctype, args=args or {}, created_by=actor, expires_at=utcnow() + COMMAND_TTL
    )
    db.add(cmd)
    db.flush()
    audit.record(db, actor, f"command.{ctype}", node.id, command_id=cmd.id)
    wake_after_commit(db, ctx, node.id)
    return cmd


def scan_now(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> Command:
    if node.kind != "agent":
        raise conflict("only agents scan")
    _ready_for_commands(ctx, node)
    busy = db.scalar(
        select(Command).where(
            Command.node_id == node.id, Command.type == "scan", Command.state.in_(OPEN_STATES)
        )
    )
    if busy is not None:
        raise conflict("a scan is already queued or running", {"command_id": busy.id})
    return queue_command(db, ctx, actor, node, "scan")


def abort_scan(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> None:
    open_scans = list(
        db.scalars(
            select(Command).where(
                Command.node_id == node.id, Command.type == "scan", Command.state.in_(OPEN_STATES)
            )
        )
    )
    if not open_scans and node.activity != "scanning":
        raise conflict("no scan is running")
    now = utcnow()
    for cmd in open_scans:
        if cmd.state == "pending":  # never reached the agent: fail it right here
            cmd.state, cmd.finished_at, cmd.error = "failed", now, "aborted"
    queue_command(db, ctx, actor, node, "abort_scan")
    node.last_scan_result = ScanResult.FAILED


def _ready_for_commands(ctx: ConsoleContext, node: Node) -> None:
    st = status_of(ctx, node)
    if st in (
        NodeStatus.PENDING_APPROVAL,
        NodeStatus.PENDING_CONFIGURATION,
        NodeStatus.DISCONNECTED,
        NodeStatus.PAUSED,
    ):
        raise conflict(f"the agent is {st.value}")
