"""Forwarding rules and their durable delivery queue, against real local receivers on 127.0.0.1."""

from __future__ import annotations

import email
import threading
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from otwatch import __version__
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.forwarding import formats
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.forwarding.schemas import MASK
from otwatch.console.forwarding.service import rule_headers
from otwatch.console.forwarding.worker import backoff, deliver_due
from otwatch.console.mail.models import MailServer
from tests.conftest import ADMIN_PASSWORD
from tests.console.test_alerts import T0, _alert, _report, _sensor
from tests.listeners import (
    NTLMOnly,
    SyslogTCP,
    SyslogUDP,
    WebhookReceiver,
    make_tls,
    password_authenticator,
    smtp_server,
    wait_until,
)
from tests.pg import free_port

pytestmark = pytest.mark.network


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No background workers: each test runs deliver_due itself; short back-off, few attempts."""
    return settings.model_copy(
        update={
            "background_workers": False,
            "delivery_retry_base": 1.0,
            "delivery_retry_max": 4.0,
            "delivery_max_attempts": 4,
            "delivery_timeout": 3.0,
        }
    )


def _rule(admin: TestClient, name: str, action: dict[str, Any], **over: Any) -> dict[str, Any]:
    r = admin.post("/api/v1/forwarding-rules", json={"name": name, "action": action, **over})
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()
    return rule


def _syslog(port: int, transport: str = "udp", fmt: str = "cef", **over: Any) -> dict[str, Any]:
    return {
        "type": "syslog",
        "host": "127.0.0.1",
        "port": port,
        "transport": transport,
        "format": fmt,
        **over,
    }


def _deliveries(admin: TestClient, **query: str) -> list[dict[str, Any]]:
    r = admin.get("/api/v1/deliveries", params=query)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _mail(sink_envelope: Any) -> Message:
    return email.message_from_bytes(sink_envelope.content)


# ---------------------------------------------------------------- pure formatters


EVENT: dict[str, Any] = {
    "kind": "alert", "id": "a1", "code": "S7_STOP", "title": "S7 Stop PLC Command was Sent",
    "description": "10.0.0.5 stopped 10.0.0.10", "severity": "Major", "engine": "Operational",
    "protocol": "s7comm", "source_ip": "10.0.0.5", "source_mac": None, "destination_ip": "10.0.0.10",
    "destination_mac": "00:0e:8c:01:02:03", "first_seen": T0.isoformat(), "last_seen": T0.isoformat(),
    "count": 2, "sensor_id": "n1", "sensor_name": "plant-a",
}  # fmt: skip


def test_cef_exact() -> None:
    assert formats.cef(EVENT, "1.2.3") == (
        "CEF:0|OTWatch|OTWatch|1.2.3|S7_STOP|S7 Stop PLC Command was Sent|8|"
        "rt=1795341600000 src=10.0.0.5 dst=10.0.0.10 dmac=00:0e:8c:01:02:03 proto=s7comm "
        "cat=Operational msg=10.0.0.5 stopped 10.0.0.10 cnt=2 externalId=a1 deviceExternalId=n1 "
        "cs1Label=Sensor cs1=plant-a"
    )


def test_cef_escaping_round_trips() -> None:
    ev = {**EVENT, "title": "a|b\\c", "description": "x=1\ny\\z", "code": "C|D"}
    line = formats.cef(ev, "1")
    assert "a\\|b\\\\c" in line and "msg=x\\=1\\ny\\\\z" in line and "|C\\|D|" in line
    header, ext = formats.parse_cef(line)
    assert header[4:6] == ["C|D", "a|b\\c"] and ext["msg"] == "x=1\ny\\z"


def test_leef_exact() -> None:
    line = formats.leef(EVENT, "1.2.3")
    assert line == (
        "LEEF:2.0|OTWatch|OTWatch|1.2.3|S7_STOP|x09|devTime=2026-11-22T10:00:00.000Z\t"
        "devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSXXX\tsev=8\tname=S7 Stop PLC Command was Sent\t"
        "src=10.0.0.5\tdst=10.0.0.10\tdstMAC=00:0e:8c:01:02:03\tproto=s7comm\tcat=Operational\t"
        "msg=10.0.0.5 stopped 10.0.0.10\tcount=2\texternalId=a1\tsensorId=n1\tsensor=plant-a"
    )
    header, attrs = formats.parse_leef(formats.leef({**EVENT, "description": "tab\there"}, "1"))
    assert header[5] == "x09" and attrs["msg"] == "tab here"


def test_rfc5424_exact_and_wrapped_formats() -> None:
    line = formats.rfc5424(EVENT, hostname="console 1", facility=16)
    assert line == (
        '<131>1 2026-11-22T10:00:00.000000Z console1 otwatch - ALERT [otwatch@32473 id="a1" '
        'code="S7_STOP" severity="Major" engine="Operational" protocol="s7comm" src="10.0.0.5" '
        'dst="10.0.0.10" count="2" sensorId="n1" sensor="plant-a"] '
        "S7 Stop PLC Command was Sent: 10.0.0.5 stopped 10.0.0.10"
    )
    assert formats.rfc5424({**EVENT, "sensor_name": 'a"]\\'}, hostname="h").count('sensor="a\\"\\]\\\\"') == 1
    cef = formats.syslog_line(EVENT, "cef", hostname="h", version="9")
    assert cef.startswith("<131>1 2026-11-22T10:00:00.000000Z h otwatch - ALERT - CEF:0|OTWatch|")
    leef = formats.syslog_line({**EVENT, "severity": "Critical"}, "leef", hostname="h", version="9")
    assert leef.startswith("<130>1 ") and " - LEEF:2.0|OTWatch|OTWatch|9|S7_STOP|x09|" in leef
    note = {"kind": "notification", "id": "n9", "type": "sensor_disconnected", "severity": "Major",
            "title": "Sensor plant-a disconnected: Time drift detected", "message": "Times drift detected.",
            "reason": "Time drift detected", "sensor_id": "n1", "sensor_name": "plant-a",
            "created_at": T0.isoformat()}  # fmt: skip
    header, ext = formats.parse_cef(formats.cef(note, "9"))
    assert header[4:7] == ["SENSOR_DISCONNECTED", "Sensor plant-a disconnected: Time drift detected", "8"]
    assert ext["reason"] == "Time drift detected" and ext["cat"] == "System Notification"
    assert formats.octet_counted("héllo".encode()) == b"6 h\xc3\xa9llo"


def test_attack_technique_in_every_format() -> None:
    ev = {**EVENT, "code": "PROGRAM_DOWNLOAD", "technique": "T0843", "technique_name": "Program Download"}
    _, ext = formats.parse_cef(formats.cef(ev, "1"))
    assert ext["cs2Label"] == "MITRE ATT&CK for ICS" and ext["cs2"] == "T0843 Program Download"
    _, attrs = formats.parse_leef(formats.leef(ev, "1"))
    assert attrs["technique"] == "T0843 Program Download"
    assert ' technique="T0843" ' in formats.rfc5424(ev, hostname="h")
    assert "ATT&CK:      T0843 Program Download" in formats.email_body(ev)
    assert "cs2" not in formats.parse_cef(formats.cef(EVENT, "1"))[1]  # none: no empty fields


def test_backoff_is_exponential_jittered_and_capped() -> None:
    assert [backoff(n, 10, 900, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert [backoff(n, 10, 900, rand=lambda: 0.0) for n in (1, 2, 3)] == [5, 10, 20]
    assert backoff(30, 10, 900, rand=lambda: 1.0) == 900
    assert all(450 <= backoff(30, 10, 900) <= 900 for _ in range(100))


# ---------------------------------------------------------------- alert -> email + syslog CEF


def test_new_alert_arrives_by_email_and_syslog_cef(
    admin: TestClient, ctx: ConsoleContext, syslog_udp: SyslogUDP, syslog_tcp: SyslogTCP
) -> None:
    with smtp_server() as (ctl, sink):
        r = admin.put(
            "/api/v1/mail",
            json={"host": "127.0.0.1", "port": ctl.port, "from_address": "otwatch@plant.example"},
        )
        assert r.status_code == 200, r.text
        _rule(admin, "SOC mail", {"type": "email", "to": ["soc@plant.example"]})
        _rule(admin, "SIEM UDP", _syslog(syslog_udp.port))
        _rule(admin, "SIEM TCP", _syslog(syslog_tcp.port, "tcp"))
        s = _sensor(admin, ctx)
        _report(s, "alerts", alerts=[_alert("1")])
        alert = admin.get("/api/v1/alerts").json()["items"][0]
        assert len(_deliveries(admin, state="pending")) == 3

        report = deliver_due(ctx)
        assert (report.sent, report.retried, report.failed) == (3, 0, 0), report.errors
        wait_until(
            lambda: (
                len(sink.envelopes) == 1 and len(syslog_udp.messages) == 1 and len(syslog_tcp.messages) == 1
            )
        )

        env = sink.envelopes[0]
        assert env.mail_from == "otwatch@plant.example" and env.rcpt_tos == ["soc@plant.example"]
        msg = _mail(env)
        assert msg["Subject"] == "[OTWatch] Major alert: S7 Stop PLC Command was Sent"
        assert msg["To"] == "soc@plant.example" and msg["Message-ID"].endswith("@otwatch>")
        body = msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert "10.0.0.5 stopped 10.0.0.10" in body and "Protocol:    s7comm" in body

        line = syslog_udp.messages[0]
        assert line.startswith("<131>1 2026-11-22T10:00:00.000000Z ") and " otwatch - ALERT - CEF:0|" in line
        header, ext = formats.parse_cef(line)
        assert header == [
            "CEF:0", "OTWatch", "OTWatch", __version__, "S7_STOP", "S7 Stop PLC Command was Sent", "8",
        ]  # fmt: skip
        assert ext == {
            "rt": str(int(T0.timestamp() * 1000)), "src": "10.0.0.5", "dst": "10.0.0.10", "proto": "s7comm",
            "cat": "Operational", "msg": "10.0.0.5 stopped 10.0.0.10", "cnt": "1", "externalId": alert["id"],
            "deviceExternalId": s.node_id, "cs1Label": "Sensor", "cs1": alert["sensor_name"],
        }  # fmt: skip
        assert (
            syslog_tcp.messages == syslog_udp.messages and not syslog_tcp.errors
        )  # octet-counted frame, same message

        # the sensor resends the alert (a new count): nothing is queued or sent again
        _report(s, "alerts", alerts=[_alert("1", count=4, last_seen=(T0 + timedelta(minutes=1)).isoformat())])
        assert deliver_due(ctx).sent == 0
        assert [d["state"] for d in _deliveries(admin)] == ["sent"] * 3
        assert all(d["attempts"] == 1 and d["title"] == alert["title"] for d in _deliveries(admin))
        assert len(sink.envelopes) == 1 and len(syslog_udp.messages) == 1


def test_filters_choose_the_rules(admin: TestClient, ctx: ConsoleContext) -> None:
    s, other = _sensor(admin, ctx), _sensor(admin, ctx)
    port = free_port()
    filters: dict[str, dict[str, Any]] = {
        "all": {},
        "critical only": {"severities": ["Critical"]},
        "major operational s7": {
            "severities": ["Major"],
            "engines": ["Operational"],
            "protocols": ["S7COMM"],
        },
        "modbus only": {"protocols": ["modbus"]},
        "malware only": {"engines": ["Malware"]},
        "other sensor": {"sensor_ids": [other.node_id]},
        "this sensor": {"sensor_ids": [s.node_id]},
        "disabled": {"enabled": False},
        "notifications only": {"report_alerts": False, "report_system_notifications": True},
    }
    rules = {name: _rule(admin, name, _syslog(port), **over)["id"] for name, over in filters.items()}
    _report(s, "alerts", alerts=[_alert("1")])
    queued = {d["rule_id"] for d in _deliveries(admin)}
    assert queued == {rules["all"], rules["major operational s7"], rules["this sensor"]}
    listed = {r["name"]: r for r in admin.get("/api/v1/forwarding-rules").json()["items"]}
    assert listed["all"]["pending"] == 1 and listed["disabled"]["pending"] == 0


# ---------------------------------------------------------------- webhook retries


def test_webhook_fails_twice_then_is_delivered_exactly_once(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    hook = WebhookReceiver(tls, script=[500, 500])
    try:
        action = {
            "type": "webhook",
            "url": hook.url,
            "ca_pem": tls.ca_pem,
            "headers": {"Authorization": "Bearer s3cret"},
        }
        rule = _rule(admin, "hook", action)
        assert rule["action"]["headers"] == {"Authorization": MASK} and "s3cret" not in str(rule)
        s = _sensor(admin, ctx)
        _report(s, "alerts", alerts=[_alert("1")])
        alert_id = admin.get("/api/v1/alerts").json()["items"][0]["id"]

        t1 = utcnow()
        assert deliver_due(ctx, now=t1).retried == 1
        (d,) = _deliveries(admin)
        assert (
            d["state"] == "pending" and d["attempts"] == 1 and "HTTP 500 receiver failure" in d["last_error"]
        )
        delay = (datetime.fromisoformat(d["next_attempt_at"]) - t1).total_seconds()
        assert 0.5 <= delay <= 1.0  # base 1 s, jittered to 50-100 %
        r = deliver_due(ctx, now=t1)  # not due yet: nothing happens
        assert (r.sent, r.retried, r.failed) == (0, 0, 0) and len(hook.hits) == 1

        assert deliver_due(ctx, now=t1 + timedelta(seconds=5)).retried == 1
        assert deliver_due(ctx, now=t1 + timedelta(seconds=60)).sent == 1
        assert deliver_due(ctx, now=t1 + timedelta(hours=1)).sent == 0
    finally:
        hook.close()
    assert [h.status for h in hook.hits] == [500, 500, 200]
    assert len({h.headers["x-otwatch-delivery"] for h in hook.hits}) == 1
    assert {h.body["event"]["id"] for h in hook.hits} == {alert_id}
    assert hook.hits[0].body == hook.hits[2].body  # identical body on every attempt
    assert all(h.headers["authorization"] == "Bearer s3cret" for h in hook.hits)
    (d,) = _deliveries(admin)
    assert d["state"] == "sent" and d["attempts"] == 3 and d["sent_at"]


def test_gives_up_after_max_attempts_and_permanent_errors(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    tls = make_tls(tmp_path / "tls")
    dead = _rule(
        admin, "dead", {"type": "webhook", "url": f"https://127.0.0.1:{free_port()}/x", "ca_pem": tls.ca_pem}
    )
    hook = WebhookReceiver(tls, script=[404])
    try:
        gone = _rule(admin, "gone", {"type": "webhook", "url": hook.url, "ca_pem": tls.ca_pem})
        s = _sensor(admin, ctx)
        _report(s, "alerts", alerts=[_alert("1")])
        t = utcnow()
        for step in range(6):
            deliver_due(ctx, now=t + timedelta(minutes=step))
    finally:
        hook.close()
    (g,) = _deliveries(admin, rule_id=gone["id"])
    assert g["state"] == "failed" and g["attempts"] == 1 and "HTTP 404" in g["last_error"]  # not retried
    (d,) = _deliveries(admin, rule_id=dead["id"])
    assert d["state"] == "failed" and d["attempts"] == 4
    assert "cannot connect" in d["last_error"] and "gave up after 4 attempts" in d["last_error"]
    assert admin.post(f"/api/v1/deliveries/{d['id']}/retry").json()["state"] == "pending"
    assert admin.post(f"/api/v1/deliveries/{d['id']}/retry").status_code == 409
    (d,) = _deliveries(admin, rule_id=dead["id"])
    assert d["attempts"] == 0 and len(_deliveries(admin, state="failed")) == 1


def test_two_workers_send_each_delivery_once(
    admin: TestClient, ctx: ConsoleContext, syslog_udp: SyslogUDP
) -> None:
    """Two console processes (contexts with their own engines) drain one queue concurrently."""
    _rule(admin, "siem", _syslog(syslog_udp.port))
    s = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert(str(i)) for i in range(30)])
    other = ConsoleContext.create(ctx.settings)
    reports = []
    try:
        threads = [threading.Thread(target=lambda c=c: reports.append(deliver_due(c))) for c in (ctx, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        other.db.dispose()
    assert sum(r.sent for r in reports) == 30
    wait_until(lambda: len(syslog_udp.messages) >= 30)
    ids = [formats.parse_cef(m)[1]["externalId"] for m in syslog_udp.messages]
    assert len(ids) == 30 and len(set(ids)) == 30
    with ctx.db.session() as db:
        rows = list(db.scalars(select(Delivery)))
    assert {(r.state, r.attempts) for r in rows} == {("sent", 1)}


# ---------------------------------------------------------------- rules API


def test_rule_api_validation_masking_and_permissions(admin: TestClient, ctx: ConsoleContext) -> None:
    hook = {"type": "webhook", "url": "https://siem.example/hook", "headers": {"X-Token": "t0ken"}}
    bad = admin.post(
        "/api/v1/forwarding-rules", json={"name": "x", "action": {**hook, "url": "http://siem.example"}}
    )
    assert bad.status_code == 422 and "HTTPS" in bad.json()["error"]["message"]
    bad = admin.post(
        "/api/v1/forwarding-rules", json={"name": "x", "action": {**hook, "headers": {"Host": "a"}}}
    )
    assert bad.status_code == 422
    bad = admin.post(
        "/api/v1/forwarding-rules", json={"name": "x", "action": _syslog(514, "tls", ca_pem="junk")}
    )
    assert bad.status_code == 422 and "PEM" in bad.json()["error"]["message"]
    bad = admin.post("/api/v1/forwarding-rules", json={"name": "x", "sensor_ids": ["nope"], "action": hook})
    assert bad.status_code == 422 and "unknown sensors: nope" in bad.json()["error"]["message"]
    bad = admin.post("/api/v1/forwarding-rules", json={"name": "x", "severities": ["Huge"], "action": hook})
    assert bad.status_code == 422
    rule = _rule(admin, "hook", hook, report_system_notifications=True)
    assert rule["action"]["headers"] == {"X-Token": MASK} and rule["report_system_notifications"] is True
    assert admin.post("/api/v1/forwarding-rules", json={"name": "hook", "action": hook}).status_code == 409

    kept = admin.put(
        f"/api/v1/forwarding-rules/{rule['id']}",
        json={"name": "hook2", "action": {**hook, "headers": {"X-Token": MASK}}},
    )
    assert kept.status_code == 200 and kept.json()["name"] == "hook2"
    with ctx.db.session() as db:
        row = db.get(ForwardingRule, rule["id"])
        assert row is not None and rule_headers(row, ctx.vault) == {"X-Token": "t0ken"}
        assert row.action_secret is not None and b"t0ken" not in row.action_secret
    sneaky = admin.put(
        f"/api/v1/forwarding-rules/{rule['id']}",
        json={"name": "hook2", "action": {**hook, "headers": {"X-Other": MASK}}},
    )
    assert sneaky.status_code == 422

    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    admin.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"})
    assert admin.get("/api/v1/forwarding-rules").json()["total"] == 1
    assert admin.get("/api/v1/deliveries").status_code == 200
    assert admin.post("/api/v1/forwarding-rules", json={"name": "ro", "action": hook}).status_code == 403
    assert admin.delete(f"/api/v1/forwarding-rules/{rule['id']}").status_code == 403
    assert admin.post(f"/api/v1/forwarding-rules/{rule['id']}/test").status_code == 403
    assert admin.put("/api/v1/mail", json={"host": "h", "from_address": "a@b.c"}).status_code == 403
    assert admin.get("/api/v1/mail").json()["configured"] is False
    admin.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert admin.delete(f"/api/v1/forwarding-rules/{rule['id']}").status_code == 204
    assert admin.get(f"/api/v1/forwarding-rules/{rule['id']}").status_code == 404
    actions = [e["action"] for e in admin.get("/api/v1/audit?action=forwarding_rule").json()["items"]]
    assert sorted(actions) == [
        "forwarding_rule.created",
        "forwarding_rule.deleted",
        "forwarding_rule.updated",
    ]


def test_rule_test_button_over_syslog_tls(admin: TestClient, ctx: ConsoleContext, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    other_ca = make_tls(tmp_path / "other").ca_pem
    server = SyslogTCP(tls=tls.server_context())
    try:
        good = _rule(admin, "tls leef", _syslog(server.port, "tls", "leef", ca_pem=tls.ca_pem))
        r = admin.post(f"/api/v1/forwarding-rules/{good['id']}/test")
        assert r.status_code == 200 and r.json()["ok"] is True, r.text
        wait_until(lambda: len(server.messages) == 1)
        header, attrs = formats.parse_leef(server.messages[0])
        assert header == ["LEEF:2.0", "OTWatch", "OTWatch", __version__, "OTWATCH_TEST", "x09"]
        assert attrs["name"] == "OTWatch forwarding test" and attrs["sev"] == "3"
        wrong = _rule(admin, "wrong ca", _syslog(server.port, "tls", "cef", ca_pem=other_ca))
        r = admin.post(f"/api/v1/forwarding-rules/{wrong['id']}/test").json()
        assert r["ok"] is False and "certificate verification failed" in r["detail"]
        closed = _rule(admin, "closed", _syslog(free_port(), "tcp"))
        r = admin.post(f"/api/v1/forwarding-rules/{closed['id']}/test").json()
        assert r["ok"] is False and "syslog TCP 127.0.0.1" in r["detail"] and "refused" in r["detail"].lower()
    finally:
        server.close()
    assert _deliveries(admin) == []  # tests do not go through the queue


# ---------------------------------------------------------------- mail server


def _mail_settings(port: int, **over: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "from_address": "otwatch@plant.example", **over}


def test_mail_settings_and_test_email(admin: TestClient, ctx: ConsoleContext, tmp_path: Path) -> None:
    assert admin.get("/api/v1/mail").json()["configured"] is False
    assert admin.post("/api/v1/mail/test", json={"to": "a@b.c"}).status_code == 409
    assert admin.put("/api/v1/mail", json={"host": "h"}).status_code == 422
    auth = password_authenticator("relay", "relay-pass")
    with smtp_server(authenticator=auth, auth_require_tls=False) as (ctl, sink):
        body = _mail_settings(ctl.port, authentication=True, username="relay", password="relay-pass")
        out = admin.put("/api/v1/mail", json=body).json()
        assert out["has_password"] is True and "password" not in out and out["port"] == ctl.port
        with ctx.db.session() as db:
            row = db.get(MailServer, 1)
            assert row is not None and row.password is not None and b"relay-pass" not in row.password
        r = admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()
        assert r == {"ok": True, "detail": "test email sent to ops@plant.example", "notes": []}
        assert _mail(sink.envelopes[0])["Subject"] == "[OTWatch] Test email"
        # a PUT without password keeps it; a wrong one is reported with the server's answer
        assert admin.put("/api/v1/mail", json={**body, "password": None}).json()["has_password"] is True
        assert admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()["ok"] is True
        admin.put("/api/v1/mail", json={**body, "password": "wrong"})
        r = admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()
        assert r["ok"] is False and "authentication failed for 'relay': 535" in r["detail"]
        # NTLM asked for, the server also offers LOGIN/PLAIN: said plainly, then LOGIN/PLAIN is used
        admin.put("/api/v1/mail", json={**body, "ntlm": True})
        r = admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()
        assert r["ok"] is True and "not supported by Python's smtplib" in r["notes"][0]
        assert admin.get("/api/v1/mail").json()["ntlm"] is True
    with smtp_server(NTLMOnly(), auth_require_tls=False, auth_exclude_mechanism=["LOGIN", "PLAIN"]) as (
        ctl,
        sink,
    ):
        admin.put(
            "/api/v1/mail",
            json=_mail_settings(ctl.port, authentication=True, username="u", password="p", ntlm=True),
        )
        r = admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()
        assert r["ok"] is False and "offers only NTLM" in r["detail"]
        assert (
            "NTLM authentication is not supported by Python's smtplib" in r["detail"] and not sink.envelopes
        )
    tls = make_tls(tmp_path / "tls")
    with smtp_server(tls_context=tls.server_context(), require_starttls=True) as (ctl, sink):
        admin.put("/api/v1/mail", json=_mail_settings(ctl.port))
        r = admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()
        assert r["ok"] is False and "530" in r["detail"]  # the server insists on STARTTLS
        admin.put("/api/v1/mail", json=_mail_settings(ctl.port, security="starttls", ca_pem=tls.ca_pem))
        assert admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()["ok"] is True
        assert len(sink.envelopes) == 1
    admin.put("/api/v1/mail", json=_mail_settings(free_port()))
    r = admin.post("/api/v1/mail/test", json={"to": "ops@plant.example"}).json()
    assert r["ok"] is False and "cannot connect to the mail server 127.0.0.1:" in r["detail"]


def test_email_rule_without_mail_server_retries(admin: TestClient, ctx: ConsoleContext) -> None:
    _rule(admin, "mail", {"type": "email", "to": ["soc@plant.example"]})
    s = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1")])
    assert deliver_due(ctx).retried == 1
    (d,) = _deliveries(admin)
    assert d["state"] == "pending" and "no mail server is set up" in d["last_error"]


def test_alert_time_is_kept_in_the_payload(admin: TestClient, ctx: ConsoleContext) -> None:
    _rule(admin, "r", _syslog(free_port()))
    s = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1")])
    with ctx.db.session() as db:
        (d,) = db.scalars(select(Delivery))
        assert datetime.fromisoformat(d.payload["last_seen"]) == T0.astimezone(UTC)
        assert d.payload["sensor_id"] == s.node_id and d.subject_kind == "alert"
