"""Fleet logic: pairing keys, enrollment, approval, configuration, commands, check-ins."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Connection, bindparam, or_, select, update
from sqlalchemy.orm import Session, defer

from otwatch.console.alerts.service import ingest as ingest_alerts
from otwatch.console.assets.service import ingest as ingest_assets
from otwatch.console.assets.service import parse_reports
from otwatch.console.audit import service as audit
from otwatch.console.auth.models import Role
from otwatch.console.auth.service import authenticate, resolve_api_key
from otwatch.console.context import ConsoleContext
from otwatch.console.credentials.models import Credential
from otwatch.console.db import FixedRead, after_commit, utcnow
from otwatch.console.deps import ROLE_PERMISSIONS, Permission
from otwatch.console.errors import APIError, conflict, invalid, not_found
from otwatch.console.fleet.models import Command, DuplicatedNetwork, IssuedCertificate, Node, PairingKey
from otwatch.console.fleet.schemas import (
    NOT_PUSHED,
    SENSOR_DEFAULTS,
    SETTING_GROUPS,
    AgentConfigIn,
    NodeOut,
    PushResult,
    PushSettingsIn,
    PushSettingsOut,
    Schedule,
    SensorConfigIn,
    SettingGroup,
    SettingGroupOut,
)
from otwatch.console.fleet.status import (
    REFUSED,
    NodeState,
    NodeStatus,
    ScanResult,
    derive_status,
    disconnect_reason,
)
from otwatch.console.forwarding import service as forwarding
from otwatch.console.networks.service import outside_monitored
from otwatch.console.settings import service as settings
from otwatch.console.updates import service as updates
from otwatch.console.updates.models import UpdatePackage
from otwatch.wire import package, pki
from otwatch.wire.messages import (
    CheckinRequest,
    CheckinResponse,
    CommandMessage,
    EnrollMethod,
    EnrollRequest,
    EnrollResponse,
)
from otwatch.wire.pairing import PairingKey as WireKey
from otwatch.wire.pairing import hash_secret, new_secret, secret_matches

COMMAND_TTL = timedelta(hours=1)
OPEN_STATES = ("pending", "delivered", "running")


# ---------------------------------------------------------------- wake-ups


def wake_after_commit(db: Session, ctx: ConsoleContext, node_id: str) -> None:
    """Wake the node's long-poll once this transaction is committed — never before, or the woken
    check-in could read the old row and go back to sleep with nothing. On PostgreSQL the wake-up also
    goes to the other console processes as a NOTIFY in this transaction (sent by the commit)."""
    ctx.notifier.touch(node_id)  # already now: a check-in in this transaction must look (wire_routes)
    ctx.notifier.publish(db, node_id)
    after_commit(db, lambda: ctx.notifier.wake(node_id))


# ---------------------------------------------------------------- status


def node_state(n: Node, max_skew: float) -> NodeState:
    return NodeState(
        kind=n.kind,
        approved=n.approved_at is not None,
        configured=n.configured_at is not None,
        paused=n.paused,
        uninstalled=n.uninstalled_at is not None,
        first_seen=n.first_seen,
        last_seen=n.last_seen,
        time_drift=abs(n.clock_skew) > max_skew,
        activity=n.activity,
        config_version=n.config_version,
        config_acked=n.config_acked,
        unprocessable=n.disconnect_reason in REFUSED,
    )


def status_of(ctx: ConsoleContext, n: Node, now: datetime | None = None) -> NodeStatus:
    return derive_status(
        node_state(n, ctx.settings.max_clock_skew), now or utcnow(), ctx.settings.offline_after
    )


def node_out(
    ctx: ConsoleContext, n: Node, cred_names: dict[str, str], now: datetime | None = None
) -> NodeOut:
    now = now or utcnow()
    st = node_state(n, ctx.settings.max_clock_skew)
    status = derive_status(st, now, ctx.settings.offline_after)
    schedule = Schedule.model_validate(n.config.get("schedule", {}))
    return NodeOut(
        id=n.id,
        kind=n.kind,
        name=n.name or n.hostname,
        ip=n.ip,
        hostname=n.hostname,
        status=status.value,
        status_colour=status.colour,
        disconnect_reason=disconnect_reason(st, n.disconnect_reason, now, ctx.settings.offline_after),
        last_scan_result=n.last_scan_result,
        active_query_networks=list(n.config.get("active_query_networks", [])),
        scan_schedule=schedule.label(),
        last_scan=n.last_scan_at,
        last_scan_duration=n.last_scan_duration,
        credentials=[cred_names.get(c, "(deleted)") for c in n.config.get("credential_ids", [])],
        reported_assets=n.reported_assets,
        version=n.version,
        engine_version=n.engine_version,
        host_os=n.host_os,
        enrolled_at=n.enrolled_at,
        approved_at=n.approved_at,
        last_seen=n.last_seen,
        clock_skew=n.clock_skew,
        paused=n.paused,
        progress=n.progress,
        settings={**SENSOR_DEFAULTS, **n.config} if n.kind == "sensor" else {},
        stats=n.stats if n.kind == "sensor" else {},
        threat_intel_version=threat_intel_version(n) if n.kind == "sensor" else None,
        config_version=n.config_version,
        config_acked=n.config_acked,
    )


def credential_names(db: Session) -> dict[str, str]:
    return {cid: name for cid, name in db.execute(select(Credential.id, Credential.name))}


# ---------------------------------------------------------------- pairing keys


def create_pairing_key(
    db: Session, ctx: ConsoleContext, actor: str, address: str | None, expires_days: int, description: str
) -> tuple[PairingKey, str]:
    secret = new_secret()
    row = PairingKey(
        address=address or ctx.settings.address,
        description=description,
        secret_hash=hash_secret(secret),
        created_by=actor,
        expires_at=utcnow() + timedelta(days=expires_days),
    )
    db.add(row)
    db.flush()
    text = WireKey(
        address=row.address, fingerprint=ctx.pki.fingerprint, key_id=row.id, secret=secret
    ).encode()
    audit.record(db, actor, "pairing_key.created", row.id, description=description, expires_days=expires_days)
    return row, text


def revoke_pairing_key(db: Session, actor: str, key_id: str) -> PairingKey:
    row = db.get(PairingKey, key_id)
    if row is None:
        raise not_found("pairing key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(db, actor, "pairing_key.revoked", row.id)
    return row


# ---------------------------------------------------------------- enrollment


def _enroller(db: Session, req: EnrollRequest, now: datetime) -> str:
    """Check the enrolment credentials; return who vouched for the node (for the audit log)."""
    if req.method is EnrollMethod.PAIRING_KEY:
        key = db.get(PairingKey, req.key_id or "")
        if key is None or not secret_matches(req.secret or "", key.secret_hash):
            raise APIError(401, "invalid_pairing_key", "pairing key is not valid for this console")
        if key.revoked_at is not None:
            raise APIError(401, "revoked_pairing_key", "pairing key was revoked; generate a new one")
        if key.expires_at <= now:
            raise APIError(
                401,
                "expired_pairing_key",
                f"pairing key expired on {key.expires_at:%Y-%m-%d %H:%M} UTC; generate a new one",
            )
        key.uses += 1
        return f"pairing key {key.id}"
    if req.method is EnrollMethod.PASSWORD:
        user = authenticate(db, req.username or "", req.password or "")
        if user is None:
            raise APIError(401, "bad_credentials", "wrong console username or password")
    else:
        found = resolve_api_key(db, req.api_key or "")
        if found is None:
            raise APIError(401, "bad_credentials", "API key is invalid or revoked")
        user = found[0]
    if Permission.MANAGE_FLEET not in ROLE_PERMISSIONS[Role(user.role)]:
        raise APIError(
            403, "forbidden", f"user {user.username!r} ({user.role}) may not pair agents or sensors"
        )
    return f"user {user.username}" + (" (API key)" if req.method is EnrollMethod.API_KEY else "")


def _load_csr(text: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(text.encode())
    except ValueError as exc:
        raise invalid("csr_pem is not a PEM certificate signing request") from exc
    if not csr.is_signature_valid:
        raise invalid("certificate signing request signature is invalid")
    if not isinstance(csr.public_key(), ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise invalid("certificate signing request must carry an EC or RSA public key")
    return csr


def enroll(db: Session, ctx: ConsoleContext, req: EnrollRequest, client_ip: str) -> EnrollResponse:
    now = utcnow()
    if req.kind == "sensor" and req.version and updates.newer_than_console(req.version):
        raise APIError(409, "version_too_new", updates.too_new_message(req.version))
    csr = _load_csr(req.csr_pem)
    vouched = _enroller(db, req, now)
    pub_sha = pki.public_key_sha256(csr.public_key())
    if db.scalar(select(IssuedCertificate).where(IssuedCertificate.public_key_sha256 == pub_sha)):
        raise APIError(
            409, "replayed_enrollment", "this key pair is already enrolled: replayed enrolment refused"
        )
    node = db.scalar(select(Node).where(Node.install_id == req.install_id))
    if node is not None and not req.repair:
        raise conflict("this installation is already paired; use repair to pair it again")
    if node is None:
        node = Node(kind=req.kind, install_id=req.install_id, enrolled_via=vouched, name=req.hostname)
        if settings.get(db, "auto_approve"):
            node.approved_at = now
        db.add(node)
        db.flush()
        action = "node.enrolled"
    else:
        if node.kind != req.kind:
            raise conflict(f"installation {req.install_id} is a paired {node.kind}, not a {req.kind}")
        db.execute(
            update(IssuedCertificate)
            .where(IssuedCertificate.node_id == node.id, IssuedCertificate.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        _forget_serials(node)
        node.uninstalled_at = None
        node.last_seen = None
        node.disconnect_reason = None
        node.activity = None
        node.config_acked = 0  # the repaired installation must pick its configuration up again
        action = "node.repaired"
    node.hostname, node.host_os, node.ip = req.hostname, req.host_os, client_ip
    node.version, node.engine_version = req.version, req.engine_version
    node.enrolled_at = now
    cert = ctx.pki.issue_client(csr.public_key(), f"{req.kind}:{node.id}")
    serial = pki.serial_hex(cert)
    db.add(
        IssuedCertificate(
            serial=serial, node_id=node.id, public_key_sha256=pub_sha, not_after=cert.not_valid_after_utc
        )
    )
    node.cert_serial = serial
    audit.record(db, vouched, action, node.id, kind=req.kind, hostname=req.hostname, ip=client_ip)
    return EnrollResponse(
        node_id=node.id,
        status=status_of(ctx, node, now).value,
        certificate_pem=pki.cert_pem(cert).decode(),
        ca_pem=ctx.pki.ca_pem,
        server_time=now,
        release_keys=[package.public_pem(k) for k in updates.trusted_keys(ctx)],
    )


#: certificate serial -> node id, learnt from IssuedCertificate (a hint, checked against the node row)
_SERIAL_NODE: dict[str, str] = {}
_SERIAL_CACHE_MAX = 50_000


# A check-in rarely needs a node's JSON: the configuration only when it is newer than the node's,
# the statistics never (a report replaces them). Parsing a sensor's statistics at every check-in
# cost more than the rest of the row; they load on first access when needed.
_CHECKIN_LOAD = (defer(Node.stats), defer(Node.config))


def node_for_certificate(db: Session, serial: str) -> Node:
    """The node a client certificate belongs to, or 401 when it is unknown or revoked.

    Check-ins call this every time, so the serial -> node id mapping is cached in the process, but
    never trusted alone: the node row read anyway must still name this serial as its current
    certificate and not be uninstalled. Every revocation goes with one of these (repair issues a new
    serial, delete removes the row, goodbye marks it uninstalled), so a revocation made by any
    console process is seen at once; anything else falls back to the IssuedCertificate row.
    """
    node_id = _SERIAL_NODE.get(serial)
    if node_id is not None:
        node = db.get(Node, node_id, options=_CHECKIN_LOAD)
        if node is not None and node.cert_serial == serial and node.uninstalled_at is None:
            return node
        _SERIAL_NODE.pop(serial, None)
    cert = db.get(IssuedCertificate, serial)
    if cert is None or cert.revoked_at is not None:
        raise APIError(401, "certificate_revoked", "client certificate is unknown or revoked; pair again")
    node = db.get(Node, cert.node_id)
    if node is None:
        raise APIError(401, "certificate_revoked", "node was deleted; pair again")
    if node.cert_serial == serial and node.uninstalled_at is None:
        if len(_SERIAL_NODE) >= _SERIAL_CACHE_MAX:
            _SERIAL_NODE.clear()
        _SERIAL_NODE[serial] = node.id
    return node


def cached_node_id(serial: str) -> str | None:
    """The node id cached for a certificate serial (unverified: see `node_for_certificate`)."""
    return _SERIAL_NODE.get(serial)


def _forget_serials(node: Node) -> None:
    """Drop the node's cached serial (revoked); other processes see the changed row instead."""
    _SERIAL_NODE.pop(node.cert_serial, None)


# ---------------------------------------------------------------- operator actions


def get_node(db: Session, node_id: str, kind: str | None = None) -> Node:
    node = db.get(Node, node_id)
    if node is None or (kind is not None and node.kind != kind):
        raise not_found(kind or "node")
    return node


def approve(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> None:
    if node.approved_at is not None:
        raise conflict("already approved")
    node.approved_at = utcnow()
    audit.record(db, actor, "node.approved", node.id)
    wake_after_commit(db, ctx, node.id)


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


# ---------------------------------------------------------------- push settings (sensor to sensors)

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


def set_schedule(db: Session, ctx: ConsoleContext, actor: str, node: Node, schedule: Schedule) -> None:
    if node.kind != "agent" or node.configured_at is None:
        raise conflict("configure the agent before scheduling its scans")
    node.config = {**node.config, "schedule": schedule.model_dump(mode="json")}
    node.config_version += 1
    audit.record(db, actor, "agent.schedule_set", node.id, schedule=schedule.label())
    wake_after_commit(db, ctx, node.id)


def _ready_for_commands(ctx: ConsoleContext, node: Node) -> None:
    st = status_of(ctx, node)
    if st in (
        NodeStatus.PENDING_APPROVAL,
        NodeStatus.PENDING_CONFIGURATION,
        NodeStatus.DISCONNECTED,
        NodeStatus.PAUSED,
    ):
        raise conflict(f"the agent is {st.value}")


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


def request_update(db: Session, ctx: ConsoleContext, actor: str, node: Node) -> Command:
    """Update OTD Version: push the newest uploaded engine to a Connected agent."""
    if node.kind != "agent":
        raise conflict("sensor versions are updated from System Settings > Version Update")
    pkg = updates.newest(db, "otd")
    if pkg is None:
        raise conflict(
            "no OT Discovery engine (OTD) package has been uploaded (System Configuration > Updates)"
        )
    st = status_of(ctx, node)
    if st is not NodeStatus.CONNECTED:
        raise conflict(f"the agent must be Connected to update (it is {st.value})")
    if not updates.needs(node.engine_version, pkg):
        raise conflict(f"the agent already runs OTD {node.engine_version}")
    busy = db.scalar(
        select(Command).where(
            Command.node_id == node.id, Command.type == "update", Command.state.in_(OPEN_STATES)
        )
    )
    if busy is not None:
        raise conflict("an update is already in progress", {"command_id": busy.id})
    args = {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind}
    return queue_command(db, ctx, actor, node, "update", args)


def auto_update(db: Session, ctx: ConsoleContext, node: Node) -> None:
    """With Auto-Updates on, a Connected agent on an older engine gets the newest one."""
    if node.kind != "agent" or not settings.cached(db, "auto_update"):
        return
    pkg = updates.newest(db, "otd")
    if (
        pkg is None
        or not updates.needs(node.engine_version, pkg)
        or status_of(ctx, node) is not NodeStatus.CONNECTED
    ):
        return
    tried = db.scalar(
        select(Command)
        .where(Command.node_id == node.id, Command.type == "update")
        .order_by(Command.created_at.desc())
    )
    if tried is not None and (tried.state in OPEN_STATES or tried.args.get("version") == pkg.version):
        return  # in progress, or this version already tried (a failed update is retried by hand)
    queue_command(
        db,
        ctx,
        "auto-update",
        node,
        "update",
        {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind},
    )


def set_paused(db: Session, ctx: ConsoleContext, actor: str, node: Node, paused: bool) -> None:
    node.paused = paused
    audit.record(db, actor, "node.paused" if paused else "node.resumed", node.id)
    wake_after_commit(db, ctx, node.id)


def delete_node(db: Session, actor: str, node: Node) -> None:
    dup = db.scalar(select(DuplicatedNetwork).where(DuplicatedNetwork.node_id == node.id))
    if dup is not None:
        raise conflict(
            "delete the duplicated networks associated with this agent first",
            {"duplicated_network": dup.cidr},
        )
    db.execute(
        update(IssuedCertificate).where(IssuedCertificate.node_id == node.id).values(revoked_at=utcnow())
    )
    audit.record(db, actor, "node.deleted", node.id, name=node.name, kind=node.kind)
    _forget_serials(node)
    db.delete(node)


# ---------------------------------------------------------------- check-in


def goodbye(db: Session, node: Node, reason: str) -> None:
    now = utcnow()
    node.uninstalled_at = now
    node.activity = None
    db.execute(update(IssuedCertificate).where(IssuedCertificate.node_id == node.id).values(revoked_at=now))
    _forget_serials(node)
    audit.record(db, f"node:{node.id}", "node.uninstalled", node.id, reason=reason)


def _apply_result(db: Session, node: Node, res: Any, now: datetime) -> None:
    cmd = db.get(Command, res.id)
    if cmd is None and res.result.get("scheduled") and res.id.startswith("sched-") and len(res.id) <= 32:
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
        started = res.result.get("started_at")
        node.last_scan_at = datetime.fromisoformat(started) if started else cmd.delivered_at or now
        node.last_scan_duration = res.result.get("duration")
        if res.state == "done":
            reports = parse_reports(res.result.get("assets") or [])
            ingest_assets(db, node.id, reports, now)
            node.reported_assets = int(res.result.get("asset_count", len(reports)))


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
    for res in req.results:
        _apply_result(db, node, res, now)
    for rep in req.reports:
        if rep.kind == "assets":
            ingest_assets(db, node.id, rep.assets, now)
        elif rep.kind == "alerts" and node.kind == "sensor":
            forwarding.enqueue_alerts(db, node, ingest_alerts(db, node.id, rep.alerts))
        elif rep.kind == "stats" and node.kind == "sensor":
            node.stats = rep.stats


# What `node_state` and a disconnect reason read of a node: for status without the ORM object.
STATUS_COLUMNS = (
    Node.id,
    Node.kind,
    Node.approved_at,
    Node.configured_at,
    Node.paused,
    Node.uninstalled_at,
    Node.first_seen,
    Node.last_seen,
    Node.clock_skew,
    Node.activity,
    Node.config_version,
    Node.config_acked,
    Node.disconnect_reason,
)
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
    if row.kind == "agent":
        if stats is not None or settings.cached_on(ctx.db.engine, "auto_update"):  # usually no query
            return None
    elif req.version and updates.newer_than_console(req.version):
        return None
    elif stats is not None and _intel_to_offer(ctx, stats):
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


def _intel_to_offer(ctx: ConsoleContext, stats: dict[str, Any]) -> bool:
    """Whether a sensor reporting ``stats`` may be offered a threat-intelligence package
    (`offer_threat_intel` decides; this only spares the full path when there is surely nothing)."""
    newest = updates.newest_version(ctx, "threat-intel")
    if newest is None:
        return False
    in_use = _intel_version(stats)
    return in_use is None or updates.needs_version(in_use, newest)


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


def agent_config_payload(db: Session, ctx: ConsoleContext, node: Node) -> dict[str, Any]:
    """The configuration as the agent needs it: credentials decrypted, only over the mTLS link."""
    creds = []
    for cid in node.config.get("credential_ids", []):
        row = db.get(Credential, cid)
        if row is not None:
            creds.append({"id": row.id, "name": row.name, "kind": row.kind, **ctx.vault.open(row.secret)})
    return {**{k: v for k, v in node.config.items() if k != "credential_ids"}, "credentials": creds}


# ---------------------------------------------------------------- threat intelligence


def threat_intel_version(node: Node) -> str | None:
    """The threat-intelligence package version a sensor reported in use (its latest statistics)."""
    return _intel_version(node.stats)


def _intel_version(stats: Any) -> str | None:
    system = stats.get("system") if isinstance(stats, dict) else None
    intel = system.get("threat_intel") if isinstance(system, dict) else None
    version = intel.get("version") if isinstance(intel, dict) else None
    return str(version) if version else None


THREAT_INTEL_ATTEMPTS = 3  # failed installs of one version before the console stops offering it


def offer_threat_intel(
    db: Session,
    ctx: ConsoleContext,
    node: Node,
    actor: str = "threat-intel",
    pkg: UpdatePackage | None = None,
) -> str:
    """Queue the newest threat-intelligence package for a sensor that does not use it yet.

    Called when a package is uploaded (every sensor) and whenever a sensor reports its statistics,
    so a sensor that was disconnected gets it when it comes back (an expired command is offered
    again). Returns "ok" when queued, otherwise why not."""
    if node.kind != "sensor" or node.approved_at is None or node.uninstalled_at is not None:
        return "not an approved sensor"
    if node.paused:
        return "paused"
    pkg = pkg or updates.newest(db, "threat-intel")
    if pkg is None:
        return "no threat-intelligence package uploaded"
    in_use = threat_intel_version(node)
    if in_use is not None and not updates.needs(in_use, pkg):
        return f"already uses {in_use}"
    tries = [
        c
        for c in db.scalars(select(Command).where(Command.node_id == node.id, Command.type == "threat_intel"))
        if c.args.get("version") == pkg.version
    ]
    if any(c.state in (*OPEN_STATES, "done") for c in tries):
        return "already queued"
    if sum(c.state == "failed" for c in tries) >= THREAT_INTEL_ATTEMPTS:
        return f"installing {pkg.version} failed {THREAT_INTEL_ATTEMPTS} times"
    args = {"package_id": pkg.id, "version": pkg.version, "sha256": pkg.sha256, "kind": pkg.kind}
    queue_command(db, ctx, actor, node, "threat_intel", args)
    return "ok"


def distribute_threat_intel(
    db: Session, ctx: ConsoleContext, actor: str, pkg: UpdatePackage
) -> dict[str, str]:
    """An uploaded threat-intelligence package goes to every sensor: {sensor id: "ok" | why not}."""
    sensors = db.scalars(select(Node).where(Node.kind == "sensor", Node.uninstalled_at.is_(None)))
    results = {n.id: offer_threat_intel(db, ctx, n, actor, pkg) for n in sensors}
    audit.record(db, actor, "threat_intel.distributed", pkg.file_name, version=pkg.version, results=results)
    return results
