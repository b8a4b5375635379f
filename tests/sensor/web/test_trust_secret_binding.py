"""Review of the sensor's setting pages (finding 24): a stored password goes only to the server it was
entered for.

The mail password and the AD bind password are the sensor's own secrets, never shown again ("set on
this sensor"). The test buttons and Save used the stored one with whatever server the form named, so
an Admin of the sensor console (or whoever holds that session) could read it back by pointing the
form at a server of their own — in clear text over plain SMTP or LDAP. Now a changed server (address,
port, TLS, account) needs the password typed again, for a test and for saving."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi.testclient import TestClient

from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import NodeState
from tests.listeners import make_tls, smtp_server
from tests.sensor.web.conftest import AppFactory, client_for, csrf
from tests.sensor.web.test_integrations import _errors, _result

pytestmark = pytest.mark.network

SECRET = "stored-Secret-42"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SensorNode]:
    n = SensorNode(NodeState(tmp_path / "local"), [], snmp_host="127.0.0.1")  # locally managed
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
def admin(make_app: AppFactory, node: SensorNode) -> Iterator[TestClient]:
    with client_for(make_app(node)) as c:
        yield c


class Recorder:
    """An SMTP server's authenticator that keeps every password it is given (a rogue server)."""

    def __init__(self, accept: str | None = None) -> None:
        self.passwords: list[str] = []
        self.accept = accept

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.passwords.append(data.password.decode())
        ok = isinstance(data, LoginPassword) and data.password.decode() == self.accept
        return AuthResult(success=ok, handled=False)


def _mail(token: str, port: int, **over: str) -> dict[str, str]:
    return {
        "csrf": token, "address": "127.0.0.1", "port": str(port), "sender": "sensor@plant.example",
        "ssl": "none", "authentication": "on", "username": "relay", "recipients": "ot@plant.example",
        **over,
    }  # fmt: skip


def test_stored_mail_password_is_not_sent_to_another_server(
    admin: TestClient, node: SensorNode, tmp_path: Path
) -> None:
    token = csrf(admin, "/system/mail")
    good = Recorder(accept=SECRET)
    with smtp_server(authenticator=good, auth_require_tls=False) as (ctl, _):
        saved = admin.post(
            "/system/mail", data={**_mail(token, ctl.port), "mail_password": SECRET}, follow_redirects=False
        )
        assert saved.status_code == 303, saved.text
        # the saved server still gets the stored password (nothing typed): the normal case works
        ok, message = _result(
            admin.post("/system/mail", data={**_mail(token, ctl.port), "action": "test"}).text
        )
        assert ok, message
        assert good.passwords == [SECRET]

    rogue = Recorder()
    with smtp_server(authenticator=rogue, auth_require_tls=False) as (other, _):
        r = admin.post("/system/mail", data={**_mail(token, other.port), "action": "test"})
        ok, message = _result(r.text)
        assert not ok and "enter the password" in message.lower(), message
        assert rogue.passwords == []  # the stored password never left for the other server
        # saving the other server without the password is refused, and nothing changes
        r = admin.post("/system/mail", data=_mail(token, other.port))
        assert r.status_code == 400 and "password" in _errors(r.text)["mail_password"]
        assert node.system.mail_server is not None and node.system.mail_server["port"] == ctl.port
        assert rogue.passwords == []
        # with the password typed, the other server is tested (and may be saved)
        r = admin.post(
            "/system/mail", data={**_mail(token, other.port), "action": "test", "mail_password": "typed"}
        )
        assert rogue.passwords and set(rogue.passwords) == {"typed"}  # smtplib tries PLAIN, then LOGIN

    # the same server, trusted through another CA (one the reader holds, to intercept TLS): typed again too
    form = _mail(token, ctl.port, ssl="starttls")
    saved = admin.post("/system/mail", data={**form, "mail_password": SECRET}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    ca = make_tls(tmp_path / "other-ca").ca_pem
    r = admin.post("/system/mail", data={**form, "action": "test", "mail_ca_certificate": ca})
    ok, message = _result(r.text)
    assert not ok and "enter the password" in message.lower(), message
    r = admin.post("/system/mail", data={**form, "mail_ca_certificate": ca})
    assert r.status_code == 400 and "password" in _errors(r.text)["mail_password"]


@contextmanager
def capture_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server that keeps what the first client sends (a rogue LDAP server) and hangs up."""
    srv = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        srv.settimeout(10)
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(3)
            with contextlib.suppress(OSError):
                got.append(conn.recv(65536))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1], got
    finally:
        srv.close()
        t.join(5)


def test_stored_bind_password_is_not_sent_to_another_server(admin: TestClient, node: SensorNode) -> None:
    token = csrf(admin, "/system/active-directory")
    with socket.create_server(("127.0.0.1", 0)) as placeholder:  # the saved server's port
        form = {
            "csrf": token, "enabled": "on", "domain": "plant.local", "servers": "127.0.0.1",
            "transport": "plain", "port": str(placeholder.getsockname()[1]), "base_dn": "DC=plant,DC=local",
            "bind_dn": "CN=svc,DC=plant,DC=local", "user_filter": "", "group_roles": "",
        }  # fmt: skip
        saved = admin.post(
            "/system/active-directory", data={**form, "ad_bind_password": SECRET}, follow_redirects=False
        )
        assert saved.status_code == 303, saved.text
        assert node.secrets.get()["ad_bind_password"] == SECRET
    with capture_server() as (port, got):
        r = admin.post("/system/active-directory", data={**form, "port": str(port), "action": "test"})
        ok, message = _result(r.text)
        assert not ok and "enter the bind password" in message.lower(), message
        assert not any(SECRET.encode() in chunk for chunk in got)
        r = admin.post("/system/active-directory", data={**form, "port": str(port)})
        assert r.status_code == 400 and "password" in _errors(r.text)["ad_bind_password"]
        assert not any(SECRET.encode() in chunk for chunk in got)
