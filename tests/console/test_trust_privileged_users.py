"""Issue 17, item 16: an Admin cannot take over or delete the Support user, and nobody can demote,
deactivate or delete the last active Admin."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.console.auth.models import User
from otwatch.console.auth.service import hash_password
from otwatch.console.context import ConsoleContext


def test_support_user_and_last_admin_are_protected(admin: TestClient, ctx: ConsoleContext) -> None:
    with ctx.db.session() as db:
        db.add(User(username="support", password_hash=hash_password("support-pass-1"), role="Support"))
        db.commit()
    users = {u["username"]: u["id"] for u in admin.get("/api/v1/users").json()["items"]}
    sup, me = users["support"], users["admin"]
    for body in ({"password": "taken-over-pass-1"}, {"role": "Read Only"}, {"active": False}):
        r = admin.patch(f"/api/v1/users/{sup}", json=body)
        assert r.status_code == 403, (body, r.text)
    assert admin.delete(f"/api/v1/users/{sup}").status_code == 403
    for body in ({"role": "Read Only"}, {"active": False}):
        r = admin.patch(f"/api/v1/users/{me}", json=body)
        assert r.status_code == 409 and "last" in r.json()["error"]["message"], r.text
    # with a second Admin, the first may step down
    other = admin.post(
        "/api/v1/users", json={"username": "a2", "password": "admin2-pass-1", "role": "Admin"}
    ).json()
    assert admin.patch(f"/api/v1/users/{other['id']}", json={"active": False}).status_code == 200
    assert admin.patch(f"/api/v1/users/{me}", json={"role": "Read Only"}).status_code == 409  # a2 inactive
    assert admin.patch(f"/api/v1/users/{other['id']}", json={"active": True}).status_code == 200
    assert admin.patch(f"/api/v1/users/{me}", json={"role": "Security Analyst"}).status_code == 200
