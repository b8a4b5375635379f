"""Issue 17, item 6: signing out ends the session on the server; a copied cookie stops working."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD, form_login, keep_csrf


def _copy(app: object, cookie: str, token: str) -> TestClient:
    c = TestClient(app, base_url="https://testserver")  # type: ignore[arg-type]
    c.cookies.set("otwatch_session", cookie)
    c.headers["X-CSRF-Token"] = token
    return c


def test_api_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    cookie, token = client.cookies["otwatch_session"], r.headers["x-csrf-token"]
    other = TestClient(client.app, base_url="https://testserver")  # the same user in another browser
    assert (
        other.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).status_code
        == 200
    )
    with _copy(client.app, cookie, token) as stolen:
        assert stolen.get("/api/v1/auth/me").status_code == 200
        assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
        assert stolen.get("/api/v1/auth/me").status_code == 401  # the copied cookie is dead
        assert stolen.get("/agents", follow_redirects=False).status_code == 303
    assert other.get("/api/v1/auth/me").status_code == 200  # signing out here is not everywhere


def test_page_logout_ends_the_session_on_the_server(client: TestClient) -> None:
    keep_csrf(client)
    r = form_login(client, "admin", ADMIN_PASSWORD, follow_redirects=False)
    assert r.status_code == 303
    cookie = client.cookies["otwatch_session"]
    with _copy(client.app, cookie, "") as stolen:
        assert stolen.get("/agents", follow_redirects=False).status_code == 200
        client.get("/logout", follow_redirects=False)
        assert stolen.get("/agents", follow_redirects=False).status_code == 303
        assert stolen.get("/api/v1/auth/me").status_code == 401
