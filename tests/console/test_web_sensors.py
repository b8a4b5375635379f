"""Alerts, Sites and Sensors and the sensor Overview pages, fed by what a (fake) sensor reported."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from otwatch.console.fleet.models import Node
from otwatch.ui import overview
from tests.console.helpers import FakeAgent
from tests.console.test_alerts import _alert, _report, _sensor
from tests.console.test_web_pages import _as

SVG = "{http://www.w3.org/2000/svg}"
ENGINES = ("Protocol Violation", "Policy Violation", "Malware", "Anomaly", "Operational")
STATS: dict[str, Any] = {
    # deliberately out of order: the chart sorts by hour
    "traffic_per_hour": [
        {"hour": "2026-11-22T11:00:00+00:00", "mbps": 2.5, "bytes": 1_125_000_000, "packets": 900_000},
        {"hour": "2026-11-22T09:00:00+00:00", "mbps": 0.5, "bytes": 225_000_000, "packets": 200_000},
        {"hour": "2026-11-22T10:00:00+00:00", "mbps": 1.25, "bytes": 562_500_000, "packets": 450_000},
    ],
    "top_ot_protocols": [
        {"protocol": "modbus", "devices": 6},
        {"protocol": "s7comm", "devices": 3},
        {"protocol": "dnp3", "devices": 1},
    ],
    "traffic_by_port": [
        {"port": "tcp/502", "bytes": 6000},
        {"port": "tcp/102", "bytes": 3000},
        {"port": "udp/47808", "bytes": 1000},
    ],
    "top_open_alerts": [],
    "summary": {"packets": 1234, "bytes": 10_000, "assets": 3, "learning": True},
}


def _svgs(html: str) -> dict[str, ET.Element]:
    """The inline charts of a page, keyed by their figure's data-chart, parsed as XML."""
    out = {}
    for name, markup in re.findall(
        r'<figure class="chart-box" data-chart="(\w+)">(.*?)</figure>', html, re.S
    ):
        out[name] = ET.fromstring(markup)
    return out


def _shapes(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(SVG + tag) if cls in (e.get("class") or "").split()]


def _rows(html: str, table_id: str) -> list[str]:
    m = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert m, f"no table {table_id}"
    return re.findall(r'<tr data-id="([^"]+)"', m.group(0))


def _reporting_sensor(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    s = _sensor(admin, ctx)
    _report(s, "stats", stats=STATS)
    return s


def test_navigation_has_alerts_and_sites_and_sensors(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _reporting_sensor(admin, ctx)
    for path, key in (
        ("/alerts", "/alerts"),
        ("/sensors", "/sensors"),
        (f"/sensors/{s.node_id}", "/sensors"),
    ):
        r = admin.get(path)
        assert r.status_code == 200, (path, r.text)
        nav = re.search(r'<nav class="sidenav".*?</nav>', r.text, re.S)
        assert nav is not None
        assert ">Alerts</a>" in nav.group(0) and ">Sites and Sensors</a>" in nav.group(0)
        assert f'<a href="{key}" aria-current="page"' in nav.group(0), path


def test_pages_redirect_to_login_when_signed_out(client: TestClient) -> None:
    for path in ("/alerts", "/alerts/x", "/sensors", "/sensors/x"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_overview_draws_the_reported_statistics(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _reporting_sensor(admin, ctx)
    r = admin.patch(f"/api/v1/sensors/{s.node_id}/configuration", json={"port_aliases": {"102": "S7 PLC"}})
    assert r.status_code == 200, r.text
    _report(
        s,
        "alerts",
        alerts=[
            _alert("1", severity="Minor", title="Minor thing"),
            _alert("2", severity="Critical", title="Unauthorized PLC Program Upload"),
            _alert("3", severity="Major", title="Closed one"),
        ],
    )
    closed = next(a for a in admin.get("/api/v1/alerts").json()["items"] if a["title"] == "Closed one")
    assert admin.post(f"/api/v1/alerts/{closed['id']}/close").status_code == 200

    page = admin.get(f"/sensors/{s.node_id}")
    assert page.status_code == 200
    html = page.text
    for widget in (
        "General Settings",
        "Traffic Monitoring",
        "Top 5 OT Protocols",
        "Traffic By Port",
        "Top open alerts",
    ):
        assert f">{widget}</h2>" in html, widget

    charts = _svgs(html)
    assert set(charts) == {"traffic", "protocols", "ports"}
    assert all(svg.get("role") == "img" and svg.get("aria-label") for svg in charts.values())
    points = _shapes(charts["traffic"], "circle", "point")
    assert [(p.get("data-label"), float(p.get("data-value", "nan"))) for p in points] == [
        ("09:00", 0.5),
        ("10:00", 1.25),
        ("11:00", 2.5),
    ]
    assert "2026-11-22 (UTC)" in html
    bars = _shapes(charts["protocols"], "rect", "bar")
    assert [(b.get("data-label"), float(b.get("data-value", "nan"))) for b in bars] == [
        ("modbus", 6.0),
        ("s7comm", 3.0),
        ("dnp3", 1.0),
    ]
    assert [t.text for t in _shapes(charts["protocols"], "text", "bar-value")] == ["6", "3", "1"]
    slices = _shapes(charts["ports"], "path", "slice")
    assert [(p.get("data-label"), float(p.get("data-value", "nan"))) for p in slices] == [
        ("tcp/502", 6000.0),
        ("S7 PLC", 3000.0),  # the port alias from the sensor's settings
        ("udp/47808", 1000.0),
    ]

    # General Settings: identity, version, settings, connectivity, the reported summary
    node = admin.get(f"/api/v1/sensors/{s.node_id}").json()
    assert node["version"] in html and node["hostname"] in html
    assert (
        f'data-testid="connectivity"><span class="badge badge-{node["status_colour"]}">{node["status"]}</span>'
        in html
    )
    assert f'id="learning-{s.node_id}"' in html and "1,234" in html and "10 kB" in html
    for i, _engine in enumerate(ENGINES):
        assert f'id="engine-{s.node_id}-{i}"' in html
    # Top open alerts: open only, most severe first, each linking to its alert page
    assert _rows(html, "top-alerts")
    titles = re.findall(r'<a href="/alerts/[^"]+">([^<]+)</a>', html)
    assert titles == ["Unauthorized PLC Program Upload", "Minor thing"]
    # every widget drills down
    assert f'href="/inventory?source={s.node_id}"' in html
    assert f'href="/inventory?source={s.node_id}&amp;protocol=modbus"' in html
    assert f'href="/alerts?sensor={s.node_id}"' in html and "All 2 open alerts" in html
    assert f'href="/sensors#sensor-{s.node_id}"' in html


def test_overview_without_statistics_shows_empty_charts(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    html = admin.get(f"/sensors/{s.node_id}").text
    charts = _svgs(html)
    assert set(charts) == {"traffic", "protocols", "ports"}
    for svg in charts.values():
        assert "chart-empty" in (svg.get("class") or "")
        assert not _shapes(svg, "circle", "point") and not _shapes(svg, "rect", "bar")
    assert html.count("No traffic yet") >= 2 and "No OT protocols yet" in html and "No open alerts." in html
    missing = admin.get("/sensors/no-such-sensor")
    assert missing.status_code == 404 and "Sensor not found" in missing.text


def test_disconnected_sensor_shows_the_disconnection_message(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _reporting_sensor(admin, ctx)
    with ctx.db.session() as db:
        node = db.get(Node, s.node_id)
        assert node is not None
        node.last_seen = utcnow() - timedelta(minutes=10)
        db.commit()
    reason = (
        "Sensor not communicating with on-premises management console. "
        "Check network connectivity or certificate validation."
    )
    assert admin.get(f"/api/v1/sensors/{s.node_id}").json()["disconnect_reason"] == reason
    overview_page = admin.get(f"/sensors/{s.node_id}").text
    assert "Service connection error." in overview_page and reason in overview_page
    sites = admin.get("/sensors").text
    assert "Disconnected" in sites and f'<span class="reason">{reason}</span>' in sites


def test_site_management_lists_sensors_with_settings(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _reporting_sensor(admin, ctx)
    other = _sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1"), _alert("2")])
    r = admin.get("/sensors")
    assert r.status_code == 200
    html = r.text
    assert "<h1>Site Management</h1>" in html
    assert set(_rows(html, "sensors-table")) == {s.node_id, other.node_id}
    for header in ("Sensor", "Connection Status", "Version", "Last Seen"):  # sortable headings
        assert re.search(f'<th scope="col"[^>]*><a class="sort" href="[^"]*">{header}<', html), header
    for header in ("Learning Mode", *ENGINES):
        assert re.search(f'<th scope="col"[^>]*>{header}</th>', html), header
    assert (
        f'id="learning-{s.node_id}" data-sensor-id="{s.node_id}" data-sensor-toggle="learning" checked>'
        in html
    )
    assert 'aria-label="2 open alerts of' in html and f'href="/alerts?sensor={s.node_id}"' in html
    for action in ("approve", "learning_on", "learning_off", "engines", "delete"):
        assert f'data-sensor-bulk="{action}"' in html
    assert 'id="engines-panel"' in html

    # what the switches and bulk actions call is reflected by the page
    patch = admin.patch(f"/api/v1/sensors/{s.node_id}/configuration", json={"learning": False})
    assert patch.status_code == 200 and patch.json()["settings"]["learning"] is False
    bulk = admin.post(
        "/api/v1/sensors/bulk",
        json={
            "ids": [s.node_id, other.node_id],
            "action": "set_sensor_settings",
            "sensor_settings": {"engines": ["Protocol Violation", "Malware"]},
        },
    )
    assert bulk.json()["succeeded"] == 2
    html = admin.get("/sensors").text
    assert 'data-sensor-toggle="learning" >' in html  # learning now off for s
    assert (
        f'id="engine-{s.node_id}-0" data-sensor-id="{s.node_id}" data-engine="Protocol Violation" checked>'
        in html
    )
    assert (
        f'id="engine-{other.node_id}-1" data-sensor-id="{other.node_id}" data-engine="Policy Violation" >'
        in html
    )
    assert (
        f'id="engine-{other.node_id}-2" data-sensor-id="{other.node_id}" data-engine="Malware" checked>'
        in html
    )


def test_alerts_page_filters_and_paginates(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    other = _sensor(admin, ctx)
    _report(
        s,
        "alerts",
        alerts=[
            _alert("1", severity="Critical", title="Critical S7"),
            _alert(
                "2",
                severity="Minor",
                protocol="modbus",
                title="Modbus Exception",
                engine="Protocol Violation",
            ),
            _alert("3", severity="Major", title="Acked one"),
        ],
    )
    _report(other, "alerts", alerts=[_alert("9", severity="Warning", title="Other sensor")])
    items = {a["title"]: a["id"] for a in admin.get("/api/v1/alerts").json()["items"]}
    assert admin.post(f"/api/v1/alerts/{items['Acked one']}/acknowledge").status_code == 200

    r = admin.get("/alerts")
    assert r.status_code == 200
    for header in (
        "Severity",
        "Title",
        "Engine",
        "Protocol",
        "Source",
        "Destination",
        "Sensor",
        "First seen",
        "Last seen",
        "Count",
        "Status",
    ):
        assert re.search(rf'<th scope="col"[^>]*>(<a class="sort" [^>]+>)?{header}<', r.text), header
    # status defaults to open
    assert set(_rows(r.text, "alerts-table")) == {
        items[t] for t in ("Critical S7", "Modbus Exception", "Other sensor")
    }
    assert '<option value="open" selected>Open</option>' in r.text
    assert 'data-alert-bulk="acknowledge"' in r.text and 'data-alert-bulk="close"' in r.text
    assert f'<a href="/alerts/{items["Critical S7"]}">Critical S7</a>' in r.text

    def ids(query: str) -> set[str]:
        page = admin.get(f"/alerts{query}")
        assert page.status_code == 200, page.text
        return set(_rows(page.text, "alerts-table"))

    assert ids("?status=any") == set(items.values())
    assert ids("?status=acknowledged") == {items["Acked one"]}
    assert ids("?severity=Critical") == {items["Critical S7"]}
    assert ids("?engine=Protocol+Violation") == {items["Modbus Exception"]}
    assert ids("?protocol=modbus") == {items["Modbus Exception"]}
    assert ids(f"?sensor={other.node_id}") == {items["Other sensor"]}
    assert ids(f"?sensor={s.node_id}&status=any") == {
        items[t] for t in ("Critical S7", "Modbus Exception", "Acked one")
    }
    assert ids("?ip=10.0.0.5&severity=Minor") == {items["Modbus Exception"]}
    assert ids("?severity=Huge") == ids("")  # an unknown value is ignored, not an error
    assert "No alerts match these filters." in admin.get("/alerts?protocol=nothing").text

    first = admin.get("/alerts?status=any&limit=2")
    assert len(_rows(first.text, "alerts-table")) == 2 and "Showing 1–2 of 4" in first.text
    nxt = re.search(r'<a class="btn" href="([^"]+)" rel="next">', first.text)
    assert nxt is not None
    href = nxt.group(1).replace("&amp;", "&")
    assert "status=any" in href and "offset=2" in href
    second = admin.get(href)
    assert "Showing 3–4 of 4" in second.text
    assert set(_rows(first.text, "alerts-table")).isdisjoint(_rows(second.text, "alerts-table"))


def test_alert_page_and_acknowledge_through_its_button(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    _report(
        s,
        "alerts",
        alerts=[_alert("1", details={"function": "STOP", "rack": 0}, source_mac="00:0e:8c:01:02:03")],
    )
    aid = admin.get("/api/v1/alerts").json()["items"][0]["id"]
    html = admin.get(f"/alerts/{aid}").text
    assert "<h1>S7 Stop PLC Command was Sent</h1>" in html
    assert "10.0.0.5 stopped 10.0.0.10" in html  # the description
    assert '<td>function</td><td class="detail">STOP</td>' in html
    assert '<a href="/inventory?q=10.0.0.5" data-testid="source-link">10.0.0.5</a>' in html
    assert '<a href="/inventory?q=10.0.0.10" data-testid="destination-link">10.0.0.10</a>' in html
    assert f'href="/api/v1/alerts/{aid}/pcap" download>Download PCAP</a>' in html
    assert f'href="/sensors/{s.node_id}"' in html
    buttons = dict(re.findall(r'data-api-call="([^"]+)">([^<]+)</button>', html))
    assert buttons == {
        f"/api/v1/alerts/{aid}/acknowledge": "Acknowledge",
        f"/api/v1/alerts/{aid}/close": "Close",
    }

    # the page's Acknowledge button posts to its data-api-call URL (static/js/controls.js), as here
    url = next(u for u, label in buttons.items() if label == "Acknowledge")
    r = admin.post(url)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    html = admin.get(f"/alerts/{aid}").text
    assert ">Acknowledged</span>" in html and "by admin" in html
    buttons = dict(re.findall(r'data-api-call="([^"]+)">([^<]+)</button>', html))
    assert sorted(buttons.values()) == ["Close", "Reopen"]
    assert aid not in _rows(admin.get("/alerts").text, "alerts-table")  # no longer open
    assert admin.post(f"/api/v1/alerts/{aid}/close").status_code == 200
    assert list(
        dict(
            re.findall(r'data-api-call="([^"]+)">([^<]+)</button>', admin.get(f"/alerts/{aid}").text)
        ).values()
    ) == ["Reopen"]

    _report(s, "alerts", alerts=[_alert("2", pcap_b64=None, source_ip=None, destination_ip=None)])
    bare = next(a for a in admin.get("/api/v1/alerts").json()["items"] if a["id"] != aid)
    html = admin.get(f"/alerts/{bare['id']}").text
    assert "Download PCAP" not in html and "source-link" not in html
    missing = admin.get("/alerts/no-such-alert")
    assert missing.status_code == 404 and "Alert not found" in missing.text


def test_read_only_sees_no_switches_or_buttons(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _reporting_sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1")])
    aid = admin.get("/api/v1/alerts").json()["items"][0]["id"]
    ro = _as(admin, "ro", "Read Only")
    for path in ("/alerts", f"/alerts/{aid}", "/sensors", f"/sensors/{s.node_id}"):
        r = ro.get(path)
        assert r.status_code == 200, path
        for control in (
            'role="switch"', "data-sensor-toggle", "data-engine=", "data-api-call", "data-alert-bulk",
            "data-sensor-bulk", "row-check", "alert-check", "engines-panel",
        ):  # fmt: skip
            assert control not in r.text, (path, control)
        assert r.text.count('method="post"') == 1, path  # only Sign out
    overview_page = ro.get(f"/sensors/{s.node_id}").text
    assert len(_svgs(overview_page)) == 3  # the data is there, read-only
    assert '<span class="onoff on">On</span>' in overview_page
    assert "Download PCAP" in ro.get(f"/alerts/{aid}").text  # viewing the evidence is allowed
    assert ro.post(f"/api/v1/alerts/{aid}/acknowledge").status_code == 403


def test_security_analyst_acknowledges_but_does_not_configure(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _reporting_sensor(admin, ctx)
    _report(s, "alerts", alerts=[_alert("1")])
    aid = admin.get("/api/v1/alerts").json()["items"][0]["id"]
    analyst = _as(admin, "sam", "Security Analyst")
    assert f'data-api-call="/api/v1/alerts/{aid}/acknowledge"' in analyst.get(f"/alerts/{aid}").text
    assert 'data-alert-bulk="acknowledge"' in analyst.get("/alerts").text
    for path in ("/sensors", f"/sensors/{s.node_id}"):
        text = analyst.get(path).text
        assert 'role="switch"' not in text and "data-sensor-bulk" not in text


# ---------------------------------------------------------------- overview data preparation


def test_overview_traffic_keeps_the_last_day_sorted() -> None:
    rows = [{"hour": f"2026-11-2{d}T{h:02d}:00:00+00:00", "mbps": float(h)} for d in (1, 2) for h in (5, 20)]
    rows.append({"hour": "garbage", "mbps": 1})
    rows.append({"hour": "2026-11-22T06:00:00", "mbps": "NaN-as-text"})
    t = overview.traffic({"traffic_per_hour": list(reversed(rows))})
    # newest hour 2026-11-22 20:00; the 24 hours before it start after 2026-11-21 20:00
    assert t.points == [("05:00", 5.0), ("20:00", 20.0)]
    assert t.day == "2026-11-22"
    assert overview.traffic({}).points == []


def test_overview_ports_use_aliases_and_add_up() -> None:
    stats = {
        "traffic_by_port": [
            {"port": "tcp/502", "bytes": 10},
            {"port": "udp/502", "bytes": 5},
            {"port": "tcp/80", "bytes": 1},
            {"port": "x"},
        ]
    }
    assert overview.traffic_by_port(stats, {"502": "Modbus"}) == [("Modbus", 15.0), ("tcp/80", 1.0)]
    assert overview.traffic_by_port(stats, {}) == [("tcp/502", 10.0), ("udp/502", 5.0), ("tcp/80", 1.0)]
    top = overview.top_protocols(
        {"top_ot_protocols": [{"protocol": f"p{i}", "devices": i} for i in range(8)]}
    )
    assert top == [("p7", 7.0), ("p6", 6.0), ("p5", 5.0), ("p4", 4.0), ("p3", 3.0)]
