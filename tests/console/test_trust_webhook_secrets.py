"""Issue 17, item 8: secrets inside a webhook URL are shown only to those who may edit the rule, and
never in delivery errors or logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.forwarding.worker import deliver_due
from tests.console.test_alerts import _alert, _report, _sensor
from tests.pg import free_port

SECRETS = ("hunter2", "PATHSECRET", "QUERYSECRET")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"background_workers": False, "delivery_max_attempts": 4, "delivery_timeout": 2.0}
    )


def test_webhook_url_secrets_are_masked_and_redacted(
    admin: TestClient, ctx: ConsoleContext, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"https://bot:hunter2@127.0.0.1:{free_port()}/hooks/PATHSECRET?token=QUERYSECRET"
    r = admin.post(
        "/api/v1/forwarding-rules", json={"name": "hook", "action": {"type": "webhook", "url": url}}
    )
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    assert admin.get(f"/api/v1/forwarding-rules/{rule_id}").json()["action"]["url"] == url  # the editor
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    with TestClient(admin.app, base_url="https://testserver") as ro:
        assert (
            ro.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"}).status_code
            == 200
        )
        for page in (
            "/api/v1/forwarding-rules",
            f"/api/v1/forwarding-rules/{rule_id}",
            "/settings/forwarding",
        ):
            text = ro.get(page).text
            assert "127.0.0.1" in text and not any(s in text for s in SECRETS), page
    s = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1")])
    with caplog.at_level(logging.INFO):
        report = deliver_due(ctx)
    assert report.retried == 1
    assert not any(x in e for e in report.errors for x in SECRETS)
    assert not any(x in caplog.text for x in SECRETS)
    deliveries = admin.get("/api/v1/deliveries").json()["items"]
    assert deliveries[0]["last_error"] and not any(x in deliveries[0]["last_error"] for x in SECRETS)
