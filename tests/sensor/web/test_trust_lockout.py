"""Issue 17, item 4 (sensor console): guessing a user's password from one address locks that user
out of that address only, not out of the sensor console."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from otwatch.sensor.local.store import Role
from tests.conftest import form_login
from tests.sensor.web.conftest import PASSWORDS


def test_guessing_from_one_address_does_not_lock_the_admin_out(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as attacker:
        for _ in range(5):
            assert form_login(attacker, "admin", "guess-guess-1").status_code == 401
        assert form_login(attacker, "admin", PASSWORDS[Role.ADMIN]).status_code == 429
    with TestClient(app, base_url="https://testserver", client=("10.9.8.7", 40000)) as admin:
        r = form_login(admin, "admin", PASSWORDS[Role.ADMIN], follow_redirects=False)
        assert r.status_code == 303, r.text
