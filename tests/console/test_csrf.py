"""CSRF: writes riding on the session cookie must echo the session's token; API keys need none."""

from __future__ import annotations

import re
import secrets
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from otwatch.ui import csrf
from tests.conftest import ADMIN_PASSWORD, form_login

NETWORK = {"cidr": "10.20.0.0/16", "description": "plant"}


def tampered(token: str) -> str:
    """``token`` with its last character changed: always a different token of the same length
    (``token[:-1] + "x"`` was the token itself whenever it ended in "x", one run in 64)."""
    return token[:-1] + ("y" if token.endswith("x") else "x")


def test_session_write_without_token_is_refused_and_changes_nothing(admin: TestClient) -> None:
    token = admin.headers.pop("X-CSRF-Token")
    r = admin.post("/api/v1/networks", json=NETWORK)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = admin.post("/api/v1/networks", json=NETWORK, headers={"X-CSRF-Token": tampered(token)})
    assert r.status_code == 403
    assert admin.get("/api/v1/networks").json()["total"] == 0  # reads need no token
    r = admin.post("/api/v1/networks", json=NETWORK, headers={"X-CSRF-Token": token})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("last", ["x", "y", "A", "-", "_", "0"])
def test_a_tampered_token_is_never_the_token(last: str) -> None:
    token = secrets.token_urlsafe(24)[:-1] + last
    assert tampered(token) != token and len(tampered(token)) == len(token)


def test_a_token_ending_in_x_tampered_is_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression itself: a session whose token ends in "x" (made so here; by chance before)."""
    token = "A" * 31 + "x"
    monkeypatch.setattr(
        csrf,
        "secrets",
        SimpleNamespace(token_urlsafe=lambda _n: token, compare_digest=secrets.compare_digest),
    )
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200 and client.headers.pop("X-CSRF-Token") == token
    r = client.post("/api/v1/networks", json=NETWORK, headers={"X-CSRF-Token": tampered(token)})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    assert client.get("/api/v1/networks").json()["total"] == 0


def test_api_key_writes_need_no_token(admin: TestClient) -> None:
    key = admin.post("/api/v1/api-keys", json={"name": "ci"}).json()["key"]
    admin.cookies.clear()
    admin.headers.pop("X-CSRF-Token")
    r = admin.post("/api/v1/networks", json=NETWORK, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text


def test_sign_in_form_needs_the_pages_token(client: TestClient) -> None:
    r = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and "expired" in r.text
    assert client.get("/agents", follow_redirects=False).status_code == 303  # still signed out
    r = form_login(client, "admin", ADMIN_PASSWORD, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"


def test_token_changes_at_sign_in_and_pages_carry_it(client: TestClient) -> None:
    before = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert before
    form_login(client, "admin", ADMIN_PASSWORD)
    page = client.get("/agents").text
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert meta and meta.group(1) != before.group(1)
    # the token from before sign-in is worth nothing now; the page's token works
    r = client.post("/api/v1/networks", json=NETWORK, headers={"X-CSRF-Token": before.group(1)})
    assert r.status_code == 403
    r = client.post("/api/v1/networks", json=NETWORK, headers={"X-CSRF-Token": meta.group(1)})
    assert r.status_code == 201, r.text


def test_sign_out_form_carries_the_token(client: TestClient) -> None:
    form_login(client, "admin", ADMIN_PASSWORD)
    page = client.get("/agents").text
    field = re.search(r'action="/logout".*?name="csrf" value="([^"]+)"', page, re.S)
    assert field
    client.headers.pop("X-CSRF-Token")  # a plain HTML form post: the token rides in the form only
    assert client.post("/logout", data={}, follow_redirects=False).status_code == 403
    r = client.post("/logout", data={"csrf": field.group(1)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/agents", follow_redirects=False).status_code == 303
