"""End to end over real TLS: pairing key, pinned enrolment, approval, mTLS check-ins, Disconnected."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from otwatch.agent.node import AgentNode
from otwatch.wire.client import ConsoleLink, Credentials, NodeState, enroll
from otwatch.wire.pki import PinError
from tests.e2e.conftest import LiveConsole


def wait_for(fn: Callable[[], bool], timeout: float = 20.0, step: float = 0.2) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(step)
    raise AssertionError("condition not met in time")


def status(admin: httpx.Client, node_id: str) -> str:
    s: str = admin.get(f"/api/v1/agents/{node_id}").json()["status"]
    return s


def test_pair_approve_connect_then_disconnect(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    key = admin.post(
        "/api/v1/pairing-keys", json={"max_uses": 20, "expires_days": 30, "description": "e2e"}
    ).json()["pairing_key"]
    state = NodeState(tmp_path / "agent")
    ident, resp = enroll(state, "agent", Credentials(pairing_key=key), version="0.1.0")
    assert resp.status == "Pending Approval"
    assert status(admin, ident.node_id) == "Pending Approval"

    admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    cfg = {"name": "loopback", "active_query_networks": ["127.0.0.0/30"]}
    admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
    assert status(admin, ident.node_id) == "Waiting for Connection"

    node = AgentNode(state, longpoll=2.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: status(admin, ident.node_id) == "Connected")
        assert node.runtime.config["active_query_networks"] == ["127.0.0.0/30"]
        view = admin.get(f"/api/v1/agents/{ident.node_id}").json()
        assert view["version"] == "0.1.0" and view["ip"] == "127.0.0.1" and view["engine_version"]
        # a configuration change reaches the long-polling agent without waiting for its poll to end
        cfg2 = {**cfg, "schedule": {"enabled": False}, "active_query_networks": ["127.0.0.0/29"]}
        admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg2).raise_for_status()
        wait_for(lambda: node.runtime.config.get("active_query_networks") == ["127.0.0.0/29"], timeout=5)
    finally:
        node.stop()
        t.join(timeout=10)
    # offline_after is 5 s in the test settings
    wait_for(lambda: status(admin, ident.node_id) == "Disconnected", timeout=15)
    view = admin.get(f"/api/v1/agents/{ident.node_id}").json()
    assert view["disconnect_reason"].startswith(
        "Agent not communicating with on-premises management console."
    )


def test_wrong_pin_refused_before_any_secret_is_sent(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    wrong = ":".join(["00"] * 32)
    creds = Credentials(
        address=live_console.address, fingerprint=wrong, username="admin", password="secret-pass-1"
    )
    with pytest.raises(PinError, match="does not match"):
        enroll(NodeState(tmp_path / "a"), "agent", creds)
    audit = admin.get("/api/v1/audit").json()["items"]
    assert all(e["action"] != "node.enroll_refused" for e in audit)  # nothing reached the console
    assert all(e["actor"] != "admin" or e["action"] != "auth.login_failed" for e in audit)
    assert admin.get("/api/v1/agents").json()["total"] == 0


def test_api_key_and_password_enrolment_then_uninstall(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    fp = admin.get("/api/v1/certificates").json()["fingerprint_sha256"]
    api_key = admin.post("/api/v1/api-keys", json={"name": "installer"}).json()["key"]
    state = NodeState(tmp_path / "a")
    ident, _ = enroll(
        state, "agent", Credentials(address=live_console.address, fingerprint=fp, api_key=api_key)
    )
    with ConsoleLink(state) as link:
        link.goodbye()
    view = admin.get(f"/api/v1/agents/{ident.node_id}").json()
    assert view["status"] == "Pending Approval"  # never approved: approval comes first
    admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
    view = admin.get(f"/api/v1/agents/{ident.node_id}").json()
    assert view["status"] == "Disconnected" and view["disconnect_reason"] == "Uninstalled"
    from otwatch.wire.client import LinkError

    with pytest.raises(LinkError) as err, ConsoleLink(state) as link:
        link.goodbye()
    assert err.value.code == "certificate_revoked"


def test_long_poll_is_woken_with_the_committed_configuration(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    """A configuration saved while the agent long-polls reaches it at once, not after the poll ends."""
    from datetime import UTC, datetime

    from otwatch.wire.messages import CheckinRequest

    live_console.ctx.settings.longpoll_seconds = 20.0
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    state = NodeState(tmp_path / "a")
    ident, _ = enroll(state, "agent", Credentials(pairing_key=key))
    admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
    admin.post("/api/v1/networks", json={"cidr": "10.0.0.0/8"}).raise_for_status()
    empty_returns = 0
    with ConsoleLink(state, timeout=30) as link:
        link.checkin(CheckinRequest(client_time=datetime.now(UTC), wait=1))  # consumes the approval's wake-up
        for round_ in range(8):
            got: dict[str, object] = {}

            def poll(round_: int = round_, got: dict[str, object] = got) -> None:
                """An agent long-polls again whenever a poll returns with nothing."""
                end = time.monotonic() + 25
                while time.monotonic() < end:
                    r = link.checkin(
                        CheckinRequest(client_time=datetime.now(UTC), config_version=round_, wait=20)
                    )
                    if r.config is not None:
                        got["resp"], got["at"] = r, time.monotonic()
                        return
                    nonlocal empty_returns
                    empty_returns += 1

            t = threading.Thread(target=poll)
            t.start()
            time.sleep(0.5)  # the poll is waiting now
            sent = time.monotonic()
            cfg = {"name": f"r{round_}", "active_query_networks": [f"10.{round_}.0.0/16"]}
            admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
            t.join(timeout=30)
            resp = got["resp"]
            assert resp.config is not None and resp.config["active_query_networks"] == [f"10.{round_}.0.0/16"]  # type: ignore[attr-defined]
            assert float(got["at"]) - sent < 3.0  # type: ignore[arg-type]
    assert empty_returns == 0  # woken only after the commit, every poll that wakes carries the change
