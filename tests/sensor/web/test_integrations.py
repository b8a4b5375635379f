"""The pushed setting groups' pages in the sensor console (issue 20 items 2-3, sensor side): a locally
managed sensor sets its mail server, SNMP, Active Directory, DNS reverse lookup, subnets and port
aliases there, each checked in full and put to use at once; a console-managed sensor shows them
read-only. The test buttons talk to real servers on 127.0.0.1 (aiosmtpd, slapd, a UDP DNS responder),
and the sensor's own e-mail (backup results) reaches a real SMTP server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.tracking.timeline import EventType
from otwatch.wire.client import NodeState
from tests.ldapserver import BIND_DN, BIND_PW, SUFFIX, Slapd, slapd
from tests.listeners import MailSink, smtp_server
from tests.sensor.node.test_dns_lookup import PtrResponder
from tests.sensor.web.conftest import AppFactory, client_for, csrf
from tests.sensor.web.test_pages import _paired_node

__all__ = ["slapd"]  # the fixture
pytestmark = pytest.mark.network


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SensorNode]:
    n = SensorNode(NodeState(tmp_path / "local"), [], snmp_host="127.0.0.1")  # never paired: locally managed
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture
def admin(make_app: AppFactory, node: SensorNode) -> Iterator[TestClient]:
    with client_for(make_app(node)) as c:
        yield c


def _errors(html: str) -> dict[str, str]:
    found = re.findall(r'<p class="field-error" id="[^"]+" data-field="([^"]+)">([^<]*)</p>', html)
    return {k: unescape(v) for k, v in found}


def _result(html: str) -> tuple[bool, str]:
    m = re.search(r'data-testid="test-result" data-ok="(true|false)">([^<]*)</p>', html)
    assert m, "no test result on the page"
    return m.group(1) == "true", unescape(m.group(2))


def _mail_form(token: str, port: int, **over: str) -> dict[str, str]:
    return {
        "csrf": token, "address": "127.0.0.1", "port": str(port), "sender": "sensor@plant.example",
        "ssl": "none", "recipients": "ot@plant.example\nsoc@plant.example", **over,
    }  # fmt: skip


def test_mail_server_page_checks_saves_and_sends_the_test_email(
    admin: TestClient, node: SensorNode, store: SensorStore
) -> None:
    html = admin.get("/system/mail").text
    assert "Mail server" in html and "System settings › Integrations" in html
    assert 'href="/system/mail"' in html and 'data-testid="managed-note"' not in html
    for label in (
        "SMTP Server Address",
        "SMTP Server Port",
        "Outgoing Mail Account",
        "SSL",
        "Authentication",
        "Use NTLM",
    ):
        assert label in html, label
    token = csrf(admin, "/system/mail")

    bad = admin.post(
        "/system/mail",
        data=_mail_form(token, 70000, address="not a host!", sender="nobody", recipients="ot@plant\nbroken"),
    )
    assert bad.status_code == 400
    errors = _errors(bad.text)
    assert "not a host name or IP address" in errors["address"]
    assert "less than or equal to 65535" in errors["port"]
    assert "enter an e-mail address" in errors["sender"]
    assert "'broken' is not an e-mail address" in errors["recipients"]
    assert node.system.mail_server is None and store.mail_recipients == []  # nothing saved
    auth = admin.post("/system/mail", data=_mail_form(token, 25, authentication="on"))
    assert "enter the mail account's user name" in _errors(auth.text)["username"]

    with smtp_server() as (ctl, sink):
        # the test button uses the form as it is, unsaved
        r = admin.post(
            "/system/mail",
            data={**_mail_form(token, ctl.port), "action": "test", "test_to": "me@plant.example"},
        )
        ok, message = _result(r.text)
        assert ok and message == "Test e-mail sent to me@plant.example.", message
        (env,) = sink.envelopes
        assert env.rcpt_tos == ["me@plant.example"] and env.mail_from == "sensor@plant.example"
        assert isinstance(env.content, bytes)
        assert "Test e-mail" in str(message_from_bytes(env.content)["Subject"])
        assert node.system.mail_server is None  # a test saves nothing

        saved = admin.post(
            "/system/mail", data={**_mail_form(token, ctl.port), "action": "save"}, follow_redirects=True
        )
        assert saved.status_code == 200 and "Mail server saved." in saved.text
        assert node.system.mail_server == {
            "address": "127.0.0.1", "port": ctl.port, "sender": "sensor@plant.example", "ssl": "none",
            "username": "", "ntlm": False,
        }  # fmt: skip
        assert store.mail_recipients == ["ot@plant.example", "soc@plant.example"]
        assert 'value="sensor@plant.example"' in saved.text and "soc@plant.example" in saved.text

        # the sensor's own e-mail now goes there: an on-demand backup's result
        r = admin.post("/system/backup/now", data={"csrf": token}, follow_redirects=True)
        assert r.status_code == 200
        assert node.mailer.flush(15)
        backup_mail = message_from_bytes(sink.envelopes[-1].content)  # type: ignore[arg-type]
        assert str(backup_mail["Subject"]).endswith("Sensor backup made (on demand)")
        assert sink.envelopes[-1].rcpt_tos == ["ot@plant.example", "soc@plant.example"]
        body = backup_mail.get_payload(decode=True)
        assert (
            isinstance(body, bytes)
            and b"The on demand backup of the sensor succeeded: sensor-backup-" in body
        )
        sent_events = [e.title for e in node.sensor.timeline if e.type is EventType.MAIL]
        assert sent_events == ["E-mail sent: Test e-mail", "E-mail sent: Sensor backup made (on demand)"]
        assert "sent — Sensor backup made (on demand)" in admin.get("/system/mail").text

    # the settings survive a restart: a new node on the same sensor console settings
    again = SensorNode(NodeState(node.runtime.state.dir), [])
    try:
        again.attach_store(store)
        assert again.system.mail_server == node.system.mail_server
    finally:
        again.stop()


def test_failed_backup_is_mailed(
    admin: TestClient, node: SensorNode, store: SensorStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    token = csrf(admin, "/system/mail")
    with smtp_server() as (ctl, sink):
        admin.post("/system/mail", data=_mail_form(token, ctl.port), follow_redirects=True)
        admin.post(
            "/system/backup/settings",
            data={
                "csrf": token,
                "directory": str(blocker / "sub"),
                "schedule": "daily",
                "at": "02:00",
                "keep": "3",
            },
        )
        r = admin.post("/system/backup/now", data={"csrf": token})
        assert r.status_code == 500
        assert node.mailer.flush(15)
        (env,) = sink.envelopes
        msg = message_from_bytes(env.content)  # type: ignore[arg-type]
        assert str(msg["Subject"]).endswith("Sensor backup failed (on demand)")
        body = msg.get_payload(decode=True)
        assert isinstance(body, bytes) and b"could not be written to" in body


def test_test_email_failure_is_told(admin: TestClient) -> None:
    token = csrf(admin, "/system/mail")
    with smtp_server(MailSink()) as (ctl, _sink):
        port = ctl.port
    r = admin.post("/system/mail", data={**_mail_form(token, port), "action": "test"})  # nobody listens now
    ok, message = _result(r.text)
    assert not ok and message.startswith(
        "The test e-mail was not sent: cannot connect to the mail server 127.0.0.1"
    )


def test_managed_sensor_shows_the_consoles_values_read_only(
    make_app: AppFactory, tmp_path: Path, store: SensorStore
) -> None:
    node = _paired_node(tmp_path)
    node.apply_config(
        {
            "mail_server": {
                "address": "smtp.plant.example",
                "port": 587,
                "sender": "s@plant.example",
                "ssl": "starttls",
                "username": "relay",
                "ntlm": True,  # pushed with the group, as the console's form sets it
            },
            "subnets": ["10.1.0.0/16"],
        }
    )
    try:
        with client_for(make_app(node)) as c:
            html = c.get("/system/mail").text
            assert (
                'data-testid="managed-note"' in html
                and "Managed by the console at console.plant:8443" in html
            )
            assert re.search(
                r'<input id="address" name="address" type="text"\s+value="smtp.plant.example" autocomplete="off" disabled',
                html,
            )
            assert re.search(
                r'<input type="checkbox" role="switch" id="ntlm" name="ntlm" value="on" checked\s+disabled',
                html,
            )
            assert re.search(r'<textarea id="recipients"[^>]*>', html) and "disabled" not in re.search(
                r'<textarea id="recipients"[^>]*>', html
            ).group(0)  # type: ignore[union-attr]
            token = csrf(c, "/system/mail")
            r = c.post(
                "/system/mail",
                data={
                    "csrf": token,
                    "address": "evil.example",
                    "port": "25",
                    "sender": "x@y.z",
                    "recipients": "ot@plant.example",
                },
                follow_redirects=True,
            )
            assert "Mail server: this sensor&#39;s own values saved." in r.text
            assert (
                node.system.mail_server is not None
                and node.system.mail_server["address"] == "smtp.plant.example"
            )
            assert store.mail_recipients == ["ot@plant.example"] and store.system_group("mail_server") is None
            r = c.post("/system/dns", data={"csrf": token, "action": "test", "test_ip": "10.0.0.1"})
            assert _result(r.text) == (False, "There are no DNS reverse lookup settings to test yet.")
            subnets = c.get("/system/subnets").text
            assert "10.1.0.0/16" in subnets and 'data-testid="managed-note"' in subnets
    finally:
        node.stop()


def test_subnets_and_port_aliases_take_effect(
    admin: TestClient, node: SensorNode, store: SensorStore
) -> None:
    token = csrf(admin, "/system/subnets")
    r = admin.post("/system/subnets", data={"csrf": token, "subnets": "10.1.0.5/16\n300.1.1.0/24"})
    assert r.status_code == 400
    err = _errors(r.text)["subnets"]
    assert "line 1: '10.1.0.5/16' has host bits set; did you mean 10.1.0.0/16?" in err
    assert "line 2: '300.1.1.0/24' is not a network in CIDR notation" in err
    r = admin.post(
        "/system/subnets",
        data={"csrf": token, "subnets": "10.1.0.0/16\n192.168.7.0/24\n"},
        follow_redirects=True,
    )
    assert "Subnets saved." in r.text
    assert [str(n) for n in node.sensor.settings.subnets] == ["10.1.0.0/16", "192.168.7.0/24"]
    # asset grouping follows: an address inside is local, a private one outside is not any more
    assert node.sensor.inventory._local("10.1.2.3") and not node.sensor.inventory._local("172.16.0.1")

    r = admin.post(
        "/system/port-aliases",
        data={"csrf": token, "port_aliases": "502 = plant modbus\nabc = x\n70000 = big"},
    )
    assert r.status_code == 400
    err = _errors(r.text)["port_aliases"]
    assert "'abc' is not a port number" in err and "port 70000 is out of range" in err
    r = admin.post(
        "/system/port-aliases",
        data={"csrf": token, "port_aliases": "8080 = historian web\n502 = plant modbus"},
        follow_redirects=True,
    )
    assert "Port aliases saved." in r.text
    assert node.sensor.settings.port_aliases == {502: "plant modbus", 8080: "historian web"}
    assert store.system_group("port_aliases") == {"502": "plant modbus", "8080": "historian web"}
    assert node.sensor.inventory.port_label("tcp", 8080) == "historian web"  # what Traffic By Port shows

    # Clear data forgets them (the configuration is cleared with the learned data)
    node.clear_data()
    store.clear()
    assert node.sensor.settings.subnets == [] and node.sensor.settings.port_aliases == {}
    assert store.system_groups() == {}


def test_snmp_page_validates_and_serves(admin: TestClient, node: SensorNode) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = csrf(admin, "/system/snmp")
    r = admin.post(
        "/system/snmp",
        data={"csrf": token, "enabled": "on", "version": "v3", "port": "161", "allowed_managers": "10.0.0.9\nnope",
              "v3_auth_protocol": "SHA-256", "v3_priv_protocol": "AES-128"},
    )  # fmt: skip
    assert r.status_code == 400
    errors = _errors(r.text)
    assert "entry 2: 'nope' is not an IP address" in errors["allowed_managers"]
    r = admin.post(
        "/system/snmp",
        data={"csrf": token, "enabled": "on", "version": "v2c", "port": str(port), "allowed_managers": "127.0.0.1",
              "snmp_community": "plant-ro", "v3_auth_protocol": "SHA-256", "v3_priv_protocol": "AES-128"},
        follow_redirects=True,
    )  # fmt: skip
    assert "SNMP MIB monitoring saved." in r.text
    assert node.secrets.get()["snmp_community"] == "plant-ro"
    assert node.system.snmp_mib_monitoring is not None and node.system.snmp_mib_monitoring["port"] == port
    assert node.snmp.status() == {"serving": True, "port": port, "error": None}
    assert f"Serving on UDP port {port}." in r.text
    assert (
        'data-testid="snmp_community-set"' in r.text and "plant-ro" not in r.text
    )  # a secret is never shown


def test_dns_page_test_lookup_and_naming(admin: TestClient, node: SensorNode) -> None:
    responder = PtrResponder({"10.10.0.10": "s7-plc.plant.local"})
    try:
        token = csrf(admin, "/system/dns")
        form = {"csrf": token, "enabled": "on", "servers": "127.0.0.1", "port": str(responder.port),
                "subnets": "10.10.0.0/24", "timeout": "1"}  # fmt: skip
        r = admin.post("/system/dns", data={**form, "action": "test", "test_ip": "10.10.0.10"})
        assert _result(r.text) == (True, "10.10.0.10 is s7-plc.plant.local.")
        r = admin.post("/system/dns", data={**form, "action": "test", "test_ip": "10.10.0.99"})
        assert _result(r.text) == (False, "10.10.0.99 has no name (no PTR record) on 127.0.0.1.")
        assert responder.queries  # the lookups went to the configured server
        r = admin.post("/system/dns", data={**form, "servers": "", "action": "save"})
        assert "DNS reverse lookup needs at least one server" in r.text
        r = admin.post("/system/dns", data=form, follow_redirects=True)
        assert "DNS reverse lookup saved." in r.text
        assert node.dns.config.active and node.dns.config.port == responder.port
        assert node.dns.wanted("10.10.0.10") and not node.dns.wanted("10.20.0.1")
    finally:
        responder.close()


def test_active_directory_page_tests_the_bind_and_a_user(
    admin: TestClient, node: SensorNode, slapd: Slapd
) -> None:
    token = csrf(admin, "/system/active-directory")
    form = {
        "csrf": token, "enabled": "on", "domain": "plant.local", "servers": slapd.host, "transport": "plain",
        "port": str(slapd.port), "base_dn": SUFFIX, "bind_dn": BIND_DN, "ad_bind_password": BIND_PW,
        "user_filter": "(uid={username})", "group_roles": "OT Admins = Admin\nOT Viewers = Read Only",
    }  # fmt: skip
    r = admin.post("/system/active-directory", data={**form, "action": "test"})
    ok, message = _result(r.text)
    assert ok and f"bind as {BIND_DN} accepted, base DN found" in message, message
    r = admin.post("/system/active-directory", data={**form, "action": "test", "ad_bind_password": "wrong"})
    ok, message = _result(r.text)
    assert not ok and "the bind account (bind DN and its password) was refused" in message
    r = admin.post(
        "/system/active-directory",
        data={**form, "action": "test", "test_user": "alice", "test_password": "alice-pass"},
    )
    ok, message = _result(r.text)
    assert ok and message.startswith("alice signed in (uid=alice") and message.endswith("role Admin.")
    r = admin.post("/system/active-directory", data={**form, "group_roles": "OT Admins = Boss"})
    assert r.status_code == 400 and "OT Admins: Input should be" in _errors(r.text)["group_roles"]
    r = admin.post(
        "/system/active-directory", data={**form, "transport": "ldaps", "starttls": "on", "base_dn": "plant"}
    )
    assert "is not a distinguished name" in _errors(r.text)["base_dn"]

    r = admin.post("/system/active-directory", data=form, follow_redirects=True)
    assert "Active Directory saved." in r.text
    assert node.system.active_directory is not None and node.system.active_directory["group_roles"] == {
        "OT Admins": "Admin", "OT Viewers": "Read Only",
    }  # fmt: skip
    assert node.secrets.get()["ad_bind_password"] == BIND_PW
    # and it is used: alice signs in to this console
    admin.post("/logout", data={"csrf": token})
    from tests.conftest import form_login

    signed = form_login(admin, "alice", "alice-pass", follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/overview"


def test_a_console_over_a_bare_pipeline_keeps_and_uses_the_settings(
    make_app: AppFactory, store: SensorStore
) -> None:
    from otwatch.sensor.pipeline.sensor import Sensor
    from tests.sensor.web.conftest import console_of

    sensor = Sensor()
    app = make_app(sensor)
    with client_for(app) as c, smtp_server() as (ctl, sink):
        token = csrf(c, "/system/mail")
        assert (
            "Mail server saved."
            in c.post("/system/mail", data=_mail_form(token, ctl.port), follow_redirects=True).text
        )
        assert store.system_group("mail_server")["port"] == ctl.port  # type: ignore[index]
        c.post("/system/subnets", data={"csrf": token, "subnets": "10.9.0.0/16"})
        assert [str(n) for n in sensor.settings.subnets] == ["10.9.0.0/16"]
        assert c.post("/system/backup/now", data={"csrf": token}, follow_redirects=False).status_code == 303
        # a scheduled backup, and a restore that is refused, are mailed too
        from datetime import UTC, datetime, timedelta

        from otwatch.sensor.web.backup_page import BackupScheduler

        made = BackupScheduler(console_of(app)).tick(datetime.now(UTC) + timedelta(days=1))
        assert made is not None
        bad = c.post(
            "/system/backup/restore",
            data={"csrf": token, "confirm": "yes"},
            files={"file": ("sensor-backup-x.tar.gz", b"not an archive", "application/gzip")},
        )
        assert bad.status_code == 400
        assert console_of(app).mailer.flush(15)
        subjects = [str(message_from_bytes(e.content)["Subject"]) for e in sink.envelopes]  # type: ignore[arg-type]
        assert [x.split("] ", 1)[1] for x in subjects] == [
            "Sensor backup made (on demand)",
            "Sensor backup made (scheduled)",
            "Sensor backup restore refused",
        ]
        events = [e.title for e in sensor.timeline if e.type is EventType.MAIL]
        assert events[0] == "E-mail sent: Sensor backup made (on demand)" and len(events) == 3
    # a restart over the same settings: the subnets apply again
    again = Sensor()
    make_app(again)
    assert [str(n) for n in again.settings.subnets] == ["10.9.0.0/16"]
