"""The Network Map's API and page, and an asset's neighbourhood: which assets and conversations the
filters select, how they are added up, grouped and capped, and who may see them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.conftest import form_login
from tests.console.netmap_seed import seed


def _graph(admin: TestClient, path: str = "/api/v1/map", **params: Any) -> dict[str, Any]:
    r = admin.get(path, params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _names(g: dict[str, Any]) -> set[str]:
    return {n["name"] for n in g["nodes"]}


def _edges(g: dict[str, Any], ids: dict[str, str]) -> set[tuple[str, str, str]]:
    name = {v: k for k, v in ids.items()}
    return {(name[e["source"]], name[e["target"]], e["protocol"]) for e in g["edges"]}


def test_map_draws_conversations_added_up_per_protocol(admin: TestClient, ctx: ConsoleContext) -> None:
    ids = seed(ctx)
    g = _graph(admin)
    assert _names(g) == {
        "hmi-1",
        "ews",
        "plc-1",
        "plc-2",
        "plc-3",
        "plc-4",
        "historian",
        "rtu",
        "hmi-south",
        "scanner",
    }
    assert (g["total_nodes"], g["shown_nodes"], g["shown_edges"]) == (10, 10, 11)
    assert (g["total_conversations"], g["shown_conversations"]) == (15, 15)  # per port and sensor, no ghost
    assert g["capped"] is False
    assert ("ews", "ghost", "s7comm") not in _edges(g, ids)  # ghosts hidden, and their conversations
    assert ("hmi-1", "plc-1", "modbus") in _edges(g, ids) and ("ews", "plc-1", "s7comm") in _edges(g, ids)
    edge = next(e for e in g["edges"] if e["source"] == ids["hmi-1"] and e["target"] == ids["plc-1"])
    assert edge["ports"] == ["tcp/502", "tcp/5020"]  # two ports, and two sensors of one conversation
    assert edge["packets"] == 1110 and edge["bytes"] == 1110 * 64 and edge["conversations"] == 3
    sweep = next(e for e in g["edges"] if e["protocol"] == "other")  # the ports no dissector named: one edge
    assert (sweep["source"], sweep["target"]) == (ids["scanner"], ids["rtu"])
    assert sweep["ports"] == ["tcp/1", "tcp/2", "tcp/3"] and sweep["conversations"] == 3
    hmi = next(n for n in g["nodes"] if n["name"] == "hmi-1")
    assert (
        hmi["conversations"] == 6
        and hmi["href"] == f"/inventory/{ids['hmi-1']}"
        and hmi["device_type"] == "HMI"
    )
    assert g["nodes"][0]["name"] == "hmi-1"  # the most connected first
    alerts = {n["name"]: n["open_alerts"] for n in g["nodes"]}
    assert (alerts["plc-1"], alerts["ews"], alerts["rtu"], alerts["hmi-1"]) == (1, 1, 0, 0)  # open ones only


def test_map_groups_by_subnet_or_purdue_level(admin: TestClient, ctx: ConsoleContext) -> None:
    seed(ctx)
    g = _graph(admin, group="subnet")
    groups = {n["name"]: n["group"] for n in g["nodes"]}
    assert groups["hmi-1"] == groups["plc-4"] == "net-10.1.0.0/16"  # the Monitored Network holds both
    assert groups["rtu"] == "net-192.168.5.0/24"  # no Monitored Network: its /24
    assert [x["label"] for x in g["groups"]] == ["10.1.0.0/16 (Monitored Network)", "192.168.5.0/24"]
    assert [x["nodes"] for x in g["groups"]] == [7, 3]

    p = _graph(admin, group="purdue")
    levels = {n["name"]: n["group"] for n in p["nodes"]}
    assert levels["plc-1"] == levels["rtu"] == "L1"
    assert levels["hmi-1"] == levels["ews"] == levels["hmi-south"] == "L2"
    assert levels["historian"] == levels["scanner"] == "L3"
    assert [x["id"] for x in p["groups"]] == ["L3", "L2", "L1"]  # top of the model first


def test_map_filters(admin: TestClient, ctx: ConsoleContext) -> None:
    ids = seed(ctx)
    modbus = _graph(admin, protocol="modbus")
    assert _names(modbus) == {"hmi-1", "plc-1", "plc-2", "plc-3", "plc-4", "scanner", "rtu"}
    assert {e["protocol"] for e in modbus["edges"]} == {"modbus"} and len(modbus["edges"]) == 5
    assert modbus["total_conversations"] == 7

    south = _graph(admin, site="South")
    assert _names(south) == {"rtu", "hmi-south", "scanner"} and south["total_conversations"] == 6

    one = _graph(admin, sensor=ids["north-2"])
    assert _edges(one, ids) == {("hmi-1", "plc-1", "modbus")}
    assert one["edges"][0]["packets"] == 1000  # that sensor's count only

    ghosts = _graph(admin, ghosts="include")
    assert "ghost" in _names(ghosts) and ("ews", "ghost", "s7comm") in _edges(ghosts, ids)
    assert next(n for n in ghosts["nodes"] if n["name"] == "ghost")["ghost"] is True

    lonely = _graph(admin, isolated="true")
    assert _names(lonely) == _names(_graph(admin)) | {"laptop"} and lonely["total_nodes"] == 11
    assert next(n for n in lonely["nodes"] if n["name"] == "laptop")["conversations"] == 0
    assert _names(_graph(admin, isolated="true", site="South")) == {"rtu", "hmi-south", "scanner"}
    assert "laptop" not in _names(_graph(admin, isolated="true", protocol="modbus"))

    none = _graph(admin, protocol="bacnet")
    assert (none["nodes"], none["edges"], none["total_nodes"], none["capped"]) == ([], [], 0, False)
    assert admin.get("/api/v1/map", params={"group": "zone"}).status_code == 422
    assert admin.get("/api/v1/map", params={"limit": 5000}).status_code == 422


def test_map_is_capped_to_the_most_connected(admin: TestClient, ctx: ConsoleContext) -> None:
    seed(ctx)
    g = _graph(admin, limit=1)
    assert _names(g) == {"hmi-1"} and g["edges"] == []
    assert (
        g["shown_nodes"],
        g["total_nodes"],
        g["shown_conversations"],
        g["total_conversations"],
        g["capped"],
    ) == (
        1,
        10,
        0,
        15,
        True,
    )
    five = _graph(admin, limit=5)
    assert five["shown_nodes"] == 5 and five["capped"] is True
    drawn = {n["id"] for n in five["nodes"]}
    assert all(e["source"] in drawn and e["target"] in drawn for e in five["edges"])


def test_neighbourhood_one_and_two_hops(admin: TestClient, ctx: ConsoleContext) -> None:
    ids = seed(ctx)
    path = f"/api/v1/assets/{ids['plc-1']}/neighbourhood"
    one = _graph(admin, path)
    assert one["center"] == ids["plc-1"]
    assert {n["name"]: n["hop"] for n in one["nodes"]} == {"plc-1": 0, "hmi-1": 1, "ews": 1}
    assert _edges(one, ids) == {("hmi-1", "plc-1", "modbus"), ("ews", "plc-1", "s7comm")}
    assert (one["total_conversations"], one["shown_conversations"], one["capped"]) == (4, 4, False)

    two = _graph(admin, path, hops=2)
    hops = {n["name"]: n["hop"] for n in two["nodes"]}
    assert hops == {"plc-1": 0, "hmi-1": 1, "ews": 1, "plc-2": 2, "plc-3": 2, "plc-4": 2}
    assert ("ews", "plc-3", "s7comm") in _edges(two, ids) and len(two["edges"]) == 6
    assert _graph(admin, path, hops=2, protocol="s7comm")["shown_nodes"] == 3  # plc-1, ews, plc-3

    capped = _graph(admin, path, hops=2, limit=3)
    assert {n["hop"] for n in capped["nodes"]} == {0, 1} and capped["capped"] is True

    ghost = _graph(admin, f"/api/v1/assets/{ids['ghost']}/neighbourhood")  # a ghost's page: who probed it
    assert _names(ghost) == {"ghost", "ews"}
    lonely = _graph(admin, f"/api/v1/assets/{ids['laptop']}/neighbourhood")
    assert _names(lonely) == {"laptop"} and lonely["edges"] == []
    assert admin.get("/api/v1/assets/nope/neighbourhood").status_code == 404
    assert admin.get(path, params={"hops": 3}).status_code == 422


def test_map_for_viewers_not_for_strangers(
    admin: TestClient, client: TestClient, ctx: ConsoleContext
) -> None:
    ids = seed(ctx)
    r = admin.post(
        "/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"}
    )
    assert r.status_code == 201, r.text
    admin.post("/api/v1/auth/logout")
    client.cookies.clear()
    assert client.get("/api/v1/map").status_code == 401
    assert client.get(f"/api/v1/assets/{ids['plc-1']}/neighbourhood").status_code == 401
    assert client.get("/network-map", follow_redirects=False).status_code in (302, 303)
    form_login(client, "ro", "readonly-pass-1")
    assert client.get("/api/v1/map").json()["shown_nodes"] == 10
    page = client.get("/network-map", params={"group": "purdue", "site": "South"})
    assert page.status_code == 200
    html = page.text
    assert '<option value="purdue" selected>Purdue level</option>' in html
    assert '<option value="South" selected>South</option>' in html and ">North</option>" in html
    for protocol in ("dnp3", "enip", "http", "modbus", "s7comm"):
        assert f'<option value="{protocol}"' in html
    assert f'<option value="{ids["north-2"]}"' in html  # the sensors
    assert '<option value="tcp/1"' not in html  # not one choice per port a scanner swept
    assert "/static/vendor/cytoscape/cytoscape.min.js" in html and "/static/js/network-map.js" in html
    assert 'href="/network-map" aria-current="page"' in html  # the menu entry


def test_vendored_graph_library_is_served_with_its_licence(client: TestClient) -> None:
    for name in ("cytoscape.min.js", "layout-base.js", "cose-base.js", "cytoscape-fcose.js"):
        r = client.get(f"/static/vendor/cytoscape/{name}")
        assert r.status_code == 200 and "javascript" in r.headers["content-type"], name
    assert "Permission is hereby granted" in client.get("/static/vendor/cytoscape/LICENSE.cytoscape").text
    assert "3.35.0" in client.get("/static/vendor/cytoscape/README.md").text


def test_subnet_boxes_take_the_narrowest_monitored_network() -> None:
    import ipaddress

    from otwatch.console.netmap.service import _Subnets

    boxes = _Subnets([ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("10.1.2.0/28")])
    assert boxes.of("10.1.2.200")[0] == "net-10.1.0.0/16"  # first seen in its /24, outside the /28
    assert boxes.of("10.1.2.3")[0] == "net-10.1.2.0/28"
    assert boxes.of("10.9.9.9")[:2] == ("net-10.9.9.0/24", "10.9.9.0/24")
    assert boxes.of("fd00::1")[0] == "net-fd00::/64" and boxes.of(None)[0] == boxes.of("junk")[0] == "no-ip"
    plain = _Subnets([ipaddress.ip_network("10.1.0.0/16")])
    assert [plain.of(ip)[0] for ip in ("10.1.2.3", "10.1.2.4", "10.2.0.1")] == [
        "net-10.1.0.0/16",
        "net-10.1.0.0/16",
        "net-10.2.0.0/24",
    ]
