"""A real console on loopback with TLS, for end-to-end tests."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.server import ServerThread, uvicorn_config
from otwatch.wire.client import Credentials, Identity, NodeState, enroll
from tests.conftest import ADMIN_PASSWORD
from tests.pg import free_port


@dataclass
class LiveConsole:
    ctx: ConsoleContext
    url: str
    address: str

    def admin(self) -> httpx.Client:
        c = httpx.Client(
            base_url=self.url, verify=ssl.create_default_context(cafile=str(self.ctx.pki.ca_file)), timeout=10
        )
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        r.raise_for_status()
        c.headers["X-CSRF-Token"] = r.headers["x-csrf-token"]
        return c

    def enrolled(self, directory: Path, kind: str) -> tuple[NodeState, Identity]:
        """A node of ``kind`` paired with a fresh pairing key, its state in ``directory``."""
        key = self.admin().post("/api/v1/pairing-keys", json={"max_uses": 20}).json()["pairing_key"]
        state = NodeState(directory)
        ident, _ = enroll(state, kind, Credentials(pairing_key=key))
        return state, ident


@pytest.fixture
def live_console(settings: Settings) -> Iterator[LiveConsole]:
    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port, "longpoll_seconds": 2.0})
    ctx, _ = prepare(settings)
    server = ServerThread(uvicorn_config(create_app(ctx), ctx, "127.0.0.1", port))
    server.start()
    try:
        yield LiveConsole(ctx, f"https://127.0.0.1:{port}", f"127.0.0.1:{port}")
    finally:
        server.stop()
        ctx.db.dispose()
