"""Review of pushed sensor settings (finding 34): a sensor's own mail or AD bind password goes only to
the server it was entered for, whoever changes the server.

The mail password and the AD bind password stay on the sensor (``otwatch sensor secret``, the sensor
console's pages): never pushed, never reported. But the server they go to is a setting the management
console pushes, and the sensor used its stored password with whatever server arrived — so an Admin of
the central console (not trusted with the sensor's secrets) could push a mail or AD server of its own
and collect the password at the sensor's next e-mail or AD sign-in. Finding 24 covered only the
sensor console's own forms. Now each password is bound to the server (address, port, TLS, account,
CA) it was first used with or saved for; another one gets nothing until the password is set again."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import NodeState
from tests.conftest import form_login
from tests.listeners import smtp_server
from tests.sensor.web.conftest import AppFactory, client_for, csrf
from tests.sensor.web.test_integrations import _result
from tests.sensor.web.test_trust_secret_binding import SECRET, Recorder, _mail, capture_server

pytestmark = pytest.mark.network


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SensorNode]:
    n = SensorNode(NodeState(tmp_path / "local"), [], snmp_host="127.0.0.1")
    try:
        yield n
    finally:
        n.stop()


def _pushed(port: int) -> dict[str, Any]:
    """A ``mail_server`` group as the console pushes it."""
    return {"address": "127.0.0.1", "port": port, "sender": "sensor@plant.example", "ssl": "none",
            "username": "relay"}  # fmt: skip


def _send(node: SensorNode, subject: str) -> Any:
    assert node.mailer.notify(subject, "body")
    assert node.mailer.flush(30)
    return node.mailer.results()[0]


def test_pushed_mail_server_does_not_get_the_stored_password(
    make_app: AppFactory, node: SensorNode, store: SensorStore
) -> None:
    good, rogue = Recorder(accept=SECRET), Recorder()
    with (
        client_for(make_app(node)) as admin,  # attaches the store: the sensor's own recipients
        smtp_server(authenticator=good, auth_require_tls=False) as (ctl, _),
        smtp_server(authenticator=rogue, auth_require_tls=False) as (other, _),
    ):
        store.set_mail_recipients(["ot@plant.example"])
        node.apply_config({"mail_server": _pushed(ctl.port)})  # from the console
        node.secrets.set("mail_password", SECRET)  # what `otwatch sensor secret mail_password` does
        first = _send(node, "one")
        assert first.sent, first.detail
        assert good.passwords == [SECRET]
        node.apply_config({"mail_server": _pushed(ctl.port)})  # the same server pushed again: still sent
        assert _send(node, "two").sent

        node.apply_config({"mail_server": _pushed(other.port)})  # the console names another server
        moved = _send(node, "three")
        assert not moved.sent
        assert "set for another server" in moved.detail and "mail_password" in moved.detail, moved.detail
        assert rogue.passwords == []  # not the stored password, not an empty one: no AUTH at all
        # the sensor console's test button, on the server in force now: held back there too
        token = csrf(admin, "/system/mail")
        ok, message = _result(
            admin.post("/system/mail", data={**_mail(token, other.port), "action": "test"}).text
        )
        assert not ok and "set for another server" in message, message
        assert rogue.passwords == []

        node.secrets.set("mail_password", "typed-on-the-sensor")  # set again, by the sensor's operator
        assert _send(node, "four").sent is False  # the rogue server refuses it, but it was the typed one
        assert rogue.passwords and set(rogue.passwords) == {"typed-on-the-sensor"}


def test_pushed_ad_server_does_not_get_the_stored_bind_password(
    make_app: AppFactory, node: SensorNode
) -> None:
    ad = {
        "enabled": True, "domain": "plant.local", "servers": ["127.0.0.1"], "ldaps": False,
        "starttls": False, "base_dn": "DC=plant,DC=local", "bind_dn": "CN=svc,DC=plant,DC=local",
        "user_filter": "(sAMAccountName={username})", "group_roles": {"OT Admins": "Admin"},
    }  # fmt: skip
    with client_for(make_app(node), role=None) as c:
        with socket.create_server(("127.0.0.1", 0)) as placeholder:  # the server it was entered for
            node.apply_config({"active_directory": {**ad, "port": placeholder.getsockname()[1]}})
            node.secrets.set("ad_bind_password", SECRET)
            form_login(c, "jdoe", "users-own-Password-1")  # the first use binds it to that server
        with capture_server() as (port, got):
            node.apply_config({"active_directory": {**ad, "port": port}})  # pushed: another server
            r = form_login(c, "jdoe", "users-own-Password-1")
            assert "set for another server" in r.text and "ad_bind_password" in r.text, r.text
            assert not any(SECRET.encode() in chunk for chunk in got)
            assert not any(b"users-own-Password-1" in chunk for chunk in got)


def test_binding_follows_the_ca_and_a_password_set_again(tmp_path: Path) -> None:
    """Another CA certificate (set on its own, `otwatch sensor secret mail_ca_certificate`) is another
    server as far as the password goes; the password set again is bound anew; the file stays 0600."""
    from otwatch.sensor.config.syssettings import LocalSecrets

    secrets = LocalSecrets(tmp_path)
    groups = {"mail_server": _pushed(2525)}
    secrets.set("mail_password", SECRET)
    assert secrets.for_use(groups)["mail_password"] == SECRET  # first use: bound to 127.0.0.1:2525
    assert secrets.for_use({"mail_server": {**_pushed(2525), "port": "2525"}})["mail_password"] == SECRET
    secrets.set("mail_ca_certificate", "-----BEGIN CERTIFICATE-----\nreader's\n-----END CERTIFICATE-----\n")
    held = secrets.for_use(groups)
    assert "mail_password" not in held and "set for another server" in held["mail_password@moved"]
    assert secrets.get()["mail_password"] == SECRET  # kept for the sensor's own forms, not sent
    secrets.set("mail_password", "typed-again")
    assert secrets.for_use(groups)["mail_password"] == "typed-again"
    assert not any("@" in k for k in secrets.get())
    assert (tmp_path / "system-secrets.json").stat().st_mode & 0o777 == 0o600
