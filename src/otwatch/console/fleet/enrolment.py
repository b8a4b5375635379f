"""Enrolment: an agent or sensor pairs (pairing key, console password or API key) or pairs again
(repair), and gets its client certificate."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.auth.models import Role
from otwatch.console.auth.service import AuditThrottle, authenticate, resolve_api_key
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.deps import ROLE_PERMISSIONS, Permission
from otwatch.console.errors import APIError, conflict, invalid
from otwatch.console.fleet.certificates import forget_serials
from otwatch.console.fleet.commands import OPEN_STATES
from otwatch.console.fleet.models import (
    MAX_PAIRING_KEY_LIFETIME,
    Command,
    IssuedCertificate,
    Node,
    PairingKey,
)
from otwatch.console.fleet.nodes import status_of
from otwatch.console.settings import service as settings
from otwatch.console.updates import service as updates
from otwatch.ui import signin
from otwatch.wire import package, pki
from otwatch.wire.messages import EnrollMethod, EnrollRequest, EnrollResponse
from otwatch.wire.pairing import secret_matches

__all__ = ["enroll"]


#: every refused password enrolment gets this answer (a wrong name, a wrong password, a role that may
#: not pair nodes): the answer tells a guesser nothing
WRONG_PAIRING_LOGIN = "wrong console username or password, or the user may not pair agents or sensors"


def _used_up(key: PairingKey) -> APIError:
    return APIError(
        401, "used_pairing_key", f"pairing key was already used {key.max_uses} time(s); generate a new one"
    )


def _enroller(db: Session, req: EnrollRequest, now: datetime, throttle: AuditThrottle | None = None) -> str:
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
        if key.created_at + MAX_PAIRING_KEY_LIFETIME <= now:
            raise APIError(401, "expired_pairing_key", "pairing key is too old; generate a new one")
        if key.uses >= key.max_uses:
            raise _used_up(key)
        if key.kind is not None and key.kind != req.kind:
            raise APIError(
                401, "wrong_kind_pairing_key", f"this pairing key pairs {key.kind}s, not {req.kind}s"
            )
        # one atomic UPDATE: concurrent enrolments cannot race past the use limit; a key made for
        # either kind is bound to the kind of its first node
        used = db.execute(
            update(PairingKey)
            .where(
                PairingKey.id == key.id,
                PairingKey.uses < PairingKey.max_uses,
                or_(PairingKey.kind.is_(None), PairingKey.kind == req.kind),
            )
            .values(uses=PairingKey.uses + 1, kind=req.kind)
            .execution_options(synchronize_session=False)
        )
        if not used.rowcount:  # type: ignore[attr-defined]
            raise _used_up(key)  # a concurrent enrolment took the last use
        return f"pairing key {key.id}"
    if req.method is EnrollMethod.PASSWORD:
        # the one sign-in path (otwatch.ui.signin): the same per-user lockout as the sign-in pages,
        # counted per normalised name, and one answer for every failure
        outcome = signin.sign_in(
            None,
            req.username or "",
            req.password or "",
            throttle or AuditThrottle(db),
            partial(authenticate, db),
        )
        if outcome.status == 429:
            raise APIError(429, "locked_out", outcome.error or "", {"retry_after": outcome.retry_after})
        user = outcome.principal
        if user is None or Permission.MANAGE_FLEET not in ROLE_PERMISSIONS[Role(user.role)]:
            raise APIError(401, "bad_credentials", WRONG_PAIRING_LOGIN)
    else:
        found = resolve_api_key(db, req.api_key or "")
        if found is None or Permission.MANAGE_FLEET not in ROLE_PERMISSIONS[Role(found[0].role)]:
            raise APIError(401, "bad_credentials", "API key is invalid, revoked or may not pair nodes")
        user = found[0]
    return f"user {user.username}" + (" (API key)" if req.method is EnrollMethod.API_KEY else "")


def _reset_trust(db: Session, node: Node, now: datetime, auto: bool) -> bool:
    """An unproven repair: approval (unless Auto-Approve) and configuration reset, open commands
    dropped. Returns True."""
    node.approved_at = now if auto else None
    node.configured_at = None
    node.config_version += 1  # whatever configuration comes next is new to the node
    db.execute(
        update(Command)
        .where(Command.node_id == node.id, Command.state.in_(OPEN_STATES))
        .values(state="failed", finished_at=now, error="the node was paired again (repair)")
        .execution_options(synchronize_session=False)
    )
    return True


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


def enroll(
    db: Session, ctx: ConsoleContext, req: EnrollRequest, client_ip: str, proof_serial: str | None = None
) -> EnrollResponse:
    """Pair a node, or pair an installation again (``repair``). ``proof_serial``: the serial of the
    client certificate the node presented on this request (verified by TLS against the console CA).

    A repair that proves the node's current certificate keeps its approval and configuration. Any
    other repair (a reinstalled host, or someone who read the install id and holds a pairing key)
    resets both: the node is Pending Approval again and receives no configuration, credentials
    or commands until an operator approves and configures it again."""
    now = utcnow()
    if req.kind == "sensor" and req.version and updates.newer_than_console(req.version):
        raise APIError(409, "version_too_new", updates.too_new_message(req.version))
    csr = _load_csr(req.csr_pem)
    vouched = _enroller(db, req, now, AuditThrottle(db, ctx.sign_in_addresses, client_ip))
    pub_sha = pki.public_key_sha256(csr.public_key())
    if db.scalar(select(IssuedCertificate).where(IssuedCertificate.public_key_sha256 == pub_sha)):
        raise APIError(
            409, "replayed_enrollment", "this key pair is already enrolled: replayed enrolment refused"
        )
    node = db.scalar(select(Node).where(Node.install_id == req.install_id))
    reset = False
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
        proven = proof_serial is not None and proof_serial == node.cert_serial
        if not proven:
            reset = _reset_trust(db, node, now, auto=bool(settings.get(db, "auto_approve")))
        db.execute(
            update(IssuedCertificate)
            .where(IssuedCertificate.node_id == node.id, IssuedCertificate.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        forget_serials(node)
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
    extra = {"approval_reset": reset} if action == "node.repaired" else {}
    audit.record(db, vouched, action, node.id, kind=req.kind, hostname=req.hostname, ip=client_ip, **extra)
    return EnrollResponse(
        node_id=node.id,
        status=status_of(ctx, node, now).value,
        certificate_pem=pki.cert_pem(cert).decode(),
        ca_pem=ctx.pki.ca_pem,
        server_time=now,
        release_keys=[package.public_pem(k) for k in updates.trusted_keys(ctx)],
    )
