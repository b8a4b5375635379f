"""Vulnerabilities in the console: CSAF import (CLI), matching on ingest and after import, the API,
and the one-shot ``advisories match`` CLI giving the same answer as the API."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from otwatch.cli import app
from otwatch.console.audit.models import AuditEntry
from otwatch.console.context import ConsoleContext
from otwatch.console.forwarding.models import Delivery, ForwardingRule
from otwatch.console.notifications.models import SystemNotification
from otwatch.console.vulnerabilities import service
from otwatch.console.vulnerabilities.models import Advisory, AdvisoryProduct, AssetVulnerability
from tests.advisories.shared import ADVISORIES, files
from tests.console.helpers import FakeAgent, new_key

runner = CliRunner()

M340_DOCS = ["icsa-21-194-02", "icsa-21-005-01", "icsa-18-086-01", "icsa-19-136-01", "icsa-17-054-03", "icsa-19-183-01", "icsa-20-016-01"]  # fmt: skip
S7_DOCS = ["icsa-20-105-08", "icsa-20-042-05", "icsa-18-079-02", "icsa-19-099-06", "icsa-19-283-01", "icsa-19-283-02"]  # fmt: skip

# the demo's Modicon M340 as the agent reports it (Modbus Read Device Identification)
M340: dict[str, Any] = {
    "ip": "10.30.1.20",
    "mac": "00:80:f4:01:02:03",
    "vendor": "Schneider Electric",
    "model": "BMX P34",
    "firmware": "v3.10",
    "name": "Modicon M340",
    "device_type": "PLC",
    "protocols": ["modbus"],
    "identities": [
        {"protocol": "modbus", "vendor": "Schneider Electric", "model": "BMX P34", "firmware": "v3.10",
         "name": "Modicon M340", "extra": {"product_code": "BMX P34 2020"}}
    ],
}  # fmt: skip
# the S7 CPU of the snap7 capture (SZL 0x0011 order number and firmware, 0x001C module type)
S7: dict[str, Any] = {
    "ip": "10.30.1.10",
    "mac": "00:1b:1b:aa:bb:cc",
    "vendor": "Siemens",
    "model": "CPU 315-2 PN/DP",
    "firmware": "V3.2.7",
    "device_type": "PLC",
    "protocols": ["s7comm"],
    "identities": [
        {"protocol": "s7comm", "vendor": "Siemens", "model": "CPU 315-2 PN/DP", "firmware": "V3.2.7",
         "extra": {"order_number": "6ES7 315-2EH14-0AB0"}}
    ],
}  # fmt: skip


def _folder(tmp_path: Path, names: list[str]) -> Path:
    files()  # skips when the shared advisories are absent
    folder = tmp_path / "csaf"
    (folder / "nested").mkdir(parents=True)
    for name in names:
        year = "20" + name.split("-")[1]
        shutil.copy(ADVISORIES / year / f"{name}.json", folder / "nested" / f"{name}.json")
    return folder


def _env(ctx: ConsoleContext) -> dict[str, str]:
    return {"OTWATCH_DATA_DIR": str(ctx.settings.data_dir), "OTWATCH_DATABASE_URL": str(ctx.db.engine.url)}


def _agent(admin: TestClient, ctx: ConsoleContext) -> FakeAgent:
    admin.post("/api/v1/networks", json={"cidr": "10.30.0.0/16"})
    a = FakeAgent(ctx, admin.app)
    a.enroll(admin, new_key(admin))
    admin.post(f"/api/v1/agents/{a.node_id}/approve")
    admin.put(
        f"/api/v1/agents/{a.node_id}/configuration",
        json={"name": "gw", "active_query_networks": ["10.30.0.0/16"]},
    )
    a.checkin()
    a.checkin()
    return a


def _scan(admin: TestClient, a: FakeAgent, assets: list[dict[str, Any]]) -> None:
    assert admin.post(f"/api/v1/agents/{a.node_id}/scan").status_code == 202
    cid = a.checkin()["commands"][0]["id"]
    result = {"assets": assets, "asset_count": len(assets), "duration": 1.0, "started_at": datetime.now(UTC).isoformat()}  # fmt: skip
    a.checkin(results=[{"id": cid, "state": "done", "result": result}])


def _asset_id(admin: TestClient, ip: str) -> str:
    (item,) = [a for a in admin.get("/api/v1/assets").json()["items"] if a["ip"] == ip]
    return str(item["id"])


def test_import_reports_bad_documents_by_name_and_matches_existing_assets(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    agent = _agent(admin, ctx)
    _scan(admin, agent, [M340, S7])  # the inventory exists before any advisory
    folder = _folder(tmp_path, M340_DOCS + S7_DOCS)
    (folder / "broken.json").write_text('{"document": ')
    (folder / "nested" / "not-csaf.json").write_text(json.dumps({"hello": "world"}))
    r = runner.invoke(app, ["console", "advisories", "import", str(folder), "--json"], env=_env(ctx))
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert (report["added"], report["updated"], report["unchanged"]) == (13, 0, 0)
    assert sorted(Path(f["file"]).name for f in report["failed"]) == ["broken.json", "not-csaf.json"]
    assert report["new_matches"] == 4 + 6  # M340 at v3.10: 4 advisories; the S7 CPU at V3.2.7: 6
    with ctx.db.session() as db:
        assert db.query(Advisory).count() == 13
        (entry,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "advisories.imported"))
        assert entry.detail["added"] == 13 and entry.detail["failed"] == 2
        (note,) = db.scalars(
            select(SystemNotification).where(SystemNotification.kind == service.NOTIFICATION_KIND)
        )
        assert "10 new vulnerability matches on 2 assets" in note.title and note.severity == "Major"

    body = admin.get(f"/api/v1/assets/{_asset_id(admin, '10.30.1.20')}/vulnerabilities").json()
    assert {f["id"] for f in body["affected"]} == {
        "ICSA-21-194-02",
        "ICSA-21-005-01",
        "ICSA-18-086-01",
        "ICSA-19-136-01",
    }
    assert body["possibly_affected"] == []
    top = body["affected"][0]  # highest CVSS first
    assert (top["id"], top["cvss"], top["severity"]) == ("ICSA-21-194-02", 9.8, "Critical")
    assert "BMXP34*" in top["reason"] and top["cves"] and top["product"].startswith("Modicon M340 CPU")

    # a re-import of the same revisions changes nothing and raises no notification
    again = runner.invoke(
        app, ["console", "advisories", "import", str(folder / "nested"), "--json"], env=_env(ctx)
    )
    assert json.loads(again.output)["unchanged"] == 13 and json.loads(again.output)["new_matches"] == 0


def test_new_matches_go_to_the_rules_that_report_vulnerabilities(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    hook = {"type": "webhook", "url": "https://siem.example/hook"}
    for name, over in (("vulns", {"report_vulnerabilities": True, "report_alerts": False}),
                       ("fleet", {"report_system_notifications": True})):  # fmt: skip
        r = admin.post("/api/v1/forwarding-rules", json={"name": name, "action": hook, **over})
        assert r.status_code == 201, r.text
    assert admin.get("/settings/forwarding").text.count("Vulnerabilities") >= 1
    folder = _folder(tmp_path, M340_DOCS)
    with ctx.db.session() as db:
        service.import_files(db, service.advisory_files([folder]))  # no asset yet: no match
    agent = _agent(admin, ctx)
    _scan(admin, agent, [M340])  # a new asset identity: new matches
    with ctx.db.session() as db:
        rows = db.execute(
            select(ForwardingRule.name, Delivery.subject_kind).join(
                Delivery, Delivery.rule_id == ForwardingRule.id
            )
        ).all()
        (note,) = db.scalars(
            select(SystemNotification).where(SystemNotification.kind == service.NOTIFICATION_KIND)
        )
    assert rows == [("vulns", "notification")]  # once, to the rule of that type only
    assert "4 new vulnerability matches on 1 asset" in note.title
    # the System Notifications page and API list them under a type of their own
    listed = admin.get("/api/v1/notifications", params={"kind": service.NOTIFICATION_KIND})
    assert listed.status_code == 200 and [n["id"] for n in listed.json()["items"]] == [note.id]
    page = admin.get("/settings/notifications", params={"kind": service.NOTIFICATION_KIND}).text
    assert f'<option value="{service.NOTIFICATION_KIND}" selected>New vulnerability matches</option>' in page
    assert "4 new vulnerability matches on 1 asset" in page


def test_matching_reruns_when_the_firmware_changes(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, M340_DOCS)
    with ctx.db.session() as db:
        service.import_files(db, service.advisory_files([folder]))
    agent = _agent(admin, ctx)
    _scan(
        admin,
        agent,
        [{**M340, "firmware": None, "identities": [{**M340["identities"][0], "firmware": None}]}],
    )
    asset = _asset_id(admin, "10.30.1.20")
    body = admin.get(f"/api/v1/assets/{asset}/vulnerabilities").json()
    # firmware unknown: the "< 3.01" and "< 2.9" advisories are possibly affected
    assert {f["id"] for f in body["possibly_affected"]} == {
        "ICSA-17-054-03",
        "ICSA-19-183-01",
        "ICSA-20-016-01",
    }
    _scan(
        admin,
        agent,
        [{**M340, "firmware": "v2.8", "identities": [{**M340["identities"][0], "firmware": "v2.8"}]}],
    )
    body = admin.get(f"/api/v1/assets/{asset}/vulnerabilities").json()
    assert body["possibly_affected"] == [] and len(body["affected"]) == 7  # v2.8 is below 2.9 and 3.01
    _scan(admin, agent, [M340])  # updated to v3.10
    body = admin.get(f"/api/v1/assets/{asset}/vulnerabilities").json()
    assert len(body["affected"]) == 4 and body["possibly_affected"] == []


def test_higher_revision_replaces_an_advisory_in_place(ctx: ConsoleContext, tmp_path: Path) -> None:
    src = ADVISORIES / "2021" / "icsa-21-103-02.json"
    files()
    doc = json.loads(src.read_text())
    older = tmp_path / "older.json"
    doc["document"]["tracking"]["version"] = "0"
    older.write_text(json.dumps(doc))
    newer = tmp_path / "newer.json"
    doc["document"]["tracking"]["version"] = "9"
    doc["product_tree"]["branches"][0]["branches"][0]["branches"][0]["name"] = "<= 9.0.3"
    newer.write_text(json.dumps(doc))
    with ctx.db.session() as db:
        first = service.import_files(db, [src])
        assert (first.added, first.failed) == (1, [])
        assert service.import_files(db, [older]).unchanged == 1  # a lower revision is ignored
        assert service.import_files(db, [newer]).updated == 1
        assert service.import_files(db, [newer]).unchanged == 1
        (p,) = db.scalars(select(AdvisoryProduct).where(AdvisoryProduct.advisory_id == "ICSA-21-103-02"))
        assert p.version == "<= 9.0.3"
        assert db.get(Advisory, "ICSA-21-103-02").revision == "9"  # type: ignore[union-attr]


def test_vulnerabilities_list_and_the_cli_agree_with_the_api(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, M340_DOCS + S7_DOCS)
    with ctx.db.session() as db:
        service.import_files(db, service.advisory_files([folder]))
    agent = _agent(admin, ctx)
    _scan(admin, agent, [M340, S7, {**S7, "ip": "10.30.1.11", "mac": "00:1b:1b:aa:bb:cd"}])
    page = admin.get("/api/v1/vulnerabilities").json()
    assert page["total"] == 10
    first = page["items"][0]
    assert first["affected_assets"] == 2 and first["id"] in {"ICSA-20-105-08", "ICSA-20-042-05", "ICSA-18-079-02", "ICSA-19-099-06", "ICSA-19-283-01", "ICSA-19-283-02"}  # fmt: skip
    assert admin.get("/api/v1/vulnerabilities", params={"min_cvss": 9}).json()["total"] == 1
    by_cve = admin.get("/api/v1/vulnerabilities", params={"q": "CVE-2021-22779"}).json()
    assert [a["id"] for a in by_cve["items"]] == ["ICSA-21-194-02"] and "CVE-2021-22779" in by_cve["items"][
        0
    ]["cves"]

    api = admin.get(f"/api/v1/assets/{_asset_id(admin, '10.30.1.10')}/vulnerabilities").json()
    r = runner.invoke(
        app,
        ["console", "advisories", "match", "--vendor", "Siemens", "--model", "CPU 315-2 PN/DP", "--firmware",
         "V3.2.7", "--order-number", "6ES7 315-2EH14-0AB0", "--json"],
        env=_env(ctx),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cli = json.loads(r.output)
    keys = ("id", "title", "cves", "cvss", "product", "fixed", "reason")
    assert [{k: f[k] for k in keys} for f in cli["affected"]] == [
        {k: f[k] for k in keys} for f in api["affected"]
    ]
    assert cli["possibly_affected"] == [] == api["possibly_affected"]

    # the same answer straight from the files, without a console database
    direct = runner.invoke(
        app,
        ["console", "advisories", "match", "--vendor", "Siemens AG", "--model", "6ES7 315-2EH14-0AB0", "--firmware",
         "V3.2.7", "--csaf", str(folder), "--json"],
    )  # fmt: skip
    assert {f["id"] for f in json.loads(direct.output)["affected"]} == {f["id"] for f in api["affected"]}


def test_vulnerabilities_need_a_signed_in_user(client: TestClient) -> None:
    assert client.get("/api/v1/vulnerabilities").status_code == 401
    assert client.get("/api/v1/assets/nope/vulnerabilities").status_code == 401


def test_unknown_asset(admin: TestClient) -> None:
    assert admin.get("/api/v1/assets/nope/vulnerabilities").status_code == 404


def test_rows_follow_assets_and_advisories(ctx: ConsoleContext) -> None:
    with ctx.db.session() as db:
        assert service.rematch(db) == 0  # nothing imported, nothing to do
        assert db.query(AssetVulnerability).count() == 0


def test_pages_show_which_assets_are_affected_and_why(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    folder = _folder(tmp_path, M340_DOCS + S7_DOCS)
    with ctx.db.session() as db:
        service.import_files(db, service.advisory_files([folder]))
    agent = _agent(admin, ctx)
    unknown_fw = {**M340, "ip": "10.30.1.21", "mac": "00:80:f4:01:02:04", "firmware": None,
                  "identities": [{**M340["identities"][0], "firmware": None}]}  # fmt: skip
    _scan(admin, agent, [M340, S7, unknown_fw, {"ip": "10.30.2.5", "device_type": "IT Host"}])

    inv = admin.get("/inventory").text
    assert '<th scope="col">Vulnerabilities</th>' in inv and 'data-testid="vulnerabilities"' in inv
    assert "Critical" in inv and "3 possible" in inv  # the M340 of unknown firmware
    only = admin.get("/inventory", params={"vuln": "Critical"}).text
    assert "10.30.1.20" in only and "10.30.1.10" not in only  # the S7 CPU's highest is 7.5 (High)
    assert "10.30.2.5" in admin.get("/inventory", params={"vuln": "none"}).text
    api = admin.get("/api/v1/assets", params={"vuln": "possibly_affected"}).json()
    assert [a["ip"] for a in api["items"]] == ["10.30.1.21"]
    assert admin.get("/api/v1/assets", params={"vuln": "ICSA-18-079-02"}).json()["total"] == 1

    page = admin.get(f"/inventory/{_asset_id(admin, '10.30.1.10')}").text
    assert 'data-testid="asset-vulnerabilities"' in page and "ICSA-18-079-02" in page
    assert "6ES7315-2EH14-0AB0" in page and "vers:all/&lt;V3.2.16" in page

    vulns = admin.get("/vulnerabilities").text
    assert 'data-chart="advisories"' in vulns and 'data-chart="severity"' in vulns and "<svg" in vulns
    assert 'data-label="ICSA-' in vulns and "ICSA-21-194-02" in vulns
    critical = admin.get("/vulnerabilities", params={"severity": "Critical"}).text
    assert 'data-id="ICSA-21-194-02"' in critical and 'data-id="ICSA-18-079-02"' not in critical

    adv = admin.get("/vulnerabilities/ICSA-21-194-02").text
    assert (
        "Modicon M340 CPU (part numbers BMXP34*)" in adv and "10.30.1.20" in adv and "CVE-2021-22779" in adv
    )
    assert admin.get("/vulnerabilities/ICSA-99-999-99").status_code == 404
    detail = admin.get("/api/v1/vulnerabilities/ICSA-21-194-02").json()
    assert (detail["affected_assets"], detail["possibly_affected_assets"]) == (2, 0)
    assert {a["ip"] for a in detail["assets"]} == {"10.30.1.20", "10.30.1.21"}
    assert any("BMXP34*" in p["name"] and p["status"] == "affected" for p in detail["products"])
    assert admin.get("/api/v1/vulnerabilities/ICSA-99-999-99").status_code == 404
    assert admin.get("/api/v1/vulnerabilities/provider").status_code == 200


def test_the_dashboard_lists_the_most_vulnerable_assets_worst_first(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    assert admin.get("/api/v1/dashboard").json()["most_vulnerable_assets"] is None  # nothing imported yet
    folder = _folder(tmp_path, M340_DOCS + S7_DOCS)
    with ctx.db.session() as db:
        service.import_files(db, service.advisory_files([folder]))
        db.commit()
    assert admin.get("/api/v1/dashboard").json()["most_vulnerable_assets"] == []  # no asset concerned
    _scan(admin, _agent(admin, ctx), [M340, S7])
    tile = admin.get("/api/v1/dashboard").json()["most_vulnerable_assets"]
    expected = {}
    for ip in (M340["ip"], S7["ip"]):
        rows = admin.get(f"/api/v1/assets/{_asset_id(admin, ip)}/vulnerabilities").json()
        expected[_asset_id(admin, ip)] = (len(rows["affected"]), len(rows["possibly_affected"]))
    got = {t["asset_id"]: (t["vulnerabilities"], t["possibly"]) for t in tile}
    assert got == expected
    keys = [(t["vulnerabilities"], t["highest_score"] or 0.0) for t in tile]
    assert keys == sorted(keys, reverse=True)  # worst first
    assert all(t["href"] == f"/inventory/{t['asset_id']}" for t in tile)
    page = admin.get("/dashboard").text
    assert tile[0]["href"] in page
