"""Pause and Resume an agent: while Paused it only checks in. A due scheduled scan does not run, a
scheduled result an agent sends anyway is not recorded, Scan Now is refused; after Resume the
schedule runs again and is recorded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from otwatch.agent.node import AgentNode
from otwatch.console.fleet.models import Command
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for


def _scheduled(live: LiveConsole) -> int:
    with live.ctx.db.session() as db:
        return int(
            db.scalar(select(func.count()).select_from(Command).where(Command.created_by == "schedule")) or 0
        )


def test_a_paused_agent_runs_and_records_no_scheduled_scan(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={}).json()["pairing_key"]
    state = NodeState(tmp_path / "agent")
    ident, _ = enroll(state, "agent", Credentials(pairing_key=key))
    agent = f"/api/v1/agents/{ident.node_id}"
    admin.post(f"{agent}/approve").raise_for_status()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    cfg = {
        "name": "cell-9",
        "active_query_networks": ["127.0.0.91/32"],
        "schedule": {"enabled": True, "every": 1, "unit": "minutes"},
    }
    admin.put(f"{agent}/configuration", json=cfg).raise_for_status()
    node = AgentNode(state, longpoll=1.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: status(admin, ident.node_id) == "Connected")
        assert admin.post(f"{agent}/pause").json()["status"] == "Paused"
        wait_for(lambda: node.paused, timeout=10)

        # due many times over, but paused: nothing runs, nothing is recorded
        node._last_scheduled -= 600
        time.sleep(3.5)  # the scheduler looks every second
        assert _scheduled(live_console) == 0 and node.runtime.activity is None
        assert not node.schedule_tick(time.monotonic() + 600)

        # an agent that scans anyway (an older version): the console does not record it
        node.runtime.finish("sched-" + "0" * 26, True, {"scheduled": True, "asset_count": 1, "assets": []})
        wait_for(lambda: not node.runtime.outbox.pending(), timeout=10)
        assert _scheduled(live_console) == 0
        view = admin.get(agent).json()
        assert view["status"] == "Paused" and view["last_scan_result"] is None

        # it still checks in (Paused, not Disconnected), and Scan Now waits for Resume
        r = admin.post(f"{agent}/scan")
        assert r.status_code == 409 and "Paused" in r.json()["error"]["message"]

        # Resume: the schedule runs again, from a fresh period
        assert admin.post(f"{agent}/resume").json()["status"] != "Paused"
        wait_for(lambda: not node.paused and node.runtime.status != "unknown", timeout=10)
        assert not node.schedule_tick(time.monotonic())  # the period started again at Resume
        node._last_scheduled -= 120
        wait_for(lambda: _scheduled(live_console) == 1, timeout=30)
    finally:
        node.stop()
        t.join(timeout=10)
        admin.close()
