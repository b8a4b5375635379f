"""Issue 17, item 22 (parts): the forwarding rule's Test does not answer with the target's response
body (an Admin-only probe of internal services), and the API reference is for signed-in users only."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.listeners import WebhookReceiver, make_tls


def test_rule_test_does_not_echo_the_targets_body(admin: TestClient, tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    hook = WebhookReceiver(tls, script=[500])
    try:
        action = {"type": "webhook", "url": hook.url, "ca_pem": tls.ca_pem}
        rule = admin.post("/api/v1/forwarding-rules", json={"name": "hook", "action": action}).json()
        r = admin.post(f"/api/v1/forwarding-rules/{rule['id']}/test")
        assert r.status_code == 200
        detail = r.json()["detail"]
        assert "HTTP 500" in detail and "receiver failure" not in detail, detail
    finally:
        hook.close()


def test_api_reference_needs_sign_in(client: TestClient, admin: TestClient) -> None:
    with TestClient(client.app, base_url="https://testserver") as anonymous:
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/docs", follow_redirects=False).status_code in (303, 401)
    assert admin.get("/openapi.json").json()["paths"]
    assert admin.get("/docs").status_code == 200
