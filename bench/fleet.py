"""Fleet simulator: N agents and M sensors that really pair and check in against a console process.

    .venv/bin/python bench/fleet.py --agents 1000                     # SQLite, 1,000 agents + 200 sensors
    .venv/bin/python bench/fleet.py --agents 1000 --db postgresql     # a throw-away PostgreSQL (tests/pg.py)
    .venv/bin/python bench/fleet.py --agents 10000 --duration 120 --json out.json
    .venv/bin/python bench/fleet.py --plot docs/bench/fleet-latency.png a.json b.json  # needs matplotlib

The console runs as its own process (``python -m otwatch console run``, its file-descriptor limit
raised) so its CPU and memory are read from /proc. Every simulated node does what a real one does on
the wire: it generates an EC P-256 key and a CSR, enrols with the pairing key over a TLS connection
pinned to the console's fingerprint (``otwatch.wire.tls.pinned_context``, built once), then holds
its own mTLS keep-alive connection (one ``ssl.SSLContext`` with its own client certificate per node)
and checks in. The phases:

1. enrolment (pairing key, Auto-Approve on): nodes/s and enrolment latency;
2. connect: every node opens its mTLS connection and checks in; agents are then Pending Configuration;
3. configure: the admin saves a configuration for every agent (one PUT each, as the UI does), which
   wakes their long-polls; the run waits until the console lists every node as Connected;
4. steady (``--duration``): with ``--traffic node`` (the default) each node does what the real one
   does (``Fleet._node_step``): it holds a long-poll, and what it has to send rides on it. Every
   sensor sends its statistics (and a few alerts) on each long-poll; a share of the agents runs a
   scheduled scan (two progress check-ins without waiting, then the result with a few assets).
   ``--traffic probe`` instead sends one non-waiting check-in every ``--checkin-interval`` seconds
   per node (a heavier, synthetic load). An operator lists Disconnected agents and sensors every
   ``--status-every`` seconds;
5. verdict: Connected agents and sensors as the console lists them against those expected, nodes
   wrongly Disconnected (alive in the simulator, Disconnected on the console), console CPU and RSS.

The wire client is asyncio streams with a minimal HTTP/1.1 framing (keep-alive, Content-Length)
rather than httpx: at 10,000 connections httpx's per-request overhead would be charged to the same
two CPUs as the console (see docs/benchmarks.md, "Fleet", for the measurement behind the choice).
Only 127.0.0.1 is contacted; the console, PostgreSQL and the temporary directory are removed on exit,
on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script (bench/fleet.py) as well as python -m bench.fleet
    sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from otwatch.wire import pki  # noqa: E402
from otwatch.wire.pairing import PairingKey  # noqa: E402
from otwatch.wire.tls import pinned_context  # noqa: E402

ADMIN_PASSWORD = "fleet-bench-admin-1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536
ENGINES = ("Protocol Violation", "Policy Violation", "Anomaly")
SEVERITIES = ("Major", "Minor", "Warning")
SCAN_SECONDS = 1.5  # a simulated agent's scheduled scan


# -- process measurements from /proc -----------------------------------------------------------------
def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; the name may hold spaces


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (all its threads); with ``children``, plus its reaped children."""
    try:
        f = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / CLK_TCK


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) in kB and Threads."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(val.split()[0])
    except FileNotFoundError:
        pass
    return out


def socket_fds(pid: int) -> int:
    n = 0
    with contextlib.suppress(FileNotFoundError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    n += 1
    return n


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process and its live children (PostgreSQL: the postmaster and its backends)."""
    total = cpu_seconds(root, children=True)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                f = _stat_fields(int(entry))
                if int(f[1]) == root:
                    total += (int(f[11]) + int(f[12])) / CLK_TCK
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK  # minus idle and iowait


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE as far as allowed (root may raise the hard limit too); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in ((NOFILE, max(hard, NOFILE)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, want)
            return want[0]
        except (ValueError, OSError):
            continue
    return soft


def _raise_nofile_quietly() -> None:
    raise_nofile()


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


# -- a minimal HTTP/1.1 client over asyncio TLS streams ----------------------------------------------
MAX_BACKOFF = 60.0  # as NodeRuntime.max_backoff


class HTTPError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.retry_after: float | None = None
        try:
            error = json.loads(body)["error"]
            self.code = str(error["code"])
        except (ValueError, KeyError, TypeError):
            self.code = f"http_{status}"
            return
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.retry_after = float(error["details"]["retry_after"])  # as the Retry-After header


class Conn:
    """One keep-alive HTTP/1.1 connection; ``request`` reconnects when the connection was closed."""

    def __init__(self, host: str, port: int, ctx: ssl.SSLContext) -> None:
        self.host, self.port, self.ctx = host, port, ctx
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self.writer is not None and not self.writer.is_closing()

    async def open(self, timeout: float = 30.0) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ctx, ssl_handshake_timeout=timeout),
            timeout,
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes, timeout: float) -> bytes:
        if not self.is_open:
            await self.open()
        assert self.writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            self.writer.write(head.encode() + body)
            status, data, keep = await asyncio.wait_for(self._response(), timeout)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        if status >= 300:
            raise HTTPError(status, data)
        return data

    async def _response(self) -> tuple[int, bytes, bool]:
        assert self.reader is not None
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length, keep, chunked = 0, True, False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and "close" in value:
                keep = False
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
        if not chunked:
            return status, await self.reader.readexactly(length), keep
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return status, b"".join(p[:-2] for p in parts), keep


# -- the simulated fleet ---------------------------------------------------------------------------
@dataclass(eq=False)
class Node:
    idx: int
    kind: str
    install_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    node_id: str = ""
    ctx: ssl.SSLContext | None = None
    conn: Conn | None = None
    config_version: int = 0
    status: str = ""
    last_ok: float = 0.0
    checkins: int = 0
    report_due: bool = False
    report_at: float = 0.0  # --traffic node: when this agent's scheduled scan starts (monotonic)
    alerts_due: bool = False  # a sensor's next report carries alerts (the first one of the steady phase)
    failed: str | None = None
    configured_at: float = 0.0  # when the admin's PUT returned
    config_seen: float = 0.0  # when the configuration reached the node

    @property
    def hostname(self) -> str:
        return f"sim-{self.kind}-{self.idx:05d}"


@dataclass
class Stats:
    enroll_lat: list[float] = field(default_factory=list)
    probe_lat: list[float] = field(default_factory=list)
    probe_report_lat: list[float] = field(default_factory=list)
    lp_overhead: list[float] = field(default_factory=list)
    steady_checkins: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    handshakes: int = 0
    reconnects: int = 0
    scans_reported: int = 0
    alerts_reported: int = 0
    status_lists: list[float] = field(default_factory=list)
    woken_empty: int = 0  # long-polls that returned early with nothing for the node
    wrongly_disconnected_max: int = 0


def _assets(node: Node, count: int) -> list[dict[str, Any]]:
    out = []
    for j in range(count):
        n = node.idx * 8 + j
        out.append(
            {
                "ip": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
                "mac": "02:00:" + ":".join(f"{(n >> s) & 255:02x}" for s in (24, 16, 8, 0)),
                "vendor": "Siemens" if j % 2 else "Rockwell Automation",
                "model": "S7-1500" if j % 2 else "1756-L83E",
                "firmware": "V2.9.4" if j % 2 else "33.011",
                "device_type": "PLC",
                "protocols": ["s7comm"] if j % 2 else ["enip", "cip"],
                "open_ports": [102] if j % 2 else [44818],
            }
        )
    return out


def _alerts(node: Node, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "key": f"sim-{node.idx}-{j}",
            "code": f"SIM-{j:03d}",
            "engine": ENGINES[j % len(ENGINES)],
            "severity": SEVERITIES[j % len(SEVERITIES)],
            "title": f"Simulated alert {j} from {node.hostname}",
            "protocol": "modbus",
            "source_ip": f"10.200.{node.idx % 250}.{j + 1}",
            "destination_ip": f"10.201.{node.idx % 250}.{j + 1}",
            "first_seen": now,
            "last_seen": now,
            "count": 1 + j,
        }
        for j in range(count)
    ]


class Fleet:
    def __init__(self, args: argparse.Namespace, host: str, ports: list[int]) -> None:
        self.args, self.host, self.ports = args, host, ports
        self.stats = Stats()
        self.stop = asyncio.Event()
        self.measuring = False
        self.connect_sem = asyncio.Semaphore(args.connect_concurrency)
        self.nodes = [Node(i, "agent") for i in range(args.agents)]
        self.nodes += [Node(args.agents + i, "sensor") for i in range(args.sensors)]
        self.tasks: list[asyncio.Task[None]] = []

    def port(self, node: Node) -> int:
        """The console process this node talks to (--consoles: spread as a round-robin DNS name or a
        load balancer without stickiness would)."""
        return self.ports[node.idx % len(self.ports)]

    # ---------------------------------------------------------------- enrolment
    async def enroll_all(self, pairing_key: str, ca_pem: str, keydir: Path) -> None:
        key = PairingKey.decode(pairing_key)
        pinned = pinned_context(
            self.host, self.ports[0], key.fingerprint
        )  # built once; the consoles share it
        queue: asyncio.Queue[Node] = asyncio.Queue()
        for n in self.nodes:
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                node = queue.get_nowait()
                try:
                    await self._enroll(node, key, pinned, ca_pem, keydir)
                except Exception as exc:
                    node.failed = f"enrol: {exc}"
                    self.stats.errors[f"enrol {type(exc).__name__}"] += 1

        await asyncio.gather(*(worker() for _ in range(self.args.enroll_concurrency)))

    async def _enroll(
        self, node: Node, key: PairingKey, pinned: ssl.SSLContext, ca: str, keydir: Path
    ) -> None:
        priv = pki.generate_key()  # ~60 µs with the CSR: cheaper inline than through a process pool
        body = {
            "method": "pairing_key",
            "key_id": key.key_id,
            "secret": key.secret,
            "kind": node.kind,
            "install_id": node.install_id,
            "csr_pem": pki.csr_pem(pki.make_csr(priv, f"{node.kind}:{node.install_id}")),
            "hostname": node.hostname,
            "host_os": "Linux (fleet simulator)",
            "version": "0.1.0",
        }
        conn = Conn(self.host, self.port(node), pinned)  # a fresh TLS connection, as a real installer opens
        t0 = time.perf_counter()
        try:
            data = await conn.request("POST", "/api/v1/wire/enroll", json.dumps(body).encode(), 60.0)
        finally:
            conn.close()
        self.stats.enroll_lat.append(time.perf_counter() - t0)
        resp = json.loads(data)
        node.node_id = resp["node_id"]
        path = keydir / f"{node.idx}.pem"
        path.write_bytes(pki.key_pem(priv) + resp["certificate_pem"].encode())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # as otwatch.wire.tls.mtls_context: the private CA identifies the console
        ctx.load_verify_locations(cadata=ca)
        ctx.load_cert_chain(str(path))
        node.ctx = ctx

    # ---------------------------------------------------------------- check-ins
    def start(self) -> None:
        for n in self.nodes:
            if n.ctx is not None:
                self.tasks.append(asyncio.create_task(self._run(n)))

    async def shutdown(self) -> None:
        self.stop.set()
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for n in self.nodes:
            if n.conn is not None:
                n.conn.close()
        await asyncio.sleep(0.2)  # let the transports close

    def _body(self, node: Node, wait: float, report: bool, progress: dict[str, Any] | None) -> bytes:
        d: dict[str, Any] = {
            "client_time": datetime.now(UTC).isoformat(),
            "version": "0.1.0",
            "host_os": "Linux (fleet simulator)",
            "hostname": node.hostname,
            "config_version": node.config_version,
            "wait": wait,
        }
        if progress is not None:
            d["activity"], d["progress"] = "scanning", progress
        if report and node.kind == "sensor":
            d["reports"] = [
                {"id": uuid.uuid4().hex, "kind": "stats", "stats": {"packets": node.checkins * 1000}}
            ]
            if node.alerts_due:
                alerts = {"id": uuid.uuid4().hex, "kind": "alerts", "alerts": _alerts(node, self.args.alerts)}
                d["reports"].insert(0, alerts)
        elif report:
            assets = _assets(node, self.args.assets)
            d["results"] = [
                {
                    "id": f"sched-{uuid.uuid4().hex[:26]}",
                    "state": "done",
                    "result": {
                        "scheduled": True,
                        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "duration": SCAN_SECONDS,
                        "asset_count": len(assets),
                        "assets": assets,
                    },
                }
            ]
        return json.dumps(d).encode()

    async def _checkin(
        self, node: Node, wait: float, progress: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One check-in; ``progress``: the agent is scanning (it then never waits)."""
        assert node.conn is not None
        report = node.report_due and progress is None
        t0 = time.perf_counter()
        data = await node.conn.request(
            "POST", "/api/v1/wire/checkin", self._body(node, wait, report, progress), 60.0 + wait
        )
        elapsed = time.perf_counter() - t0
        resp: dict[str, Any] = json.loads(data)
        node.last_ok = time.monotonic()
        node.checkins += 1
        node.status = resp["status"]
        woken = resp.get("config") is not None or bool(resp.get("commands"))
        if resp.get("config") is not None:
            node.config_version = int(resp["config_version"])
            node.config_seen = node.config_seen or node.last_ok
        if report:
            node.report_due = False
            if node.kind == "sensor":
                if node.alerts_due:
                    self.stats.alerts_reported += self.args.alerts
                node.alerts_due = False
            else:
                self.stats.scans_reported += 1
        if wait and not woken and elapsed < min(wait, self.args.longpoll) - 0.05:
            self.stats.woken_empty += 1
        if self.measuring:
            self.stats.steady_checkins += 1
            if wait == 0 and self.args.traffic == "probe":
                (self.stats.probe_report_lat if report else self.stats.probe_lat).append(elapsed)
            elif wait == 0 and (report or progress is not None):
                self.stats.probe_report_lat.append(elapsed)
            elif not woken:
                granted = min(wait, self.args.longpoll)
                if elapsed >= granted:  # returned when the wait ran out: the rest is the console's work
                    (self.stats.probe_report_lat if report else self.stats.lp_overhead).append(
                        elapsed - granted
                    )
        return resp

    async def _run(self, node: Node) -> None:
        assert node.ctx is not None
        interval = self.args.checkin_interval
        next_probe: float | None = None
        failures = 0
        while not self.stop.is_set():
            try:
                if node.conn is None or not node.conn.is_open:
                    if node.conn is not None:
                        self.stats.reconnects += 1
                    node.conn = Conn(self.host, self.port(node), node.ctx)
                    async with self.connect_sem:
                        await node.conn.open()
                    self.stats.handshakes += 1
                now = time.monotonic()
                if self.args.traffic == "node":
                    await self._node_step(node, now)
                elif next_probe is None or now >= next_probe - 0.5:
                    await self._checkin(node, 0.0)
                    if next_probe is None:  # spread the probes evenly over the interval
                        next_probe = now + random.uniform(0.0, interval)
                    else:
                        next_probe = max(next_probe + interval, now + 1.0)
                else:
                    await self._checkin(node, round(min(next_probe - now, 60.0), 3))
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                code = exc.code if isinstance(exc, HTTPError) else type(exc).__name__
                phase = "steady" if self.measuring else ("connect" if not node.checkins else "set-up")
                self.stats.errors[f"check-in {code} ({phase})"] += 1
                # like the real node (wire/runtime.py): an error answer (e.g. 503 busy) keeps the
                # keep-alive connection; only a broken connection costs a new TLS handshake
                if node.conn is not None and not isinstance(exc, HTTPError):
                    node.conn.close()
                if isinstance(exc, HTTPError) and exc.code == "certificate_revoked":
                    node.failed = code
                    return
                failures += 1
                # the real node's back-off (wire/runtime.py retry_delay): jittered exponential, and
                # never sooner than a busy console's Retry-After
                delay = min(MAX_BACKOFF, 2.0 ** min(failures, 6)) * random.uniform(0.5, 1)
                if isinstance(exc, HTTPError) and exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_BACKOFF))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)

    async def _node_step(self, node: Node, now: float) -> None:
        """What the real node does (wire/runtime.py). Its first check-in does not wait; after that it
        long-polls, and what it has to send rides on the long-poll: a sensor's statistics (and alerts
        when it has new ones) on every one, since its reports queue up every 10 s while it waits. An
        agent whose scheduled scan starts says so at once (activity, no wait), reports progress once
        a second while it works, and sends the result on its next long-poll."""
        if not node.checkins:
            await self._checkin(node, 0.0)
            return
        if node.kind == "agent" and node.report_at and now >= node.report_at:
            node.report_at = 0.0
            await self._checkin(node, 0.0, progress={"percent": 0})
            await asyncio.sleep(1.0)
            await self._checkin(node, 0.0, progress={"percent": round(100 / SCAN_SECONDS)})
            await asyncio.sleep(SCAN_SECONDS - 1.0)
            node.report_due = True
            now = time.monotonic()
        wait = self.args.longpoll
        if node.report_at:
            wait = min(wait, max(0.5, node.report_at - now))
        await self._checkin(node, round(wait, 3))
        if node.kind == "sensor" and self.measuring:
            node.report_due = True

    def alive(self, within: float) -> list[Node]:
        now = time.monotonic()
        return [n for n in self.nodes if n.last_ok and now - n.last_ok <= within]


# -- the console, PostgreSQL and the admin API ---------------------------------------------------------
def start_console(data_dir: Path, port: int, db_url: str | None, log: str = "console.log") -> Any:
    """The console as its own process (tests/faults/procs.py), with a raised RLIMIT_NOFILE; its log
    is ``console.log`` next to the data directory."""
    from tests.faults.procs import ConsoleProc

    console = ConsoleProc(
        data_dir,
        db_url,
        port=port,
        preexec=_raise_nofile_quietly,
        longpoll_seconds="25",
        admin_password=ADMIN_PASSWORD,
    )
    console.log = data_dir.parent / log
    return console


def start_postgres() -> tuple[Any, str, int]:
    from sqlalchemy import create_engine, text
    from tests.pg import PostgresServer

    server = PostgresServer()
    base = server.start()
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text('CREATE DATABASE "otwatch"'))
    admin.dispose()
    postmaster = int((server.dir / "data" / "postmaster.pid").read_text().split()[0])
    return server, f"{base}/otwatch", postmaster


class Admin:
    def __init__(self, port: int, ca_file: Path) -> None:
        verify = ssl.create_default_context(cafile=str(ca_file))
        self.client = httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{port}",
            verify=verify,
            timeout=300,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    async def __aenter__(self) -> Admin:
        r = await self.client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()
        self.client.headers["X-CSRF-Token"] = r.headers["x-csrf-token"]
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.client.request(method, path, **kw)
        r.raise_for_status()
        return r.json() if r.content else None

    async def total(self, plural: str, status: str) -> int:
        page = await self.call("GET", f"/api/v1/{plural}", params={"status": status, "limit": 1})
        return int(page["total"])

    async def listed(self, plural: str, status: str) -> list[dict[str, Any]]:
        page = await self.call("GET", f"/api/v1/{plural}", params={"status": status, "limit": 1000})
        return list(page["items"])


# -- the run -------------------------------------------------------------------------------------------
class Profiler:
    """py-spy (if installed) recording the console during a phase, as collapsed stacks."""

    def __init__(self, prefix: Path | None, pid: int) -> None:
        self.prefix, self.pid = prefix, pid
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, phase: str, seconds: float) -> None:
        if self.prefix is None or not Path(self.exe).exists():
            return
        out = f"{self.prefix}-{phase}.txt"
        cmd = [self.exe, "record", "--pid", str(self.pid), "--format", "raw", "--output", out]
        cmd += [
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            "67",
            "--threads",
            "--gil",
            "--nonblocking",
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


class Meter:
    """CPU snapshots at phase boundaries and a 1-s sampler for peaks (console, PostgreSQL, simulator)."""

    def __init__(self, console_pids: list[int], pg_pid: int | None) -> None:
        self.console_pids, self.pg_pid = console_pids, pg_pid
        self.phases: dict[str, dict[str, float]] = {}
        self.peak_cpu = 0.0
        self.samples: list[tuple[float, float, int]] = []

    def snap(self) -> dict[str, float]:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "t": time.monotonic(),
            "console": self.console_cpu(),
            "pg": tree_cpu_seconds(self.pg_pid) if self.pg_pid else 0.0,
            "sim": ru.ru_utime + ru.ru_stime,
            "machine": machine_busy_seconds(),
        }

    async def sample(self, stop: asyncio.Event) -> None:
        prev = (time.monotonic(), self.console_cpu())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            now = (time.monotonic(), self.console_cpu())
            cpu = 100 * (now[1] - prev[1]) / max(1e-6, now[0] - prev[0])
            self.peak_cpu = max(self.peak_cpu, cpu)
            rss = sum(proc_status(pid).get("VmRSS", 0) for pid in self.console_pids)
            self.samples.append((now[0], cpu, rss))
            prev = now

    def console_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.console_pids)  # all console processes together

    def phase(self, name: str, start: dict[str, float]) -> dict[str, float]:
        end = self.snap()
        wall = end["t"] - start["t"]
        out = {"seconds": wall}
        for k in ("console", "pg", "sim", "machine"):
            out[f"{k}_cpu_pct"] = 100 * (end[k] - start[k]) / max(1e-6, wall)
        # anything else on the machine (another job would skew the figures: it is shown, not hidden)
        out["other_cpu_pct"] = max(
            0.0, out["machine_cpu_pct"] - out["console_cpu_pct"] - out["pg_cpu_pct"] - out["sim_cpu_pct"]
        )
        self.phases[name] = out
        return out


async def wait_connected(fleet: Fleet, admin: Admin, timeout: float) -> tuple[float, int, int]:
    """Seconds until the console lists every live agent and sensor as Connected (or the timeout)."""
    t0 = time.monotonic()
    want_a = sum(1 for n in fleet.nodes if n.kind == "agent" and n.ctx is not None and not n.failed)
    want_s = sum(1 for n in fleet.nodes if n.kind == "sensor" and n.ctx is not None and not n.failed)
    agents = sensors = 0
    while time.monotonic() - t0 < timeout:
        agents = await admin.total("agents", "Connected")
        sensors = await admin.total("sensors", "Connected")
        if agents >= want_a and sensors >= want_s:
            break
        await asyncio.sleep(2.0)
    return time.monotonic() - t0, agents, sensors


async def watch_disconnected(fleet: Fleet, admin: Admin, every: float) -> None:
    while not fleet.stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fleet.stop.wait(), every)
        if fleet.stop.is_set():
            return
        wrong = await count_wrongly_disconnected(fleet, admin)
        fleet.stats.wrongly_disconnected_max = max(fleet.stats.wrongly_disconnected_max, wrong)


async def count_wrongly_disconnected(fleet: Fleet, admin: Admin) -> int:
    """Nodes the console lists as Disconnected although they checked in within offline_after."""
    t0 = time.perf_counter()
    listed = await admin.listed("agents", "Disconnected") + await admin.listed("sensors", "Disconnected")
    fleet.stats.status_lists.append((time.perf_counter() - t0) / 2)
    alive = {n.node_id for n in fleet.alive(fleet.args.offline_after)}
    return sum(1 for item in listed if item["id"] in alive)


async def configure_agents(fleet: Fleet, admin: Admin) -> int:
    agents = [n for n in fleet.nodes if n.kind == "agent" and n.node_id]
    queue: asyncio.Queue[Node] = asyncio.Queue()
    for n in agents:
        queue.put_nowait(n)
    done = 0

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            n = queue.get_nowait()
            cidr = f"10.{(n.idx >> 8) & 255}.{n.idx & 255}.0/24"
            body = {"name": n.hostname, "active_query_networks": [cidr]}
            try:
                await admin.call("PUT", f"/api/v1/agents/{n.node_id}/configuration", json=body)
                n.configured_at = time.monotonic()
                done += 1
            except httpx.HTTPError as exc:
                fleet.stats.errors[f"configure {type(exc).__name__}"] += 1

    await asyncio.gather(*(worker() for _ in range(fleet.args.configure_concurrency)))
    return done


async def run(args: argparse.Namespace, tmp: Path, cleanup: list[Any]) -> dict[str, Any]:
    from tests.pg import free_port

    result: dict[str, Any] = {
        "agents": args.agents,
        "sensors": args.sensors,
        "db": args.db,
        "cpus": os.cpu_count(),
        "duration": args.duration,
        "checkin_interval": args.checkin_interval,
        "traffic": args.traffic,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
    pg_pid = None
    db_url = None
    if args.db == "postgresql":
        server, db_url, pg_pid = start_postgres()
        cleanup.append(server.stop)
    # --consoles N: N processes on one data directory (CA, keys) and one PostgreSQL, as
    # docs/deployment.md runs them; the first migrates and creates the CA, the others start on it
    consoles = []
    for i in range(args.consoles):
        c = start_console(
            tmp / "console", free_port(), db_url, "console.log" if i == 0 else f"console-{i}.log"
        )
        cleanup.insert(0, c.stop)  # the consoles go first, PostgreSQL after them
        c.start()
        consoles.append(c)
    console, port = consoles[0], consoles[0].port  # the operator's (admin API) console
    result["consoles"] = len(consoles)
    meter = Meter([c.pid for c in consoles], pg_pid)
    fleet = Fleet(args, "127.0.0.1", [c.port for c in consoles])
    sampler_stop = asyncio.Event()
    sampler = asyncio.create_task(meter.sample(sampler_stop))
    keydir = tmp / "nodes"
    keydir.mkdir()
    say = print if not args.quiet else (lambda *_a, **_k: None)
    try:
        async with Admin(port, tmp / "console" / "pki" / "ca.crt") as admin:
            await admin.call("PATCH", "/api/v1/fleet/settings", json={"auto_approve": True})
            await admin.call("POST", "/api/v1/networks", json={"cidr": "10.0.0.0/8", "description": "bench"})
            total = len(fleet.nodes)
            key = await admin.call(  # one key for the whole fleet (a key pairs max_uses nodes)
                "POST",
                "/api/v1/pairing-keys",
                json={"expires_days": 1, "description": "bench", "max_uses": max(1, total)},
            )
            ca_pem = (tmp / "console" / "pki" / "ca.crt").read_text()
            prof = Profiler(args.py_spy, console.pid)
            cleanup.insert(0, prof.stop)

            say(
                f"enrolling {total:,} nodes ({args.agents:,} agents, {args.sensors:,} sensors) ...",
                flush=True,
            )
            s = meter.snap()
            prof.start("enrol", 600)
            await fleet.enroll_all(key["pairing_key"], ca_pem, keydir)
            prof.stop()
            ph = meter.phase("enrol", s)
            enrolled = sum(1 for n in fleet.nodes if n.ctx is not None)
            result["enrolled"] = enrolled
            result["enroll_rate"] = enrolled / ph["seconds"]
            result["enroll_p50_ms"] = 1000 * (pct(fleet.stats.enroll_lat, 50) or 0)
            result["enroll_p99_ms"] = 1000 * (pct(fleet.stats.enroll_lat, 99) or 0)

            say(f"  {enrolled:,} enrolled at {result['enroll_rate']:.0f}/s; connecting ...", flush=True)
            s = meter.snap()
            fleet.start()
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.settle_timeout:
                if sum(1 for n in fleet.nodes if n.checkins) >= enrolled - sum(
                    1 for n in fleet.nodes if n.failed
                ):
                    break
                await asyncio.sleep(0.5)
            ph = meter.phase("connect", s)
            connected = sum(1 for n in fleet.nodes if n.checkins)
            result["connect_rate"] = connected / ph["seconds"]

            say(
                f"  {connected:,} checked in at {result['connect_rate']:.0f}/s; configuring agents ...",
                flush=True,
            )
            s = meter.snap()
            prof.start("configure", 600)
            configured = await configure_agents(fleet, admin)
            prof.stop()
            ph = meter.phase("configure", s)
            result["configured"] = configured
            result["configure_rate"] = configured / ph["seconds"]

            s = meter.snap()
            settle, agents_c, sensors_c = await wait_connected(fleet, admin, args.settle_timeout)
            meter.phase("settle", s)
            result["settle_s"] = settle
            conf = [n for n in fleet.nodes if n.configured_at]
            lag = [max(0.0, n.config_seen - n.configured_at) for n in conf if n.config_seen]
            result["config_lag_p50_ms"] = 1000 * (pct(lag, 50) or 0)
            result["config_lag_p99_ms"] = 1000 * (pct(lag, 99) or 0)
            result["config_missing"] = sum(1 for n in conf if not n.config_seen)
            say(
                f"  {configured:,} configured at {result['configure_rate']:.0f}/s; "
                f"all Connected after {settle:.0f} s ({agents_c:,} agents, {sensors_c:,} sensors); "
                f"steady phase {args.duration:.0f} s ...",
                flush=True,
            )

            agents = [n for n in fleet.nodes if n.kind == "agent"]
            rng = random.Random(1)
            start = time.monotonic()
            for n in rng.sample(agents, round(len(agents) * args.scan_share)):
                if args.traffic == "probe":
                    n.report_due = True  # with its first probe of the phase
                else:  # scheduled scans finish at random times, not all at once
                    n.report_at = start + rng.uniform(0.0, 0.8 * args.duration)
            for n in fleet.nodes:
                if n.kind == "sensor":
                    n.report_due = n.alerts_due = True
            fleet.measuring = True
            watcher = asyncio.create_task(watch_disconnected(fleet, admin, args.status_every))
            s = meter.snap()
            load_before = os.getloadavg()[0]
            prof.start("steady", args.duration)
            await asyncio.sleep(args.duration)
            prof.stop()
            ph = meter.phase("steady", s)
            fleet.measuring = False
            result["steady_checkins_per_s"] = fleet.stats.steady_checkins / ph["seconds"]
            # the machine is shared: how busy it was (1-minute load average) around the steady phase
            result["loadavg_steady"] = [load_before, os.getloadavg()[0]]
            if fleet.stats.steady_checkins:  # console CPU-milliseconds per check-in (status lists included)
                result["console_cpu_ms_per_checkin"] = (
                    10 * ph["console_cpu_pct"] / result["steady_checkins_per_s"]
                )

            # the verdict, while every node is still checking in
            result["held_client"] = sum(
                1 for n in fleet.alive(args.offline_after) if n.conn and n.conn.is_open
            )
            result["console_sockets"] = sum(socket_fds(c.pid) for c in consoles)
            sts = [proc_status(c.pid) for c in consoles]
            result["console_rss_mb"] = sum(st.get("VmRSS", 0) for st in sts) / 1024  # all processes
            result["console_peak_rss_mb"] = sum(st.get("VmHWM", 0) for st in sts) / 1024
            result["console_threads"] = sum(st.get("Threads", 0) for st in sts)
            result["connected_agents"] = await admin.total("agents", "Connected")
            result["connected_sensors"] = await admin.total("sensors", "Connected")
            result["expected_agents"] = sum(1 for n in agents if n.ctx is not None and not n.failed)
            result["expected_sensors"] = sum(
                1 for n in fleet.nodes if n.kind == "sensor" and n.ctx and not n.failed
            )
            result["disconnected_agents"] = await admin.total("agents", "Disconnected")
            result["disconnected_sensors"] = await admin.total("sensors", "Disconnected")
            wrong = await count_wrongly_disconnected(fleet, admin)
            fleet.stats.wrongly_disconnected_max = max(fleet.stats.wrongly_disconnected_max, wrong)
            fleet.stop.set()
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    finally:
        await fleet.shutdown()
        sampler_stop.set()
        await sampler
    stats = fleet.stats
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # the headline latency: the probes' (--traffic probe), or every check-in's own cost as a real node
    # sees it (--traffic node): reports' round trips and what a long-poll took beyond its wait
    lat = stats.probe_lat if args.traffic == "probe" else stats.probe_report_lat + stats.lp_overhead
    result.update(
        {
            "checkin_n": len(lat),
            "checkin_p50_ms": 1000 * (pct(lat, 50) or 0),
            "checkin_p90_ms": 1000 * (pct(lat, 90) or 0),
            "checkin_p99_ms": 1000 * (pct(lat, 99) or 0),
            "checkin_max_ms": 1000 * (max(lat, default=0)),
            "phases": meter.phases,
            "probe_n": len(stats.probe_lat),
            "probe_p50_ms": 1000 * (pct(stats.probe_lat, 50) or 0),
            "probe_p90_ms": 1000 * (pct(stats.probe_lat, 90) or 0),
            "probe_p99_ms": 1000 * (pct(stats.probe_lat, 99) or 0),
            "probe_max_ms": 1000 * (max(stats.probe_lat, default=0)),
            "report_n": len(stats.probe_report_lat),
            "report_p50_ms": 1000 * (pct(stats.probe_report_lat, 50) or 0),
            "report_p99_ms": 1000 * (pct(stats.probe_report_lat, 99) or 0),
            "longpoll_n": len(stats.lp_overhead),
            "longpoll_overhead_p50_ms": 1000 * (pct(stats.lp_overhead, 50) or 0),
            "longpoll_overhead_p99_ms": 1000 * (pct(stats.lp_overhead, 99) or 0),
            "status_list_ms": 1000 * (max(stats.status_lists, default=0)),
            "wrongly_disconnected": stats.wrongly_disconnected_max,
            "scans_reported": stats.scans_reported,
            "alerts_reported": stats.alerts_reported,
            "handshakes": stats.handshakes,
            "woken_empty": stats.woken_empty,
            "reconnects": stats.reconnects,
            "errors": dict(stats.errors),
            "console_peak_cpu_pct": meter.peak_cpu,
            "sim_peak_rss_mb": ru.ru_maxrss / 1024,
            "console_cpu_timeline": [
                (round(t - meter.samples[0][0], 1), round(c), r // 1024) for t, c, r in meter.samples
            ]
            if meter.samples
            else [],
        }
    )
    return result


# -- reporting -----------------------------------------------------------------------------------------
def goal(r: dict[str, Any]) -> tuple[bool, str]:
    connected = r["connected_agents"] + r["connected_sensors"]
    expected = r["expected_agents"] + r["expected_sensors"]
    ok = (
        connected == expected
        and _p99(r) < 250
        and r["wrongly_disconnected"] == 0
        and r["enrolled"] == r["agents"] + r["sensors"]
    )
    return (
        ok,
        f"{connected:,}/{expected:,} Connected, p99 {_p99(r):.0f} ms, {r['wrongly_disconnected']} wrongly Disconnected",
    )


def _p99(r: dict[str, Any]) -> float:
    return float(r.get("checkin_p99_ms", r.get("probe_p99_ms", 0.0)))  # runs before --traffic: probes


def print_table(r: dict[str, Any]) -> None:
    from rich.console import Console as RichConsole
    from rich.table import Table

    ph = r["phases"]
    nodes = r["agents"] + r["sensors"]
    procs = r.get("consoles", 1)
    t = Table(
        title=f"Fleet: {r['agents']:,} agents + {r['sensors']:,} sensors, {r['db']}, "
        f"{procs} console process{'es' if procs > 1 else ''}, {r.get('traffic', 'probe')} traffic, {r['cpus']} CPUs"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_column("console CPU %", justify="right")
    t.add_column("simulator CPU %", justify="right")
    if r["db"] == "postgresql":
        t.add_column("PostgreSQL CPU %", justify="right")
    t.add_column("other processes CPU %", justify="right")

    def row(name: str, value: str, phase: str | None = None) -> None:
        p = ph.get(phase or "", {})
        cells = [name, value]
        cells += [f"{p[k]:.0f}" if p else "" for k in ("console_cpu_pct", "sim_cpu_pct")]
        if r["db"] == "postgresql":
            cells.append(f"{p['pg_cpu_pct']:.0f}" if p else "")
        cells.append(f"{p['other_cpu_pct']:.0f}" if p and "other_cpu_pct" in p else "")
        t.add_row(*cells)

    row("enrolment", f"{r['enrolled']:,}/{nodes:,} at {r['enroll_rate']:.0f} nodes/s", "enrol")
    row("  enrolment latency p50 / p99", f"{r['enroll_p50_ms']:.0f} / {r['enroll_p99_ms']:.0f} ms")
    row("connect (mTLS + first check-in)", f"{r['connect_rate']:.0f} nodes/s", "connect")
    row("configure agents (PUT each)", f"{r['configured']:,} at {r['configure_rate']:.0f}/s", "configure")
    row(
        "  configuration reaches agent p50 / p99",
        f"{r['config_lag_p50_ms']:.0f} / {r['config_lag_p99_ms']:.0f} ms ({r['config_missing']} never)",
    )
    row("until all listed Connected", f"{r['settle_s']:.0f} s", "settle")
    row(
        f"steady phase ({r['duration']:.0f} s), check-ins/s",
        f"{r['steady_checkins_per_s']:.0f}",
        "steady",
    )
    if r.get("traffic", "probe") == "node":
        row(
            "  check-in p50 / p90 / p99 / max (reports + long-poll overhead)",
            f"{r['checkin_p50_ms']:.0f} / {r['checkin_p90_ms']:.0f} / {r['checkin_p99_ms']:.0f} / "
            f"{r['checkin_max_ms']:.0f} ms (n={r['checkin_n']:,})",
        )
    else:
        row(
            "  check-in wait=0 p50 / p90 / p99 / max",
            f"{r['probe_p50_ms']:.0f} / {r['probe_p90_ms']:.0f} / {r['probe_p99_ms']:.0f} / "
            f"{r['probe_max_ms']:.0f} ms (n={r['probe_n']:,})",
        )
    row(
        "  check-in with scan/alerts p50 / p99",
        f"{r['report_p50_ms']:.0f} / {r['report_p99_ms']:.0f} ms (n={r['report_n']:,})",
    )
    row(
        "  long-poll overhead p50 / p99",
        f"{r['longpoll_overhead_p50_ms']:.0f} / {r['longpoll_overhead_p99_ms']:.0f} ms (n={r['longpoll_n']:,})",
    )
    row("  status list (Disconnected), slowest", f"{r['status_list_ms']:.0f} ms")
    row("held connected (client side)", f"{r['held_client']:,} ({r['console_sockets']:,} console sockets)")
    row("agents Connected / expected", f"{r['connected_agents']:,} / {r['expected_agents']:,}")
    row("sensors Connected / expected", f"{r['connected_sensors']:,} / {r['expected_sensors']:,}")
    row(
        "Disconnected (agents, sensors); wrongly",
        f"{r['disconnected_agents']}, {r['disconnected_sensors']}; {r['wrongly_disconnected']}",
    )
    row("console RSS now / peak", f"{r['console_rss_mb']:.0f} / {r['console_peak_rss_mb']:.0f} MB")
    row("console CPU peak (1 s)", f"{r['console_peak_cpu_pct']:.0f} %")
    row("simulator peak RSS", f"{r['sim_peak_rss_mb']:.0f} MB")
    row("reported", f"{r['scans_reported']:,} scans, {r['alerts_reported']:,} alerts")
    row("handshakes, reconnects", f"{r['handshakes']:,}, {r['reconnects']:,}")
    row("long-polls woken with nothing to deliver", f"{r['woken_empty']:,}")
    row("errors", ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none")
    if "console_cpu_ms_per_checkin" in r:
        row("console CPU per steady check-in", f"{r['console_cpu_ms_per_checkin']:.1f} ms")
    if "loadavg_steady" in r:
        row("machine load average (steady start, end)", " / ".join(f"{x:.1f}" for x in r["loadavg_steady"]))
    out = RichConsole(width=max(130, shutil.get_terminal_size().columns))
    out.print(t)
    ok, text = goal(r)
    out.print(
        f"goal (every node Connected, p99 < 250 ms, none wrongly Disconnected): {'met' if ok else 'NOT met'}: {text}"
    )


def plot(out: Path, files: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(f.read_text()) for f in files]
    fig, ax = plt.subplots(figsize=(7, 4.2))

    def lat(r: dict[str, Any], p: str) -> float:
        return float(r.get(f"checkin_{p}_ms", r.get(f"probe_{p}_ms", 0.0)))

    for db, style in (("sqlite", "o-"), ("postgresql", "s--")):
        for traffic in ("node", "probe"):
            # runs that never reached the steady phase (overloaded) have no latency to plot
            rs = sorted(
                (
                    r
                    for r in runs
                    if r["db"] == db and r.get("traffic", "probe") == traffic and "probe_p99_ms" in r
                ),
                key=lambda r: r["agents"],
            )
            if not rs:
                continue
            xs = [r["agents"] + r["sensors"] for r in rs]
            label = f"{db}, {'real node traffic' if traffic == 'node' else '+ probes (2x load)'}"
            if max(r.get("consoles", 1) for r in rs) > 1:
                label += f", {max(r.get('consoles', 1) for r in rs)} consoles"
            ax.plot(xs, [lat(r, "p50") for r in rs], style, label=f"{label} p50", alpha=0.5)
            ax.plot(xs, [lat(r, "p99") for r in rs], style, label=f"{label} p99")
            for x, r in zip(xs, rs, strict=True):  # an overloaded run's latency is only of those served
                connected = r.get("connected_agents", 0) + r.get("connected_sensors", 0)
                if connected < x:
                    ax.annotate(f"only {connected:,}/{x:,} Connected", (x, lat(r, "p99")),
                                textcoords="offset points", xytext=(-120, -14), fontsize=7)  # fmt: skip
    ax.axhline(250, color="red", linewidth=0.8, linestyle=":", label="goal: p99 250 ms")
    ax.set_xlabel("simulated nodes (agents + sensors)")
    ax.set_ylabel("check-in latency beyond its wait (ms)")
    ax.set_yscale("log")
    ax.set_title("OTWatch console, 2 CPUs: check-in latency vs fleet size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=1000, help="simulated agents (default 1000)")
    parser.add_argument("--sensors", type=int, help="simulated sensors (default 20%% of --agents)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--consoles",
        type=int,
        default=1,
        help="console processes sharing the data directory and the database (more than 1: PostgreSQL)",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="steady phase, seconds (default 60)")
    parser.add_argument(
        "--traffic",
        choices=("node", "probe"),
        default="node",
        help="node: what the real agent and sensor send (long-polls; reports when due); probe: also a "
        "wait=0 check-in from every node every --checkin-interval, twice a real node's idle load",
    )
    parser.add_argument(
        "--checkin-interval",
        type=float,
        default=25.0,
        help="seconds between a node's non-waiting check-ins; long-polls in between (default 25)",
    )
    parser.add_argument(
        "--longpoll", type=float, default=25.0, help="the console's long-poll cap (its default)"
    )
    parser.add_argument("--offline-after", type=float, default=90.0, help="the console's offline_after")
    parser.add_argument(
        "--scan-share", type=float, default=0.25, help="agents reporting a scan (default 0.25)"
    )
    parser.add_argument("--assets", type=int, default=5, help="assets per reported scan")
    parser.add_argument("--alerts", type=int, default=3, help="alerts per sensor")
    parser.add_argument("--enroll-concurrency", type=int, default=16)
    parser.add_argument("--connect-concurrency", type=int, default=64, help="TLS handshakes in flight")
    parser.add_argument("--configure-concurrency", type=int, default=8)
    parser.add_argument("--status-every", type=float, default=20.0, help="operator's Disconnected list, s")
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep-log", type=Path, help="copy the console's log here")
    parser.add_argument("--py-spy", type=Path, help="record the console with py-spy: PREFIX-enrol.txt, ...")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--plot", type=Path, help="plot p50/p99 vs N from the --json files given as arguments"
    )
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plot:
        plot(args.plot, args.files)
        return 0
    if args.sensors is None:
        args.sensors = round(args.agents * 0.2)
    if args.consoles < 1 or (args.consoles > 1 and args.db != "postgresql"):
        parser.error("--consoles N needs N >= 1, and PostgreSQL (--db postgresql) for more than one")
    raise_nofile()

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix="otwatch-fleet-"))
    cleanup: list[Any] = []
    try:
        try:
            import uvloop

            result = uvloop.run(run(args, tmp, cleanup))
        except ImportError:
            result = asyncio.run(run(args, tmp, cleanup))
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if args.keep_log and (tmp / "console.log").exists():
            shutil.copy(tmp / "console.log", args.keep_log)
        for fn in cleanup:
            with contextlib.suppress(Exception):
                fn()
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
