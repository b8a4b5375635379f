"""The Network Map and an asset's neighbourhood in Chromium: the vendored Cytoscape.js draws the
assets and conversations the API answers (no CDN, no script error or style warning, nothing the
page's CSP refuses),
the filters redraw the graph, hovering shows an asset's details and clicking opens its page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.conftest import screenshot, sign_in
from tests.console.netmap_seed import seed
from tests.e2e.conftest import LiveConsole

pytestmark = pytest.mark.browser

GRAPH = "window.otwatchGraphs[{!r}]"


def _errors(page: Page) -> list[str]:
    """Console errors and warnings and failed requests of the page (a CSP refusal is a console error;
    a Cytoscape style that maps data an element lacks is a warning)."""
    seen: list[str] = []

    def on_console(m: ConsoleMessage) -> None:
        if m.type in ("error", "warning") and not m.location.get("url", "").endswith("/favicon.ico"):
            seen.append(f"{m.text} at {m.location}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: seen.append(str(e)))
    # a map request the next filter change or page supersedes is aborted by the browser: no error
    page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "") else seen.append(r.url))
    return seen


def _ready(page: Page, graph: str, nodes: int) -> None:
    box = page.locator(f"#{graph}")
    expect(box).to_have_attribute("data-state", "ready", timeout=20_000)  # 750 kB of script, a layout
    # a redraw (a filter, 2 hops) may still show the previous graph as ready: wait as long for its count
    expect(box).to_have_attribute("data-nodes", str(nodes), timeout=20_000)


def _cy(page: Page, graph: str, expr: str) -> Any:
    return page.evaluate(f"(() => {{ const cy = {GRAPH.format(graph)}; return {expr}; }})()")


def _node_point(page: Page, graph: str, asset_id: str) -> tuple[float, float]:
    """Where the asset's node is on the screen (its rendered position inside the graph's box)."""
    box = page.locator(f"#{graph}").bounding_box()
    assert box is not None
    pos = _cy(page, graph, f"cy.getElementById({asset_id!r}).renderedPosition()")
    return box["x"] + pos["x"], box["y"] + pos["y"]


def test_network_map_draws_filters_and_opens_assets(page: Page, live_console: LiveConsole) -> None:
    url = live_console.url
    ids = seed(live_console.ctx)
    errors = _errors(page)
    sign_in(page, url, then=None)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Network Map").click()
    expect(page).to_have_url(url + "/network-map")
    _ready(page, "network-map", 10)
    expect(page.get_by_test_id("map-status")).to_have_text(
        re.compile(r"^Showing all 10 assets and 15 conversations, drawn as 11 links")
    )
    assert _cy(page, "network-map", "cy.edges().length") == 11
    boxes = _cy(page, "network-map", "cy.nodes('[?isGroup]').map((n) => n.data('label')).sort()")
    assert boxes == ["10.1.0.0/16 (Monitored Network) (7)", "192.168.5.0/24 (3)"]
    assert (
        _cy(page, "network-map", f"cy.getElementById({ids['plc-1']!r}).parent().id()")
        == "group:net-10.1.0.0/16"
    )
    legend = page.locator("#map-legend")
    for label in ("PLC", "HMI", "Scanner", "modbus", "s7comm", "dnp3", "other (port only)"):
        expect(legend.locator(f'li[data-label="{label}"]')).to_have_count(1)
    # colour by type, by protocol: the legend's and the graph's agree
    assert _cy(page, "network-map", f"cy.getElementById({ids['plc-1']!r}).data('shape')") == "round-rectangle"
    screenshot(page, "network-map")
    listed = page.locator("#map-list")  # the keyboard's and screen reader's way in: the same assets
    listed.locator("summary").click()
    expect(listed.get_by_role("link")).to_have_count(10)
    expect(listed.get_by_role("link", name="plc-1", exact=True)).to_have_attribute(
        "href", f"/inventory/{ids['plc-1']}"
    )

    # filters redraw the graph and stay in the address bar
    page.get_by_label("Protocol").select_option("modbus")
    _ready(page, "network-map", 7)
    assert set(_cy(page, "network-map", "cy.edges().map((e) => e.data('protocol'))")) == {"modbus"}
    expect(page).to_have_url(re.compile(r"protocol=modbus"))
    page.get_by_label("Protocol").select_option("")
    page.get_by_label("Site").select_option("South")
    _ready(page, "network-map", 3)
    page.get_by_label("Site").select_option("")
    page.get_by_label("Group by").select_option("purdue")
    _ready(page, "network-map", 10)
    levels = _cy(page, "network-map", "cy.nodes('[?isGroup]').map((n) => n.id()).sort()")
    assert levels == ["group:L1", "group:L2", "group:L3"]
    # Purdue rows: supervisory (HMI) above control (PLC)
    assert _cy(page, "network-map", f"cy.getElementById({ids['hmi-1']!r}).position('y')") < _cy(
        page, "network-map", f"cy.getElementById({ids['plc-1']!r}).position('y')"
    )
    page.get_by_label("Assets without conversations").check()
    _ready(page, "network-map", 11)

    # capped: says so
    page.goto(url + "/network-map?limit=1")
    _ready(page, "network-map", 1)
    expect(page.get_by_test_id("map-status")).to_contain_text(
        "Showing 1 of 10 assets and 0 of 15 conversations"
    )

    # hover: the asset's details; click: its page
    page.goto(url + "/network-map")
    _ready(page, "network-map", 10)
    page.get_by_role("button", name="Fit").click()
    x, y = _node_point(page, "network-map", ids["hmi-1"])
    page.mouse.move(x, y)
    tip = page.locator("#map-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("hmi-1")
    expect(tip).to_contain_text("IP: 10.1.1.10")
    expect(tip).to_contain_text("Conversations: 6")
    page.mouse.click(x, y)
    expect(page).to_have_url(f"{url}/inventory/{ids['hmi-1']}")
    assert errors == [], errors


def test_asset_neighbourhood_graph(page: Page, live_console: LiveConsole) -> None:
    url = live_console.url
    ids = seed(live_console.ctx)
    errors = _errors(page)
    sign_in(page, url, then=f"/inventory/{ids['plc-1']}")
    _ready(page, "neighbourhood-graph", 3)
    assert _cy(page, "neighbourhood-graph", "cy.$('node.center').id()") == ids["plc-1"]
    assert _cy(page, "neighbourhood-graph", "cy.edges().length") == 2
    expect(page.locator("#neighbourhood-status")).to_contain_text(
        "Showing all 3 assets and 4 conversations around this asset, drawn as 2 links"
    )
    page.get_by_label("Show").select_option("2")
    _ready(page, "neighbourhood-graph", 6)
    hops = _cy(
        page,
        "neighbourhood-graph",
        "Object.fromEntries(cy.nodes().map((n) => [n.data('name'), n.data('hop')]))",
    )
    assert hops == {"plc-1": 0, "hmi-1": 1, "ews": 1, "plc-2": 2, "plc-3": 2, "plc-4": 2}
    page.locator("#neighbourhood").scroll_into_view_if_needed()
    x, y = _node_point(page, "neighbourhood-graph", ids["ews"])
    page.mouse.click(x, y)
    expect(page).to_have_url(f"{url}/inventory/{ids['ews']}")
    _ready(page, "neighbourhood-graph", 3)  # ews, plc-1, plc-3: the ghost it probed is hidden
    assert errors == [], errors


def test_no_graph_without_conversations(page: Page, live_console: LiveConsole) -> None:
    ids = seed(live_console.ctx)
    sign_in(page, live_console.url, then=f"/inventory/{ids['laptop']}")
    expect(page.locator("#neighbourhood")).to_contain_text("No conversations to draw.")
    expect(page.locator("#neighbourhood-graph")).to_have_count(0)


@pytest.mark.parametrize("group", ["subnet", "purdue"])
def test_a_few_hundred_assets_stay_readable(page: Page, live_console: LiveConsole, group: str) -> None:
    """The benchmark's plant at 1,500 assets: the 300 most connected are drawn, in boxes that do not
    overlap (whatever crosses between them), and the page says what was left out."""
    from bench.pages import fill

    fill(live_console.ctx, 1500, 2, 20, 5, 5, seed=3)
    sign_in(page, live_console.url, then=None)
    page.goto(f"{live_console.url}/network-map?group={group}")
    _ready(page, "network-map", 300)
    expect(page.get_by_test_id("map-status")).to_contain_text(re.compile(r"Showing 300 of 1,\d{3} assets"))
    boxes = _cy(page, "network-map", "cy.nodes('[?isGroup]').map((n) => n.boundingBox())")
    assert len(boxes) >= 3
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a["x2"] <= b["x1"] or b["x2"] <= a["x1"] or a["y2"] <= b["y1"] or b["y2"] <= a["y1"]
            assert apart, (a, b)
