"""Issue 17, item 6: signing out of the sensor console ends the session on the server."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.sensor.web.conftest import client_for


def test_logout_ends_the_session_on_the_server(app: FastAPI) -> None:
    with client_for(app) as admin, client_for(app) as elsewhere:
        cookie = admin.cookies["otwatch_sensor_session"]
        stolen = TestClient(app, base_url="https://testserver")
        stolen.cookies.set("otwatch_sensor_session", cookie)
        assert stolen.get("/overview", follow_redirects=False).status_code == 200
        page = admin.get("/overview").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        assert admin.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
        assert stolen.get("/overview", follow_redirects=False).status_code == 303  # the copy is dead
        assert elsewhere.get("/overview", follow_redirects=False).status_code == 200
