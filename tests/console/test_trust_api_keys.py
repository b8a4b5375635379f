"""Issue 17, item 17: API keys expire, are revoked when their owner's password changes (unless made
to survive it), and show their owner."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from otwatch.console.auth.models import ApiKey
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from tests.conftest import ADMIN_PASSWORD


def _works(admin: TestClient, key: str) -> bool:
    return admin.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 200


def test_api_keys_expire_and_end_with_a_password_change(admin: TestClient, ctx: ConsoleContext) -> None:
    short = admin.post("/api/v1/api-keys", json={"name": "short", "expires_days": 1}).json()
    normal = admin.post("/api/v1/api-keys", json={"name": "normal"}).json()
    kept = admin.post("/api/v1/api-keys", json={"name": "kept", "keep_on_password_change": True}).json()
    assert normal["expires_at"] is not None and short["owner"] == "admin"
    assert all(_works(admin, k["key"]) for k in (short, normal, kept))
    with ctx.db.session() as db:
        row = db.scalars(select(ApiKey).where(ApiKey.name == "short")).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.commit()
    assert not _works(admin, short["key"])
    listed = {k["name"]: k for k in admin.get("/api/v1/api-keys").json()["items"]}
    assert listed["normal"]["owner"] == "admin"
    r = admin.post(
        "/api/v1/auth/password", json={"current_password": ADMIN_PASSWORD, "new_password": "a-new-password-2"}
    )
    assert r.status_code == 204, r.text
    assert not _works(admin, normal["key"])
    assert _works(admin, kept["key"])
    assert admin.post("/api/v1/api-keys", json={"name": "x", "expires_days": 5000}).status_code == 422
