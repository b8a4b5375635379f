"""Backplane modules end to end: the agent's scan reads an S7 CPU's rack (a python-snap7 server answering
SZL 0x0011, 0x001C and the module status list) and a ControlLogix-like chassis (three cpppo processes, the
controller routing slots 1 and 2 to the others), reports them as the assets' modules, and the console
stores them with the asset and shows them on its page (slot, type, order number, firmware, serial)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from otwatch.agent.result import ScanStatus
from otwatch.agent.safety import ScanPolicy
from otwatch.agent.scan import Scanner
from otwatch.console.context import ConsoleContext
from tests.console.test_assets import _agent
from tests.peers import free_port, s7_peer
from tests.protocols.enip.test_enip_backplane import _cfg, _cpppo
from tests.protocols.s7comm.test_s7comm_modules import RACK

pytestmark = pytest.mark.network

S7_HOST, ENIP_HOST, SLOT1, SLOT2 = "127.0.3.21", "127.0.3.22", "127.0.3.23", "127.0.3.24"


@pytest.fixture(scope="module")
def plant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    work = tmp_path_factory.mktemp("modules")
    ports = {"s7comm": free_port(S7_HOST), "enip": free_port(ENIP_HOST)}
    slot_ports = [free_port(SLOT1), free_port(SLOT2)]
    controller = _cfg(1, 14, 94, 20, 11, 0xDEADBEEF, "1756-L71/B LOGIX5571") + (
        '\n[UCMM]\nRoute Path = {"port": 1, "link": 0}\n'
        f'Route = {{"1/1": "{SLOT1}:{slot_ports[0]}", "1/2": "{SLOT2}:{slot_ports[1]}"}}\n'
    )
    rack = {
        "order_number": "6ES7 315-2EH14-0AB0", "hardware": [1, 0, 0], "firmware": [3, 2, 6],
        "szl": 0x0D91, "modules": RACK,
    }  # fmt: skip
    with ExitStack() as stack:
        stack.enter_context(s7_peer(S7_HOST, ports["s7comm"], work / "s7", rack=rack))
        stack.enter_context(
            _cpppo("slot1", SLOT1, slot_ports[0], _cfg(1, 12, 166, 5, 10, 0x01020304, "1756-EN2T/D"), work)
        ).start()
        stack.enter_context(
            _cpppo("slot2", SLOT2, slot_ports[1], _cfg(1, 7, 11, 1, 3, 0x12345678, "1756-IB16/A DCIN"), work)
        ).start()
        stack.enter_context(_cpppo("chassis", ENIP_HOST, ports["enip"], controller, work)).start()
        yield ports


def _scan(ports: dict[str, int], backplane: bool = True) -> dict[str, dict[str, object]]:
    scanner = Scanner(
        ScanPolicy(networks=("127.0.3.16/28",), response_timeout=1.0, backplane_modules=backplane),
        ports=list(ports.values()),
        port_map=ports,
    )
    result = asyncio.run(scanner.run([S7_HOST, ENIP_HOST]))
    assert result.status is ScanStatus.COMPLETED, result.error
    return {a.ip: a.as_dict() for a in result.assets}


def test_the_scan_reports_the_backplanes_and_the_console_shows_them(
    plant: dict[str, int], admin: TestClient, ctx: ConsoleContext
) -> None:
    assets = _scan(plant)
    s7 = assets[S7_HOST]["modules"]
    assert isinstance(s7, list) and [(m["slot"], m.get("type"), m["status"]) for m in s7 if "rack" in m] == [
        (2, "CPU", "OK"), (4, "Input module", "OK"), (5, "Output module", "OK"),
        (6, "Input module", "Not available"), (7, "DP interface", "OK"), (8, "Input module", "Error"),
    ]  # fmt: skip
    assert s7[0]["order_number"] == "6ES7 315-2EH14-0AB0" and s7[0]["firmware"] == "V3.2.6"
    chassis = assets[ENIP_HOST]["modules"]
    assert isinstance(chassis, list)
    assert [(m["slot"], m["order_number"], m["firmware"], m["serial"]) for m in chassis] == [
        (0, "1756-L71/B", "20.11", "0xdeadbeef"), (1, "1756-EN2T/D", "5.10", "0x01020304"),
        (2, "1756-IB16/A", "1.3", "0x12345678"),
    ]  # fmt: skip

    # the scan's result, as the agent sends it, stored by the console with each asset
    a = _agent(admin, ctx, "cell-9")
    admin.post("/api/v1/networks", json={"cidr": "127.0.3.16/28"})
    assert admin.post(f"/api/v1/agents/{a.node_id}/scan").status_code == 202
    cid = a.checkin()["commands"][0]["id"]
    result = {"assets": list(assets.values()), "asset_count": 2, "duration": 1.0,
              "started_at": datetime.now(UTC).isoformat()}  # fmt: skip
    a.checkin(results=[{"id": cid, "state": "done", "result": result}])
    items = {i["ip"]: i for i in admin.get("/api/v1/assets").json()["items"]}
    assert items[ENIP_HOST]["modules"] == chassis
    assert items[S7_HOST]["modules"] == s7
    page = admin.get(f"/inventory/{items[ENIP_HOST]['id']}").text
    table = re.search(r'<table[^>]*id="modules".*?</table>', page, re.S)
    assert table is not None
    heads = re.findall(r'<th scope="col">([^<]+)</th>', table.group(0))
    assert heads[:6] == ["Slot", "Type", "Name / model", "Order number", "Firmware", "Serial"]
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", table.group(0))
    assert len(rows) == 3 and "1756-EN2T/D" in rows[1] and "0x01020304" in rows[1]
    page = admin.get(f"/inventory/{items[S7_HOST]['id']}").text
    assert re.search(
        r"<th scope=\"col\">Rack</th><th scope=\"col\">Station</th><th scope=\"col\">Slot</th>", page
    )
    assert "Not available" in page and "6ES7 315-2EH14-0AB0" in page


def test_the_backplane_walk_can_be_switched_off_per_agent(plant: dict[str, int]) -> None:
    """``backplane_modules=False`` (the agent's policy, set from the console): no module status reads
    and no routed requests, so only the CPU's and adapter's own identity is reported."""
    assets = _scan(plant, backplane=False)
    s7 = assets[S7_HOST]["modules"]
    assert isinstance(s7, list) and [m.get("type") for m in s7] == ["CPU"]
    assert s7[0]["order_number"] == "6ES7 315-2EH14-0AB0"  # the CPU's own SZL 0x0011 still read
    assert not assets[ENIP_HOST].get("modules")
    assert assets[ENIP_HOST]["model"]  # List Identity still answered
