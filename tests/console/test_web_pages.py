"""The server-rendered Inventory, settings and Agents pages: data, filters, role-dependent controls."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.fleet.models import Node
from tests.conftest import form_login
from tests.console.helpers import FakeAgent, new_key
from tests.console.test_assets import HOST, PLC, SWITCH, _agent, _scan

SETTINGS_PAGES = (
    "/settings/networks",
    "/settings/credentials",
    "/settings/api-keys",
    "/settings/certificates",
)
ADMIN_ONLY_PAGES = ("/settings/users", "/settings/audit")
ALL_PAGES = ("/inventory", "/agents", *SETTINGS_PAGES, *ADMIN_ONLY_PAGES)


def _reports(*assets: Mapping[str, object]) -> list[dict[str, object]]:
    """The scan report of some of tests/console/test_assets.py's sample assets."""
    return [dict(a) for a in assets]


def _rows(html: str, table_id: str) -> list[str]:
    """The data-id of every body row of one table."""
    m = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert m, f"no table {table_id}"
    return re.findall(r'<tr data-id="([^"]+)"', m.group(0))


def _asset_ips(client: TestClient, query: str = "") -> set[str]:
    r = client.get(f"/inventory{query}")
    assert r.status_code == 200, r.text
    return set(re.findall(r'<a href="/inventory/[^"]+">([^<]+)</a>', r.text))


def _as(client: TestClient, username: str, role: str) -> TestClient:
    """Create a user with ``role`` (as the signed-in admin), then sign in as that user through the form."""
    password = f"{username}-password-1"
    r = client.post("/api/v1/users", json={"username": username, "password": password, "role": role})
    assert r.status_code == 201, r.text
    client.cookies.clear()
    r = form_login(client, username, password, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def test_pages_redirect_to_login_when_signed_out(client: TestClient) -> None:
    for path in (*ALL_PAGES, "/inventory/some-id"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_navigation_links_every_page(admin: TestClient) -> None:
    for path in ALL_PAGES:
        r = admin.get(path)
        assert r.status_code == 200, (path, r.text)
        nav = re.search(r'<nav class="sidenav".*?</nav>', r.text, re.S)
        assert nav is not None
        for label in (
            "Inventory",
            "Data Collection",
            "Data Sources",
            "Agents",
            "Environment Settings",
            "Network Definitions",
            "Monitored Networks",
            "Active Queries",
            "Credentials",
            "Users and Roles",
            "API Keys",
            "Certificates",
            "Audit Log",
        ):
            assert label in nav.group(0), (path, label)
        assert f'<a href="{path}" aria-current="page"' in nav.group(0), path


def test_inventory_lists_and_filters_assets(admin: TestClient, ctx: ConsoleContext) -> None:
    a = _agent(admin, ctx, "gw-a")
    b = _agent(admin, ctx, "gw-b")
    _scan(admin, a, _reports(PLC, SWITCH))
    _scan(admin, b, _reports(HOST))

    page = admin.get("/inventory")
    assert page.status_code == 200
    for header in (
        "IP",
        "MAC",
        "Name",
        "Type",
        "Vendor",
        "Model",
        "Firmware",
        "Serial",
        "State",
        "Protocols",
    ):
        assert re.search(rf'<th scope="col"[^>]*>(<a class="sort" [^>]+>)?{header}<', page.text), header
    assert "Discovery sources" in page.text and "Last seen" in page.text
    assert "Showing 1–3 of 3" in page.text
    assert PLC["serial"] in page.text and "00:1b:1b:aa:bb:cc" in page.text and "s7comm" in page.text
    assert f'<option value="{a.node_id}" >gw-a</option>' in page.text  # the discovery source select
    assert f'href="/agents#agent-{a.node_id}">gw-a</a>' in page.text
    assert _asset_ips(admin) == {"10.30.1.10", "10.30.1.1", "10.30.2.5"}

    # every filter is query-string driven and narrows the rows
    assert _asset_ips(admin, f"?source={a.node_id}") == {"10.30.1.10", "10.30.1.1"}
    assert _asset_ips(admin, f"?source={b.node_id}") == {"10.30.2.5"}
    assert _asset_ips(admin, "?type=PLC") == {"10.30.1.10"}
    assert _asset_ips(admin, "?vendor=hirsch") == {"10.30.1.1"}
    assert _asset_ips(admin, "?protocol=snmp") == {"10.30.1.1"}
    assert _asset_ips(admin, "?network=10.30.2.0/24") == {"10.30.2.5"}
    assert _asset_ips(admin, "?network=10.30.1.0/24&type=Switch") == {"10.30.1.1"}
    assert _asset_ips(admin, "?q=10.30.1.10") == {"10.30.1.10"}
    assert _asset_ips(admin, "?type=Robot") == set()
    selected = admin.get("/inventory?type=PLC&protocol=s7comm").text
    assert "<option selected>PLC</option>" in selected and "<option selected>s7comm</option>" in selected
    assert "No assets match these filters." in admin.get("/inventory?vendor=nobody").text

    bad = admin.get("/inventory?network=10.30.1.7/24")
    assert bad.status_code == 200
    assert "host bits set" in bad.text and 'aria-invalid="true"' in bad.text
    assert _rows(bad.text, "assets-table") == []

    # server-side pagination keeps the filters in its links
    first = admin.get(f"/inventory?source={a.node_id}&limit=1")
    assert len(_rows(first.text, "assets-table")) == 1 and "Showing 1–1 of 2" in first.text
    nxt = re.search(r'<a class="btn" href="([^"]+)" rel="next">', first.text)
    assert nxt is not None
    href = nxt.group(1).replace("&amp;", "&")
    assert f"source={a.node_id}" in href and "limit=1" in href and "offset=1" in href
    second = admin.get(href)
    assert (
        "Showing 2–2 of 2" in second.text and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    )
    assert _rows(first.text, "assets-table") != _rows(second.text, "assets-table")
    assert admin.get("/inventory?limit=junk&offset=-5").status_code == 200


def test_asset_page_shows_identity_ports_protocols_modules_sources(
    admin: TestClient, ctx: ConsoleContext
) -> None:
    a = _agent(admin, ctx, "gw-a")
    modules = [{"slot": 0, "model": "CPU 315-2 PN/DP", "firmware": "V3.2.6"}, {"slot": 2, "model": "SM 321"}]
    _scan(admin, a, [{**PLC, "open_ports": [102, 80], "modules": modules}])
    asset = admin.get("/api/v1/assets").json()["items"][0]
    r = admin.get(f"/inventory/{asset['id']}")
    assert r.status_code == 200
    for text in ("10.30.1.10", "00:1b:1b:aa:bb:cc", "Siemens", PLC["model"], "V3.2.6", PLC["serial"], "Run"):
        assert text in r.text
    assert "<li>80</li><li>102</li>" in r.text
    assert "<td>s7comm</td><td>server</td>" in r.text
    assert "CPU 315-2 PN/DP" in r.text and "SM 321" in r.text and '<th scope="col">Slot</th>' in r.text
    assert f'<a href="/agents#agent-{a.node_id}">gw-a</a>' in r.text
    assert f'href="/inventory?source={a.node_id}"' in r.text
    missing = admin.get("/inventory/no-such-asset")
    assert missing.status_code == 404 and "Asset not found" in missing.text


def test_agents_page_links_inventory_and_offers_configuration(admin: TestClient, ctx: ConsoleContext) -> None:
    cred = admin.post(
        "/api/v1/credentials",
        json={"name": "plant-snmp", "secret": {"kind": "snmp_v2c", "community": "s3cret-community"}},
    )
    assert cred.status_code == 201, cred.text
    a = _agent(admin, ctx, "gw-a")
    _scan(admin, a, _reports(PLC))
    node = admin.get(f"/api/v1/agents/{a.node_id}").json()
    assert node["host_asset_id"] is None  # its own address is not in the inventory
    r = admin.get("/agents")
    assert r.status_code == 200
    assert f'id="agent-{a.node_id}"' in r.text
    assert f'<a href="/inventory?source={a.node_id}"' in r.text  # Reported Assets
    assert (
        f'<span title="Not in the inventory yet: the agent reports its own host once approved">{node["hostname"] or node["ip"]}</span>'
        in r.text
    )

    # Host Asset: a direct link to the details page of the asset at the agent's own address
    with ctx.db.session() as db:
        row = db.get(Node, a.node_id)
        assert row is not None
        row.ip = HOST["ip"]
        db.commit()
    _scan(admin, a, _reports(PLC, HOST))
    host_id = next(x["id"] for x in admin.get("/api/v1/assets").json()["items"] if x["ip"] == HOST["ip"])
    assert admin.get(f"/api/v1/agents/{a.node_id}").json()["host_asset_id"] == host_id
    listed = admin.get("/api/v1/agents").json()["items"]
    assert [x["host_asset_id"] for x in listed if x["id"] == a.node_id] == [host_id]
    r = admin.get("/agents")
    assert f'<a href="/inventory/{host_id}" title="The host asset\'s details">' in r.text
    assert admin.get(f"/inventory/{host_id}").status_code == 200
    assert 'data-action="configure">Configure</button>' in r.text
    assert 'data-bulk="set_schedule">Set Schedule Scan</button>' in r.text
    for control in ('id="configure-panel"', 'id="cfg-name"', 'id="cfg-networks"', 'id="cfg-schedule"'):
        assert control in r.text
    assert 'id="cfg-every"' in r.text and '<option value="weeks">Weeks</option>' in r.text
    assert f'<option value="{cred.json()["id"]}">plant-snmp</option>' in r.text
    assert "s3cret-community" not in r.text
    assert 'id="schedule-panel"' in r.text and 'id="sched-every"' in r.text
    assert 'id="auto-approve" data-setting="auto_approve" >' in r.text  # off by default
    assert admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).status_code == 200
    assert 'id="auto-approve" data-setting="auto_approve" checked>' in admin.get("/agents").text
    assert "Auto-Updates" in r.text


def test_settings_pages_render_data_created_through_the_api(admin: TestClient) -> None:
    assert (
        admin.post("/api/v1/networks", json={"cidr": "10.40.0.0/16", "description": "cell 4"}).status_code
        == 201
    )
    v2 = {"name": "plant-v2c", "secret": {"kind": "snmp_v2c", "community": "v2-community-secret"}}
    v3 = {
        "name": "plant-v3",
        "description": "switches",
        "secret": {
            "kind": "snmp_v3",
            "username": "opsuser",
            "auth_protocol": "SHA256",
            "auth_key": "auth-key-secret",
            "priv_protocol": "AES",
            "priv_key": "priv-key-secret",
        },
    }
    for body in (v2, v3):
        assert admin.post("/api/v1/credentials", json=body).status_code == 201
    assert (
        admin.post(
            "/api/v1/users",
            json={"username": "alice", "password": "alice-password-1", "role": "Security Analyst"},
        ).status_code
        == 201
    )
    key = admin.post("/api/v1/api-keys", json={"name": "nightly export"}).json()

    nets = admin.get("/settings/networks").text
    assert "10.40.0.0/16" in nets and "cell 4" in nets and 'data-url="/api/v1/networks"' in nets
    assert 'data-api-call="/api/v1/networks/' in nets and 'id="network-error"' in nets

    creds = admin.get("/settings/credentials").text
    assert "plant-v2c" in creds and "SNMP v2c" in creds and "plant-v3" in creds and "SNMP v3" in creds
    for secret in ("v2-community-secret", "auth-key-secret", "priv-key-secret"):
        assert secret not in creds
    assert 'name="secret.community"' in creds and 'name="secret.priv_key"' in creds

    users = admin.get("/settings/users").text
    assert "alice" in users and "Security Analyst" in users and 'data-url="/api/v1/users"' in users
    assert "Deactivate alice" in users
    assert "<option>Support</option>" not in users  # only the support user may grant Support
    assert users.count('name="role"') == 2  # the add form and alice's row; not the signed-in admin's own row

    keys = admin.get("/settings/api-keys").text
    assert "nightly export" in keys and key["prefix"] in keys and key["key"] not in keys
    assert "Generate API Keys" in keys and f'data-api-call="/api/v1/api-keys/{key["id"]}"' in keys

    cert = admin.get("/api/v1/certificates").json()
    certs = admin.get("/settings/certificates").text
    assert cert["fingerprint_sha256"] in certs and cert["ca_fingerprint_sha256"] in certs
    assert cert["subject"] in certs and 'data-copy="fp-server"' in certs and "Valid until" in certs

    audit = admin.get("/settings/audit")
    assert audit.status_code == 200
    assert (
        "network.added" in audit.text
        and "credential.created" in audit.text
        and "api_key.created" in audit.text
    )
    filtered = admin.get("/settings/audit?action=credential.")
    assert len(_rows(filtered.text, "audit-table")) == 2 and "network.added" not in filtered.text
    paged = admin.get("/settings/audit?limit=2")
    assert len(_rows(paged.text, "audit-table")) == 2 and 'rel="next"' in paged.text


def test_revoked_key_and_inactive_user_are_shown(admin: TestClient) -> None:
    key = admin.post("/api/v1/api-keys", json={"name": "old"}).json()
    assert admin.delete(f"/api/v1/api-keys/{key['id']}").status_code == 204
    keys = admin.get("/settings/api-keys").text
    assert "Revoked" in keys and f'data-api-call="/api/v1/api-keys/{key["id"]}"' not in keys
    uid = admin.post(
        "/api/v1/users", json={"username": "bob", "password": "bob-password-12", "role": "Read Only"}
    ).json()["id"]
    assert admin.patch(f"/api/v1/users/{uid}", json={"active": False}).status_code == 200
    users = admin.get("/settings/users").text
    assert "Inactive" in users and "Activate bob" in users


def test_read_only_sees_data_but_no_forms_or_buttons(admin: TestClient, ctx: ConsoleContext) -> None:
    admin.post("/api/v1/networks", json={"cidr": "10.50.0.0/16"})
    admin.post(
        "/api/v1/credentials", json={"name": "ro-cred", "secret": {"kind": "snmp_v1", "community": "x"}}
    )
    a = _agent(admin, ctx, "gw-ro")
    _scan(admin, a, _reports(PLC))
    ro = _as(admin, "ro", "Read Only")
    for path in ("/inventory", "/agents", *SETTINGS_PAGES):
        r = ro.get(path)
        assert r.status_code == 200, path
        for control in ("data-api-form", "data-api-call", "data-setting", "configure-panel", 'method="post"'):
            if control == 'method="post"':
                assert r.text.count(control) == 1, path  # only the Sign out form
            else:
                assert control not in r.text, (path, control)
        assert "Users and Roles" not in r.text and "Audit Log" not in r.text  # not in the navigation
    assert "10.50.0.0/16" in ro.get("/settings/networks").text
    assert "ro-cred" in ro.get("/settings/credentials").text
    assert "10.30.1.10" in ro.get("/inventory").text
    agents = ro.get("/agents").text
    assert "gw-ro" in agents and "Auto-Approve" not in agents and "Configure" not in agents
    assert "Generate API Keys" not in ro.get("/settings/api-keys").text
    for path in ADMIN_ONLY_PAGES:
        r = ro.get(path)
        assert r.status_code == 403 and "Not allowed" in r.text and "manage_settings" in r.text


@pytest.mark.parametrize("page", ADMIN_ONLY_PAGES)
def test_security_analyst_gets_403_on_admin_settings_pages(admin: TestClient, page: str) -> None:
    analyst = _as(admin, "sam", "Security Analyst")
    r = analyst.get(page)
    assert r.status_code == 403
    assert "The Security Analyst role may not open this page" in r.text
    assert "Sign out" in r.text  # a full page, not a JSON error


def test_security_analyst_controls(admin: TestClient, ctx: ConsoleContext) -> None:
    FakeAgent(ctx, admin.app).enroll(admin, new_key(admin))
    analyst = _as(admin, "sam", "Security Analyst")
    keys = analyst.get("/settings/api-keys").text
    assert "Generate API Keys" in keys  # analysts may generate their own keys
    mine = analyst.post("/api/v1/api-keys", json={"name": "sam-key"}).json()
    assert f'data-api-call="/api/v1/api-keys/{mine["id"]}"' in analyst.get("/settings/api-keys").text
    for path in ("/settings/networks", "/settings/credentials"):
        assert "data-api-form" not in analyst.get(path).text
    agents = analyst.get("/agents").text
    assert 'data-action="scan"' in agents and 'data-action="configure"' not in agents
    assert "configure-panel" not in agents and "data-setting" not in agents
