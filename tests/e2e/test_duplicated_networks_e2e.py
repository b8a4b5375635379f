"""Duplicated networks with real agents and real Modbus devices: two sites share the range
127.0.0.72/30, each site's PLC answers at 127.0.0.73 (two pymodbus processes, told apart by the port
each site's agent is given, as two plants' devices are by the agent that reaches them). Each agent
scans its own copy; the inventory holds two assets at 127.0.0.73, one per site, with that site's
firmware; a third agent whose active query network covers the range never sends to it; and the
agents can be deleted only once their copies are gone."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from otwatch.agent.node import AgentNode
from otwatch.console.fleet.models import Command
from tests.e2e.conftest import LiveConsole
from tests.e2e.test_pairing_e2e import status, wait_for
from tests.peers import free_port, modbus_peer

RANGE = "127.0.0.72/30"
PLC_IP = "127.0.0.73"


def _identity(firmware: str) -> dict[str, str]:
    return {"VendorName": "Acme Automation", "ProductCode": "AC-500", "MajorMinorRevision": firmware}


def test_two_sites_same_addresses_two_assets(live_console: LiveConsole, tmp_path: Path) -> None:
    admin = live_console.admin()
    admin.post("/api/v1/networks", json={"cidr": "127.0.0.0/8"}).raise_for_status()
    port_a, port_b = free_port(PLC_IP), free_port(PLC_IP)
    while port_b == port_a:
        port_b = free_port(PLC_IP)
    plan = [
        ("gw-a", "127.0.0.90/32", port_a),
        ("gw-b", "127.0.0.91/32", port_b),
        ("gw-c", "127.0.0.72/29", port_a),
    ]
    agents: list[tuple[str, AgentNode, threading.Thread]] = []
    try:
        for name, net, port in plan:
            state, ident = live_console.enrolled(tmp_path / name, "agent")
            admin.post(f"/api/v1/agents/{ident.node_id}/approve").raise_for_status()
            cfg = {"name": name, "active_query_networks": [net]}
            admin.put(f"/api/v1/agents/{ident.node_id}/configuration", json=cfg).raise_for_status()
            node = AgentNode(state, port_map={"modbus": port}, longpoll=1.0)
            t = threading.Thread(target=node.run, daemon=True)
            t.start()
            agents.append((ident.node_id, node, t))
        (a, node_a, _), (b, node_b, _), (c, node_c, _) = agents
        copies = {}
        for site, agent in (("Plant A", a), ("Plant B", b)):
            r = admin.post(
                "/api/v1/duplicated-networks", json={"cidr": RANGE, "site": site, "agent_id": agent}
            )
            assert r.status_code == 201, r.text
            copies[site] = r.json()["id"]
        # each agent takes its new scope: its copy, or (gw-c) the range excluded
        wait_for(lambda: [d["cidr"] for d in node_a.runtime.config.get("duplicated_networks", [])] == [RANGE])
        wait_for(lambda: [d["cidr"] for d in node_b.runtime.config.get("duplicated_networks", [])] == [RANGE])
        wait_for(lambda: RANGE in (node_c.runtime.config.get("policy") or {}).get("exclusions", []))
        for agent in (a, b, c):
            wait_for(lambda agent=agent: status(admin, agent) == "Connected")  # type: ignore[misc]

        with (
            modbus_peer(PLC_IP, port_a, _identity("1.0.0"), tmp_path / "plc-a"),
            modbus_peer(PLC_IP, port_b, _identity("2.0.0"), tmp_path / "plc-b"),
        ):
            for agent in (a, b, c):
                admin.post(f"/api/v1/agents/{agent}/scan").raise_for_status()
            for agent in (a, b, c):
                wait_for(
                    lambda agent=agent: (
                        admin.get(f"/api/v1/agents/{agent}").json()["last_scan_result"]  # type: ignore[misc]
                        == "Completed"
                    ),
                    timeout=90,
                )

        items = admin.get("/api/v1/assets", params={"network": RANGE}).json()["items"]
        plcs = sorted(
            (x["network_copy"]["site"], x["firmware"], [s["name"] for s in x["sources"]])
            for x in items
            if x["ip"] == PLC_IP and x["vendor"] == "Acme Automation"
        )
        assert plcs == [("Plant A", "1.0.0", ["gw-a"]), ("Plant B", "2.0.0", ["gw-b"])]
        assert all(x["network_copy"] is not None for x in items)  # nothing in the range without its site
        # gw-c never sent to the range: its own scan result holds nothing there
        with live_console.ctx.db.session() as db:
            cmd = db.scalars(select(Command).where(Command.node_id == c, Command.type == "scan")).one()
            scanned = [x["ip"] for x in cmd.result["assets"]]
        assert not [ip for ip in scanned if ip.startswith("127.0.0.7") and int(ip.rsplit(".", 1)[1]) < 76]
        site_b = admin.get("/api/v1/assets", params={"network_copy": copies["Plant B"]}).json()["items"]
        assert {x["network_copy"]["site"] for x in site_b} == {"Plant B"} and PLC_IP in {
            x["ip"] for x in site_b
        }

        # the delete guard, then its release
        r = admin.delete(f"/api/v1/agents/{a}")
        assert r.status_code == 409 and "you must first delete them before deleting the agent" in r.text
        admin.delete(f"/api/v1/duplicated-networks/{copies['Plant A']}").raise_for_status()
        assert admin.delete(f"/api/v1/agents/{a}").status_code == 204
    finally:
        for _, node, t in agents:
            node.stop()
            t.join(timeout=10)
        admin.close()
