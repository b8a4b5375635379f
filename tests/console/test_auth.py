"""Sign-in, roles, API keys and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD


def test_login_wrong_password_is_clear_and_audited(client: TestClient, admin: TestClient) -> None:
    client.post("/api/v1/auth/logout")
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["error"] == {
        "code": "bad_credentials",
        "message": "Wrong user name or password.",
        "details": None,
    }
    assert client.get("/api/v1/auth/me").status_code == 401
    admin.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    actions = [e["action"] for e in admin.get("/api/v1/audit").json()["items"]]
    assert "auth.login_failed" in actions


def test_roles_enforced(admin: TestClient) -> None:
    r = admin.post(
        "/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"}
    )
    assert r.status_code == 201, r.text
    admin.post("/api/v1/auth/logout")
    assert (
        admin.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"}).status_code
        == 200
    )
    assert admin.get("/api/v1/networks").status_code == 200
    r = admin.post("/api/v1/networks", json={"cidr": "10.0.0.0/8"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert admin.post("/api/v1/pairing-keys", json={}).status_code == 403
    assert admin.post("/api/v1/api-keys", json={"name": "x"}).status_code == 403


def test_only_support_creates_support(admin: TestClient) -> None:
    r = admin.post("/api/v1/users", json={"username": "sup", "password": "support-pass-1", "role": "Support"})
    assert r.status_code == 403


def test_api_key_shown_once_hashed_and_revocable(admin: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    r = admin.post("/api/v1/api-keys", json={"name": "script"})
    assert r.status_code == 201
    key = r.json()["key"]
    listed = admin.get("/api/v1/api-keys").json()["items"]
    assert all("key" not in k for k in listed)
    from sqlalchemy import select

    from otwatch.console.auth.models import ApiKey

    with ctx.db.session() as db:
        stored = db.scalars(select(ApiKey)).one()
        assert key.split("_")[-1] not in stored.secret_hash
    admin.post("/api/v1/auth/logout")
    assert admin.get("/api/v1/auth/me").status_code == 401
    me = admin.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["username"] == "admin"
    assert admin.delete(f"/api/v1/api-keys/{r.json()['id']}", headers={"X-API-Key": key}).status_code == 204
    bad = admin.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert bad.status_code == 401 and "revoked" in bad.json()["error"]["message"]


def test_password_change_signs_out_other_sessions(admin: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    from otwatch.console.app import create_app

    with TestClient(create_app(ctx), base_url="https://testserver") as other:
        other.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert other.get("/api/v1/auth/me").status_code == 200
        r = admin.post(
            "/api/v1/auth/password",
            json={"current_password": ADMIN_PASSWORD, "new_password": "new-password-22"},
        )
        assert r.status_code == 204
        assert admin.get("/api/v1/auth/me").status_code == 200
        assert other.get("/api/v1/auth/me").status_code == 401


def test_every_write_is_audited(admin: TestClient) -> None:
    admin.post("/api/v1/networks", json={"cidr": "192.168.10.0/24"})
    admin.post(
        "/api/v1/users", json={"username": "ana", "password": "analyst-pass-1", "role": "Security Analyst"}
    )
    items = admin.get("/api/v1/audit").json()["items"]
    got = {(e["actor"], e["action"], e["target"]) for e in items}
    assert ("admin", "network.added", "192.168.10.0/24") in got
    assert ("admin", "user.created", "ana") in got
