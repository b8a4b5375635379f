"""The sensor console served over HTTPS with the sensor's certificate; an import takes effect at once."""

from __future__ import annotations

import ssl

import httpx
import pytest

from otwatch.sensor.local.certs import validate_import
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.web.app import create_sensor_app
from otwatch.sensor.web.server import ConsoleServer
from otwatch.wire import pki
from otwatch.wire.tls import fetch_certificate
from tests.conftest import form_login
from tests.sensor.web.conftest import PASSWORDS
from tests.sensor.web.pkitools import chain

pytestmark = pytest.mark.network


def test_https_with_the_self_signed_then_the_imported_certificate(store: SensorStore) -> None:
    server = ConsoleServer(create_sensor_app(Sensor(), store), store, "127.0.0.1", 0).start()
    try:
        der = fetch_certificate("127.0.0.1", server.port)
        assert pki.fingerprint_der(der) == store.certificate_info()["fingerprint"]
        base = f"https://127.0.0.1:{server.port}"
        with httpx.Client(verify=False, base_url=base, follow_redirects=True) as c:
            r = form_login(c, "admin", PASSWORDS[Role.ADMIN])
            assert r.status_code == 200 and ">Overview</h1>" in r.text  # the Secure cookie works over HTTPS
        good = chain()
        store.import_certificate(
            "plant", validate_import(good.key_pem, good.leaf_pem, chain_pem=good.chain_pem)
        )
        der = fetch_certificate("127.0.0.1", server.port)
        assert pki.fingerprint_der(der) == pki.fingerprint(good.leaf)
        ctx = ssl.create_default_context(cadata=pki.cert_pem(good.root).decode())
        ctx.check_hostname = False
        with httpx.Client(verify=ctx) as c:  # a client trusting the plant's root now trusts the sensor
            assert c.get(f"https://127.0.0.1:{server.port}/login").status_code == 200
    finally:
        server.stop()
