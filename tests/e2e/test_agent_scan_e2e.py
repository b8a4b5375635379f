"""Pair a real agent, configure it, Scan Now against a real Modbus peer, Abort a slow scan."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import select

from otwatch.agent.node import AgentNode
from otwatch.console.fleet.models import Command
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for
from tests.peers import free_port, modbus_peer

IDENTITY = {
    "VendorName": "Acme Automation",
    "ProductCode": "AC-500",
    "MajorMinorRevision": "3.2.1",
    "ModelName": "AC500-PM",
}


def test_scan_now_completed_then_abort_failed(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={}).json()["pairing_key"]
    state = NodeState(tmp_path / "agent")
    ident, _ = enroll(state, "agent", Credentials(pairing_key=key))
    admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    host = "127.0.0.61"
    port = free_port(host)
    cfg = {"name": "cell-1", "active_query_networks": [f"{host}/32"]}
    admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
    node = AgentNode(state, port_map={"modbus": port}, longpoll=2.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        with modbus_peer(host, port, IDENTITY, tmp_path / "peer"):
            wait_for(lambda: status(admin, ident.node_id) == "Connected")
            admin.post(f"/api/v1/agents/{ident.node_id}/scan").raise_for_status()
            seen: set[str] = set()

            def completed() -> bool:
                v = admin.get(f"/api/v1/agents/{ident.node_id}").json()
                seen.add(v["status"])
                return v["last_scan_result"] == "Completed" and v["status"] == "Connected"

            wait_for(completed, timeout=60, step=0.1)
            view = admin.get(f"/api/v1/agents/{ident.node_id}").json()
            assert view["reported_assets"] == 1 and view["last_scan_duration"] > 0 and view["last_scan"]
            assert "Scanning" in seen
            with live_console.ctx.db.session() as db:
                cmd = db.scalars(select(Command).where(Command.type == "scan")).one()
                asset = cmd.result["assets"][0]
            assert asset["ip"] == host and asset["vendor"] == "Acme Automation"
            assert asset["firmware"] == "3.2.1" and port in asset["open_ports"]

        # a deliberately slow scan (2 packets/s over a /28) is aborted within seconds
        slow = {
            **cfg,
            "active_query_networks": ["127.0.0.64/28"],
            "policy": {"rate_pps": 2, "per_host_pps": 2},
        }
        admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=slow).raise_for_status()
        wait_for(lambda: node.runtime.config.get("active_query_networks") == ["127.0.0.64/28"], timeout=10)
        admin.post(f"/api/v1/agents/{ident.node_id}/scan").raise_for_status()
        wait_for(lambda: status(admin, ident.node_id) == "Scanning", timeout=20, step=0.1)
        started = time.monotonic()
        admin.post(f"/api/v1/agents/{ident.node_id}/abort").raise_for_status()
        wait_for(lambda: status(admin, ident.node_id) == "Connected", timeout=20, step=0.1)
        assert time.monotonic() - started < 10
        assert admin.get(f"/api/v1/agents/{ident.node_id}").json()["last_scan_result"] == "Failed"
    finally:
        node.stop()
        t.join(timeout=10)
