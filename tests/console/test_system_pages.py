"""System Configuration pages: Forwarding Rules (and the delivery queue), Mail Server, System Notifications."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.forwarding.models import Delivery
from otwatch.console.notifications.service import scan_fleet
from tests.console.test_alerts import _sensor
from tests.console.test_web_pages import _as

WEBHOOK = {
    "name": "SIEM hook",
    "severities": ["Critical", "Major"],
    "engines": ["Malware"],
    "protocols": ["Modbus"],
    "action": {
        "type": "webhook",
        "url": "https://127.0.0.1:9/hook",
        "headers": {"Authorization": "Bearer s3cr3t"},
    },
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"background_workers": False})


def _rule(admin: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = admin.post("/api/v1/forwarding-rules", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_rules_table_shows_filters_action_and_queue(admin: TestClient, ctx: ConsoleContext) -> None:
    hook = _rule(admin, WEBHOOK)
    _rule(admin, {"name": "syslog all", "action": {"type": "syslog", "host": "10.1.2.3", "port": 6514,
                                                   "transport": "tls", "format": "leef"}})  # fmt: skip
    with ctx.db.session() as db:
        db.add(Delivery(rule_id=hook["id"], subject_kind="alert", subject_id="a1", state="failed",
                        payload={"title": "Unpermitted Usage of Modbus Function Code"}, attempts=5,
                        next_attempt_at=datetime.now(UTC), last_error="connection refused"))  # fmt: skip
        db.commit()
    page = admin.get("/settings/forwarding")
    assert page.status_code == 200
    row = re.search(rf'<tr data-id="{hook["id"]}">(.*?)</tr>', page.text, re.S)
    assert row
    text = re.sub(r"\s+", " ", row.group(1))
    assert "Severity: Critical, Major; Engine: Malware; Protocol: Modbus" in text
    assert "Webhook (JSON over HTTPS) to https://127.0.0.1:9/hook" in text
    assert "s3cr3t" not in page.text  # header values never reach the page
    assert "Syslog LEEF over TLS to 10.1.2.3:6514" in page.text
    assert "Unpermitted Usage of Modbus Function Code" in page.text and "connection refused" in page.text
    assert 'data-api-call="/api/v1/deliveries/' in page.text  # Retry on the failed delivery
    only_sent = admin.get("/settings/forwarding?state=sent")
    assert (
        "connection refused" not in only_sent.text and "Nothing in the queue in this state" in only_sent.text
    )


def test_edit_page_is_prefilled_and_keeps_masked_headers(admin: TestClient) -> None:
    hook = _rule(admin, WEBHOOK)
    page = admin.get(f"/settings/forwarding/{hook['id']}")
    assert page.status_code == 200
    assert 'value="SIEM hook"' in page.text
    assert re.search(r"<option selected>Critical</option>", page.text)
    assert not re.search(r"<option selected>Minor</option>", page.text)
    assert re.search(r'<option value="webhook" selected>', page.text)
    assert "Authorization: ********" in page.text and "s3cr3t" not in page.text
    assert (
        f'data-url="/api/v1/forwarding-rules/{hook["id"]}"' in page.text and 'data-method="PUT"' in page.text
    )
    # what the form sends back for a kept header: the masked value, which the API keeps
    body = {
        **WEBHOOK,
        "name": "SIEM hook 2",
        "action": {**WEBHOOK["action"], "headers": {"Authorization": "********"}},
    }
    assert admin.put(f"/api/v1/forwarding-rules/{hook['id']}", json=body).status_code == 200
    assert admin.get("/settings/forwarding/nope").status_code == 404


def test_read_only_sees_rules_but_no_controls(admin: TestClient) -> None:
    _rule(admin, WEBHOOK)
    viewer = _as(admin, "viewer1", "Read Only")
    page = viewer.get("/settings/forwarding")
    assert page.status_code == 200 and "SIEM hook" in page.text
    assert "Create Forwarding Rule" not in page.text and "data-api-call" not in page.text
    assert viewer.get("/settings/forwarding/new").status_code == 403
    mail = viewer.get("/settings/mail")
    assert mail.status_code == 200 and "Send test email" not in mail.text
    assert re.search(r"<fieldset disabled>", mail.text)


def test_mail_page_shows_settings_but_never_the_password(admin: TestClient) -> None:
    assert "Not set up yet" in admin.get("/settings/mail").text
    body = {"host": "smtp.plant.local", "port": 587, "from_address": "otwatch@plant.local",
            "security": "starttls", "authentication": True, "username": "otw", "password": "pa55-word"}  # fmt: skip
    assert admin.put("/api/v1/mail", json=body).status_code == 200
    page = admin.get("/settings/mail").text
    assert 'value="smtp.plant.local"' in page and 'value="587"' in page
    assert re.search(r'<option value="starttls" selected>', page)
    assert "unchanged (stored)" in page and "pa55-word" not in page
    assert "Last changed by admin" in page


def test_notifications_page_lists_and_filters(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    s.checkin()
    with s.mtls() as c:  # data the console cannot process -> Disconnected, one notification
        body = {"client_time": datetime.now(UTC).isoformat(),
                "reports": [{"id": "x", "kind": "alerts", "alerts": [{"key": "1"}]}]}  # fmt: skip
        assert c.post("/api/v1/wire/checkin", json=body).status_code == 422
    with ctx.db.session() as db:
        assert len(scan_fleet(db, ctx)) == 1
        db.commit()
    page = admin.get("/settings/notifications")
    assert page.status_code == 200
    assert "can\u2019t process data received from the sensor" in page.text  # seed 002's words
    assert f'href="/sensors/{s.node_id}"' in page.text
    empty = admin.get("/settings/notifications?kind=sensor_reconnected")
    assert "No system notifications match these filters" in empty.text
    filtered = admin.get(f"/settings/notifications?sensor={s.node_id}").text
    assert 'pager-summary">Showing 1–1 of 1<' in filtered
