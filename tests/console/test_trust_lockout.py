"""Issue 17, item 4 (what the shared sign-in path left): enrolment with a console password counts
against the same per-user lockout and answers every failure alike, and an Admin can unlock a user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from otwatch.cli import app
from otwatch.console.auth.service import AuditThrottle
from otwatch.console.context import ConsoleContext
from tests.conftest import ADMIN_PASSWORD
from tests.console.helpers import FakeAgent, new_key


def _password_body(ctx: ConsoleContext, admin: TestClient, username: str, password: str) -> dict[str, Any]:
    a = FakeAgent(ctx, admin.app)
    body = a.enroll_body(new_key(admin))
    body.pop("key_id"), body.pop("secret")
    return {**body, "method": "password", "username": username, "password": password}


def test_password_enrolment_is_locked_out_and_answers_alike(admin: TestClient, ctx: ConsoleContext) -> None:
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    wrong = admin.post("/api/v1/wire/enroll", json=_password_body(ctx, admin, "ro", "nope"))
    right = admin.post("/api/v1/wire/enroll", json=_password_body(ctx, admin, "ro", "readonly-pass-1"))
    assert (wrong.status_code, wrong.json()["error"]) == (right.status_code, right.json()["error"])  # alike
    for _ in range(5):  # the admin's password guessed through enrolment, name spelt another way
        r = admin.post("/api/v1/wire/enroll", json=_password_body(ctx, admin, " ADMIN", "guess"))
        assert r.status_code in (401, 429)
    r = admin.post("/api/v1/wire/enroll", json=_password_body(ctx, admin, "admin", ADMIN_PASSWORD))
    assert r.status_code == 429 and r.json()["error"]["code"] == "locked_out", r.text
    # the sign-in form and API are locked for that user too (one count per normalised name)
    with TestClient(admin.app, base_url="https://testserver") as other:
        r = other.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 429
    # an Admin (here through the session that was signed in before) unlocks the user
    users = {u["username"]: u for u in admin.get("/api/v1/users").json()["items"]}
    r = admin.post(f"/api/v1/users/{users['admin']['id']}/unlock")
    assert r.status_code == 204, r.text
    r = admin.post("/api/v1/wire/enroll", json=_password_body(ctx, admin, "admin", ADMIN_PASSWORD))
    assert r.status_code == 200, r.text
    assert admin.get("/api/v1/audit?action=auth.unlocked").json()["total"] == 1


def test_cli_unlocks_the_only_admin(tmp_path: Path) -> None:
    """Someone anonymous keeps the only Admin locked by guessing: the host's operator ends it."""
    from otwatch.console.bootstrap import prepare
    from otwatch.console.config import Settings

    env = {"OTWATCH_DATA_DIR": str(tmp_path), "OTWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    ctx, _ = prepare(Settings(data_dir=tmp_path, admin_password=ADMIN_PASSWORD))
    with ctx.db.session() as db:
        for _ in range(5):
            AuditThrottle(db).failed("admin")
        assert AuditThrottle(db).retry_after("admin") is not None
    r = CliRunner().invoke(app, ["console", "unlock-user", "admin"], env=env)
    assert r.exit_code == 0, r.output
    with ctx.db.session() as db:
        assert AuditThrottle(db).retry_after("admin") is None
    assert CliRunner().invoke(app, ["console", "unlock-user", "nobody"], env=env).exit_code == 1
    ctx.db.dispose()


def test_guessing_from_one_address_does_not_lock_the_user_out_elsewhere(client: TestClient) -> None:
    """An anonymous caller who keeps guessing the admin's password locks the admin out of *its*
    address only; past a higher limit across all addresses (distributed guessing) the user is locked
    everywhere."""
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "guess-guess"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 429  # this address is locked for admin
    with TestClient(client.app, base_url="https://testserver", client=("10.9.8.7", 40000)) as elsewhere:
        r = elsewhere.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text  # the real admin, from its own address
