"""Review of the console's own Settings > Mail server (finding 31): the stored SMTP password goes only
to the server it was entered for.

Finding 24 closed this on the sensor's setting pages. The console's own mail server kept its stored
password (never shown again) whatever the form said, so an Admin session could point host, port, TLS
or account at a server of its own, save, press Send test email and read the password back in clear
text over plain SMTP. Now a save naming another server needs the password typed again (422, the
field named); the same server keeps it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.console.mail import service as mail
from tests.listeners import make_tls, smtp_server
from tests.sensor.web.test_trust_secret_binding import Recorder

pytestmark = pytest.mark.network

SECRET = "stored-Smtp-Secret-42"


def _body(port: int, **over: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1", "port": port, "from_address": "otwatch@plant.example", "security": "none",
        "authentication": True, "username": "relay", **over,
    }  # fmt: skip


def _refused(r: Any) -> None:
    """A 422 naming the password field, saying to type it again."""
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "enter the password again" in err["message"], err
    assert err["details"] == [{"field": "password"}], err


def test_stored_smtp_password_is_not_sent_to_another_server(
    admin: TestClient, ctx: ConsoleContext, tmp_path: Path
) -> None:
    good = Recorder(accept=SECRET)
    rogue = Recorder()
    with (
        smtp_server(authenticator=good, auth_require_tls=False) as (ctl, _),
        smtp_server(authenticator=rogue, auth_require_tls=False) as (other, _),
    ):
        r = admin.put("/api/v1/mail", json={**_body(ctl.port), "password": SECRET})
        assert r.status_code == 200 and r.json()["has_password"], r.text
        # the same server again, nothing typed: the stored password is kept and still works
        assert admin.put("/api/v1/mail", json=_body(ctl.port)).status_code == 200
        t = admin.post("/api/v1/mail/test", json={"to": "ot@plant.example"}).json()
        assert t["ok"], t
        assert good.passwords == [SECRET]

        # a cross-site write riding on the session cookie (no CSRF token) changes nothing either
        forged = admin.put(
            "/api/v1/mail", json={**_body(other.port), "password": "x"}, headers={"X-CSRF-Token": ""}
        )
        assert forged.status_code == 403 and forged.json()["error"]["code"] == "csrf_failed", forged.text
        forged = admin.post(
            "/api/v1/mail/test", json={"to": "ot@plant.example"}, headers={"X-CSRF-Token": ""}
        )
        assert forged.status_code == 403, forged.text
        assert good.passwords == [SECRET]

        # another port (a server of the reader's own): refused, nothing changes, nothing is sent there
        _refused(admin.put("/api/v1/mail", json=_body(other.port)))
        admin.post("/api/v1/mail/test", json={"to": "ot@plant.example"})
        assert rogue.passwords == []
        assert admin.get("/api/v1/mail").json()["port"] == ctl.port

        # another address, TLS mode, account, CA certificate, or verification off: typed again too
        _refused(admin.put("/api/v1/mail", json=_body(ctl.port, host="localhost")))
        _refused(admin.put("/api/v1/mail", json=_body(ctl.port, username="other")))
        _refused(admin.put("/api/v1/mail", json=_body(ctl.port, security="starttls")))
        _refused(admin.put("/api/v1/mail", json=_body(ctl.port, verify_tls=False)))
        ca = make_tls(tmp_path / "reader-ca").ca_pem
        _refused(admin.put("/api/v1/mail", json=_body(ctl.port, ca_pem=ca)))

        # authentication off then on again, at another server: the password does not ride along
        off = admin.put("/api/v1/mail", json=_body(other.port, authentication=False))
        assert off.status_code == 200, off.text
        _refused(admin.put("/api/v1/mail", json=_body(other.port)))
        admin.post("/api/v1/mail/test", json={"to": "ot@plant.example"})
        assert rogue.passwords == []

        # typed again, the other server gets the typed one (and only that)
        assert admin.put("/api/v1/mail", json={**_body(other.port), "password": "typed"}).status_code == 200
        admin.post("/api/v1/mail/test", json={"to": "ot@plant.example"})
        assert rogue.passwords and set(rogue.passwords) == {"typed"}  # smtplib tries PLAIN, then LOGIN
        # clearing the password with a change is allowed: nothing stored goes anywhere
        r = admin.put("/api/v1/mail", json={**_body(ctl.port), "password": ""})
        assert r.status_code == 200 and not r.json()["has_password"], r.text

    with ctx.db.session() as db:
        cfg = mail.load_config(db, ctx.vault)
        assert cfg is not None and cfg.port == ctl.port and cfg.password == ""


def test_mail_page_says_a_new_server_needs_the_password(admin: TestClient) -> None:
    page = admin.get("/settings/mail").text
    assert "another server" in page and "typed again" in page
