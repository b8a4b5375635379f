"""Passwords (argon2), API keys (shown once, stored hashed) and the initial admin account."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from otwatch.console.audit import service as audit
from otwatch.console.audit.models import AuditEntry
from otwatch.console.auth.models import ApiKey, EndedSession, Role, User
from otwatch.console.db import utcnow
from otwatch.ui import signin
from otwatch.ui.passwords import equalise_timing
from otwatch.ui.passwords import hash_password as hash_password  # the shared hasher, re-exported
from otwatch.ui.passwords import verify_password as verify_password

API_KEY_PREFIX = "otw_"


ADDRESS_FAILURES = signin.ADDRESS_FAILURES
#: failed sign-ins of one user name from all addresses within LOCKOUT that lock the name everywhere
USER_FAILURES_ANYWHERE = signin.USER_FAILURES_ANYWHERE
MAX_FAILURES = signin.MAX_FAILURES  # failed sign-ins per user name ...
LOCKOUT = timedelta(seconds=signin.LOCKOUT_SECONDS)  # ... within this window lock the name for the rest of it


class LockedOut(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(signin.locked_message(retry_after))
        self.retry_after = retry_after


def check_lockout(
    db: Session,
    actor: str,
    action: str = "auth.login_failed",
    limit: int = MAX_FAILURES,
    address: str | None = None,
    anywhere: int = USER_FAILURES_ANYWHERE,
) -> None:
    """Refuse further attempts after ``limit`` failures of ``actor`` within LOCKOUT.

    With ``address``, the ``limit`` counts the failures from that client address only, and
    ``anywhere`` failures from all addresses lock the name everywhere: someone guessing a user's
    password from one address locks that user out of that address, not out of the console, while
    guessing spread over many addresses still locks the name. Counted from the audit log, so every
    console process sharing the database agrees; an Admin's unlock (`unlock_user`) forgets the
    failures before it.
    """
    since = utcnow() - LOCKOUT
    unlocked = db.scalar(
        select(func.max(AuditEntry.at)).where(
            AuditEntry.action == "auth.unlocked", AuditEntry.target == actor
        )
    )
    if unlocked is not None and unlocked >= since:
        since = unlocked
    rows = list(
        db.execute(
            select(AuditEntry.at, AuditEntry.detail)
            .where(AuditEntry.action == action, AuditEntry.actor == actor, AuditEntry.at > since)
            .order_by(AuditEntry.at)
        )
    )
    times = [at for at, _ in rows]
    if address is not None:
        here = [at for at, detail in rows if isinstance(detail, dict) and detail.get("ip") == address]
        for found, most in ((here, limit), (times, anywhere)):
            if len(found) >= most:
                raise LockedOut(int((found[-most] + LOCKOUT - utcnow()).total_seconds()) + 1)
        return
    if len(times) >= limit:
        raise LockedOut(int((times[-limit] + LOCKOUT - utcnow()).total_seconds()) + 1)


class AuditThrottle:
    """Failed sign-ins counted in the audit log (``auth.login_failed``, actor = the normalised name),
    which every console process sharing the database reads: the console's :class:`otwatch.ui.signin.Throttle`.

    With ``addresses`` (the context's per-address throttle) and the caller's ``address``, an address
    with ADDRESS_FAILURES failures in the window is refused before any check, and writes no more
    audit rows: anonymous guessing cannot flood the audit log."""

    def __init__(
        self, db: Session, addresses: signin.MemoryThrottle | None = None, address: str = ""
    ) -> None:
        self.db = db
        self.addresses = addresses
        self.address = address or "(unknown)"

    def retry_after(self, user: str) -> int | None:
        if self.addresses is not None:
            wait = self.addresses.retry_after(self.address)
            if wait is not None:
                return wait
        try:  # per (name, address) when the address is known; the name everywhere past a higher limit
            check_lockout(self.db, user, address=self.address if self.addresses is not None else None)
        except LockedOut as exc:
            return exc.retry_after
        return None

    def failed(self, user: str) -> None:
        audit.record(self.db, user or "(blank)", "auth.login_failed", ip=self.address)
        self.db.commit()
        if self.addresses is not None:
            self.addresses.failed(self.address)

    def succeeded(self, user: str) -> None:
        """Nothing to forget: failures age out of the window."""


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        equalise_timing(password)  # same cost whether or not the user exists
        return None
    if not user.active or not verify_password(password, user.password_hash):
        return None
    user.last_login = utcnow()
    return user


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key: ApiKey
    plaintext: str


def create_api_key(
    db: Session, user: User, name: str, expires_days: int = 365, keep_on_password_change: bool = False
) -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        name=name, user_id=user.id, prefix=prefix, secret_hash=_sha(secret),
        expires_at=utcnow() + timedelta(days=expires_days), keep_on_password_change=keep_on_password_change,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return NewApiKey(row, f"{API_KEY_PREFIX}{prefix}_{secret}")


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def resolve_api_key(db: Session, text: str) -> tuple[User, ApiKey] | None:
    if not text.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = text[len(API_KEY_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    row = db.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, _sha(secret)):
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used = utcnow()
    return user, row


def ensure_admin(db: Session, password: str | None) -> str | None:
    """Create the first Admin when there is no user; return its one-time password if generated."""
    if db.scalar(select(func.count()).select_from(User)):
        return None
    generated = password is None
    pw = password or secrets.token_urlsafe(12)
    db.add(
        User(
            username="admin", password_hash=hash_password(pw), role=Role.ADMIN, must_change_password=generated
        )
    )
    return pw if generated else None


def start_session(request: Request, user: User) -> None:
    """Sign ``user`` in on this browser: the signed cookie names the user, the user's session epoch
    (bumped to sign out everywhere) and this session's own id (ended at sign-out, `end_session`)."""
    request.session.update({"uid": user.id, "epoch": user.session_epoch, "sid": secrets.token_urlsafe(24)})


def end_session(db: Session, request: Request, max_age: float) -> None:
    """Sign this browser out on the server too: its session id is refused from now on, so a copy of
    the cookie stops working (the caller commits). Ended ids are kept until the cookie would expire."""
    sid = request.session.get("sid") if "session" in request.scope else None
    request.session.clear() if "session" in request.scope else None
    if not isinstance(sid, str) or not sid:
        return
    now = utcnow()
    db.execute(delete(EndedSession).where(EndedSession.expires_at < now))
    if db.get(EndedSession, sid) is None:
        db.add(EndedSession(sid=sid[:64], ended_at=now, expires_at=now + timedelta(seconds=max_age)))


def unlock_user(db: Session, actor: str, user: User) -> None:
    """Forget ``user``'s failed sign-ins (audited ``auth.unlocked``): a lockout, e.g. one an anonymous
    caller keeps up by guessing, ends now. The caller commits."""
    audit.record(db, actor, "auth.unlocked", signin.normalise(user.username), user_id=user.id)


def revoke_keys_on_password_change(db: Session, actor: str, user: User) -> int:
    """A password change ends the user's API keys made to end with it; returns how many."""
    now = utcnow()
    n = 0
    for key in db.scalars(
        select(ApiKey).where(
            ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None), ApiKey.keep_on_password_change.is_(False)
        )
    ):
        key.revoked_at = now
        audit.record(db, actor, "api_key.revoked", key.name, reason="password changed", owner=user.username)
        n += 1
    return n
