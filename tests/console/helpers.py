"""Test helpers that play an agent against a TestClient (mTLS simulated by the server's scope shim)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.server import _TLSScope
from otwatch.wire import pki
from otwatch.wire.pairing import PairingKey


class FakeAgent:
    def __init__(self, ctx: ConsoleContext, app: Any, kind: str = "agent") -> None:
        self.ctx, self.app, self.kind = ctx, app, kind
        self.key = pki.generate_key()
        self.install_id = uuid.uuid4().hex
        self.node_id: str | None = None
        self.cert_pem: str | None = None
        self.config_version = 0

    def enroll_body(self, pairing_key: str, **over: Any) -> dict[str, Any]:
        k = PairingKey.decode(pairing_key)
        body = {
            "method": "pairing_key",
            "kind": self.kind,
            "install_id": self.install_id,
            "csr_pem": pki.csr_pem(pki.make_csr(self.key, "t")),
            "hostname": f"host-{self.install_id[:4]}",
            "host_os": "Linux test",
            "version": "0.1.0",
            "engine_version": "1.0",
            "key_id": k.key_id,
            "secret": k.secret,
        }
        body.update(over)
        return body

    def enroll(self, client: TestClient, pairing_key: str, **over: Any) -> dict[str, Any]:
        r = client.post("/api/v1/wire/enroll", json=self.enroll_body(pairing_key, **over))
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        self.node_id, self.cert_pem = data["node_id"], data["certificate_pem"]
        return data

    def mtls(self) -> TestClient:
        assert self.cert_pem
        return TestClient(_TLSScope(self.app, self.cert_pem), base_url="https://testserver")

    def checkin(self, results: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "client_time": datetime.now(UTC).isoformat(),
            "config_version": self.config_version,
        }
        body["results"] = results or []
        body.update(over)
        with self.mtls() as c:
            r = c.post("/api/v1/wire/checkin", json=body)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        if data.get("config") is not None:
            self.config_version = data["config_version"]
        return data


def new_key(client: TestClient, **body: Any) -> str:
    r = client.post("/api/v1/pairing-keys", json={"description": "test", **body})
    assert r.status_code == 201, r.text
    key: str = r.json()["pairing_key"]
    return key
