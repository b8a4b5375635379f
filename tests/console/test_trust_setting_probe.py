"""Review of the sensor settings' test buttons (finding 25): the Mail server test is not a banner
grabber, and every test names the servers it reached in the audit log.

Item 22 stopped the forwarding rule's Test from echoing what the target answered. The Mail server test
(console: POST /api/v1/sensors/{id}/settings/mail_server/test; the console's own Settings > Mail; the
sensor's Send test e-mail) echoed the first line any service sends on connect ("answered -1
SSH-2.0-OpenSSH_9.2p1 Debian ..."), so it read the banners of services inside the plant network one
address and port at a time; and its audit entry did not say which address and port were tried."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from fastapi.testclient import TestClient

from otwatch.console.context import ConsoleContext
from otwatch.sensor.node import mailer
from tests.console.test_sensor_setting_forms import MAIL, _sensor

BANNER = b"SSH-2.0-OpenSSH_9.2p1 historian-db01.plant.internal\r\n"


@contextlib.contextmanager
def banner_server() -> Iterator[int]:
    """A service that speaks first, as SSH does, and is no mail server."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(BANNER)
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(1024)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        srv.close()


def test_mail_test_does_not_echo_another_services_banner(admin: TestClient, ctx: ConsoleContext) -> None:
    s = _sensor(admin, ctx)
    url = f"/api/v1/sensors/{s.node_id}/settings/mail_server/test"
    with banner_server() as port:
        r = admin.post(url, json={"settings": {**MAIL, "port": port}})
        out = r.json()
        assert r.status_code == 200 and out["ok"] is False, out
        assert "OpenSSH" not in str(out) and "historian" not in str(out), out
        assert "not as a mail server" in out["detail"], out

        saved = admin.put(  # the console's own Settings > Mail and its Send test email
            "/api/v1/mail", json={"host": "127.0.0.1", "port": port, "from_address": "otwatch@plant.local"}
        )
        assert saved.status_code == 200, saved.text
        own = admin.post("/api/v1/mail/test", json={"to": "ot@plant.local"})
        assert "OpenSSH" not in own.text and "historian" not in own.text, own.text

        # the sensor's own sender, behind its Send test e-mail button
        cfg = mailer.MailConfig(host="127.0.0.1", port=port, sender="sensor@plant.local")
        try:
            mailer.send_mail(cfg, ["ot@plant.local"], "test", "body", timeout=3)
            raise AssertionError("sent through a service that is no mail server")
        except mailer.MailError as exc:
            assert "OpenSSH" not in str(exc) and "not as a mail server" in str(exc), str(exc)

    audit = admin.get("/api/v1/audit?action=sensor.settings_tested").json()["items"]
    assert audit and f"127.0.0.1:{port}" in str(audit[0]["detail"]), audit[0]
