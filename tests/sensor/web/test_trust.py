"""Validation for management console certificates, enforced on real TLS connections.

A small HTTPS server plays the console; the sensor side is the context the sensor's console link
uses (``SensorLinkState.ssl_context()``), driven through httpx as the link drives it.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from otwatch.sensor.local.store import SensorStore
from otwatch.sensor.local.trust import (
    ConsoleTrust,
    ConsoleValidation,
    SensorLinkState,
    is_validation_failure,
)
from otwatch.wire import pki
from otwatch.wire.client import ConsoleLink, LinkError
from otwatch.wire.messages import CheckinRequest
from tests.sensor.web.pkitools import certificate

pytestmark = pytest.mark.network


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class FakeConsole:
    """An HTTPS server presenting ``cert`` and asking for (optional) client certificates."""

    def __init__(
        self, tmp: Path, cert: x509.Certificate, key: pki.PrivateKey, client_ca: x509.Certificate
    ) -> None:
        (tmp / "srv.crt").write_bytes(pki.cert_pem(cert))
        (tmp / "srv.key").write_bytes(pki.key_pem(key))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp / "srv.crt", tmp / "srv.key")
        ctx.load_verify_locations(cadata=pki.cert_pem(client_ca).decode())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Pki:
    """The console CA the sensor enrolled with, the sensor's client certificate, console certificates."""

    def __init__(self, state: Path) -> None:
        self.ca_key, self.ca = pki.create_ca()
        sensor_key = pki.generate_key()
        state.mkdir(parents=True, exist_ok=True)
        (state / "ca.pem").write_bytes(pki.cert_pem(self.ca))
        (state / "cert.pem").write_bytes(
            pki.cert_pem(pki.issue(self.ca_key, self.ca, sensor_key.public_key(), "sensor:1"))
        )
        (state / "key.pem").write_bytes(pki.key_pem(sensor_key))

    def console_cert(
        self, *, other_ca: bool = False, expired: bool = False
    ) -> tuple[x509.Certificate, pki.PrivateKey]:
        key = pki.generate_key()
        if other_ca:
            ca_key, ca = pki.create_ca("Someone else's CA")
        else:
            ca_key, ca = self.ca_key, self.ca
        if expired:
            start = datetime.now(UTC) - timedelta(days=30)
            return certificate("console", key, ca, ca_key, start=start, days=10, hosts=("localhost",)), key
        return pki.issue(ca_key, ca, key.public_key(), "console", server_hosts=["127.0.0.1"]), key


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def ca(state: Path) -> Pki:
    return Pki(state)


@pytest.fixture
def consoles(tmp_path: Path, ca: Pki) -> Iterator[list[FakeConsole]]:
    running: list[FakeConsole] = []
    yield running
    for c in running:
        c.close()


def _console(
    tmp_path: Path, ca: Pki, consoles: list[FakeConsole], **kind: bool
) -> tuple[FakeConsole, x509.Certificate]:
    d = tmp_path / f"console-{len(consoles)}"
    d.mkdir()
    cert, key = ca.console_cert(**kind)
    c = FakeConsole(d, cert, key, ca.ca)
    consoles.append(c)
    return c, cert


def _get(state: SensorLinkState, url: str) -> httpx.Response:
    with httpx.Client(verify=state.ssl_context(), timeout=5) as client:
        return client.get(url)


def test_required_accepts_the_enrolment_ca(
    tmp_path: Path, state: Path, ca: Pki, consoles: list[FakeConsole]
) -> None:
    console, _ = _console(tmp_path, ca, consoles)
    link = SensorLinkState(state, lambda: ConsoleTrust())
    assert _get(link, console.url).json() == {"ok": True}


@pytest.mark.parametrize("kind", [{"other_ca": True}, {"expired": True}], ids=["other CA", "expired"])
def test_required_refuses_anything_else(
    tmp_path: Path, state: Path, ca: Pki, consoles: list[FakeConsole], kind: dict[str, bool]
) -> None:
    console, _ = _console(tmp_path, ca, consoles, **kind)
    link = SensorLinkState(state, lambda: ConsoleTrust())
    with pytest.raises(httpx.ConnectError) as info:
        _get(link, console.url)
    assert is_validation_failure(str(info.value))


@pytest.mark.parametrize(
    "kind", [{"other_ca": True}, {"expired": True}, {}], ids=["other CA", "expired", "same CA"]
)
def test_none_accepts_exactly_the_pinned_certificate(
    tmp_path: Path, state: Path, ca: Pki, consoles: list[FakeConsole], kind: dict[str, bool]
) -> None:
    console, cert = _console(tmp_path, ca, consoles, **kind)
    pinned = SensorLinkState(state, lambda: ConsoleTrust(ConsoleValidation.NONE, pki.fingerprint(cert)))
    assert _get(pinned, console.url).status_code == 200
    other, _ = ca.console_cert()
    wrong = SensorLinkState(state, lambda: ConsoleTrust(ConsoleValidation.NONE, pki.fingerprint(other)))
    with pytest.raises(httpx.ConnectError) as info:
        _get(wrong, console.url)
    assert "is not the pinned certificate" in str(info.value) and is_validation_failure(str(info.value))


def test_a_change_applies_to_open_connections(
    tmp_path: Path, state: Path, ca: Pki, consoles: list[FakeConsole]
) -> None:
    console, cert = _console(tmp_path, ca, consoles)
    store = SensorStore(tmp_path / "store")
    link = SensorLinkState(state, lambda: store.console_trust)
    store.on_trust_changed = link.trust_changed
    with httpx.Client(verify=link.ssl_context(), timeout=5) as client:
        assert client.get(console.url).status_code == 200  # a kept-alive connection, checked under Required
        other, _ = ca.console_cert(other_ca=True)
        store.set_console_trust(ConsoleTrust(ConsoleValidation.NONE, pki.fingerprint(other)))
        with pytest.raises(httpx.HTTPError):  # the open connection was shut down; the new one is refused
            client.get(console.url)
        store.set_console_trust(ConsoleTrust(ConsoleValidation.NONE, pki.fingerprint(cert)))
        assert client.get(console.url).status_code == 200
        store.set_console_trust(ConsoleTrust())
        assert client.get(console.url).status_code == 200


def test_the_console_link_reports_the_refusal(
    tmp_path: Path, state: Path, ca: Pki, consoles: list[FakeConsole]
) -> None:
    console, _ = _console(tmp_path, ca, consoles, other_ca=True)
    (state / "identity.json").write_text(
        json.dumps(
            {
                "node_id": "n",
                "install_id": "i",
                "kind": "sensor",
                "address": f"127.0.0.1:{console.port}",
                "enrolled_at": datetime.now(UTC).isoformat(),
            }
        )
    )
    link = ConsoleLink(SensorLinkState(state, lambda: ConsoleTrust()), timeout=5)
    req = CheckinRequest(
        client_time=datetime.now(UTC), version="t", host_os="x", hostname="h", config_version=0
    )
    with pytest.raises(LinkError) as info, link:
        link.checkin(req)
    assert is_validation_failure(str(info.value))


def test_trust_parse() -> None:
    assert ConsoleTrust.parse("Required", "junk") == ConsoleTrust()  # the pin only matters for None
    with pytest.raises(ValueError, match="Required or None"):
        ConsoleTrust.parse("required")
    with pytest.raises(ValueError, match="needs the console certificate"):
        ConsoleTrust.parse("None", "")


class _ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that tunnels and records where each tunnel went."""

    def __init__(self) -> None:
        import socket as socketlib

        self.targets: list[str] = []
        self.sock = socketlib.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket as socketlib

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 8192:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                head += chunk
            target = head.split(b" ")[1].decode() if head.startswith(b"CONNECT ") else ""
            self.targets.append(target)
            host, _, port = target.rpartition(":")
            upstream = socketlib.create_connection((host, int(port)), timeout=5)
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self.sock.close()


def test_the_console_link_goes_through_the_sensors_proxy(
    tmp_path: Path, state: Path, ca: Pki, consoles: list[FakeConsole]
) -> None:
    """The network settings' proxy carries every console connection (CONNECT to the console's address)."""
    console, _ = _console(tmp_path, ca, consoles, other_ca=True)
    (state / "identity.json").write_text(
        json.dumps(
            {
                "node_id": "n",
                "install_id": "i",
                "kind": "sensor",
                "address": f"127.0.0.1:{console.port}",
                "enrolled_at": datetime.now(UTC).isoformat(),
            }
        )
    )
    proxy = _ConnectProxy()
    req = CheckinRequest(
        client_time=datetime.now(UTC), version="t", host_os="x", hostname="h", config_version=0
    )
    try:
        for url in (proxy.url, None):
            link = ConsoleLink(SensorLinkState(state, lambda: ConsoleTrust(), lambda u=url: u), timeout=5)  # type: ignore[misc]
            with pytest.raises(LinkError) as info, link:
                link.checkin(req)
            assert is_validation_failure(str(info.value))  # TLS reached the console, through the tunnel
        assert proxy.targets == [f"127.0.0.1:{console.port}"]  # the proxied link only
    finally:
        proxy.close()
