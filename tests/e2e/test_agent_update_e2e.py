"""A real agent installs a signed OTD engine from the console; a broken engine rolls back."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from otwatch.agent.engine import EngineStore
from otwatch.agent.node import AgentNode
from otwatch.wire import package
from otwatch.wire.client import Credentials, NodeState, enroll
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for


def test_otd_update_then_rollback(live_console: LiveConsole, tmp_path: Path) -> None:
    priv, pub = package.generate_release_key()
    keys = live_console.ctx.settings.data_dir / "release-keys"
    keys.mkdir()
    (keys / "release.pub").write_bytes(pub)
    key = package.load_private(priv)
    admin = live_console.admin()
    pk = admin.post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
    state = NodeState(tmp_path / "agent")
    ident, _ = enroll(state, "agent", Credentials(pairing_key=pk))
    assert list((state.dir / "release-keys").glob("*.pub"))  # pinned at enrolment
    admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    admin.put(
        f"/api/v1/agents/{ident.node_id}/configuration",
        json={"name": "u", "active_query_networks": ["127.0.0.80/32"]},
    ).raise_for_status()
    good = package.build(
        "otd",
        "1.1.0",
        "1.0.0",
        {"engine.json": json.dumps({"version": "1.1.0", "ports": [502, 20000]}).encode()},
        key,
    )
    broken = package.build(
        "otd", "1.2.0", "1.0.0", {"engine.json": b'{"version": "1.2.0", "ports": []}'}, key
    )
    node = AgentNode(state, longpoll=2.0)
    t = threading.Thread(target=node.run, daemon=True)
    t.start()
    try:
        wait_for(lambda: status(admin, ident.node_id) == "Connected")
        assert admin.get(f"/api/v1/agents/{ident.node_id}").json()["engine_version"] == "1.0.0"
        admin.post("/api/v1/updates", files={"file": ("a.tar", good)}).raise_for_status()
        admin.post(
            "/api/v1/agents/bulk", json={"ids": [ident.node_id], "action": "update"}
        ).raise_for_status()
        wait_for(
            lambda: admin.get(f"/api/v1/agents/{ident.node_id}").json()["engine_version"] == "1.1.0",
            timeout=30,
        )
        assert EngineStore(state.dir).current().ports == (502, 20000)  # the scan uses the new engine

        from sqlalchemy import select

        from otwatch.console.fleet.models import Command

        def first_done() -> bool:  # the new version can be reported a check-in before the result
            with live_console.ctx.db.session() as db:
                return db.scalars(select(Command.state).where(Command.type == "update")).all() == ["done"]

        wait_for(first_done, timeout=30)
        admin.post("/api/v1/updates", files={"file": ("b.tar", broken)}).raise_for_status()
        admin.post(f"/api/v1/agents/{ident.node_id}/update").raise_for_status()

        def failed() -> bool:
            with live_console.ctx.db.session() as db:
                cmds = db.scalars(
                    select(Command).where(Command.type == "update", Command.state == "failed")
                ).all()
                return any("rolled back to 1.1.0" in (c.error or "") for c in cmds)

        wait_for(failed, timeout=30)
        assert EngineStore(state.dir).current().version == "1.1.0"
        wait_for(lambda: status(admin, ident.node_id) == "Connected", timeout=10)
        assert admin.get(f"/api/v1/agents/{ident.node_id}").json()["engine_version"] == "1.1.0"
    finally:
        node.stop()
        t.join(timeout=10)
