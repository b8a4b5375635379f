"""Device simulators: real protocol servers from PyPI (pymodbus, python-snap7, snmpsim) started as
processes on a 127.0.0.x address and always cleaned up — the devices of the `make run` demo, the
benchmarks and the tests. The servers come with the ``test`` extra, not the runtime dependencies.

Use the context managers from a fixture, a benchmark, the demo or a shell session::

    with snmpsim_peer("127.0.0.21", 16161, "plant", SWITCH_RECORDS, tmp) as peer: ...
    with modbus_peer("127.0.0.22", 15020, identity={...}) as peer: ...
    with s7_peer("127.0.0.23", 11020) as peer: ...

Each peer runs in its own process (so a crash or hang cannot take the test runner along), is waited
for until its socket is bound (read from /proc/net, without sending it a packet), and is terminated,
then killed, on exit. Gotchas are from the team's PEERS.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHON = sys.executable
BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0  # snmpsim takes several seconds on a busy 2-core machine


class PeerError(RuntimeError):
    """The peer did not come up; the message carries its log."""


def _loopback(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"test peers run on 127.0.0.0/8 only, not {host}")
    return host


def _proc_hex(host: str, port: int) -> str:
    """Local address as /proc/net/{tcp,udp} writes it on little-endian machines."""
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (``kill`` of ``make run``, a closed
    terminal): the demo then stops its children as on Ctrl-C. Used for the demo itself and, as
    ``preexec_fn`` (with the spawning process's pid as ``parent``), for each child, so nothing outlives
    a demo even if it is killed with SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if parent is not None and os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def owned() -> Callable[[], None]:
    """A ``preexec_fn`` binding the child's life to this process."""
    return functools.partial(die_with_parent, os.getpid())


def is_bound(host: str, port: int, transport: str = "tcp") -> bool:
    """True when something listens (TCP) or is bound (UDP) on host:port."""
    want = _proc_hex(host, port)
    any_addr = _proc_hex("0.0.0.0", port)
    try:
        lines = Path(f"/proc/net/{transport}").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        cols = line.split()
        if len(cols) > 3 and cols[1] in (want, any_addr) and (transport == "udp" or cols[3] == "0A"):
            return True
    return False


def free_port(host: str, transport: str = "tcp") -> int:
    """A port currently free on ``host`` (the kernel picks it)."""
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((_loopback(host), 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Peer:
    """A peer process; ``stop`` is idempotent and always leaves no process behind."""

    name: str
    host: str
    port: int
    transport: str
    argv: list[str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = START_TIMEOUT) -> Peer:
        if is_bound(self.host, self.port, self.transport):
            raise PeerError(f"{self.host}:{self.port}/{self.transport} is already in use")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={**os.environ, **self.env},
                start_new_session=True,  # Ctrl-C reaches the owner, which stops the peer in order
                preexec_fn=owned(),  # and a killed owner takes its peers with it
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PeerError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            if is_bound(self.host, self.port, self.transport):
                return self
            time.sleep(0.05)
        self.stop()
        raise PeerError(f"{self.name} not bound on {self.host}:{self.port} within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _workdir(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="otwatch-peer-") as d:
        yield Path(d)


@contextlib.contextmanager
def _running(peer: Peer) -> Iterator[Peer]:
    try:
        yield peer.start()
    finally:
        peer.stop()


# --- SNMP: snmpsim ---------------------------------------------------------------------------------

#: (oid, snmprec tag, value): 4 OCTET STRING, 4x hex OCTET STRING, 6 OID, 2 INTEGER, 67 TimeTicks
SnmpRecord = tuple[str, str, str]


def snmprec(records: list[SnmpRecord]) -> str:
    """The .snmprec text, sorted by OID as snmpsim requires."""

    def key(r: SnmpRecord) -> tuple[int, ...]:
        return tuple(int(a) for a in r[0].split("."))

    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in sorted(records, key=key))


def switch_records(
    sys_descr: str,
    sys_name: str,
    interfaces: list[tuple[str, str]],
    *,
    sys_object_id: str = "1.3.6.1.4.1.248.14.10.24",
    own_ip: str | None = None,
    own_if_index: int = 1,
) -> list[SnmpRecord]:
    """A managed switch: system group, ifTable (descr + MAC hex) and the ipAddrTable row of ``own_ip``."""
    recs: list[SnmpRecord] = [
        ("1.3.6.1.2.1.1.1.0", "4", sys_descr),
        ("1.3.6.1.2.1.1.2.0", "6", sys_object_id),
        ("1.3.6.1.2.1.1.3.0", "67", "4242"),
        ("1.3.6.1.2.1.1.4.0", "4", "ot-team@plant.example"),
        ("1.3.6.1.2.1.1.5.0", "4", sys_name),
        ("1.3.6.1.2.1.1.6.0", "4", "Hall 3"),
        ("1.3.6.1.2.1.1.7.0", "2", "2"),
        ("1.3.6.1.2.1.2.1.0", "2", str(len(interfaces))),
    ]
    for i, (descr, mac) in enumerate(interfaces, start=1):
        recs += [
            (f"1.3.6.1.2.1.2.2.1.1.{i}", "2", str(i)),
            (f"1.3.6.1.2.1.2.2.1.2.{i}", "4", descr),
            (f"1.3.6.1.2.1.2.2.1.6.{i}", "4x", mac.replace(":", "").lower()),
        ]
    if own_ip:
        recs.append((f"1.3.6.1.2.1.4.20.1.2.{own_ip}", "2", str(own_if_index)))
    return recs


@contextlib.contextmanager
def snmpsim_peer(
    host: str, port: int, community: str, records: list[SnmpRecord], workdir: Path | None = None
) -> Iterator[Peer]:
    """snmpsim answering v1/v2c with ``community`` (the data file's base name) and v3 with
    snmpsim's default user ``simulator`` / ``auctoritas`` (MD5) / ``privatus`` (DES), context
    name = md5 hex of the community.

    As root it must be told to stay root: dropping to ``nobody`` fails silently (PEERS.md).
    """
    with _workdir(workdir) as wd:
        data, cache = wd / "snmp-data", wd / "snmp-cache"
        data.mkdir(exist_ok=True)
        cache.mkdir(exist_ok=True)
        (data / f"{community}.snmprec").write_text(snmprec(records))
        argv = [
            str(BIN / "snmpsim-command-responder"),
            f"--data-dir={data}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint={_loopback(host)}:{port}",
        ]
        if os.geteuid() == 0:
            argv += ["--process-user=root", "--process-group=root"]
        with _running(Peer("snmpsim", host, port, "udp", argv, wd)) as peer:
            yield peer


# --- Modbus/TCP: pymodbus --------------------------------------------------------------------------

_MODBUS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pymodbus import ModbusDeviceIdentification
    from pymodbus.server import StartTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    host, port, info = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    # FC 43/14 answers only when identity= is given to the server (PEERS.md)
    StartTcpServer(
        SimDevice(id=1, simdata=[SimData(0, count=100, values=0, datatype=DataType.REGISTERS)]),
        address=(host, port),
        identity=ModbusDeviceIdentification(info_name=info),
    )
    """
)


@contextlib.contextmanager
def modbus_peer(
    host: str, port: int, identity: Mapping[str, str], workdir: Path | None = None
) -> Iterator[Peer]:
    """pymodbus TCP server with Read Device Identification objects, e.g. ``{"VendorName": ...,
    "ProductCode": ..., "MajorMinorRevision": ..., "ProductName": ..., "ModelName": ...}``."""
    import json

    with _workdir(workdir) as wd:
        argv = [PYTHON, "-c", _MODBUS_SCRIPT, _loopback(host), str(port), json.dumps(dict(identity))]
        with _running(Peer("modbus", host, port, "tcp", argv, wd)) as peer:
            yield peer


# --- S7: python-snap7 ------------------------------------------------------------------------------

_S7_SCRIPT = textwrap.dedent(
    """
    import json, signal, struct, sys, threading
    from snap7.server import Server
    from snap7.type import SrvArea

    host, port = sys.argv[1], int(sys.argv[2])
    rack = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None


    class RackServer(Server):
        # A CPU in a rack: SZL 0x0011 with the order number, hardware and firmware records of a real
        # CPU, and a module status list (W#16#xy91, 16-byte records) under the configured SZL id.
        def _get_szl_data(self, szl_id, szl_index):
            if szl_id == 0x0011:
                # 28-byte records: index, MLFB (20), module type (2), then "V" and the version's digits
                mlfb = rack["order_number"].encode().ljust(20, b" ")
                records = [struct.pack(">H", 1) + mlfb + bytes((0, 0, 0, 0, 0, 3))]
                for index, version in ((6, rack["hardware"]), (7, rack["firmware"])):
                    records.append(struct.pack(">H", index) + bytes(20) + bytes((0, 0, 0x56, *version)))
                return struct.pack(">HH", 28, len(records)) + b"".join(records)
            if szl_id == rack["szl"] and szl_index == 0:
                records = [struct.pack(">8H", a1, a2, log, 0, 0, 0, st, 0x10) for a1, a2, log, st in rack["modules"]]
                return struct.pack(">HH", 16, len(records)) + b"".join(records)
            return super()._get_szl_data(szl_id, szl_index)


    server = RackServer() if rack else Server()
    server.register_area(SrvArea.DB, 1, bytearray(100))
    server.start_to(host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    server.destroy()
    """
)


@contextlib.contextmanager
def s7_peer(
    host: str, port: int, workdir: Path | None = None, rack: Mapping[str, Any] | None = None
) -> Iterator[Peer]:
    """python-snap7's pure-Python S7 server (answers SZL 0x0011, 0x001C, 0x0131, 0x0232).

    ``rack`` makes it a CPU in a rack (snap7 itself answers no module list): SZL 0x0011 gives
    ``order_number`` with the ``hardware`` and ``firmware`` versions (3-tuples) as a real CPU does,
    and SZL ``szl`` (0x0D91 or 0x0091) lists ``modules``, each ``(adr1, adr2, logadr, eastat)``."""
    import json

    with _workdir(workdir) as wd:
        argv = [PYTHON, "-c", _S7_SCRIPT, _loopback(host), str(port)]
        if rack is not None:
            argv.append(json.dumps(dict(rack)))
        with _running(Peer("s7", host, port, "tcp", argv, wd)) as peer:
            yield peer
