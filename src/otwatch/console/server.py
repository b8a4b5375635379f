"""Serving the console over TLS with optional client certificates (mTLS for agents and sensors).

uvicorn (0.5x) does not yet pass the peer certificate to the application (the ASGI TLS extension is
still an open pull request upstream), so a thin subclass of its HTTP protocol puts the verified
client certificate into ``scope["extensions"]["tls"]["client_cert_chain"]`` as the extension
specifies. Browsers present no certificate (CERT_OPTIONAL); agents present one issued by the
console CA, verified by OpenSSL during the handshake.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import threading
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # uvicorn without its [standard] extra
    HttpToolsProtocol = H11Protocol  # type: ignore[misc,assignment]

from otwatch.console.context import ConsoleContext

ASGIApp = Any


class _TLSScope:
    """Per connection: the client certificate (PEM) and its serial, parsed once for all requests."""

    def __init__(self, app: ASGIApp, pem: str | None) -> None:
        self.app, self.pem = app, pem
        self.serial = f"{x509.load_pem_x509_certificate(pem.encode()).serial_number:x}" if pem else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            ext = scope.setdefault("extensions", {})
            ext["tls"] = {
                "client_cert_chain": [self.pem] if self.pem else [],
                "server_cert": None,
                "otwatch_client_serial": self.serial,
            }
        await self.app(scope, receive, send)


def _tls_app(app: ASGIApp, transport: asyncio.Transport) -> ASGIApp:
    """The app wrapped with this connection's TLS scope, or as it is on a plain connection."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return app
    der = ssl_object.getpeercert(binary_form=True)
    return _TLSScope(app, ssl.DER_cert_to_PEM_cert(der) if der else None)


class TLSHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools (llhttp, C) protocol with the TLS scope. Parsing a check-in with it costs
    a fraction of h11's pure-Python state machine, which was a sixth of the console's CPU per
    check-in (docs/benchmarks.md, "Fleet")."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app = _tls_app(self.app, transport)


def uvicorn_config(
    app: ASGIApp, ctx: ConsoleContext, host: str, port: int, log_level: str = "warning"
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=TLSHttpToolsProtocol,
        ssl_certfile=str(ctx.pki.server_cert_file),
        ssl_keyfile=str(ctx.pki.server_key_file),
        ssl_ca_certs=str(ctx.pki.ca_file),
        ssl_cert_reqs=ssl.CERT_OPTIONAL,
        log_level=log_level,
        access_log=False,  # one line per check-in would drown the log; writes are in the audit log
        timeout_keep_alive=75,  # longer than a long-poll, so agents reuse their connection
        # Load balancers pass TLS through (docs/deployment.md: mTLS ends at the console), so no proxy
        # adds X-Forwarded-For; trusting it would let a local client pick the address that
        # enrolment lockouts count, and cost a layer per request.
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


class ServerThread:
    """Run a console in a background thread (tests, the demo)."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="otwatch-console", daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("console server failed to start")
            threading.Event().wait(0.05)
            waited += 0.05
            if waited > timeout:
                raise TimeoutError("console server did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for idle keep-alive or long-poll connections
        self.thread.join(timeout=30)


class PortBusy(RuntimeError):
    """The console's port is taken: the demo stops before it creates anything."""


def check_port(host: str, port: int) -> None:
    """Refuse a busy port before any credential is created (a password nobody saw is a lost one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            raise PortBusy(
                f"port {port} on {host} {reason} (another console or demo?): choose another with "
                f"`make run PORT={port + 1}` or `otwatch console demo --port {port + 1}`"
            ) from None
