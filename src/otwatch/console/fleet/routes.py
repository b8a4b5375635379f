"""Data Collection > Data Sources: pairing keys, agents, sensors and their actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.deps import CtxDep, FleetAdmin, Operator, Permission, Principal, SessionDep, Viewer
from otwatch.console.errors import APIError, conflict, invalid, not_found
from otwatch.console.fleet import (
    commands,
    configuration,
    lifecycle,
    listing,
    nodes,
    packages,
    pairing,
    push,
    settingtests,
)
from otwatch.console.fleet.models import Node, PairingKey
from otwatch.console.fleet.schemas import (
    TESTABLE_GROUPS,
    AgentConfigIn,
    BulkIn,
    BulkOut,
    FleetSettings,
    FleetSettingsPatch,
    NodeOut,
    PairingKeyCreated,
    PairingKeyIn,
    PairingKeyOut,
    PushSettingsIn,
    PushSettingsOut,
    Schedule,
    SensorConfigIn,
    SensorNameIn,
    SettingGroupOut,
    SettingTestIn,
)
from otwatch.console.fleet.status import NodeStatus
from otwatch.console.forwarding.schemas import TestResult
from otwatch.console.pagination import Page, PageDep, paginate
from otwatch.console.settings import service as settings
from otwatch.console.tables import csv_response
from otwatch.wire.settings import SettingGroup

router = APIRouter(prefix="/api/v1", tags=["fleet"])


@router.get("/pairing-keys", response_model=Page[PairingKeyOut])
def list_pairing_keys(_: FleetAdmin, db: SessionDep, page: PageDep) -> dict[str, object]:
    rows, total = paginate(db, select(PairingKey).order_by(PairingKey.created_at.desc()), page)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset}


@router.post("/pairing-keys", response_model=PairingKeyCreated, status_code=201)
def create_pairing_key(body: PairingKeyIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> dict[str, object]:
    row, text = pairing.create_pairing_key(
        db, ctx, p.actor, body.address, body.expires_days, body.description,
        max_uses=body.max_uses, kind=body.kind,
    )  # fmt: skip
    db.commit()
    return {**PairingKeyOut.model_validate(row).model_dump(), "pairing_key": text}


@router.delete("/pairing-keys/{key_id}", response_model=PairingKeyOut)
def revoke_pairing_key(key_id: str, p: FleetAdmin, db: SessionDep) -> PairingKey:
    row = pairing.revoke_pairing_key(db, p.actor, key_id)
    db.commit()
    return row


@router.get("/fleet/settings", response_model=FleetSettings)
def get_fleet_settings(_: Viewer, db: SessionDep) -> FleetSettings:
    return FleetSettings(
        auto_approve=settings.get(db, "auto_approve"), auto_update=settings.get(db, "auto_update")
    )


@router.patch("/fleet/settings", response_model=FleetSettings)
def patch_fleet_settings(body: FleetSettingsPatch, p: FleetAdmin, db: SessionDep) -> FleetSettings:
    for key, value in body.model_dump(exclude_none=True).items():
        settings.put(db, key, value)
        audit.record(db, p.actor, "fleet.setting_changed", key, value=value)
    db.commit()
    return get_fleet_settings(p, db)


#: a fleet list's query and the instant its statuses are derived at
Filtered = tuple[Select[Any], datetime]


def _node_routes(plural: str) -> APIRouter:
    """The same list/detail/action routes for agents and for sensors."""
    kind = plural[:-1]
    r = APIRouter(prefix=f"/{plural}")

    def _filters(
        ctx: CtxDep,
        status: Annotated[NodeStatus | None, Query()] = None,
        q: Annotated[str | None, Query(max_length=200, description="name, host or IP contains")] = None,
        sort: Annotated[
            str | None,
            Query(
                max_length=30,
                description="column to sort by, - first for descending: " + ", ".join(listing.SORT_KEYS),
            ),
        ] = None,
    ) -> Filtered:
        """The list's filters and order as one query (the list and its CSV export share it), and the
        one instant its statuses are derived at."""
        now = utcnow()
        try:
            return listing.query(ctx, kind, now, status.value if status else None, q, sort), now
        except ValueError as exc:
            raise invalid(str(exc)) from exc

    # a local alias would not resolve in the routes' postponed annotations: the Depends is a default
    filters_dep: Any = Depends(_filters)

    def _outs(ctx: ConsoleContext, db: Session, rows: list[Node], now: datetime) -> list[NodeOut]:
        names = nodes.credential_names(db)
        hosts = nodes.host_asset_ids(db, rows) if kind == "agent" else {}
        updates_of = nodes.last_updates(db, rows)
        dups = nodes.duplicated_networks(db, rows) if kind == "agent" else {}
        return [
            nodes.node_out(ctx, n, names, now, hosts.get(n.id), updates_of.get(n.id), dups.get(n.id))
            for n in rows
        ]

    @r.get("", response_model=Page[NodeOut], name=f"list_{plural}")
    def list_nodes(
        _: Viewer, ctx: CtxDep, db: SessionDep, page: PageDep, filters: Filtered = filters_dep
    ) -> dict[str, object]:
        stmt, now = filters
        rows, total = paginate(db, stmt, page)
        items = _outs(ctx, db, list(rows), now)
        return {"items": items, "total": total, "limit": page.limit, "offset": page.offset}

    @r.get(
        "/export",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
        name=f"export_{plural}",
    )
    def export_nodes(_: Viewer, ctx: CtxDep, db: SessionDep, filters: Filtered = filters_dep) -> Response:
        """Every node the filters select, in the same order, as CSV (the page's Export CSV)."""
        stmt, now = filters
        columns = listing.AGENT_COLUMNS if kind == "agent" else listing.SENSOR_COLUMNS

        def prepare(rows: list[Node]) -> Callable[[Node], NodeOut]:
            outs = {o.id: o for o in _outs(ctx, db, rows, now)}
            return lambda n: outs[n.id]

        return csv_response(db, stmt, columns, f"{plural}.csv", prepare)

    @r.post("/bulk", response_model=BulkOut, name=f"bulk_{plural}")
    def bulk(body: BulkIn, p: Operator, ctx: CtxDep, db: SessionDep) -> BulkOut:
        """Apply one action to many nodes; each node succeeds or fails on its own."""
        results: dict[str, str] = {}
        for node_id in dict.fromkeys(body.ids):
            node = db.get(Node, node_id)
            if node is None or node.kind != kind:
                results[node_id] = "not found"
                continue
            try:
                with db.begin_nested():
                    _one(db, ctx, p, node, body)
                results[node_id] = "ok"
            except APIError as exc:
                results[node_id] = exc.message
        db.commit()
        ok = sum(1 for v in results.values() if v == "ok")
        return BulkOut(results=results, succeeded=ok, failed=len(results) - ok)

    @r.get("/{node_id}", response_model=NodeOut, name=f"get_{kind}")
    def get_node(node_id: str, _: Viewer, ctx: CtxDep, db: SessionDep) -> NodeOut:
        node = nodes.get_node(db, node_id, kind)
        host = nodes.host_asset_ids(db, [node]).get(node.id)
        last = nodes.last_updates(db, [node]).get(node.id)
        dups = nodes.duplicated_networks(db, [node]).get(node.id) if kind == "agent" else None
        return nodes.node_out(
            ctx, node, nodes.credential_names(db), host_asset_id=host, last_update=last, duplicated=dups
        )

    @r.post("/{node_id}/approve", response_model=NodeOut, name=f"approve_{kind}")
    def approve(node_id: str, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> NodeOut:
        node = nodes.get_node(db, node_id, kind)
        lifecycle.approve(db, ctx, p.actor, node)
        return _done(ctx, db, node)

    @r.post("/{node_id}/pause", response_model=NodeOut, name=f"pause_{kind}")
    def pause(node_id: str, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> NodeOut:
        node = nodes.get_node(db, node_id, kind)
        lifecycle.set_paused(db, ctx, p.actor, node, True)
        return _done(ctx, db, node)

    @r.post("/{node_id}/resume", response_model=NodeOut, name=f"resume_{kind}")
    def resume(node_id: str, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> NodeOut:
        node = nodes.get_node(db, node_id, kind)
        lifecycle.set_paused(db, ctx, p.actor, node, False)
        return _done(ctx, db, node)

    @r.delete("/{node_id}", status_code=204, name=f"delete_{kind}")
    def delete(node_id: str, p: FleetAdmin, db: SessionDep) -> None:
        lifecycle.delete_node(db, p.actor, nodes.get_node(db, node_id, kind))
        db.commit()

    return r


def _done(ctx: ConsoleContext, db: Session, node: Node) -> NodeOut:
    db.commit()
    return nodes.node_out(ctx, node, nodes.credential_names(db))


@router.put("/agents/{node_id}/configuration", response_model=NodeOut)
def configure(node_id: str, body: AgentConfigIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> NodeOut:
    node = nodes.get_node(db, node_id, "agent")
    configuration.configure(db, ctx, p.actor, node, body)
    return _done(ctx, db, node)


@router.patch("/sensors/{node_id}", response_model=NodeOut)
def name_sensor(node_id: str, body: SensorNameIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> NodeOut:
    """Name a sensor and say which site it is in (two sensors on one host are no longer both its
    host name); an empty name shows the host name again."""
    node = nodes.get_node(db, node_id, "sensor")
    configuration.name_sensor(db, p.actor, node, body)
    return _done(ctx, db, node)


@router.patch("/sensors/{node_id}/configuration", response_model=NodeOut)
def configure_sensor(
    node_id: str, body: SensorConfigIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep
) -> NodeOut:
    """Learning Mode, analytics engines, Smart IT Learning, subnets and port aliases of one sensor."""
    node = nodes.get_node(db, node_id, "sensor")
    configuration.configure_sensor(db, ctx, p.actor, node, body)
    return _done(ctx, db, node)


@router.post("/sensors/push-settings", response_model=PushSettingsOut)
def push_settings(body: PushSettingsIn, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> PushSettingsOut:
    """Push system settings: duplicate setting groups of one sensor to every other approved sensor
    (``target_ids`` null) or to the chosen ones. Each target succeeds or fails on its own; a sensor
    that is not connected now gets the settings when it checks in again."""
    out = push.push_settings(db, ctx, p.actor, body)
    db.commit()
    return out


@router.get("/sensors/{node_id}/settings/{group}", response_model=SettingGroupOut)
def get_setting_group(node_id: str, group: SettingGroup, _: FleetAdmin, db: SessionDep) -> SettingGroupOut:
    """One sensor's current settings of one group, as the Push settings dialog shows them."""
    return push.setting_group(nodes.get_node(db, node_id, "sensor"), group)


@router.put("/sensors/{node_id}/settings/{group}", response_model=SettingGroupOut)
def put_setting_group(
    node_id: str,
    group: SettingGroup,
    value: Annotated[dict[str, Any] | list[Any], Body(description="the group's value, as GET returns it")],
    p: FleetAdmin,
    ctx: CtxDep,
    db: SessionDep,
) -> SettingGroupOut:
    """Save one setting group of one sensor (the sensor's settings forms in Sites and Sensors).

    The same write as PATCH .../configuration: audited, delivered on the sensor's next long-poll. A 422
    names each field inside the group. Secrets are not part of any group: each sensor keeps its own."""
    node = nodes.get_node(db, node_id, "sensor")
    push.save_setting_group(db, ctx, p.actor, node, group, value)
    out = push.setting_group(node, group)
    db.commit()
    return out


@router.post("/sensors/{node_id}/settings/{group}/test", response_model=TestResult)
async def test_setting_group(
    node_id: str, group: SettingGroup, body: SettingTestIn, p: FleetAdmin, ctx: CtxDep
) -> TestResult:
    """Test a settings form's values (saved or not) against the server they name: Mail server
    (connect, sign in, optionally send a test email), Active Directory (bind, find the base DN),
    DNS reverse lookup (ask each server). It runs from the console, which the answer says."""
    if group not in TESTABLE_GROUPS:
        raise not_found(f"a test for {group}")

    def run() -> TestResult:
        with ctx.db.session() as db:
            node = nodes.get_node(db, node_id, "sensor")
            values = push.group_value(group, body.settings)
            audit.record(
                db,
                p.actor,
                "sensor.settings_tested",
                node.id,
                group=group,
                servers=settingtests.targets(values),
                to=body.to,
                lookup=body.lookup,
            )
        return settingtests.run_check(group, values, body, ctx.settings.delivery_timeout)

    return await run_in_threadpool(run)


@router.post("/agents/{node_id}/scan", response_model=NodeOut, status_code=202)
def scan_now(node_id: str, p: Operator, ctx: CtxDep, db: SessionDep) -> NodeOut:
    node = nodes.get_node(db, node_id, "agent")
    commands.scan_now(db, ctx, p.actor, node)
    return _done(ctx, db, node)


@router.post("/agents/{node_id}/update", response_model=NodeOut, status_code=202)
def update_engine(node_id: str, p: FleetAdmin, ctx: CtxDep, db: SessionDep) -> NodeOut:
    node = nodes.get_node(db, node_id, "agent")
    packages.request_update(db, ctx, p.actor, node)
    return _done(ctx, db, node)


@router.post("/agents/{node_id}/abort", response_model=NodeOut, status_code=202)
def abort_scan(node_id: str, p: Operator, ctx: CtxDep, db: SessionDep) -> NodeOut:
    node = nodes.get_node(db, node_id, "agent")
    commands.abort_scan(db, ctx, p.actor, node)
    return _done(ctx, db, node)


#: Bulk schedules need an online agent. The seed asks for Connected; an agent that is online but busy
#: (Scanning, Updating) or taking its latest settings (Preparing Connection, e.g. right after another
#: bulk action) is accepted too: it was Connected a moment ago and takes the schedule at once.
SCHEDULE_READY: Final = frozenset(
    {NodeStatus.CONNECTED, NodeStatus.SCANNING, NodeStatus.UPDATING, NodeStatus.PREPARING_CONNECTION}
)
BULK_SCHEDULES: Final = frozenset({"enable_schedule", "disable_schedule", "set_schedule"})


def _one(db: Session, ctx: ConsoleContext, p: Principal, node: Node, body: BulkIn) -> None:
    needed = Permission.OPERATE if body.action in ("scan_now", "abort_scan") else Permission.MANAGE_FLEET
    if not p.can(needed):
        raise APIError(403, "forbidden", f"the {p.role.value} role may not {body.action}")
    if body.action in BULK_SCHEDULES and node.kind == "agent":
        st = nodes.status_of(ctx, node)
        if st not in SCHEDULE_READY:
            raise conflict(f"the agent is {st.value}; bulk schedules need a Connected agent")
    match body.action:
        case "approve":
            lifecycle.approve(db, ctx, p.actor, node)
        case "scan_now":
            commands.scan_now(db, ctx, p.actor, node)
        case "abort_scan":
            commands.abort_scan(db, ctx, p.actor, node)
        case "delete":
            lifecycle.delete_node(db, p.actor, node)
        case "enable_schedule":
            current = Schedule.model_validate(node.config.get("schedule", {}))
            every = (current.every, current.unit) if current.enabled else (1, "minutes")
            configuration.set_schedule(
                db, ctx, p.actor, node, Schedule(enabled=True, every=every[0], unit=every[1])
            )
        case "disable_schedule":
            current = Schedule.model_validate(node.config.get("schedule", {}))
            configuration.set_schedule(db, ctx, p.actor, node, current.model_copy(update={"enabled": False}))
        case "set_schedule":
            if body.schedule is None:
                raise APIError(422, "invalid", "set_schedule needs a schedule")
            configuration.set_schedule(
                db, ctx, p.actor, node, body.schedule.model_copy(update={"enabled": True})
            )
        case "pause" | "resume":
            lifecycle.set_paused(db, ctx, p.actor, node, body.action == "pause")
        case "update":
            packages.request_update(db, ctx, p.actor, node)
        case "set_sensor_settings":
            if body.sensor_settings is None:
                raise APIError(422, "invalid", "set_sensor_settings needs sensor_settings")
            configuration.configure_sensor(db, ctx, p.actor, node, body.sensor_settings)


for _plural in ("agents", "sensors"):
    router.include_router(_node_routes(_plural))
