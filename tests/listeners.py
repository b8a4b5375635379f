"""Real receivers on 127.0.0.1 for forwarding tests: syslog (UDP, TCP, TLS), an HTTPS webhook, SMTP."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from otwatch.wire import pki


def wait_until(fn: Callable[[], bool], timeout: float = 15.0, step: float = 0.05) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return
        time.sleep(step)
    raise AssertionError("condition not met in time")


@dataclass
class TLSFiles:
    ca_pem: str
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def make_tls(directory: Path, host: str = "127.0.0.1") -> TLSFiles:
    """A throw-away CA and a server certificate for ``host``, made with otwatch.wire.pki."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = pki.create_ca("Test receivers CA")
    key = pki.generate_key()
    cert = pki.issue(ca_key, ca_cert, key.public_key(), host, server_hosts=[host])
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(pki.cert_pem(cert))
    key_file.write_bytes(pki.key_pem(key))
    return TLSFiles(pki.cert_pem(ca_cert).decode(), cert_file, key_file)


# ---------------------------------------------------------------- syslog


class SyslogUDP:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(70_000)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append(data.decode("utf-8"))

    def close(self) -> None:
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()


def read_octet_counted(stream: Any) -> Iterator[str]:
    """Frames of RFC 6587 octet counting from a file-like byte stream."""
    while True:
        length = b""
        while True:
            ch = stream.read(1)
            if not ch:
                return
            if ch == b" ":
                break
            length += ch
        yield stream.read(int(length)).decode("utf-8")


class SyslogTCP:
    """Octet-counted syslog over TCP, or TLS when given a server context."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.messages: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            with conn, conn.makefile("rb") as f:
                self.messages.extend(read_octet_counted(f))
        except (OSError, ValueError) as exc:
            self.errors.append(str(exc))

    def close(self) -> None:
        self._stop.set()
        self._t.join(timeout=2)
        self.sock.close()


# ---------------------------------------------------------------- webhook


@dataclass
class WebhookHit:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class WebhookReceiver:
    """HTTPS receiver answering the scripted statuses in turn (then 200)."""

    tls: TLSFiles
    script: list[int] = field(default_factory=list)
    hits: list[WebhookHit] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.hits.append(
                    WebhookHit(
                        status, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw), time.time()
                    )
                )
                out = b'{"ok": true}' if status == 200 else b"receiver failure"
                self.send_response(status)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = self.tls.server_context().wrap_socket(self.server.socket, server_side=True)
        self.port: int = self.server.server_address[1]
        self._t = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._t.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- SMTP


class MailSink:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


class NTLMOnly(MailSink):
    """Advertises AUTH NTLM and nothing smtplib can do."""

    async def auth_NTLM(self, server: SMTP, args: list[bytes]) -> AuthResult:
        return AuthResult(success=False, handled=False)


def password_authenticator(username: str, password: str) -> Callable[..., AuthResult]:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == username
            and data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def smtp_server(handler: MailSink | None = None, **kwargs: Any) -> Iterator[tuple[Controller, MailSink]]:
    from tests.pg import free_port

    sink = handler or MailSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=free_port(), **kwargs)
    ctl.start()
    try:
        yield ctl, sink
    finally:
        ctl.stop()
