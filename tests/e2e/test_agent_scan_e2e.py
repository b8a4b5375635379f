"""Pair a real agent, configure it, Scan Now against a real Modbus peer, Abort a slow scan."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from sqlalchemy import select

from otwatch.agent import hostinfo
from otwatch.agent.node import AgentNode
from otwatch.console.fleet.models import Command
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for
from tests.peers import free_port, modbus_peer


class _Listener:
    """A TCP listener on an address outside the agent's networks that counts connections."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(0.2)
        self.accepted = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def __enter__(self) -> _Listener:
        self._t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._t.join(timeout=5)
        self.sock.close()


IDENTITY = {
    "VendorName": "Acme Automation",
    "ProductCode": "AC-500",
    "MajorMinorRevision": "3.2.1",
    "ModelName": "AC500-PM",
}


def test_scan_now_completed_then_abort_failed(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
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
            inv = admin.get(f"/api/v1/assets?source={ident.node_id}").json()["items"]
            own = {a["mac"] for a in hostinfo.host_assets()}  # the agent's own host, reported too
            assert {a["mac"] for a in inv if a["ip"] != host} == own
            inv = [a for a in inv if a["ip"] == host]
            assert [(a["ip"], a["vendor"], a["firmware"]) for a in inv] == [
                (host, "Acme Automation", "3.2.1")
            ]
            assert inv[0]["sources"][0]["name"] == "cell-1"

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


def test_agent_refuses_targets_outside_its_networks_and_reports_schedules(
    live_console: LiveConsole, tmp_path: Path
) -> None:
    """The console asks for an address outside the agent's networks: the agent refuses to send to it."""
    from otwatch.console.fleet import commands
    from otwatch.console.fleet.models import Node

    admin = live_console.admin()
    key = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    state = NodeState(tmp_path / "agent")
    ident, _ = enroll(state, "agent", Credentials(pairing_key=key))
    admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    cfg = {"name": "cell-2", "active_query_networks": ["127.0.0.71/32"]}
    admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
    outside = _Listener("127.0.0.72", 502)
    node = AgentNode(state, longpoll=2.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        with outside:
            wait_for(lambda: status(admin, ident.node_id) == "Connected")
            with live_console.ctx.db.session() as db:
                n = db.get(Node, ident.node_id)
                assert n is not None
                cmd = commands.queue_command(
                    db, live_console.ctx, "rogue", n, "scan", {"targets": ["127.0.0.72/32"]}
                )
                cmd_id = cmd.id

            def final() -> bool:
                with live_console.ctx.db.session() as db:
                    c = db.get(Command, cmd_id)
                    return c is not None and c.state in ("done", "failed")

            wait_for(final, timeout=30)
            assert outside.accepted == 0
            with live_console.ctx.db.session() as db:
                c = db.get(Command, cmd_id)
                assert c is not None
                assert "127.0.0.72" in " ".join([*c.result.get("refused", []), c.error or ""])
        # an enabled schedule runs scans by itself and they are recorded in the console
        sched = {**cfg, "schedule": {"enabled": True, "every": 1, "unit": "minutes"}}
        node._last_scheduled -= 120  # due now, without waiting a minute in a test
        admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=sched).raise_for_status()

        def scheduled_recorded() -> bool:
            with live_console.ctx.db.session() as db:
                return db.scalar(select(Command).where(Command.created_by == "schedule")) is not None

        wait_for(scheduled_recorded, timeout=30)
        assert admin.get(f"/api/v1/agents/{ident.node_id}").json()["last_scan_result"] in (
            "Completed",
            "Failed",
        )
    finally:
        node.stop()
        t.join(timeout=10)
