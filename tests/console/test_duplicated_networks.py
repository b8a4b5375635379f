"""Duplicated networks end to end through the API: defining copies (and what is refused), what each
agent is told to scan, the inventory keeping two sites' same addresses apart, and the agent delete
guard with the seed's message."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from otwatch.agent.node import policy_from, scan_networks
from otwatch.agent.safety import Scope
from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key

RANGE = "10.40.5.0/24"


def _agent(admin: TestClient, ctx: ConsoleContext, name: str, nets: list[str] | None = None) -> FakeAgent:
    admin.post("/api/v1/networks", json={"cidr": "10.40.0.0/16"})
    a = FakeAgent(ctx, admin.app)
    a.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{a.node_id}/approve")
    r = admin.put(
        f"/api/v1/agents/{a.node_id}/configuration",
        json={"name": name, "active_query_networks": nets or ["10.40.9.0/24"]},
    )
    assert r.status_code == 200, r.text
    a.checkin()
    a.checkin()
    return a


def _copy(admin: TestClient, a: FakeAgent, site: str, cidr: str = RANGE) -> dict[str, Any]:
    r = admin.post("/api/v1/duplicated-networks", json={"cidr": cidr, "site": site, "agent_id": a.node_id})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def _scan(admin: TestClient, a: FakeAgent, assets: list[dict[str, Any]]) -> None:
    assert admin.post(f"/api/v1/agents/{a.node_id}/scan").status_code == 202
    cid = next(c["id"] for c in a.checkin()["commands"] if c["type"] == "scan")
    result = {
        "assets": assets,
        "asset_count": len(assets),
        "duration": 1.0,
        "started_at": datetime.now(UTC).isoformat(),
    }
    a.checkin(results=[{"id": cid, "state": "done", "result": result}])


def test_copies_are_validated(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _agent(admin, ctx, "gw-a"), _agent(admin, ctx, "gw-b")
    post = lambda **body: admin.post("/api/v1/duplicated-networks", json=body)  # noqa: E731
    r = post(cidr="10.99.5.0/24", site="Plant A", agent_id=a.node_id)
    assert r.status_code == 422 and "inside the Monitored Networks" in r.json()["error"]["message"]
    r = post(cidr="10.40.5.1/24", site="Plant A", agent_id=a.node_id)
    assert r.status_code == 422 and "did you mean 10.40.5.0/24" in r.json()["error"]["message"]
    assert post(cidr=RANGE, site="  ", agent_id=a.node_id).status_code == 422
    assert post(cidr=RANGE, site="Plant A", agent_id="nope").status_code == 422
    _copy(admin, a, "Plant A")
    r = post(cidr=RANGE, site="plant a", agent_id=b.node_id)
    assert r.status_code == 409 and "already has a copy at plant a" in r.json()["error"]["message"]
    r = post(cidr=RANGE, site="Plant B", agent_id=a.node_id)
    assert r.status_code == 409 and "already sees a copy" in r.json()["error"]["message"]
    r = post(cidr="10.40.5.128/25", site="Plant B", agent_id=b.node_id)
    assert (
        r.status_code == 409
        and "overlaps the duplicated network 10.40.5.0/24" in r.json()["error"]["message"]
    )
    _copy(admin, b, "Plant B")
    listed = admin.get("/api/v1/duplicated-networks").json()["items"]
    assert [(c["cidr"], c["site"], c["agent_name"]) for c in listed] == [
        (RANGE, "Plant A", "gw-a"),
        (RANGE, "Plant B", "gw-b"),
    ]
    # a Monitored Network a copy lies in cannot go first
    mon = next(n for n in admin.get("/api/v1/networks").json()["items"] if n["cidr"] == "10.40.0.0/16")
    r = admin.delete(f"/api/v1/networks/{mon['id']}")
    assert r.status_code == 409 and RANGE in r.json()["error"]["message"]
    # the page lists the range's copies
    page = admin.get("/settings/networks").text
    assert "Duplicated Networks" in page and "Plant B" in page


def test_each_agent_scans_its_copy_and_never_another_sites(admin: TestClient, ctx: ConsoleContext) -> None:
    # gw-c's active query networks cover the whole /16, duplicated range included
    a, b = _agent(admin, ctx, "gw-a"), _agent(admin, ctx, "gw-b")
    c = _agent(admin, ctx, "gw-c", ["10.40.0.0/16"])
    copy_a = _copy(admin, a, "Plant A")
    _copy(admin, b, "Plant B")
    cfg_a = a.checkin()["config"]
    assert cfg_a["duplicated_networks"] == [{"id": copy_a["id"], "cidr": RANGE, "site": "Plant A"}]
    assert scan_networks(cfg_a) == ["10.40.9.0/24", RANGE]
    scope = Scope(policy_from(cfg_a).networks, policy_from(cfg_a).exclusions)
    hosts, refused = scope.expand([RANGE], 1024)
    assert len(hosts) == 254 and refused == []
    # the Agents page's Active Query Networks show the copy it scans too
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["duplicated_networks"] == [
        f"{RANGE} (duplicated, Plant A)"
    ]
    listed = {x["name"]: x for x in admin.get("/api/v1/agents").json()["items"]}
    assert listed["gw-b"]["duplicated_networks"] == [f"{RANGE} (duplicated, Plant B)"]
    assert listed["gw-c"]["duplicated_networks"] == []
    assert f"10.40.9.0/24, {RANGE} (duplicated, Plant A)" in admin.get("/agents").text
    cfg_c = c.checkin()["config"]  # its scope changed too: the range is another site's now
    assert cfg_c is not None and cfg_c["policy"]["exclusions"] == [RANGE]
    scope_c = Scope(policy_from(cfg_c).networks, policy_from(cfg_c).exclusions)
    hosts_c, _ = scope_c.expand(["10.40.0.0/16"], 70000)
    assert "10.40.5.7" not in hosts_c and "10.40.4.7" in hosts_c and "10.40.6.7" in hosts_c
    # whatever gw-c still reports inside the range is not attributable: left out
    _scan(admin, c, [{"ip": "10.40.5.7", "vendor": "Rogue"}, {"ip": "10.40.6.7", "vendor": "Acme"}])
    ips = [x["ip"] for x in admin.get("/api/v1/assets").json()["items"]]
    assert ips == ["10.40.6.7"]


def test_same_addresses_at_two_sites_stay_two_assets(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _agent(admin, ctx, "gw-a"), _agent(admin, ctx, "gw-b")
    copy_a, copy_b = _copy(admin, a, "Plant A"), _copy(admin, b, "Plant B")
    a.checkin()
    b.checkin()
    plc = {"ip": "10.40.5.10", "vendor": "Siemens", "protocols": ["s7comm"], "sources": {"vendor": "s7comm"}}
    hmi = {"ip": "10.40.5.20", "mac": "00:0e:8c:00:00:01", "device_type": "HMI"}
    outside = {"ip": "10.40.9.3", "vendor": "Moxa"}
    _scan(admin, a, [{**plc, "firmware": "V3.2"}, hmi, outside])
    _scan(admin, b, [{**plc, "firmware": "V4.1"}, hmi, outside])
    _scan(admin, a, [{**plc, "firmware": "V3.2"}, hmi])  # a repeat updates its own site's assets
    items = admin.get("/api/v1/assets", params={"network": RANGE}).json()["items"]
    got = sorted((x["ip"], x["network_copy"]["site"], x["firmware"]) for x in items)
    assert got == [
        ("10.40.5.10", "Plant A", "V3.2"),
        ("10.40.5.10", "Plant B", "V4.1"),
        ("10.40.5.20", "Plant A", None),
        ("10.40.5.20", "Plant B", None),  # even one MAC at two sites (a cloned image) is two assets
    ]
    for x in items:
        assert [s["name"] for s in x["sources"]] == [
            "gw-a" if x["network_copy"]["site"] == "Plant A" else "gw-b"
        ]
    # outside every duplicated range, today's rule: one device, two discovery sources
    (moxa,) = admin.get("/api/v1/assets", params={"network": "10.40.9.0/24"}).json()["items"]
    assert moxa["network_copy"] is None and {s["name"] for s in moxa["sources"]} == {"gw-a", "gw-b"}
    # filters: by site (copy), by source, and the search
    site_b = admin.get("/api/v1/assets", params={"network_copy": copy_b["id"]}).json()
    assert site_b["total"] == 2 and {x["network_copy"]["id"] for x in site_b["items"]} == {copy_b["id"]}
    by_a = admin.get("/api/v1/assets", params={"source": a.node_id}).json()["items"]
    assert sorted((x["ip"], (x["network_copy"] or {}).get("site")) for x in by_a) == [
        ("10.40.5.10", "Plant A"),
        ("10.40.5.20", "Plant A"),
        ("10.40.9.3", None),
    ]
    assert admin.get("/api/v1/assets", params={"q": "10.40.5.10"}).json()["total"] == 2
    csv = admin.get("/api/v1/assets/export", params={"network": RANGE}).text
    assert "Site" in csv.splitlines()[0].split(",") and "Plant A" in csv and "Plant B" in csv
    # never merged, not even by hand
    pa = next(x for x in items if x["ip"] == "10.40.5.10" and x["network_copy"]["id"] == copy_a["id"])
    pb = next(x for x in items if x["ip"] == "10.40.5.10" and x["network_copy"]["id"] == copy_b["id"])
    r = admin.post(f"/api/v1/assets/{pa['id']}/merge", json={"from_id": pb["id"]})
    assert r.status_code == 422 and "different copies of a duplicated network" in r.json()["error"]["message"]
    # the pages show each asset's site
    page = admin.get("/inventory", params={"network": RANGE}).text
    assert page.count(">Plant A</span>") == 2 and page.count(">Plant B</span>") == 2
    assert "Plant B" in admin.get(f"/inventory/{pb['id']}").text
    assert f'href="/inventory?network_copy={copy_b["id"]}">2<' in admin.get("/settings/networks").text


def test_agent_delete_guard_until_the_copy_is_gone(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _agent(admin, ctx, "gw-a"), _agent(admin, ctx, "gw-b")
    copy_a = _copy(admin, a, "Plant A")
    a.checkin()
    _scan(admin, a, [{"ip": "10.40.5.10", "vendor": "Siemens"}])
    r = admin.delete(f"/api/v1/agents/{a.node_id}")
    assert r.status_code == 409
    msg = r.json()["error"]["message"]
    assert msg.startswith("If there are associated duplicated networks, you must first delete them before")
    assert "gw-a" in msg and "10.40.5.0/24 at Plant A" in msg
    bulk = admin.post("/api/v1/agents/bulk", json={"ids": [a.node_id], "action": "delete"}).json()
    assert bulk["failed"] == 1 and "duplicated networks" in bulk["results"][a.node_id]
    # handing the copy to another agent removes the reference; the assets stay the copy's
    r = admin.patch(f"/api/v1/duplicated-networks/{copy_a['id']}", json={"agent_id": b.node_id})
    assert r.status_code == 200 and r.json()["agent_name"] == "gw-b" and r.json()["assets"] == 1
    assert b.checkin()["config"]["duplicated_networks"][0]["id"] == copy_a["id"]
    cfg_a = a.checkin()["config"]
    assert cfg_a["duplicated_networks"] == [] and cfg_a["policy"]["exclusions"] == [RANGE]
    assert admin.delete(f"/api/v1/agents/{a.node_id}").status_code == 204
    # deleting the copy frees gw-b; its asset stays, no longer in a copy
    assert admin.delete(f"/api/v1/agents/{b.node_id}").status_code == 409
    assert admin.delete(f"/api/v1/duplicated-networks/{copy_a['id']}").status_code == 204
    (asset,) = admin.get("/api/v1/assets").json()["items"]
    assert asset["ip"] == "10.40.5.10" and asset["network_copy"] is None
    assert admin.delete(f"/api/v1/agents/{b.node_id}").status_code == 204
    audit = admin.get("/api/v1/audit", params={"limit": 200}).json()["items"]
    actions = {e["action"] for e in audit}
    assert {"duplicated_network.added", "duplicated_network.changed", "duplicated_network.deleted"} <= actions


def test_a_new_copy_adopts_what_only_its_agent_found(admin: TestClient, ctx: ConsoleContext) -> None:
    a, b = _agent(admin, ctx, "gw-a", ["10.40.0.0/16"]), _agent(admin, ctx, "gw-b", ["10.40.0.0/16"])
    _scan(admin, a, [{"ip": "10.40.5.10", "vendor": "Siemens"}, {"ip": "10.40.5.11", "vendor": "Moxa"}])
    _scan(admin, b, [{"ip": "10.40.5.11", "vendor": "Moxa"}, {"ip": "10.40.6.1", "vendor": "Acme"}])
    copy_a = _copy(admin, a, "Plant A")
    by_ip = {x["ip"]: x for x in admin.get("/api/v1/assets").json()["items"]}
    assert by_ip["10.40.5.10"]["network_copy"]["id"] == copy_a["id"]  # only gw-a ever saw it
    assert by_ip["10.40.5.11"]["network_copy"] is None  # both did: whose site it is cannot be told
    assert by_ip["10.40.6.1"]["network_copy"] is None  # outside the range
    assert admin.get("/api/v1/duplicated-networks").json()["items"][0]["assets"] == 1
    a.checkin()
    _scan(admin, a, [{"ip": "10.40.5.10", "vendor": "Siemens", "firmware": "V3"}])
    again = [x for x in admin.get("/api/v1/assets").json()["items"] if x["ip"] == "10.40.5.10"]
    assert len(again) == 1 and again[0]["firmware"] == "V3"  # updated in its copy, not added again


def test_host_asset_is_the_one_in_the_agents_own_copy(admin: TestClient, ctx: ConsoleContext) -> None:
    """Two cloned sites: both gateways are 10.40.5.10; each agent's Host Asset is its own site's."""
    from otwatch.console.fleet.models import Node

    a, b = _agent(admin, ctx, "gw-a"), _agent(admin, ctx, "gw-b")
    with ctx.db.session() as db:
        for agent in (a, b):
            node = db.get(Node, agent.node_id)
            assert node is not None
            node.ip = "10.40.5.10"
        db.commit()
    _copy(admin, a, "Plant A")
    _copy(admin, b, "Plant B")
    a.checkin()
    b.checkin()
    _scan(admin, a, [{"ip": "10.40.5.10", "name": "gw-a-host"}])
    _scan(admin, b, [{"ip": "10.40.5.10", "name": "gw-b-host"}])
    names = {x["id"]: x["name"] for x in admin.get("/api/v1/assets").json()["items"]}
    assert sorted(names.values()) == ["gw-a-host", "gw-b-host"]
    for agent, host in ((a, "gw-a-host"), (b, "gw-b-host")):
        assert names[admin.get(f"/api/v1/agents/{agent.node_id}").json()["host_asset_id"]] == host
    listed = {x["name"]: x["host_asset_id"] for x in admin.get("/api/v1/agents").json()["items"]}
    assert names[listed["gw-a"]] == "gw-a-host" and names[listed["gw-b"]] == "gw-b-host"


def test_copy_map_attributes_by_the_reporting_agents_copy() -> None:
    """The prefix-indexed look-up gives what "the range holding the address" says, for any prefix."""
    import ipaddress

    from otwatch.console.networks.duplicated import CopyMap

    rows = [(f"c{i}", f"10.{i // 2}.5.0/24", f"n{i % 2}") for i in range(40)]
    rows += [("h0", "10.99.0.7/32", "n0"), ("w1", "172.16.0.0/12", "n1"), ("w2", "172.16.0.0/12", "n2")]
    m = CopyMap(rows)

    def by_definition(node: str, ip: str) -> tuple[str | None, bool]:
        inside = [(i, n) for i, c, n in rows if ipaddress.ip_address(ip) in ipaddress.ip_network(c)]
        mine = [i for i, n in inside if n == node]
        return (mine[0], True) if mine else (None, not inside)

    ips = [f"10.{i % 25}.{(i // 25) % 7}.{i % 250 + 1}" for i in range(3000)]
    ips += ["10.99.0.7", "10.99.0.8", "172.20.1.1", "172.32.0.1"]
    for ip in ips:
        for node in ("n0", "n1", "n2", "n9"):
            assert m.attribute(node, ip) == by_definition(node, ip), (node, ip)
    for odd in ("::1", "not an ip", ""):  # not an IPv4 address: in no copy, kept
        assert m.attribute("n0", odd) == (None, True)
    assert m.attribute("n0", "10.3.5.9") == ("c6", True) and m.attribute("n1", "10.3.5.9") == ("c7", True)
    assert m.attribute("n0", "172.20.1.1") == (None, False)  # another site's range: left out
