"""Pairing keys: created by an operator (or an activation file), revoked by one; enrolment checks them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.errors import invalid, not_found
from otwatch.console.fleet.models import MAX_PAIRING_KEY_DAYS, MAX_PAIRING_KEY_USES, PairingKey
from otwatch.wire.pairing import PairingKey as WireKey
from otwatch.wire.pairing import hash_secret, new_secret

__all__ = ["create_pairing_key", "revoke_pairing_key"]


def create_pairing_key(
    db: Session,
    ctx: ConsoleContext,
    actor: str,
    address: str | None,
    expires_days: int,
    description: str,
    *,
    max_uses: int = 1,
    kind: str | None = None,
) -> tuple[PairingKey, str]:
    """A pairing key for ``max_uses`` enrolments of a ``kind`` node (None: bound at its first use),
    valid ``expires_days`` (at most MAX_PAIRING_KEY_DAYS)."""
    if not 1 <= expires_days <= MAX_PAIRING_KEY_DAYS:
        raise invalid(f"a pairing key expires within 1 to {MAX_PAIRING_KEY_DAYS} days")
    if not 1 <= max_uses <= MAX_PAIRING_KEY_USES:
        raise invalid(f"a pairing key pairs 1 to {MAX_PAIRING_KEY_USES} nodes")
    secret = new_secret()
    row = PairingKey(
        address=address or ctx.settings.address,
        description=description,
        secret_hash=hash_secret(secret),
        created_by=actor,
        expires_at=utcnow() + timedelta(days=expires_days),
        max_uses=max_uses,
        kind=kind,
    )
    db.add(row)
    db.flush()
    text = WireKey(
        address=row.address, fingerprint=ctx.pki.fingerprint, key_id=row.id, secret=secret
    ).encode()
    audit.record(
        db, actor, "pairing_key.created", row.id,
        description=description, expires_days=expires_days, max_uses=max_uses, kind=kind,
    )  # fmt: skip
    return row, text


def revoke_pairing_key(db: Session, actor: str, key_id: str) -> PairingKey:
    row = db.get(PairingKey, key_id)
    if row is None:
        raise not_found("pairing key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(db, actor, "pairing_key.revoked", row.id)
    return row
