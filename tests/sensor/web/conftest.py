"""Fixtures for the sensor console: a state directory, a sensor fed with a generated plant, clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from otwatch.sensor.capture.synth import demo_plant, write_capture
from otwatch.sensor.local.hostnet import DebianNetwork
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.web.app import create_sensor_app
from otwatch.sensor.web.deps import SensorConsole
from tests.conftest import form_login

PASSWORDS = {Role.ADMIN: "admin-secret-1", Role.SUPPORT: "support-secret-1"}
ENV = {role.env: pw for role, pw in PASSWORDS.items()}


@pytest.fixture
def store(tmp_path: Path) -> SensorStore:
    s = SensorStore(tmp_path / "state")
    assert s.ensure_users(ENV) == {}  # passwords from the environment are not "generated"
    return s


@pytest.fixture(scope="session")
def plant_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten minutes of a small plant (Modbus, S7, DNP3, EtherNet/IP, DNS) ending in an incident."""
    path = tmp_path_factory.mktemp("captures") / "plant.pcap"
    write_capture(str(path), demo_plant(10).frames)
    return path


@pytest.fixture
def fed_sensor(plant_capture: Path) -> Sensor:
    """A sensor that learned for nine minutes, then watched the incident with learning off."""
    s = Sensor()
    from otwatch.sensor.capture.pcapfile import CaptureReader

    frames = list(CaptureReader(plant_capture))
    cut = frames[0][0] + 9 * 60
    for ts, lt, data in frames:
        if ts >= cut and s.learning:
            s.learning = False
        s.process(ts, lt, data)
    s.finish()
    assert s.inventory.assets and s.alerts.alerts
    return s


@pytest.fixture
def fake_host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 old-name\n")
    return root


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(store: SensorStore, fake_host: Path) -> AppFactory:
    def make(target: Sensor | object | None = None, **kwargs: object) -> FastAPI:
        kwargs.setdefault("network", DebianNetwork(fake_host))
        return create_sensor_app(target if target is not None else Sensor(), store, **kwargs)  # type: ignore[arg-type]

    return make


def login(client: TestClient, role: Role = Role.ADMIN) -> TestClient:
    r = form_login(client, role.value, PASSWORDS[role], follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/overview", r.text
    return client


def client_for(app: FastAPI, role: Role | None = Role.ADMIN) -> TestClient:
    client = TestClient(app, base_url="https://testserver")
    return login(client, role) if role is not None else client


@pytest.fixture
def app(make_app: AppFactory, fed_sensor: Sensor) -> FastAPI:
    return make_app(fed_sensor)


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    with client_for(app) as c:
        yield c


@pytest.fixture
def support(app: FastAPI) -> Iterator[TestClient]:
    with client_for(app, Role.SUPPORT) as c:
        yield c


def csrf(client: TestClient, page: str = "/overview") -> str:
    """The session's CSRF token, read from a rendered form (any page with a form will do)."""
    html = client.get(page).text
    m = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(r"csrf=([A-Za-z0-9_%-]+)", html)
    assert m, f"no CSRF token on {page}"
    return m.group(1)


def console_of(app: FastAPI) -> SensorConsole:
    console: SensorConsole = app.state.console
    return console
