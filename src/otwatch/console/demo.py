"""``make run``: the console on SQLite with a demo fleet paired through the real flow.

A real agent process is installed with a pairing key, approved automatically, configured to scan
the loopback network, and asked to Scan Now, so its statuses move in the console as they would
in a plant.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import APIError
from otwatch.console.fleet import service
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.schemas import AgentConfigIn
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.server import ServerThread, uvicorn_config
from otwatch.console.settings import service as settings_service

out = Console()


def _otwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "otwatch", *args]


def _seed(ctx: ConsoleContext) -> str:
    with ctx.db.session() as db:
        if db.query(MonitoredNetwork).filter_by(cidr="127.0.0.0/8").first() is None:
            db.add(MonitoredNetwork(cidr="127.0.0.0/8", description="demo: loopback plant"))
        settings_service.put(db, "auto_approve", True)
        _, key = service.create_pairing_key(db, ctx, "demo", None, 1, "demo agent")
    return key


def _configure_when_enrolled(ctx: ConsoleContext, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with ctx.db.session() as db:
            node = db.query(Node).filter_by(kind="agent").first()
            if node is not None and node.configured_at is None:
                cfg = AgentConfigIn(name="demo-gateway", active_query_networks=["127.0.0.1/32"])
                service.configure(db, ctx, "demo", node, cfg)
                return
            if node is not None:
                return
        time.sleep(0.5)


def _scan_when_connected(ctx: ConsoleContext, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with ctx.db.session() as db:
            node = db.query(Node).filter_by(kind="agent").first()
            if node is not None and service.status_of(ctx, node).value == "Connected":
                with contextlib.suppress(APIError):
                    service.scan_now(db, ctx, "demo", node)
                return
        time.sleep(0.5)


def run_demo(settings: Settings) -> None:
    ctx, pw = prepare(settings)
    server = ServerThread(uvicorn_config(create_app(ctx), ctx, settings.host, settings.port, "warning"))
    server.start()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    out.print(f"[bold green]OTWatch console (demo)[/] at https://{host}:{settings.port}/")
    out.print(f"  API docs: https://{host}:{settings.port}/docs   database: SQLite in {settings.data_dir}")
    out.print(f"  certificate fingerprint (SHA-256): {ctx.pki.fingerprint}")
    if pw:
        out.print(f"  sign in as [bold]admin[/] with the one-time password [bold]{pw}[/]")
    else:
        out.print("  sign in as admin (password from the first run or OTWATCH_ADMIN_PASSWORD)")
    base = Path(settings.data_dir) / "agent"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if not (base / "state" / "identity.json").exists():
            key = _seed(ctx)
            subprocess.run(
                _otwatch("agent", "install", "--install-base", str(base), "--pairing-key", key),
                check=True,
                env=env,
            )
        log = open(base / "agent.log", "ab")  # noqa: SIM115 - kept open for the child's lifetime
        procs.append(
            subprocess.Popen(
                _otwatch("agent", "run", "--install-base", str(base)), stdout=log, stderr=log, env=env
            )
        )
        out.print(f"  demo agent running (log: {base / 'agent.log'}); Ctrl-C stops everything")
        _configure_when_enrolled(ctx)
        _scan_when_connected(ctx)
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        out.print("[red]a demo process stopped; see its log[/]")
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        server.stop()
