"""Monitored Networks, the credentials vault, certificates, pagination, error bodies."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from otwatch.console.context import ConsoleContext
from otwatch.console.credentials.models import Credential


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.0.0.5/24", "has host bits set; did you mean 10.0.0.0/24?"),
        ("10.0.0.0/33", "is not a network in CIDR notation"),
        ("plant", "is not a network in CIDR notation"),
        ("", "network is empty"),
    ],
)
def test_network_validation_is_clear(admin: TestClient, cidr: str, message: str) -> None:
    r = admin.post("/api/v1/networks", json={"cidr": cidr})
    assert r.status_code == 422
    assert message in r.json()["error"]["message"]
    assert admin.get("/api/v1/networks").json()["total"] == 0


def test_networks_crud_and_duplicates(admin: TestClient) -> None:
    assert (
        admin.post("/api/v1/networks", json={"cidr": "10.1.0.0/16", "description": "cell 1"}).status_code
        == 201
    )
    r = admin.post("/api/v1/networks", json={"cidr": "10.1.0.0/16"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    admin.post("/api/v1/networks", json={"cidr": "fd00::/64"})
    page = admin.get("/api/v1/networks?limit=1").json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1
    nid = page["items"][0]["id"]
    assert admin.delete(f"/api/v1/networks/{nid}").status_code == 204
    assert admin.get("/api/v1/networks").json()["total"] == 1


def test_credentials_never_returned_and_encrypted(admin: TestClient, ctx: ConsoleContext) -> None:
    body = {"name": "plant snmp", "secret": {"kind": "snmp_v2c", "community": "s3cret-community"}}
    r = admin.post("/api/v1/credentials", json=body)
    assert r.status_code == 201
    assert "s3cret" not in r.text and "secret" not in r.json()
    assert "s3cret" not in admin.get("/api/v1/credentials").text
    with ctx.db.session() as db:
        row = db.scalars(select(Credential)).one()
        assert b"s3cret" not in row.secret
        assert ctx.vault.open(row.secret)["community"] == "s3cret-community"
    v3 = {
        "name": "v3",
        "secret": {"kind": "snmp_v3", "username": "u", "auth_protocol": "SHA", "auth_key": "short"},
    }
    r = admin.post("/api/v1/credentials", json=v3)
    assert r.status_code == 422 and "auth_key" in r.json()["error"]["message"]


def test_certificates_show_fingerprint(admin: TestClient, ctx: ConsoleContext) -> None:
    r = admin.get("/api/v1/certificates").json()
    assert r["fingerprint_sha256"] == ctx.pki.fingerprint
    assert len(r["fingerprint_sha256"].split(":")) == 32


def test_malformed_bodies_get_clear_errors(admin: TestClient) -> None:
    r = admin.post("/api/v1/networks", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
    r = admin.post("/api/v1/networks", json={"cidr": "10.0.0.0/8", "surprise": 1})
    assert r.status_code == 422 and "surprise" in r.json()["error"]["message"]
    assert admin.get("/api/v1/networks?limit=0").status_code == 422
    assert admin.get("/api/v1/nowhere").json()["error"]["code"] == "not_found"
