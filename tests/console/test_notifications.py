"""Disconnected-sensor monitoring: why a sensor is disconnected, one notification per transition, forwarded."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.status import DisconnectReason
from otwatch.console.forwarding import formats
from otwatch.console.forwarding.models import Delivery
from otwatch.console.forwarding.worker import deliver_due
from otwatch.console.notifications.models import SystemNotification
from otwatch.console.notifications.service import scan_fleet
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_alerts import _sensor
from tests.listeners import SyslogUDP, wait_until
from tests.pg import free_port


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"background_workers": False})


def _scan(ctx: ConsoleContext, now: datetime | None = None) -> list[dict[str, Any]]:
    with ctx.db.session() as db:
        return [
            {"kind": n.kind, "reason": n.reason, "title": n.title, "message": n.message, "node_id": n.node_id}
            for n in scan_fleet(db, ctx, now)
        ]


def _view(admin: TestClient, node_id: str | None) -> dict[str, Any]:
    view: dict[str, Any] = admin.get(f"/api/v1/sensors/{node_id}").json()
    return view


def _system_rule(admin: TestClient, port: int, **over: Any) -> dict[str, Any]:
    body = {
        "name": "system notifications",
        "report_alerts": False,
        "report_system_notifications": True,
        "action": {"type": "syslog", "host": "127.0.0.1", "port": port, "transport": "udp", "format": "cef"},
        **over,
    }
    r = admin.post("/api/v1/forwarding-rules", json=body)
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()
    return rule


def test_time_drift_raises_one_notification_that_is_forwarded(
    admin: TestClient, ctx: ConsoleContext, syslog_udp: SyslogUDP
) -> None:
    rule = _system_rule(admin, syslog_udp.port)
    alerts_only = _system_rule(
        admin, syslog_udp.port, name="alerts only", report_alerts=True, report_system_notifications=False
    )
    s = _sensor(admin, ctx)
    s.checkin()
    assert _scan(ctx) == []  # a sensor first seen connected raises nothing
    name = _view(admin, s.node_id)["name"]

    s.checkin(client_time=(datetime.now(UTC) + timedelta(minutes=10)).isoformat())
    view = _view(admin, s.node_id)
    assert view["status"] == "Disconnected" and view["disconnect_reason"] == (
        "Times drift detected. The on-premises management console has been disconnected from sensor."
    )  # seed 002's words
    (n,) = _scan(ctx)
    assert n["kind"] == "sensor_disconnected" and n["reason"] == DisconnectReason.TIME_DRIFT
    assert n["title"] == f"Sensor {name} disconnected: Time drift detected"
    assert n["message"].startswith(
        f"Times drift detected. The on-premises management console has been disconnected from sensor {name}: "
        "its clock is 6"
    )
    assert "s ahead of the console's (the limit is 120 s)" in n["message"]
    assert _scan(ctx) == [] and _scan(ctx) == []  # one notification per transition, not per scan
    listed = admin.get("/api/v1/notifications").json()
    assert listed["total"] == 1 and listed["items"][0]["node_id"] == s.node_id

    assert deliver_due(ctx).sent == 1
    wait_until(lambda: len(syslog_udp.messages) == 1)
    header, ext = formats.parse_cef(syslog_udp.messages[0])
    assert header[4:7] == ["SENSOR_DISCONNECTED", f"Sensor {name} disconnected: Time drift detected", "8"]
    assert ext["reason"] == DisconnectReason.TIME_DRIFT and ext["cat"] == "System Notification"
    assert ext["deviceExternalId"] == s.node_id and ext["msg"].startswith("Times drift detected.")
    assert admin.get(f"/api/v1/deliveries?rule_id={alerts_only['id']}").json()["total"] == 0

    s.checkin()  # the clock is right again
    assert _view(admin, s.node_id)["status"] == "Connected"
    (back,) = _scan(ctx)
    assert back["kind"] == "sensor_reconnected" and back["message"].endswith("(was: Time drift detected).")
    assert deliver_due(ctx).sent == 1
    wait_until(lambda: len(syslog_udp.messages) == 2)
    assert formats.parse_cef(syslog_udp.messages[1])[0][4] == "SENSOR_RECONNECTED"
    sent = admin.get(f"/api/v1/deliveries?rule_id={rule['id']}&state=sent").json()
    assert sent["total"] == 2 and {d["subject_kind"] for d in sent["items"]} == {"notification"}


def test_silent_sensor_is_not_communicating_and_agents_are_not_monitored(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    s = _sensor(admin, ctx)
    s.checkin()
    agent = FakeAgent(ctx, admin.app)
    agent.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{agent.node_id}/approve")
    agent.checkin()
    assert _scan(ctx) == []
    later = utcnow() + timedelta(seconds=ctx.settings.offline_after + 5)
    (n,) = _scan(ctx, later)
    name = _view(admin, s.node_id)["name"]
    assert n["reason"] == (
        "Sensor not communicating with on-premises management console. "
        "Check network connectivity or certificate validation."
    )  # seed 002's words
    assert n["title"] == f"Sensor {name} disconnected: Not communicating"
    assert n["message"] == (
        f"Sensor {name} not communicating with on-premises management console. "
        "Check network connectivity or certificate validation."
    )
    assert _scan(ctx, later + timedelta(minutes=5)) == []
    r = admin.get("/api/v1/notifications", params={"kind": "sensor_disconnected", "sensor": s.node_id})
    assert r.json()["total"] == 1
    assert admin.get("/api/v1/notifications?kind=bogus").status_code == 422


def test_data_the_console_cannot_process(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    s.checkin()
    assert _scan(ctx) == []
    with s.mtls() as c:  # refused by validation: an alert without its fields
        body = {
            "client_time": datetime.now(UTC).isoformat(),
            "reports": [{"id": "x", "kind": "alerts", "alerts": [{"key": "1"}]}],
        }
        assert c.post("/api/v1/wire/checkin", json=body).status_code == 422
    view = _view(admin, s.node_id)
    assert view["status"] == "Disconnected"
    assert view["disconnect_reason"] == (
        "The on-premises management console can\u2019t process data received from the sensor."
    )  # seed 002's words
    (n,) = _scan(ctx)
    assert n["reason"] == DisconnectReason.CANT_PROCESS
    assert n["message"] == (
        f"The on-premises management console can\u2019t process data received from the sensor {view['name']}."
    )

    s.checkin()
    assert _view(admin, s.node_id)["status"] == "Connected"
    assert [x["kind"] for x in _scan(ctx)] == ["sensor_reconnected"]

    with s.mtls() as c:  # valid JSON the typed asset report refuses: nothing of it is kept
        body = {"client_time": datetime.now(UTC).isoformat(),
                "reports": [{"id": "y", "kind": "assets", "assets": [{"ip": "10.0.0.9", "open_ports": ["http"]}]}]}  # fmt: skip
        r = c.post("/api/v1/wire/checkin", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    assert "open_ports" in str(r.json()["error"])
    assert _view(admin, s.node_id)["disconnect_reason"] == DisconnectReason.CANT_PROCESS
    assert admin.get("/api/v1/assets?ip=10.0.0.9").json()["total"] == 0
    assert [x["reason"] for x in _scan(ctx)] == [DisconnectReason.CANT_PROCESS]


def test_several_consoles_raise_each_notification_once(admin: TestClient, ctx: ConsoleContext) -> None:
    """Four console processes (their own engines) scanning the same database at the same time."""
    _system_rule(admin, free_port())
    sensors = [_sensor(admin, ctx) for _ in range(5)]
    for s in sensors:
        s.checkin()
    assert _scan(ctx) == []
    consoles = [ctx] + [ConsoleContext.create(ctx.settings) for _ in range(3)]
    later = utcnow() + timedelta(seconds=ctx.settings.offline_after + 5)
    barrier = threading.Barrier(len(consoles))
    raised: list[int] = []
    errors: list[BaseException] = []

    def run(c: ConsoleContext) -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(3):
                raised.append(len(_scan(c, later)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in consoles]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for c in consoles[1:]:
            c.db.dispose()
    assert not errors, errors
    assert sum(raised) == 5
    with ctx.db.session() as db:
        assert db.scalar(select(func.count()).select_from(SystemNotification)) == 5
        assert db.scalar(select(func.count()).select_from(Delivery)) == 5


def test_read_only_sees_notifications(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    s.checkin()
    _scan(ctx)
    _scan(ctx, utcnow() + timedelta(minutes=5))
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    admin.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"})
    assert admin.get("/api/v1/notifications").json()["total"] == 1


def test_an_earlier_versions_reason_raises_no_second_notification(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    """After an upgrade the watch still holds the old wording of the same reason: no new notification."""
    from sqlalchemy import update

    from otwatch.console.notifications.models import NodeWatch

    s = _sensor(admin, ctx)
    s.checkin()
    assert _scan(ctx) == []
    s.checkin(client_time=(datetime.now(UTC) + timedelta(minutes=10)).isoformat())
    assert [n["kind"] for n in _scan(ctx)] == ["sensor_disconnected"]
    with ctx.db.session() as db:
        db.execute(update(NodeWatch).values(reason="Time drift detected"))  # as 0.1 stored it
        db.commit()
    assert _scan(ctx) == []


def _ports(s: FakeAgent, *ports: dict[str, Any]) -> None:
    """A statistics report carrying the sensor's SPAN monitoring ports, as SensorNode.build_reports sends it."""
    stats = {"summary": {"packets": 1}, "system": {"monitoring_ports": list(ports)}}
    s.checkin(reports=[{"id": uuid4().hex, "kind": "stats", "stats": stats}])


def test_span_port_failures_reported_by_a_sensor_become_notifications(
    admin: TestClient, ctx: ConsoleContext, syslog_udp: SyslogUDP
) -> None:
    from otwatch.console.notifications.service import scan_ports

    _system_rule(admin, syslog_udp.port)
    s = _sensor(admin, ctx)
    name = _view(admin, s.node_id)["name"]
    _ports(s, {"interface": "eth1", "failure": None, "since": None, "message": ""})

    def scan() -> list[dict[str, Any]]:
        ctx.liveness.flush()
        with ctx.db.session() as db:
            return [{"kind": n.kind, "title": n.title, "message": n.message} for n in scan_ports(db)]

    assert scan() == []  # never failed: nothing to say
    down = "The monitoring interface eth1 is down: no SPAN traffic reaches the sensor. Check the cable."
    _ports(s, {"interface": "eth1", "failure": "Interface down", "since": 1000.5, "message": down})
    (n,) = scan()
    assert n["kind"] == "span_port_failure"
    assert n["title"] == f"Sensor {name}: SPAN monitoring port eth1: Interface down"
    assert n["message"] == f"Sensor {name}: {down}"
    assert scan() == []  # once, however often the sensor reports it and the monitor looks
    _ports(s, {"interface": "eth1", "failure": "Interface down", "since": 1000.5, "message": down})
    assert scan() == []
    _ports(s, {"interface": "eth1", "failure": None, "since": 1060.0, "message": ""})
    (back,) = scan()
    assert back["kind"] == "span_port_restored" and back["title"].endswith("eth1: traffic returned")
    listed = admin.get("/api/v1/notifications", params={"kind": "span_port_failure"}).json()
    assert listed["total"] == 1 and listed["items"][0]["node_id"] == s.node_id
    page = admin.get("/settings/notifications?kind=span_port_failure").text
    assert "SPAN monitoring port failure" in page and "eth1: Interface down" in page
    assert "eth1: traffic returned" not in page

    assert deliver_due(ctx).sent == 2  # forwarded like every system notification
    wait_until(lambda: len(syslog_udp.messages) == 2)
    codes = sorted(formats.parse_cef(m)[0][4] for m in syslog_udp.messages)
    assert codes == ["SPAN_PORT_FAILURE", "SPAN_PORT_RESTORED"]
