"""Real console processes and a minimal real node (enrolment + mTLS check-ins) on 127.0.0.1.

Shared by the scale-out test (two consoles on one PostgreSQL) and the fault tests (kill -9, restarts).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from otwatch.wire import pki
from otwatch.wire.pairing import PairingKey
from tests.conftest import ADMIN_PASSWORD, REPO
from tests.pg import free_port


class ConsoleProc:
    """``python -m otwatch console run`` in its own process (so it can be killed for real)."""

    def __init__(
        self,
        data_dir: Path,
        db_url: str | None = None,
        port: int | None = None,
        preexec: Callable[[], None] | None = None,
        **env: str,
    ) -> None:
        self.data_dir = data_dir
        self.preexec = preexec
        self.port = port or free_port()
        self.log = data_dir.parent / f"console-{self.port}.log"
        self.env = {
            **os.environ,
            "OTWATCH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "OTWATCH_LONGPOLL_SECONDS": "20",
            **{f"OTWATCH_{k.upper()}": v for k, v in env.items()},
        }
        self.env.pop("OTWATCH_DATABASE_URL", None)
        if db_url:
            self.env["OTWATCH_DATABASE_URL"] = db_url
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"

    def start(self, timeout: float = 60.0) -> ConsoleProc:
        cmd = [sys.executable, "-m", "otwatch", "console", "run", "--data-dir", str(self.data_dir)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, preexec_fn=self.preexec
            )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"console exited ({self.proc.returncode}):\n{self.tail()}")
            if self.ca_file.exists():
                try:
                    r = httpx.get(f"{self.url}/api/v1/health", verify=self.verify(), timeout=2)
                    if r.status_code == 200:
                        return self
                except (httpx.HTTPError, ssl.SSLError, OSError):
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"console did not start:\n{self.tail()}")

    def verify(self) -> ssl.SSLContext:
        c = ssl.create_default_context(cafile=str(self.ca_file))
        c.check_hostname = False
        return c

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def admin(self) -> httpx.Client:
        c = httpx.Client(base_url=self.url, verify=self.verify(), timeout=30)
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        r.raise_for_status()
        if r.headers.get("x-csrf-token"):
            c.headers["X-CSRF-Token"] = r.headers["x-csrf-token"]
        return c


def pairing_key(admin: httpx.Client) -> str:
    r = admin.post("/api/v1/pairing-keys", json={"max_uses": 20, "description": "test", "expires_days": 1})
    assert r.status_code == 201, r.text
    return str(r.json()["pairing_key"])


class Node:
    """A real node: EC key + CSR, enrolment with the pairing key, check-ins over mTLS."""

    def __init__(self, workdir: Path, kind: str = "agent") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kind = kind
        self.key = pki.generate_key()
        self.install_id = uuid.uuid4().hex
        self.node_id = ""
        self.config_version = 0
        self._clients: dict[str, httpx.Client] = {}

    def enroll(self, console: ConsoleProc, key: str) -> None:
        k = PairingKey.decode(key)
        body = {
            "method": "pairing_key",
            "kind": self.kind,
            "install_id": self.install_id,
            "csr_pem": pki.csr_pem(pki.make_csr(self.key, "t")),
            "hostname": f"host-{self.install_id[:6]}",
            "host_os": "Linux test",
            "version": "0.1.0",
            "engine_version": "1.0",
            "key_id": k.key_id,
            "secret": k.secret,
        }
        r = httpx.post(f"{console.url}/api/v1/wire/enroll", json=body, verify=console.verify(), timeout=30)
        assert r.status_code == 200, r.text
        data = r.json()
        self.node_id = data["node_id"]
        (self.dir / "node.crt").write_text(data["certificate_pem"])
        (self.dir / "node.key").write_bytes(pki.key_pem(self.key))

    def client(self, console: ConsoleProc) -> httpx.Client:
        if console.url not in self._clients:
            v = console.verify()
            v.load_cert_chain(str(self.dir / "node.crt"), str(self.dir / "node.key"))
            self._clients[console.url] = httpx.Client(base_url=console.url, verify=v, timeout=60)
        return self._clients[console.url]

    def checkin_raw(self, console: ConsoleProc, **over: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "client_time": datetime.now(UTC).isoformat(),
            "config_version": self.config_version,
        }
        body.update(over)
        r = self.client(console).post("/api/v1/wire/checkin", json=body)
        if r.status_code == 200 and r.json().get("config") is not None:
            self.config_version = r.json()["config_version"]
        return r

    def checkin(self, console: ConsoleProc, **over: Any) -> dict[str, Any]:
        r = self.checkin_raw(console, **over)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()


def connected_agent(admin: httpx.Client, console: ConsoleProc, workdir: Path) -> Node:
    """Enrolled (auto-approve on), configured and Connected through ``console``."""
    admin.patch("/api/v1/fleet/settings", json={"auto_approve": True}).raise_for_status()
    r = admin.post("/api/v1/networks", json={"cidr": "10.20.0.0/16"})
    assert r.status_code in (201, 409), r.text
    node = Node(workdir)
    node.enroll(console, pairing_key(admin))
    cfg = {"name": "gw", "active_query_networks": ["10.20.1.0/24"]}
    r = admin.put(f"/api/v1/agents/{node.node_id}/configuration", json=cfg)
    assert r.status_code == 200, r.text
    node.checkin(console)  # takes the configuration
    assert node.checkin(console)["status"] == "Connected"  # acknowledges it
    return node
