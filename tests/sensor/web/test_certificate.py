"""System Settings > SSL/TLS Certificate: imports checked with real CA chains, refused with their message
and nothing changed; the self-signed default; the console-certificate validation setting."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from otwatch.sensor.local.certs import CertificateError, is_self_signed, validate_import
from otwatch.sensor.local.store import CertificateMode, SensorStore
from otwatch.sensor.local.trust import ConsoleTrust, ConsoleValidation
from otwatch.wire import pki
from tests.sensor.web.conftest import csrf
from tests.sensor.web.pkitools import Chain, certificate, chain, key_pem

PIN = "AB:" * 31 + "AB"


def _snapshot(store: SensorStore) -> dict[str, Any]:
    store.ensure_self_signed()  # made at first start
    files = (
        {p.name: p.read_bytes() for p in sorted(store.tls_dir.iterdir())} if store.tls_dir.exists() else {}
    )
    return {
        "mode": store.certificate_mode,
        "fingerprint": store.certificate_info()["fingerprint"],
        "trust": store.console_trust,
        "files": files,
        "settings": (store.dir / "settings.json").read_bytes()
        if (store.dir / "settings.json").exists()
        else b"",
    }


def _post(client: TestClient, *, files: dict[str, bytes] | None = None, **data: str) -> Any:
    token = csrf(client, "/system/certificate")
    fields = {"csrf": token, "mode": "imported", "name": "plant-sensor", "validation": "Required", **data}
    upload = {k: (f"{k}.pem", v, "application/x-pem-file") for k, v in (files or {}).items()}
    return client.post("/system/certificate", data=fields, files=upload or None, follow_redirects=False)


def _error(html: str) -> str:
    m = re.search(r'data-testid="error">(.*?)</p>', html, re.S)
    assert m, "no error shown"
    return htmllib.unescape(m.group(1))


@pytest.fixture
def good() -> Chain:
    return chain()


def test_self_signed_certificate_is_the_default_with_a_warning(admin: TestClient, store: SensorStore) -> None:
    html = admin.get("/system/certificate").text
    assert store.certificate_mode is CertificateMode.SELF_SIGNED
    assert "Use Locally generated self-signed certificate (Not recommended)" in html
    assert "use it for testing only" in html
    cert = pki.load_cert(store.tls_files()[0].read_bytes())
    assert is_self_signed(cert)
    assert store.certificate_info()["fingerprint"] in html
    assert (store.tls_dir / "self-signed.key").stat().st_mode & 0o777 == 0o600


def test_good_chain_is_imported(admin: TestClient, store: SensorStore, good: Chain) -> None:
    r = _post(
        admin,
        files={"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": good.chain_pem},
    )
    assert r.status_code == 303, r.text
    assert store.certificate_mode is CertificateMode.IMPORTED
    assert store.certificate_name == "plant-sensor"
    assert store.certificate_info()["fingerprint"] == pki.fingerprint(good.leaf)
    served = pki.load_cert(store.tls_files()[0].read_bytes())
    assert served == good.leaf
    # the server presents the chain in issuing order after the certificate
    presented = re.findall(rb"-----BEGIN CERTIFICATE-----", store.tls_files()[0].read_bytes())
    assert len(presented) == 3
    html = admin.get("/system/certificate").text
    assert (
        "Certificate settings saved." in html
        and "plant-sensor" in html
        and pki.fingerprint(good.leaf) in html
    )


def test_encrypted_key_with_its_passphrase(admin: TestClient, store: SensorStore, good: Chain) -> None:
    files = {
        "key_file": key_pem(good.key, "s3cret"),
        "cert_file": good.leaf_pem,
        "chain_file": good.chain_pem,
    }
    r = _post(admin, files=files, passphrase="wrong")
    assert r.status_code == 400 and _error(r.text) == "Private key: wrong passphrase"
    r = _post(admin, files=files)
    assert r.status_code == 400 and "enter its passphrase" in _error(r.text)
    assert _post(admin, files=files, passphrase="s3cret").status_code == 303
    assert store.certificate_mode is CertificateMode.IMPORTED
    assert b"ENCRYPTED" not in (store.tls_dir / "imported.key").read_bytes()  # opened once, stored 0600
    assert (store.tls_dir / "imported.key").stat().st_mode & 0o777 == 0o600


def _refused(
    admin: TestClient, store: SensorStore, files: dict[str, bytes], message: str, **data: str
) -> None:
    before = _snapshot(store)
    r = _post(admin, files=files, validation="None", pin=PIN, **data)
    assert r.status_code == 400
    assert message in _error(r.text), _error(r.text)
    assert _snapshot(store) == before  # nothing changed, not even the validation setting


def test_key_that_does_not_match(admin: TestClient, store: SensorStore, good: Chain) -> None:
    other = chain()
    _refused(
        admin,
        store,
        {"key_file": other.key_pem, "cert_file": good.leaf_pem, "chain_file": good.chain_pem},
        "Private key does not match the certificate",
    )


def test_expired_certificate(admin: TestClient, store: SensorStore) -> None:
    old = chain(leaf_start=datetime.now(UTC) - timedelta(days=400), leaf_days=30)
    _refused(
        admin,
        store,
        {"key_file": old.key_pem, "cert_file": old.leaf_pem, "chain_file": old.chain_pem},
        "Certificate 'sensor.plant.local' expired on",
    )


def test_not_yet_valid_certificate(admin: TestClient, store: SensorStore) -> None:
    future = chain(leaf_start=datetime.now(UTC) + timedelta(days=3))
    _refused(
        admin,
        store,
        {"key_file": future.key_pem, "cert_file": future.leaf_pem, "chain_file": future.chain_pem},
        "Certificate 'sensor.plant.local' is not yet valid (valid from",
    )


def test_chain_that_does_not_verify(admin: TestClient, store: SensorStore, good: Chain) -> None:
    # An impostor CA with the same name as the real issuer: names match, the signature does not.
    impostor = chain()
    _refused(
        admin,
        store,
        {"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": impostor.chain_pem},
        "Certificate chain does not verify: 'sensor.plant.local' is not signed by 'Plant Issuing CA'",
    )
    # A chain without the issuer at all.
    _refused(
        admin,
        store,
        {"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": pki.cert_pem(good.root)},
        "no certificate in the chain is the issuer",
    )
    # The right intermediate, signed by a root that is not the one given.
    _refused(
        admin,
        store,
        {
            "key_file": good.key_pem,
            "cert_file": good.leaf_pem,
            "chain_file": pki.cert_pem(good.inter) + pki.cert_pem(impostor.root),
        },
        "'Plant Issuing CA' is not signed by 'Plant Root CA'",
    )


def test_crl_lists_the_certificate(admin: TestClient, store: SensorStore, good: Chain) -> None:
    files = {"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": good.chain_pem}
    _refused(
        admin,
        store,
        {**files, "crl_file": good.crl([good.leaf])},
        f"Certificate is revoked: serial {pki.serial_hex(good.leaf)} is listed in the CRL",
        use_crl="1",
    )
    # a CRL that does not list it lets the import through
    r = _post(admin, files={**files, "crl_file": good.crl([good.inter])}, use_crl="1")
    assert r.status_code == 303 and store.certificate_mode is CertificateMode.IMPORTED


def test_crl_checks_are_themselves_checked(good: Chain) -> None:
    other = chain()
    args = {"chain_pem": good.chain_pem}
    with pytest.raises(CertificateError, match="signature does not verify"):
        forged = Chain(other.root_key, other.root, other.inter_key, good.inter, other.key, other.leaf).crl([])
        validate_import(good.key_pem, good.leaf_pem, crl=forged, **args)  # type: ignore[arg-type]
    with pytest.raises(CertificateError, match="out of date"):
        validate_import(good.key_pem, good.leaf_pem, crl=good.crl([], next_update_days=-1), **args)  # type: ignore[arg-type]
    with pytest.raises(CertificateError, match="not a certificate revocation list"):
        validate_import(good.key_pem, good.leaf_pem, crl=b"junk", **args)  # type: ignore[arg-type]


def test_use_crl_without_a_file_is_refused(admin: TestClient, store: SensorStore, good: Chain) -> None:
    _refused(
        admin,
        store,
        {"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": good.chain_pem},
        "CRL: the certificate names no HTTP CRL distribution point; upload the CRL file instead",
        use_crl="1",
    )


class _CrlServer:
    """A CRL distribution point on 127.0.0.1 (http.server in a thread), serving what the test sets."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.body = b""
        self.hits = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                self.send_response(200 if owner.body else 404)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/issuing.crl"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def crl_server() -> Any:
    server = _CrlServer()
    yield server
    server.close()


def test_use_crl_fetches_the_distribution_point_once_at_import(
    admin: TestClient, store: SensorStore, crl_server: _CrlServer
) -> None:
    listed = chain(crl_url=crl_server.url)
    files = {"key_file": listed.key_pem, "cert_file": listed.leaf_pem, "chain_file": listed.chain_pem}
    crl_server.body = listed.crl([listed.leaf])
    _refused(admin, store, files, "Certificate is revoked", use_crl="1")
    assert crl_server.hits == 1
    crl_server.body = listed.crl([listed.inter])  # the leaf is not listed: imported
    r = _post(admin, files=files, use_crl="1")
    assert r.status_code == 303 and store.certificate_mode is CertificateMode.IMPORTED
    assert crl_server.hits == 2
    crl_server.body = b""  # the server answers 404: a clear refusal that offers the upload
    other = chain(crl_url=crl_server.url)
    files = {"key_file": other.key_pem, "cert_file": other.leaf_pem, "chain_file": other.chain_pem}
    _refused(admin, store, files, "could not fetch the certificate's CRL", use_crl="1")
    r = _post(admin, files={**files, "crl_file": other.crl([])}, use_crl="1")  # the air-gapped way
    assert r.status_code == 303 and crl_server.hits == 3


def test_the_certificate_in_use_can_be_downloaded(admin: TestClient, store: SensorStore) -> None:
    r = admin.get("/system/certificate/download")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    cert = pki.load_cert(r.content)
    assert pki.fingerprint(cert) == store.certificate_info()["fingerprint"]
    assert 'href="/system/certificate/download"' in admin.get("/system/certificate").text


def test_other_refusals(admin: TestClient, store: SensorStore, good: Chain) -> None:
    _refused(admin, store, {"cert_file": good.leaf_pem}, "Private key: upload the KEY file")
    _refused(
        admin,
        store,
        {"key_file": b"not a key", "cert_file": good.leaf_pem},
        "Private key: not a PEM private key",
    )
    _refused(
        admin,
        store,
        {"key_file": good.key_pem, "cert_file": b"nope"},
        "Certificate: not a PEM certificate file",
    )
    ca_as_leaf = {"key_file": key_pem(good.inter_key), "cert_file": pki.cert_pem(good.inter)}
    _refused(admin, store, ca_as_leaf, "is a CA certificate, not a server certificate")
    _refused(
        admin, store, {"key_file": good.key_pem, "cert_file": good.leaf_pem}, "Certificate Name", name=""
    )


def test_rsa_leaf_and_chain_inside_the_crt_file(admin: TestClient, store: SensorStore) -> None:
    c = chain(rsa_leaf=True)
    r = _post(admin, files={"key_file": c.key_pem, "cert_file": c.leaf_pem + c.chain_pem})
    assert r.status_code == 303
    assert store.certificate_info()["fingerprint"] == pki.fingerprint(c.leaf)


def test_back_to_self_signed_needs_confirmation(admin: TestClient, store: SensorStore, good: Chain) -> None:
    assert (
        _post(
            admin, files={"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": good.chain_pem}
        ).status_code
        == 303
    )
    r = _post(admin, mode="self-signed")
    assert r.status_code == 400 and "Confirm" in _error(r.text)
    assert store.certificate_mode is CertificateMode.IMPORTED
    assert _post(admin, mode="self-signed", confirm="1").status_code == 303
    assert store.certificate_mode is CertificateMode.SELF_SIGNED
    assert is_self_signed(pki.load_cert(store.tls_files()[0].read_bytes()))


def test_validation_setting(admin: TestClient, store: SensorStore, good: Chain) -> None:
    assert store.console_trust == ConsoleTrust(ConsoleValidation.REQUIRED)  # the default
    r = _post(admin, mode="self-signed", confirm="1", validation="None", pin="")
    assert r.status_code == 400 and "needs the console certificate's SHA-256 fingerprint" in _error(r.text)
    r = _post(admin, mode="self-signed", confirm="1", validation="None", pin="12:34")
    assert r.status_code == 400 and "64 hex digits" in _error(r.text)
    assert store.console_trust.validation is ConsoleValidation.REQUIRED
    r = _post(admin, mode="self-signed", confirm="1", validation="None", pin=PIN.replace(":", "").lower())
    assert r.status_code == 303
    assert store.console_trust == ConsoleTrust(ConsoleValidation.NONE, PIN)
    # keeping an imported certificate while changing only the validation
    assert (
        _post(
            admin, files={"key_file": good.key_pem, "cert_file": good.leaf_pem, "chain_file": good.chain_pem}
        ).status_code
        == 303
    )
    assert store.console_trust.validation is ConsoleValidation.REQUIRED
    assert _post(admin, validation="None", pin=PIN).status_code == 303
    assert store.certificate_mode is CertificateMode.IMPORTED and store.console_trust.pin == PIN
    r = _post(admin, validation="Maybe")
    assert r.status_code == 400 and "Required or None" in _error(r.text)


def test_a_form_without_the_csrf_token_is_refused(admin: TestClient, store: SensorStore) -> None:
    r = admin.post(
        "/system/certificate", data={"mode": "self-signed", "confirm": "1", "validation": "None", "pin": PIN}
    )
    assert r.status_code == 403 and store.console_trust.validation is ConsoleValidation.REQUIRED


def test_leaf_signed_directly_by_a_root(good: Chain) -> None:
    leaf = certificate("direct", good.key, good.root, good.root_key)
    sc = validate_import(good.key_pem, pki.cert_pem(leaf), chain_pem=pki.cert_pem(good.root))
    assert sc.chain == (good.root,)
