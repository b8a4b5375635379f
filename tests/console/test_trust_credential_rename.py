"""Issue 17, item 18: renaming a credential onto another's name is 409, not 500."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_renaming_a_credential_onto_another_name_is_409(admin: TestClient) -> None:
    secret = {"kind": "snmp_v2c", "community": "public"}
    admin.post("/api/v1/credentials", json={"name": "a", "secret": secret})
    b = admin.post("/api/v1/credentials", json={"name": "b", "secret": secret}).json()
    r = admin.put(f"/api/v1/credentials/{b['id']}", json={"name": "a", "secret": secret})
    assert r.status_code == 409, r.text
    assert (
        admin.put(f"/api/v1/credentials/{b['id']}", json={"name": "b", "secret": secret}).status_code == 200
    )
