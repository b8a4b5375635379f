"""Check-ins: what a node's check-in tells the console (`record_checkin`, results and reports
included), what it receives (`deliverables`), and the idle check-in answered from one row read
(`idle_checkin`)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, bindparam, func, or_, select
from sqlalchemy.orm import Session

from otwatch.console.alerts.service import forget_node as forget_alerts
from otwatch.console.alerts.service import ingest as ingest_alerts
from otwatch.console.assets.models import Asset, AssetSource
from otwatch.console.assets.service import forget_source, ingest_connections, parse_reports
from otwatch.console.assets.service import ingest as ingest_assets
from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import FixedRead, after_commit, utcnow
from otwatch.console.fleet.configuration import agent_config_payload
from otwatch.console.fleet.models import Command, Node
from otwatch.console.fleet.nodes import STATUS_COLUMNS, node_state
from otwatch.console.fleet.packages import intel_to_offer
from otwatch.console.fleet.status import ScanResult, derive_status
from otwatch.console.forwarding import service as forwarding
from otwatch.console.settings import service as settings
from otwatch.console.updates import service as updates
from otwatch.console.vulnerabilities.service import rematch as rematch_vulnerabilities
from otwatch.wire.messages import CheckinRequest, CheckinResponse, CommandMessage

__all__ = ["SKEW_SLACK", "deliverables", "idle_checkin", "last_seen_slack", "record_checkin"]


def _seconds(value: object) -> float | None:
    """A scan result's duration as a finite, non-negative number of seconds, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) and 0 <= f < 1e9 else None


def _time(value: object) -> datetime | None:
    """A scan result's ISO time, or None (a node's odd value is not a 500)."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _apply_result(db: Session, node: Node, res: Any, now: datetime) -> None:
    cmd = db.get(Command, res.id)
    if cmd is None and res.result.get("scheduled") and res.id.startswith("sched-") and len(res.id) <= 32:
        if node.paused:
            # a paused agent runs no scheduled scans (an older agent might): neither the scan nor its
            # assets are recorded
            audit.record(db, f"node:{node.id}", "scan.ignored_while_paused", node.id, scan_id=res.id)
            return
        # a scheduled scan the agent ran by itself: recorded like a Scan Now
        cmd = Command(
            id=res.id, node_id=node.id, type="scan", created_by="schedule", expires_at=now, delivered_at=now
        )
        db.add(cmd)
    if cmd is None or cmd.node_id != node.id or cmd.state in ("done", "failed", "expired"):
        return  # unknown or already final: results are idempotent by command id
    cmd.state = res.state
    cmd.result = res.result
    cmd.error = res.error
    if res.state == "running":
        return
    cmd.finished_at = now
    if cmd.type == "update":  # the outcome of every update, a rollback included, is in the audit log
        audit.record(
            db, f"node:{node.id}", f"update.{'installed' if res.state == 'done' else 'failed'}", node.id,
            kind=cmd.args.get("kind"), version=cmd.args.get("version"),
            rolled_back=bool(res.result.get("rolled_back")), error=res.error,
        )  # fmt: skip
    if cmd.type == "scan":
        node.last_scan_result = ScanResult.COMPLETED if res.state == "done" else ScanResult.FAILED
        node.last_scan_at = _time(res.result.get("started_at")) or cmd.delivered_at or now
        node.last_scan_duration = _seconds(res.result.get("duration"))
        if res.state == "done":
            assets = res.result.get("assets")
            reports = parse_reports(assets if isinstance(assets, list) else [])
            changed: list[Asset] = []
            ingest_assets(db, node.id, reports, now, changed)
            rematch_vulnerabilities(db, changed)
            count = res.result.get("asset_count")
            valid = isinstance(count, int) and not isinstance(count, bool) and 0 <= count < 2**31
            node.reported_assets = count if valid else len(reports)


def clear_sensor_data(db: Session, node: Node) -> None:
    """A sensor's Clear data, with "also clear this sensor's assets and alerts from the console": the
    assets only it saw are removed, the others lose it as a source, its conversations and alerts go
    (audited with the counts)."""
    removed, kept = forget_source(db, node.id)
    alerts = forget_alerts(db, node.id)
    node.reported_assets = 0
    audit.record(
        db, f"node:{node.id}", "sensor.data_cleared", node.id,
        assets_removed=removed, assets_kept=kept, alerts_removed=alerts,
    )  # fmt: skip


#: clock skew changes smaller than this are not written (the drift limit is minutes)
SKEW_SLACK = 1.0


def last_seen_slack(offline_after: float) -> float:
    """How far the stored last_seen may lag the newest check-in: at most a sixth of offline_after
    (15 s by default), so a node checking in every longpoll_seconds (25 s) is never shown
    Disconnected (25 + 15 < 90 s) while most check-ins write nothing."""
    return min(15.0, offline_after / 6)


def record_checkin(db: Session, ctx: ConsoleContext, node: Node, req: CheckinRequest) -> None:
    """Everything a check-in tells the console: liveness, versions, clock, activity, results.

    Liveness is written only when it moved (last_seen by more than `last_seen_slack`, the clock skew
    by more than SKEW_SLACK or across the drift limit): an idle check-in then writes nothing at all,
    which SQLite's single writer and PostgreSQL's WAL both notice at 10,000 nodes. SQLAlchemy leaves
    the unchanged attributes below out of the UPDATE.
    """
    now = utcnow()
    node.first_seen = node.first_seen or now
    moved = None if node.last_seen is None else (now - node.last_seen).total_seconds()
    if moved is None or moved >= last_seen_slack(ctx.settings.offline_after):
        if (
            moved is not None
            and moved < ctx.settings.offline_after / 3
            and not req.results
            and not req.reports
        ):
            # nothing else to write and far from Disconnected: batched with others (fleet/liveness.py)
            node_id = node.id

            def note() -> None:
                ctx.liveness.note(node_id, now)

            after_commit(db, note)
        else:
            node.last_seen = now
    skew = (req.client_time - now).total_seconds()
    limit = ctx.settings.max_clock_skew
    if abs(skew - node.clock_skew) > SKEW_SLACK or (abs(skew) > limit) != (abs(node.clock_skew) > limit):
        node.clock_skew = skew
    node.disconnect_reason = None
    for attr in ("version", "engine_version", "host_os", "hostname"):
        val = getattr(req, attr)
        if val:
            setattr(node, attr, val)
    node.activity = req.activity
    node.progress = req.progress if req.activity else {}
    node.config_acked = min(req.config_version, node.config_version)
    if node.approved_at is None:
        # nothing a node sends is data before an operator approved it: no command of ours ran (none
        # is delivered before approval), and its reports are neither stored nor forwarded. The node
        # keeps its reports while it is told Pending Approval (wire/runtime.py) and sends them after.
        return
    for res in req.results:
        _apply_result(db, node, res, now)
    reports = req.reports
    cleared = [i for i, rep in enumerate(reports) if rep.kind == "cleared"]
    if cleared and node.kind == "sensor":  # what came before the (last) Clear data is forgotten with it
        clear_sensor_data(db, node)
        reports = reports[cleared[-1] + 1 :]
    # every asset report of the check-in in one batch: one device, one row, however they were split
    batch = [a for rep in reports if rep.kind == "assets" for a in rep.assets]
    if batch:
        changed: list[Asset] = []
        ingest_assets(db, node.id, batch, now, changed, copies=node.kind == "agent")
        rematch_vulnerabilities(db, changed)
        if node.kind == "sensor":  # Site Management's Reported Assets: the devices its link lists
            db.flush()
            listed = (
                select(func.count()).select_from(AssetSource).join(Asset, Asset.id == AssetSource.asset_id)
            )
            node.reported_assets = (
                db.scalar(listed.where(AssetSource.node_id == node.id, Asset.ghost.is_(False))) or 0
            )
    for rep in reports:
        if rep.kind in ("assets", "cleared"):
            continue
        elif rep.kind == "alerts" and node.kind == "sensor":
            forwarding.enqueue_alerts(db, node, ingest_alerts(db, node.id, rep.alerts))
        elif rep.kind == "stats" and node.kind == "sensor":
            node.stats = rep.stats
        elif rep.kind == "connections" and node.kind == "sensor":
            ingest_connections(db, node.id, rep.connections)


# What an idle check-in reads of its node: the columns `record_checkin` and `deliverables` look at.
_IDLE_SELECT = select(
    *STATUS_COLUMNS,
    Node.cert_serial,
    Node.progress,
    Node.version,
    Node.engine_version,
    Node.host_os,
    Node.hostname,
)
_IDLE_READ = FixedRead(_IDLE_SELECT.where(Node.id == bindparam("node_id")))
# Whether a node has a command `deliverables` would send (`or_`: an IN list is compiled per call).
_OPEN_COMMAND = FixedRead(
    select(Command.id)
    .where(
        Command.node_id == bindparam("node_id"),
        or_(Command.state == "pending", Command.state == "delivered"),
    )
    .limit(1)
)


def idle_checkin(
    ctx: ConsoleContext,
    node_id: str,
    serial: str,
    req: CheckinRequest,
    conn: Connection | None = None,
    check_commands: bool = False,
) -> tuple[CheckinResponse, bool] | None:
    """The check-in of a node with nothing to say (a sensor: nothing but its statistics) and nothing
    to receive, answered from one row read (`FixedRead`), without building the ORM Node; or None when
    anything else would be written or delivered, and the caller takes the full path
    (`record_checkin`, `deliverables`).

    This is nearly every check-in of a fleet (a long-poll starting), and loading the ORM object was
    the largest single cost left per check-in (docs/benchmarks.md, "Fleet"). The caller has checked
    that the node has no open command (`Notifier.idle_state`), or asks to read it (``check_commands``:
    the notifier is unsure, e.g. its marker aged). Every condition below mirrors a
    write `record_checkin` would make or something `deliverables` / `auto_update` /
    `offer_threat_intel` would send. A sensor's statistics are written in the liveness batch
    (fleet/liveness.py), and the caller answers only once they are (`LivenessWriter.settle`).

    With ``conn`` (the event loop's reader, ``ConsoleContext.loop_reader``) the liveness note does not
    flush; the second value says whether a flush is due, for the caller to run off the loop.
    """
    if req.activity is not None or req.results:
        return None
    stats = None
    if req.reports:  # statistics only (an absolute snapshot: the newest wins, as in record_checkin)
        if any(r.kind != "stats" for r in req.reports):
            return None
        stats = req.reports[-1].stats
    if conn is not None:
        row = _idle_row(conn, node_id, check_commands)
    else:
        with ctx.db.engine.connect() as own:
            row = _idle_row(own, node_id, check_commands)
    if row is None or row.cert_serial != serial or row.uninstalled_at is not None:
        return None  # revoked or gone (the full path answers 401), or a command to deliver
    if stats is not None and row.approved_at is None:
        stats = None  # not stored before approval (record_checkin)
    if row.kind == "agent":
        if stats is not None or settings.cached_on(ctx.db.engine, "auto_update"):  # usually no query
            return None
    elif req.version and updates.newer_than_console(req.version):
        return None
    elif stats is not None and intel_to_offer(ctx, stats):
        return None  # the full path offers it (offer_threat_intel)
    now = utcnow()
    if row.first_seen is None or row.last_seen is None or row.disconnect_reason is not None:
        return None
    if row.activity is not None or row.progress:
        return None
    if any(getattr(req, a) and getattr(req, a) != getattr(row, a) for a in _REPORTED):
        return None
    if row.config_acked != min(req.config_version, row.config_version):
        return None
    if (
        row.approved_at is not None
        and row.configured_at is not None
        and req.config_version < row.config_version
    ):
        return None  # a configuration to deliver
    skew = (req.client_time - now).total_seconds()
    limit = ctx.settings.max_clock_skew
    if abs(skew - row.clock_skew) > SKEW_SLACK or (abs(skew) > limit) != (abs(row.clock_skew) > limit):
        return None
    moved = (now - row.last_seen).total_seconds()
    slack = last_seen_slack(ctx.settings.offline_after)
    if moved >= ctx.settings.offline_after / 3:
        return None  # written at once by the full path
    st = node_state(cast(Node, row), limit)
    resp = CheckinResponse(
        server_time=now,
        node_id=row.id,
        status=derive_status(st, now, ctx.settings.offline_after).value,
        config_version=row.config_version,
    )
    if stats is not None:
        flush_due = ctx.liveness.note(row.id, now, flush=conn is None, stats=stats)
    else:
        flush_due = moved >= slack and ctx.liveness.note(row.id, now, flush=conn is None)
    return resp, flush_due


def _idle_row(conn: Connection, node_id: str, check_commands: bool) -> Any:
    """The node's row for `idle_checkin`, or None when it is gone or (``check_commands``) has a
    command to deliver."""
    row = _IDLE_READ.one_or_none(conn, node_id=node_id)
    if row is not None and check_commands and _OPEN_COMMAND.one_or_none(conn, node_id=node_id):
        return None
    return row


_REPORTED = ("version", "engine_version", "host_os", "hostname")


def deliverables(
    db: Session, ctx: ConsoleContext, node: Node, client_config_version: int, query_commands: bool = True
) -> CheckinResponse:
    """What the node must receive now: configuration newer than it has, open commands.

    ``query_commands=False`` when the notifier knows the node has none open (`Notifier.maybe_pending`)."""
    now = utcnow()
    st = node_state(node, ctx.settings.max_clock_skew)
    config = None
    if (
        node.approved_at is not None
        and node.configured_at is not None
        and client_config_version < node.config_version
    ):
        config = agent_config_payload(db, ctx, node) if node.kind == "agent" else dict(node.config)
    commands: list[CommandMessage] = []
    if node.approved_at is not None and not node.paused and query_commands:
        for cmd in db.scalars(
            select(Command)
            .where(Command.node_id == node.id, Command.state.in_(("pending", "delivered")))
            .order_by(Command.created_at)
        ):
            if cmd.expires_at <= now:
                cmd.state, cmd.finished_at, cmd.error = "expired", now, "expired before delivery"
                continue
            if cmd.state == "pending":
                cmd.state, cmd.delivered_at = "delivered", now
            commands.append(
                CommandMessage(id=cmd.id, type=cmd.type, args=cmd.args, expires_at=cmd.expires_at)
            )
    return CheckinResponse(
        server_time=now,
        node_id=node.id,
        status=derive_status(st, now, ctx.settings.offline_after).value,
        config_version=node.config_version,
        config=config,
        commands=commands,
    )
