"""Issue 17, item 22 (part): anonymous sign-in failures cannot flood the audit log: past a limit per
client address, that address is refused (429) without another audit row."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.console.auth.service import ADDRESS_FAILURES


def test_failed_sign_ins_per_address_are_bounded(client: TestClient, admin: TestClient) -> None:
    codes = []
    for i in range(ADDRESS_FAILURES + 20):
        r = client.post("/api/v1/auth/login", json={"username": f"nobody{i}", "password": "guess-guess"})
        codes.append(r.status_code)
    assert codes[:ADDRESS_FAILURES] == [401] * ADDRESS_FAILURES
    assert set(codes[ADDRESS_FAILURES:]) == {429}
    failed = admin.get("/api/v1/audit?action=auth.login_failed").json()["total"]
    assert failed <= ADDRESS_FAILURES
