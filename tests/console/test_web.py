"""The server-rendered console pages: sign-in, the Agents table, role-dependent actions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.web.render import STATIC_DIR
from tests.conftest import ADMIN_PASSWORD, form_login
from tests.console.helpers import FakeAgent, new_key


def _form_login(client: TestClient, username: str, password: str) -> None:
    r = form_login(client, username, password, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/dashboard"


def test_login_page_renders(client: TestClient) -> None:
    r = client.get("/login")
    assert r.status_code == 200
    assert 'name="username"' in r.text and 'name="password"' in r.text
    assert client.get("/static/app.css").status_code == 200


def test_page_scripts_are_es_modules_that_resolve(client: TestClient) -> None:
    """One small shared module, one per page; every relative import names a served module."""
    js = STATIC_DIR / "js"
    modules = sorted(js.glob("*.js"))
    assert {m.name for m in modules} >= {"common.js", "controls.js", "agents.js", "alerts.js", "sensors.js"}
    for module in modules:
        r = client.get(f"/static/js/{module.name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], module.name
        for target in re.findall(r'from "\./([\w-]+\.js)"', module.read_text()):
            assert (js / target).is_file(), f"{module.name} imports missing {target}"


def test_each_page_loads_the_shared_controls_and_its_own_module(client: TestClient) -> None:
    _form_login(client, "admin", ADMIN_PASSWORD)
    for path, module in (("/agents", "agents"), ("/alerts", "alerts"), ("/sensors", "sensors")):
        page = client.get(path).text
        assert '<script type="module" src="/static/js/controls.js"></script>' in page
        assert f'<script type="module" src="/static/js/{module}.js"></script>' in page
    assert client.get("/settings/networks").text.count("/static/js/") == 1  # the shared controls only


def test_root_and_agents_redirect_to_login_when_signed_out(client: TestClient) -> None:
    for path in ("/", "/agents"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_wrong_password_shows_message(client: TestClient) -> None:
    r = form_login(client, "admin", "nope", follow_redirects=False)
    assert r.status_code == 401
    assert "Wrong user name or password." in r.text
    assert 'value="admin"' in r.text  # the username is kept, the password is not
    assert client.get("/agents", follow_redirects=False).status_code == 303


def test_login_then_agents_lists_enrolled_agent(client: TestClient, ctx: ConsoleContext) -> None:
    _form_login(client, "admin", ADMIN_PASSWORD)
    agent = FakeAgent(ctx, client.app)
    agent.enroll(client, new_key(client))
    r = client.get("/agents")
    assert r.status_code == 200
    assert f'data-id="{agent.node_id}"' in r.text
    assert "Pending Approval" in r.text and "badge-orange" in r.text
    assert f"host-{agent.install_id[:4]}" in r.text
    assert "admin" in r.text and "(Admin)" in r.text
    assert 'data-action="approve"' in r.text and "Generate Pairing Key" in r.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    audit = client.get("/api/v1/audit", params={"action": "auth.login", "actor": "admin"})
    assert audit.status_code == 200 and audit.json()["items"][0]["action"] == "auth.login"
    r = client.get("/logout", follow_redirects=False)
    assert r.headers["location"] == "/login"
    assert client.get("/agents", follow_redirects=False).status_code == 303


def test_read_only_user_sees_no_actions(admin: TestClient, ctx: ConsoleContext) -> None:
    FakeAgent(ctx, admin.app).enroll(admin, new_key(admin))
    r = admin.post(
        "/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"}
    )
    assert r.status_code == 201, r.text
    admin.cookies.clear()
    _form_login(admin, "ro", "readonly-pass-1")
    page = admin.get("/agents")
    assert page.status_code == 200
    assert "Pending Approval" in page.text and "(Read Only)" in page.text
    for absent in ("Approve", "Scan Now", "Delete", "Bulk Actions", "Generate Pairing Key", "row-check"):
        assert absent not in page.text
