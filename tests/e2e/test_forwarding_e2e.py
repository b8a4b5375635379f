"""Forwarding end to end: a live console over TLS with its background workers, a sensor over mTLS, and
real receivers on 127.0.0.1 (aiosmtpd, syslog UDP/TCP, an HTTPS webhook)."""

from __future__ import annotations

import email
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from otwatch import __version__
from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.forwarding import formats
from otwatch.console.server import ServerThread, uvicorn_config
from otwatch.wire.client import ConsoleLink, Credentials, Identity, NodeState, enroll
from otwatch.wire.messages import AlertReport, CheckinRequest, Report
from tests.e2e.conftest import LiveConsole
from tests.listeners import SyslogTCP, SyslogUDP, WebhookReceiver, make_tls, smtp_server, wait_until
from tests.pg import free_port

pytestmark = pytest.mark.network
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

TIME_DRIFT = "Times drift detected. The on-premises management console has been disconnected from sensor."  # seed 002's words


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Background workers on, ticking fast; a retry waits 1.5-3 s so a restart fits between attempts."""
    return settings.model_copy(
        update={
            "monitor_interval": 0.3,
            "delivery_interval": 0.2,
            "delivery_retry_base": 3.0,
            "delivery_retry_max": 3.0,
            "delivery_timeout": 3.0,
        }
    )


def _pair_sensor(admin: httpx.Client, directory: Path) -> tuple[Identity, NodeState]:
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "sensor"}).json()[
        "pairing_key"
    ]
    state = NodeState(directory)
    ident, _ = enroll(state, "sensor", Credentials(pairing_key=key), version=__version__)
    return ident, state


def _checkin(
    state: NodeState, client_time: datetime | None = None, alerts: list[AlertReport] | None = None
) -> None:
    reports = [Report(id=f"r-{time.time()}", kind="alerts", alerts=alerts)] if alerts else []
    with ConsoleLink(state) as link:
        link.checkin(CheckinRequest(client_time=client_time or datetime.now(UTC), reports=reports))


def _s7_stop(key: str = "1") -> AlertReport:
    return AlertReport(
        key=key, code="S7_STOP", engine="Operational", severity="Major", title="S7 Stop PLC Command was Sent",
        description="10.0.0.5 stopped 10.0.0.10", protocol="s7comm", source_ip="10.0.0.5",
        destination_ip="10.0.0.10", first_seen=T0, last_seen=T0,
    )  # fmt: skip


def _rule(admin: httpx.Client, name: str, action: dict[str, Any], **over: Any) -> dict[str, Any]:
    r = admin.post("/api/v1/forwarding-rules", json={"name": name, "action": action, **over})
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()
    return rule


def test_new_alert_arrives_by_email_and_syslog_cef(
    live_console: LiveConsole, tmp_path: Path, syslog_udp: SyslogUDP, syslog_tcp: SyslogTCP
) -> None:
    admin = live_console.admin()
    with smtp_server() as (ctl, sink):
        mail = {"host": "127.0.0.1", "port": ctl.port, "from_address": "otwatch@plant.example"}
        admin.put("/api/v1/mail", json=mail).raise_for_status()
        _rule(admin, "SOC", {"type": "email", "to": ["soc@plant.example"]}, severities=["Critical", "Major"])
        syslog = {"type": "syslog", "host": "127.0.0.1", "format": "cef"}
        _rule(admin, "SIEM UDP", {**syslog, "port": syslog_udp.port, "transport": "udp"})
        _rule(admin, "SIEM TCP", {**syslog, "port": syslog_tcp.port, "transport": "tcp"})
        ident, state = _pair_sensor(admin, tmp_path / "sensor")
        _checkin(state, alerts=[_s7_stop()])
        wait_until(
            lambda: (
                len(sink.envelopes) == 1 and len(syslog_udp.messages) == 1 and len(syslog_tcp.messages) == 1
            ),
            20,
        )
        alert = admin.get("/api/v1/alerts").json()["items"][0]

        content = sink.envelopes[0].content
        assert isinstance(content, bytes)
        msg = email.message_from_bytes(content)
        assert msg["Subject"] == "[OTWatch] Major alert: S7 Stop PLC Command was Sent"
        assert sink.envelopes[0].rcpt_tos == ["soc@plant.example"]
        assert "10.0.0.5 stopped 10.0.0.10" in msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for line in (syslog_udp.messages[0], syslog_tcp.messages[0]):
            header, ext = formats.parse_cef(line)
            assert header == [
                "CEF:0",
                "OTWatch",
                "OTWatch",
                __version__,
                "S7_STOP",
                "S7 Stop PLC Command was Sent",
                "8",
            ]
            assert (ext["src"], ext["dst"], ext["proto"], ext["cat"]) == (
                "10.0.0.5",
                "10.0.0.10",
                "s7comm",
                "Operational",
            )
            assert ext["externalId"] == alert["id"] and ext["deviceExternalId"] == ident.node_id
        _checkin(state, alerts=[_s7_stop()])  # the same alert again: nothing more is sent
        time.sleep(1.0)
        assert len(sink.envelopes) == 1 and len(syslog_udp.messages) == 1 and len(syslog_tcp.messages) == 1
        states = [d["state"] for d in admin.get("/api/v1/deliveries").json()["items"]]
        assert states == ["sent"] * 3


class Console:
    """A console process on a fixed port and data directory/database, started and stopped at will."""

    def __init__(self, settings: Settings) -> None:
        self.ctx: ConsoleContext
        self.ctx, _ = prepare(settings)
        self.server = ServerThread(uvicorn_config(create_app(self.ctx), self.ctx, "127.0.0.1", settings.port))
        self.server.start()
        self.live = LiveConsole(self.ctx, f"https://127.0.0.1:{settings.port}", f"127.0.0.1:{settings.port}")

    def stop(self) -> None:
        self.server.stop()
        self.ctx.db.dispose()


def test_webhook_failing_twice_is_delivered_once_across_a_console_restart(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": free_port(), "longpoll_seconds": 2.0})
    tls = make_tls(tmp_path / "tls")
    hook = WebhookReceiver(tls, script=[500, 500])
    first = Console(settings)
    second: Console | None = None
    try:
        admin = first.live.admin()
        _rule(admin, "hook", {"type": "webhook", "url": hook.url, "ca_pem": tls.ca_pem})
        _, state = _pair_sensor(admin, tmp_path / "sensor")
        _checkin(state, alerts=[_s7_stop()])
        alert_id = admin.get("/api/v1/alerts").json()["items"][0]["id"]
        wait_until(lambda: len(hook.hits) == 1, 20)
        first.stop()  # the console goes away after the first failure
        stopped = time.time()
        assert [h.status for h in hook.hits] == [500]

        second = Console(settings)  # same data directory and database
        wait_until(lambda: any(h.status == 200 for h in hook.hits), 30)
        time.sleep(1.5)  # several more worker rounds: nothing else arrives
        admin = second.live.admin()
        (d,) = admin.get("/api/v1/deliveries").json()["items"]
    finally:
        if second is not None:
            second.stop()
        else:
            first.stop()
        hook.close()
    assert [h.status for h in hook.hits] == [500, 500, 200]
    assert all(h.at > stopped for h in hook.hits[1:])  # the restarted console finished the job
    assert (
        len({h.headers["x-otwatch-delivery"] for h in hook.hits})
        == 1
        == len({str(h.body) for h in hook.hits})
    )
    assert hook.hits[2].body["event"]["id"] == alert_id and hook.hits[2].body["delivery_id"] == d["id"]
    assert d["state"] == "sent" and d["attempts"] == 3 and d["last_error"] is None


def test_sensor_with_a_drifting_clock_is_reported_and_forwarded(
    live_console: LiveConsole, tmp_path: Path, syslog_tcp: SyslogTCP
) -> None:
    admin = live_console.admin()
    action = {
        "type": "syslog",
        "host": "127.0.0.1",
        "port": syslog_tcp.port,
        "transport": "tcp",
        "format": "cef",
    }
    _rule(admin, "system", action, report_alerts=False, report_system_notifications=True)
    ident, state = _pair_sensor(admin, tmp_path / "sensor")
    _checkin(state)
    wait_until(lambda: admin.get(f"/api/v1/sensors/{ident.node_id}").json()["status"] == "Connected")

    _checkin(state, client_time=datetime.now(UTC) + timedelta(minutes=10))  # its clock is 10 minutes off
    view = admin.get(f"/api/v1/sensors/{ident.node_id}").json()
    assert view["status"] == "Disconnected" and view["disconnect_reason"] == TIME_DRIFT
    wait_until(
        lambda: len(syslog_tcp.messages) == 1, 20
    )  # the monitor's first scan waits offline_after (5 s)
    header, ext = formats.parse_cef(syslog_tcp.messages[0])
    assert header[4:7] == [
        "SENSOR_DISCONNECTED",
        f"Sensor {view['name']} disconnected: Time drift detected",
        "8",
    ]
    assert ext["reason"] == TIME_DRIFT and ext["deviceExternalId"] == ident.node_id
    assert ext["msg"].startswith(
        f"Times drift detected. The on-premises management console has been disconnected from sensor {view['name']}"
    )
    time.sleep(1.0)  # more monitor rounds: still one notification, one message
    notes = admin.get("/api/v1/notifications").json()
    assert notes["total"] == 1 and notes["items"][0]["reason"] == TIME_DRIFT
    assert len(syslog_tcp.messages) == 1 and not syslog_tcp.errors
