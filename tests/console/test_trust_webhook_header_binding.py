"""Review of the forwarding rules' webhook headers (finding 33): a stored header value goes only to the
receiver it was entered for.

A webhook's extra headers (``Authorization: Bearer …``) are kept encrypted and shown masked; the edit
form sends the mask back to keep a value. The mask was honoured whatever URL the form named, so an
Admin session could point the rule at a receiver of its own, press Test and read the token. Now
another receiver (scheme, host, port), certificate check or CA needs the kept values typed again
(422 naming ``action.headers``); another path on the same receiver keeps them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.console.forwarding.schemas import MASK
from tests.listeners import WebhookReceiver, make_tls

pytestmark = pytest.mark.network

TOKEN = "Bearer stored-Hook-Token-42"


def _put(admin: TestClient, rule_id: str, action: dict[str, Any]) -> Any:
    return admin.put(f"/api/v1/forwarding-rules/{rule_id}", json={"name": "SIEM hook", "action": action})


def _refused(r: Any) -> None:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "type the header values again" in err["message"] and "Authorization" in err["message"], err
    assert err["details"] == [{"field": "action.headers"}], err


def _tokens(hook: WebhookReceiver) -> list[str]:
    return [h.headers.get("authorization", "") for h in hook.hits]


def test_masked_webhook_header_is_not_sent_to_another_receiver(admin: TestClient, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    good, rogue = WebhookReceiver(tls), WebhookReceiver(tls)
    try:
        hook = {"type": "webhook", "url": good.url, "ca_pem": tls.ca_pem, "headers": {"Authorization": TOKEN}}
        r = admin.post("/api/v1/forwarding-rules", json={"name": "SIEM hook", "action": hook})
        assert r.status_code == 201, r.text
        rule_id = r.json()["id"]
        kept = {**hook, "headers": {"Authorization": MASK}}
        # the same receiver (another path too), the value masked: kept, and still sent there
        assert _put(admin, rule_id, {**kept, "url": good.url + "/v2"}).status_code == 200
        t = admin.post(f"/api/v1/forwarding-rules/{rule_id}/test").json()
        assert t["ok"], t
        assert _tokens(good) == [TOKEN]

        # another receiver (port), the value masked: refused, nothing changes, nothing sent there
        _refused(_put(admin, rule_id, {**kept, "url": rogue.url}))
        assert admin.get(f"/api/v1/forwarding-rules/{rule_id}").json()["action"]["url"] == good.url + "/v2"
        admin.post(f"/api/v1/forwarding-rules/{rule_id}/test")
        assert TOKEN not in _tokens(rogue)
        # another host name, the certificate check off, another CA (one the reader holds): typed again too
        _refused(_put(admin, rule_id, {**kept, "url": good.url.replace("127.0.0.1", "localhost")}))
        _refused(_put(admin, rule_id, {**kept, "verify_tls": False}))
        _refused(_put(admin, rule_id, {**kept, "ca_pem": make_tls(tmp_path / "reader").ca_pem}))
        _refused(_put(admin, rule_id, {**kept, "ca_pem": None}))  # system roots: another set of CAs

        # typed again, the other receiver gets the typed value (and only that)
        typed = {**kept, "url": rogue.url, "headers": {"Authorization": "Bearer typed"}}
        assert _put(admin, rule_id, typed).status_code == 200
        assert admin.post(f"/api/v1/forwarding-rules/{rule_id}/test").json()["ok"]
        assert _tokens(rogue) == ["Bearer typed"]
        assert TOKEN not in _tokens(rogue)
    finally:
        good.close()
        rogue.close()


def test_rule_page_says_another_receiver_needs_the_values(admin: TestClient) -> None:
    page = admin.get("/settings/forwarding/new").text
    assert "another receiver" in page and "typed again" in page
