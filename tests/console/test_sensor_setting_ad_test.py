"""The Active Directory form's test button against a real slapd: plain LDAP, StartTLS and LDAPS with
the servers' CA, a wrong password, a base DN that is not there, and a server that does not answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from tests.console.helpers import FakeAgent, new_key
from tests.ldapserver import BIND_DN, BIND_PW, SUFFIX, Slapd, ad_settings, slapd
from tests.pg import free_port

__all__ = ["slapd"]


def test_ad_test_binds_to_each_server(admin: TestClient, ctx: ConsoleContext, slapd: Slapd) -> None:
    s = FakeAgent(ctx, admin.app, kind="sensor")
    s.enroll(admin, new_key(admin))
    url = f"/api/v1/sensors/{s.node_id}/settings/active_directory/test"

    def test(password: str | None = BIND_PW, **over: object) -> dict[str, object]:
        body: dict[str, object] = {"settings": ad_settings(slapd, **over)}
        if password is not None:
            body["password"] = password
        if "ca" in over:
            body["settings"] = ad_settings(slapd, **{k: v for k, v in over.items() if k != "ca"})
            body["ca_pem"] = over["ca"]
        r = admin.post(url, json=body)
        assert r.status_code == 200, r.text
        out: dict[str, object] = r.json()
        return out

    out = test()
    assert out["ok"] is True, out
    assert out["notes"][0] == (  # type: ignore[index]
        f"{slapd.host}:{slapd.port} (LDAP): bound as {BIND_DN}; base DN {SUFFIX} found"
    )
    out = test(starttls=True, ca=slapd.ca_pem)
    assert out["ok"] is True and "(StartTLS)" in out["notes"][0], out  # type: ignore[index]
    out = test(ldaps=True, port=slapd.ldaps_port, ca=slapd.ca_pem)
    assert out["ok"] is True and "(LDAPS)" in out["notes"][0], out  # type: ignore[index]
    out = test(ldaps=True, port=slapd.ldaps_port)  # no CA: the throw-away CA is not trusted
    assert out["ok"] is False and "certificate" in str(out["notes"]).lower(), out

    out = test("wrong-pass")
    assert out["ok"] is False and "invalid credentials" in out["notes"][0], out  # type: ignore[index]
    out = test(base_dn="dc=elsewhere,dc=local")
    assert out["ok"] is False and "was not found" in out["notes"][0], out  # type: ignore[index]
    out = test(None)
    assert out["ok"] is False and "enter the password" in str(out["detail"])
    # no bind DN and no account given: nothing to bind with
    out = test(bind_dn="", password=None)
    assert out["ok"] is False and "bind DN, or an account" in str(out["detail"])
    dead = free_port()
    out = test(servers=[slapd.host, "127.0.0.2"])  # slapd listens on 127.0.0.1 only
    assert out["ok"] is False and out["detail"] == "1 of 2 server(s) failed", out
    assert "bound as" in out["notes"][0] and out["notes"][1].startswith("127.0.0.2:")  # type: ignore[index]
    out = test(port=dead)
    assert out["ok"] is False and f"127.0.0.1:{dead}" in out["notes"][0], out  # type: ignore[index]
