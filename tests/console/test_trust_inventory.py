"""Issue 17, item 2: a bad stored asset row breaks no page, and an Admin can delete and merge assets
(audited)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.console.assets.models import Asset, AssetSource
from otwatch.console.context import ConsoleContext
from otwatch.console.db import utcnow
from tests.console.test_trust_duplicates import _assets, _sensor


def _bad_row(ctx: ConsoleContext, node_id: str) -> str:
    """A row as an older console stored it unchecked: wrong types in every JSON column."""
    with ctx.db.session() as db:
        a = Asset(
            ip="10.0.0.66",
            ip_num=167772226,
            first_seen=utcnow(),
            last_seen=utcnow(),
            open_ports=["x", None, 502, {"a": 1}],  # type: ignore[list-item]
            modules=["x", 3, {"slot": 1, "name": "CPU"}],  # type: ignore[list-item]
            extra="junk",  # type: ignore[arg-type]
            field_sources=["junk"],  # type: ignore[arg-type]
        )
        db.add(a)
        db.flush()
        db.add(AssetSource(asset_id=a.id, node_id=node_id, first_seen=utcnow(), last_seen=utcnow()))
        db.commit()
        return a.id


def test_a_bad_stored_asset_breaks_no_page_and_can_be_deleted(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    _assets(s, [{"ip": "10.0.0.10", "vendor": "Siemens"}])
    bad = _bad_row(ctx, s.node_id or "")
    r = admin.get("/api/v1/assets")
    assert r.status_code == 200, r.text
    item = next(i for i in r.json()["items"] if i["id"] == bad)
    assert item["open_ports"] == [502] and item["modules"] == [{"slot": 1, "name": "CPU"}]
    assert admin.get(f"/api/v1/assets/{bad}").status_code == 200
    assert admin.get("/inventory").status_code == 200
    assert admin.get(f"/inventory/{bad}").status_code == 200
    # a later report for the same device still merges onto it
    _assets(s, [{"ip": "10.0.0.66", "vendor": "Wago", "open_ports": [80]}])
    assert admin.get(f"/api/v1/assets/{bad}").json()["open_ports"] == [80, 502]
    # Read Only may not delete; an Admin may, and it is audited
    admin.post("/api/v1/users", json={"username": "ro", "password": "readonly-pass-1", "role": "Read Only"})
    with TestClient(admin.app, base_url="https://testserver") as ro:
        ro.post("/api/v1/auth/login", json={"username": "ro", "password": "readonly-pass-1"})
        assert ro.delete(f"/api/v1/assets/{bad}").status_code in (401, 403)
    assert 'data-method="DELETE"' in admin.get(f"/inventory/{bad}").text
    r = admin.delete(f"/api/v1/assets/{bad}")
    assert r.status_code == 204, r.text
    assert admin.get(f"/api/v1/assets/{bad}").status_code == 404
    assert admin.delete(f"/api/v1/assets/{bad}").status_code == 404
    audit = admin.get("/api/v1/audit?action=asset.deleted").json()["items"]
    assert len(audit) == 1 and audit[0]["target"] == bad


def test_assets_merge_into_one_audited(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    _assets(s, [{"ip": "10.0.0.20", "open_ports": [502], "protocols": ["modbus"]}])
    _assets(
        s,
        [
            {
                "mac": "00:1b:1b:00:00:01",
                "ip": "10.0.0.21",
                "vendor": "Siemens",
                "sources": {"vendor": "s7comm"},
                "open_ports": [102],
            }
        ],
    )
    items = {i["ip"]: i for i in admin.get("/api/v1/assets").json()["items"]}
    keep, gone = items["10.0.0.21"]["id"], items["10.0.0.20"]["id"]
    assert 'data-url="/api/v1/assets/' in admin.get(f"/inventory/{keep}").text  # the merge form
    r = admin.post(f"/api/v1/assets/{keep}/merge", json={"from_id": gone})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["open_ports"] == [102, 502] and merged["vendor"] == "Siemens"
    assert {p["protocol"] for p in merged["protocols"]} == {"modbus"}
    assert [x["node_id"] for x in merged["sources"]] == [s.node_id]
    assert admin.get(f"/api/v1/assets/{gone}").status_code == 404
    assert admin.post(f"/api/v1/assets/{keep}/merge", json={"from_id": keep}).status_code == 422
    audit = admin.get("/api/v1/audit?action=asset.merged").json()["items"]
    assert len(audit) == 1 and audit[0]["target"] == keep
