"""Assets reported by scans land in the inventory, linked to the agent, never duplicated."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key

PLC = {
    "ip": "10.30.1.10",
    "mac": "00:1B:1B:AA:BB:CC",
    "vendor": "Siemens",
    "model": "6ES7 315-2EH14-0AB0",
    "firmware": "V3.2.6",
    "serial": "S C-X4U421302009",
    "device_type": "PLC",
    "state": "Run",
    "open_ports": [102],
    "protocols": ["s7comm"],
}
SWITCH = {
    "ip": "10.30.1.1",
    "vendor": "Hirschmann",
    "device_type": "Switch",
    "open_ports": [161, 80],
    "protocols": ["snmp"],
}
HOST = {"ip": "10.30.2.5", "device_type": "IT Host", "open_ports": [22]}


def _agent(admin: TestClient, ctx: ConsoleContext, name: str) -> FakeAgent:
    admin.post("/api/v1/networks", json={"cidr": "10.30.0.0/16"})
    a = FakeAgent(ctx, admin.app)
    a.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{a.node_id}/approve")
    admin.put(
        f"/api/v1/agents/{a.node_id}/configuration",
        json={"name": name, "active_query_networks": ["10.30.0.0/16"]},
    )
    a.checkin()
    a.checkin()
    return a


def _scan(admin: TestClient, a: FakeAgent, assets: list[dict[str, object]]) -> None:
    assert admin.post(f"/api/v1/agents/{a.node_id}/scan").status_code == 202
    cid = a.checkin()["commands"][0]["id"]
    result = {
        "assets": assets,
        "asset_count": len(assets),
        "duration": 1.0,
        "started_at": datetime.now(UTC).isoformat(),
    }
    a.checkin(results=[{"id": cid, "state": "done", "result": result}])


def test_scan_results_fill_the_inventory(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _agent(admin, ctx, "gw-a")
    _scan(admin, a, [PLC, SWITCH, HOST])
    page = admin.get("/api/v1/assets").json()
    assert page["total"] == 3
    plc = next(x for x in page["items"] if x["ip"] == "10.30.1.10")
    assert (plc["vendor"], plc["model"], plc["firmware"], plc["state"]) == (
        "Siemens",
        PLC["model"],
        "V3.2.6",
        "Run",
    )
    assert plc["mac"] == "00:1b:1b:aa:bb:cc"
    assert plc["sources"][0]["node_id"] == a.node_id and plc["sources"][0]["name"] == "gw-a"
    assert plc["protocols"] == [{"protocol": "s7comm", "role": "server"}]
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["reported_assets"] == 3


def test_repeated_scans_update_not_duplicate(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _agent(admin, ctx, "gw-a")
    _scan(admin, a, [PLC])
    _scan(admin, a, [{**PLC, "firmware": "V3.3.0", "serial": None, "open_ports": [102, 80]}])
    items = admin.get("/api/v1/assets").json()["items"]
    assert len(items) == 1
    assert items[0]["firmware"] == "V3.3.0" and items[0]["serial"] == PLC["serial"]  # unknown does not erase
    assert items[0]["open_ports"] == [80, 102]
    b = _agent(admin, ctx, "gw-b")
    _scan(admin, b, [{"ip": "10.30.1.10", "mac": "00-1b-1b-aa-bb-cc"}])
    items = admin.get("/api/v1/assets").json()["items"]
    assert len(items) == 1 and {s["name"] for s in items[0]["sources"]} == {"gw-a", "gw-b"}


def test_inventory_filters(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _agent(admin, ctx, "gw-a")
    b = _agent(admin, ctx, "gw-b")
    _scan(admin, a, [PLC, SWITCH])
    _scan(admin, b, [HOST])

    def ips(query: str) -> set[str]:
        r = admin.get(f"/api/v1/assets?{query}")
        assert r.status_code == 200, r.text
        return {x["ip"] for x in r.json()["items"]}

    assert ips(f"source={a.node_id}") == {"10.30.1.10", "10.30.1.1"}
    assert ips(f"source={b.node_id}") == {"10.30.2.5"}
    assert ips("type=PLC") == {"10.30.1.10"}
    assert ips("vendor=hirsch") == {"10.30.1.1"}
    assert ips("protocol=snmp") == {"10.30.1.1"}
    assert ips("network=10.30.2.0/24") == {"10.30.2.5"}
    assert ips("network=10.30.1.0/24&type=Switch") == {"10.30.1.1"}
    bad = admin.get("/api/v1/assets?network=10.30.1.7/24")
    assert bad.status_code == 422 and "host bits" in bad.json()["error"]["message"]
    one = admin.get("/api/v1/assets?limit=1&type=PLC").json()["items"][0]
    assert admin.get(f"/api/v1/assets/{one['id']}").json()["serial"] == PLC["serial"]
    assert admin.get("/api/v1/assets/nope").status_code == 404


def test_a_banner_guess_never_overwrites_an_ot_answer(admin: TestClient, ctx: ConsoleContext) -> None:
    """One merge rule (otwatch.inventory.merge): the console used to keep the last report's values, so
    an agent's banner guess replaced the vendor a sensor had read from Modbus Device Identification."""
    answer = {"ip": "10.30.1.20", "vendor": "Schneider Electric", "model": "BMX P34 2020",
              "sources": {"vendor": "modbus", "model": "modbus"}}  # fmt: skip
    guess = {"ip": "10.30.1.20", "vendor": "Linux", "model": "embedded web server", "firmware": "2.4",
             "sources": {"vendor": "fingerprint", "model": "fingerprint", "firmware": "fingerprint"}}  # fmt: skip
    a, b = _agent(admin, ctx, "gw-a"), _agent(admin, ctx, "gw-b")
    _scan(admin, a, [answer])
    _scan(admin, b, [guess])
    (item,) = admin.get("/api/v1/assets").json()["items"]
    assert (item["vendor"], item["model"]) == ("Schneider Electric", "BMX P34 2020")
    assert item["firmware"] == "2.4"  # nothing better known: the guess fills the gap

    # the other order: the answer replaces the guess
    _scan(admin, b, [{**guess, "ip": "10.30.1.21"}])
    a.checkin()  # a slow database leg must not let gw-a look Disconnected meanwhile
    _scan(admin, a, [{**answer, "ip": "10.30.1.21"}])
    item = next(i for i in admin.get("/api/v1/assets").json()["items"] if i["ip"] == "10.30.1.21")
    assert (item["vendor"], item["model"]) == ("Schneider Electric", "BMX P34 2020")


def test_a_bad_asset_in_a_scan_result_is_left_out_not_stored(admin: TestClient, ctx: ConsoleContext) -> None:
    """``modules: ["x"]`` used to be stored and then broke every inventory page; typed reports refuse it."""
    a = _agent(admin, ctx, "gw-a")
    _scan(admin, a, [PLC, {"ip": "10.30.1.30", "modules": ["x"]}, {"ip": "10.30.1.31", "vendor_id": -1}])
    assert admin.get("/api/v1/assets").status_code == 200
    assert [i["ip"] for i in admin.get("/api/v1/assets").json()["items"]] == [PLC["ip"]]
