"""Issue 17, item 13: a node-chosen hostname in a download's file name is escaped."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key


def test_activation_file_name_is_escaped(admin: TestClient, ctx: ConsoleContext) -> None:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin), hostname='evil";\r\nX-Injected: 1é')
    admin.post(f"/api/v1/sensors/{s.node_id}/approve")
    r = admin.post(
        "/api/v1/sensors/activation-file", json={"mode": "locally-managed", "sensor_id": s.node_id}
    )
    assert r.status_code == 200, r.text
    disposition = r.headers["content-disposition"]
    assert "x-injected" not in {k.lower() for k in r.headers}
    assert disposition.startswith('attachment; filename="activation-locally-managed-')
    assert all(32 <= ord(c) < 127 for c in disposition) and disposition.count('"') == 2
