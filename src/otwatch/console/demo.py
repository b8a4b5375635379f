"""``make run``: the console on SQLite with a demo fleet paired through the real flow.

- Simulated devices (a pymodbus PLC with identity, a python-snap7 S7 CPU) on loopback addresses.
- A real agent process, installed with a pairing key, approved automatically, configured to scan
  those devices, and asked to Scan Now: its statuses move in the console as they would in a plant.
- A real sensor process replaying a generated plant capture (with an incident in its last minute)
  in a loop: assets, alerts with PCAPs, and traffic statistics arrive in the console.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from rich.console import Console

from otwatch.console import devsim
from otwatch.console.app import create_app
from otwatch.console.bootstrap import prepare
from otwatch.console.config import Settings
from otwatch.console.context import ConsoleContext
from otwatch.console.errors import APIError
from otwatch.console.fleet import commands, configuration, nodes, pairing
from otwatch.console.fleet.models import Node
from otwatch.console.fleet.schemas import AgentConfigIn
from otwatch.console.networks.models import MonitoredNetwork
from otwatch.console.server import PortBusy, ServerThread, check_port, uvicorn_config
from otwatch.console.settings import service as settings_service

out = Console(soft_wrap=True)

DEVICE_NET = "127.0.0.48/29"
MODBUS_IDENTITY = {
    "VendorName": "Schneider Electric",
    "ProductCode": "BMX P34 2020",
    "MajorMinorRevision": "v3.10",
    "ProductName": "Modicon M340",
    "ModelName": "BMX P34",
}
MODBUS = ("127.0.0.51", 15020)
S7 = ("127.0.0.52", 11102)
DEFAULT_PORT = 8443


def _device_ports(console_port: int) -> tuple[int, int]:
    """The simulators' ports: the usual ones for the default console port, shifted with it so a second
    demo (``make run PORT=8444``) runs beside the first."""
    shift = console_port - DEFAULT_PORT if 0 < console_port - DEFAULT_PORT < 1000 else 0
    if console_port != DEFAULT_PORT and not shift:
        shift = console_port % 1000
    return MODBUS[1] + shift, S7[1] + shift


def _sensor_console_port(host: str, console_port: int) -> int:
    """The demo sensor's own console: the console's port + 100 (8543 beside 8443), or any free port."""
    wanted = console_port + 100
    try:
        check_port(host, wanted)
        return wanted
    except PortBusy:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same orderly stop as Ctrl-C


def _otwatch(*args: str) -> list[str]:
    return [sys.executable, "-P", "-m", "otwatch", *args]  # -P: nothing from the working directory


def _seed(ctx: ConsoleContext, kind: str) -> str:
    """A single-use pairing key for the demo's ``kind`` node (keys are bound to a kind)."""
    with ctx.db.session() as db:
        if db.query(MonitoredNetwork).filter_by(cidr="127.0.0.0/8").first() is None:
            db.add(MonitoredNetwork(cidr="127.0.0.0/8", description="demo: loopback plant"))
        settings_service.put(db, "auto_approve", True)
        _, key = pairing.create_pairing_key(db, ctx, "demo", None, 1, f"demo {kind}", kind=kind)
    return key


def _configure_when_enrolled(ctx: ConsoleContext, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with ctx.db.session() as db:
            node = db.query(Node).filter_by(kind="agent").first()
            if node is not None and node.configured_at is None:
                cfg = AgentConfigIn(name="demo-gateway", active_query_networks=[DEVICE_NET])
                configuration.configure(db, ctx, "demo", node, cfg)
                return
            if node is not None:
                return
        time.sleep(0.5)


def _scan_when_connected(ctx: ConsoleContext, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with ctx.db.session() as db:
            node = db.query(Node).filter_by(kind="agent").first()
            if node is not None and nodes.status_of(ctx, node).value == "Connected":
                with contextlib.suppress(APIError):  # already scanning: fine
                    commands.scan_now(db, ctx, "demo", node)
                return
        time.sleep(0.5)


def _banner(ctx: ConsoleContext, settings: Settings, pw: str | None) -> None:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    out.print(f"[bold green]OTWatch console (demo)[/] at https://{host}:{settings.port}/")
    out.print(f"  API docs: https://{host}:{settings.port}/docs   database: SQLite in {settings.data_dir}")
    out.print(f"  certificate fingerprint (SHA-256): {ctx.pki.fingerprint}")
    if pw:  # on a terminal only (otwatch.ui.passwords.reveal_generated)
        from otwatch.ui.passwords import reveal_generated

        out.print(f"  sign in: {reveal_generated('admin', pw, settings.data_dir)}", highlight=False)
    else:
        out.print("  sign in as admin (password from the first run, or set OTWATCH_ADMIN_PASSWORD)")


def _sensor_password_hint(first: Path, is_new: bool, alive: Callable[[], bool], timeout: float = 30) -> str:
    """How to sign in to the sensor's own console. On a first run the sensor writes its generated
    password a moment after it starts: wait for the file, or the banner would send the user to a
    "first run" that is this one."""
    end = time.monotonic() + timeout
    while is_new and not first.exists() and alive() and time.monotonic() < end:
        time.sleep(0.2)
    return f"its first password is in {first})" if first.exists() else "password from the first run)"


def _import_advisories(ctx: ConsoleContext, paths: list[Path]) -> None:
    """Import CSAF advisories beside the running demo; the assets the agent finds are matched as
    they arrive, those already found once the import ends."""
    from otwatch.console.vulnerabilities.service import advisory_files, import_files

    with ctx.db.session() as db:
        report = import_files(db, advisory_files(paths))
    out.print(
        f"  advisories: {report.added} imported, {len(report.failed)} failed; "
        f"{report.new_matches} asset matches (Vulnerabilities page)",
        highlight=False,
    )


def run_demo(settings: Settings, advisories: list[Path] | None = None) -> None:
    check_port(settings.host, settings.port)
    devsim.die_with_parent()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    modbus_port, s7_port = _device_ports(settings.port)
    sensor_port = _sensor_console_port(settings.host, settings.port)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    ctx, pw = prepare(settings)
    server = ServerThread(uvicorn_config(create_app(ctx), ctx, settings.host, settings.port, "warning"))
    server.start()
    _banner(ctx, settings, pw)
    if advisories:
        threading.Thread(target=_import_advisories, args=(ctx, advisories), daemon=True).start()
    data = Path(settings.data_dir)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        try:
            sim = data / "devices"
            stack.enter_context(devsim.modbus_peer(MODBUS[0], modbus_port, MODBUS_IDENTITY, sim))
            stack.enter_context(devsim.s7_peer(S7[0], s7_port, sim))
            out.print(f"  simulated devices: Modbus PLC {MODBUS[0]}:{modbus_port}, S7 CPU {S7[0]}:{s7_port}")
            capture = data / "plant.pcap"
            if not capture.exists():
                subprocess.run(
                    _otwatch("sensor", "synth", "-o", str(capture), "--minutes", "10"), check=True, env=env
                )
            for kind in ("agent", "sensor"):
                base = data / kind
                if not (base / "state" / "identity.json").exists():
                    key = _seed(ctx, kind)
                    subprocess.run(
                        _otwatch(kind, "install", "--install-base", str(base), "--pairing-key", key),
                        check=True,
                        env=env,
                    )
            runs = {
                "agent": _otwatch("agent", "run", "--install-base", str(data / "agent"), "--longpoll", "5",
                                  "--port-map", f"modbus={modbus_port},s7comm={s7_port}"),
                "sensor": _otwatch("sensor", "run", "--install-base", str(data / "sensor"), "--pcap", str(capture),
                                   "--loop", "--speed", "20", "--report-every", "5", "--longpoll", "5",
                                   "--console-host", settings.host, "--console-port", str(sensor_port)),
            }  # fmt: skip
            first = data / "sensor" / "state" / "local" / "generated-password-admin"
            sensor_is_new = not (first.parent / "users.json").exists()
            for kind, cmd in runs.items():
                log = stack.enter_context(open(data / kind / f"{kind}.log", "ab"))
                procs.append(
                    subprocess.Popen(cmd, stdout=log, stderr=log, env=env, preexec_fn=devsim.owned())
                )
            out.print(
                f"  agent and sensor running (logs: {data}/agent, {data}/sensor); Ctrl-C (or closing this "
                "terminal, or kill) stops everything"
            )
            out.print(
                f"  the sensor's own console: https://{host}:{sensor_port}/ (user admin; "
                + _sensor_password_hint(first, sensor_is_new, lambda: all(p.poll() is None for p in procs)),
                highlight=False,
            )
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
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
            server.stop()
