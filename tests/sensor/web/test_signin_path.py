"""The sensor console signs in through the shared path (otwatch.ui.signin): login CSRF, a lockout per
normalised user that concurrent guesses cannot race past, one answer for every wrong name or password."""

from __future__ import annotations

import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient

from otwatch.sensor.local.store import Role
from tests.conftest import form_login
from tests.sensor.web.conftest import PASSWORDS, console_of


def test_sign_in_form_needs_its_csrf_token(app: FastAPI) -> None:
    """The sensor's sign-in form had no token: another site could sign a browser in (login CSRF)."""
    with TestClient(app, base_url="https://testserver") as c:
        c.get("/login")
        r = c.post(
            "/login", data={"username": "admin", "password": PASSWORDS[Role.ADMIN]}, follow_redirects=False
        )
        assert r.status_code == 403 and "expired" in r.text
        assert form_login(c, "admin", PASSWORDS[Role.ADMIN], follow_redirects=False).status_code == 303


def test_spelling_variants_share_one_lockout(app: FastAPI) -> None:
    """``ADMIN``, `` admin`` and full-width letters used to have lockouts of their own."""
    with TestClient(app, base_url="https://testserver") as c:
        for name in ("ADMIN", " admin", "ａｄｍｉｎ", "Admin ", "admin"):
            assert form_login(c, name, "wrong-guess").status_code == 401
        r = form_login(c, "admin", PASSWORDS[Role.ADMIN], follow_redirects=False)
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text
        console_of(app).throttle.unlock("ADMIN")  # an admin can lift it
        assert form_login(c, "admin", PASSWORDS[Role.ADMIN], follow_redirects=False).status_code == 303


def test_concurrent_guesses_cannot_race_past_the_limit(app: FastAPI) -> None:
    """30 of 30 concurrent guesses used to be evaluated against a limit of 5."""
    console = console_of(app)
    evaluated: list[str] = []
    real = console.store.authenticate

    def counting(name: str, password: str) -> Role | None:
        evaluated.append(name)
        return real(name, password)

    console.store.authenticate = counting  # type: ignore[method-assign]
    statuses: list[int] = []

    def guess() -> None:
        with TestClient(app, base_url="https://testserver") as c:
            statuses.append(form_login(c, "admin", "wrong-guess").status_code)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(set(statuses)) == [401, 429] and statuses.count(401) == 5
    assert len(evaluated) == 5
