"""A throw-away network namespace of simulated OT devices, for integration tests and ``bench/scan.py``.

::

    with Netns.create("otw-test") as ns:            # namespace + veth pair to the root namespace
        ns.add_device("10.203.7.10")                # one address per device, inside the namespace
        with modbus_device(ns, "10.203.7.10", identity={...}, workdir=tmp):
            ...                                     # scan ns.subnet from the root namespace

The namespace is named ``<prefix>-<pid>``, its addresses come from 10.203.0.0/16 (a /24 no route or
address of the root namespace overlaps), and nothing else on the machine is touched: the root side
gets one veth with the subnet's ``.1`` and a route to it. ``delete`` (run by the context manager, so on
exceptions and Ctrl-C too) kills every process left in the namespace, removes the veth pair and the
namespace; it is idempotent. Namespaces of this naming scheme whose creating process is gone (a run that
was SIGKILLed) are removed on the next ``create``.

Peers run inside the namespace through ``ip netns exec`` and are waited for until their socket is
bound, read from ``/proc/<pid>/net`` of the peer itself (the namespace's view), without sending it a
packet. Needs root and iproute2's ``ip``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers import _MODBUS_SCRIPT, SnmpRecord, snmprec

PYTHON = sys.executable
BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0  # snmpsim takes several seconds on a busy 2-core machine
#: The only addresses this module ever configures.
POOL = ipaddress.IPv4Network("10.203.0.0/16")
_NAME = re.compile(r"^(otw-[a-z]+)-(\d+)$")


class NetnsError(RuntimeError):
    """The namespace or a peer in it could not be set up; the message says why (with the peer's log)."""


def missing_requirements(tools: tuple[str, ...] = ("ip",)) -> str | None:
    """Why namespaces cannot be used here (a sentence), or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root or with sudo)"
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        return (
            f"missing {', '.join(absent)}: apt-get install -y "
            + " ".join({"ip": "iproute2"}.get(t, t) for t in absent)
            + " (or scripts/system-deps.sh)"
        )
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)
    if check and proc.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _used_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address or a route in."""
    used: list[ipaddress.IPv4Network] = []
    for line in _ip("-4", "-o", "addr", "show").stdout.splitlines():
        if m := re.search(r"inet (\S+)", line):
            used.append(ipaddress.IPv4Interface(m.group(1)).network)
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest.startswith(("broadcast", "local")) and len(line.split()) > 1:
            dest = line.split()[1]
        with contextlib.suppress(ValueError):
            if dest != "default":
                used.append(ipaddress.IPv4Network(dest, strict=False))
    return used


def free_subnets(
    count: int = 1, avoid: tuple[ipaddress.IPv4Network, ...] = ()
) -> list[ipaddress.IPv4Network]:
    """``count`` /24s of 10.203.0.0/16 that nothing in the root namespace overlaps."""
    used = [*_used_networks(), *avoid]
    start = os.getpid() % 250 + 1
    found: list[ipaddress.IPv4Network] = []
    for i in range(250):
        net = ipaddress.IPv4Network(f"10.203.{(start + i) % 250 + 1}.0/24")
        if not any(net.overlaps(u) for u in used):
            found.append(net)
            if len(found) == count:
                return found
    raise NetnsError("no free /24 left in 10.203.0.0/16")


def remove_stale(prefixes: tuple[str, ...] = ("otw-bench", "otw-test")) -> list[str]:
    """Delete namespaces named ``<prefix>-<pid>`` whose creating process no longer runs."""
    removed = []
    for line in _ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = _NAME.match(name)
        if m and m.group(1) in prefixes and not _pid_alive(int(m.group(2))):
            Netns(name, ipaddress.IPv4Network("10.203.0.0/24"), *_veth_names(int(m.group(2)))).delete()
            removed.append(name)
    return removed


def _veth_names(pid: int) -> tuple[str, str]:
    return f"otw{pid}h", f"otw{pid}n"  # at most 13 characters (IFNAMSIZ is 16)


@dataclass
class Netns:
    """A namespace joined to the root namespace by a veth pair; ``subnet`` is on that link."""

    name: str
    subnet: ipaddress.IPv4Network
    host_if: str  # root-namespace side of the veth pair
    ns_if: str
    routes: list[ipaddress.IPv4Network] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    _deleted: bool = False

    @classmethod
    def create(cls, prefix: str = "otw-test", subnet: ipaddress.IPv4Network | None = None) -> Netns:
        if not _NAME.match(f"{prefix}-{os.getpid()}"):
            raise ValueError(f"namespace prefix must look like 'otw-name', not {prefix!r}")
        remove_stale()
        subnet = subnet or free_subnets(1)[0]
        if not subnet.subnet_of(POOL) or subnet.prefixlen != 24:
            raise ValueError(f"namespace subnets are /24s of {POOL}, not {subnet}")
        ns = cls(f"{prefix}-{os.getpid()}", subnet, *_veth_names(os.getpid()))
        try:
            _ip("netns", "add", ns.name)
            _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
            _ip("link", "set", ns.ns_if, "netns", ns.name)
            _ip("addr", "add", f"{ns.gateway}/24", "dev", ns.host_if)
            _ip("link", "set", ns.host_if, "up")
            ns.exec_ip("link", "set", "lo", "up")
            ns.exec_ip("link", "set", ns.ns_if, "up")
        except BaseException:
            ns.delete()
            raise
        return ns

    @property
    def gateway(self) -> str:
        """The root namespace's address on the link (the scanner's source address)."""
        return str(self.subnet.network_address + 1)

    def host(self, n: int) -> str:
        """``subnet``'s n-th address, e.g. ``host(10)`` -> 10.203.x.10."""
        return str(self.subnet.network_address + n)

    def exec_ip(self, *args: str) -> None:
        _ip("-n", self.name, *args)

    def add_device(self, address: str) -> str:
        """Give the namespace one more address (one per simulated device). It must lie in ``subnet``
        or in a network added with :meth:`add_route`."""
        ip = ipaddress.IPv4Address(address)
        if ip not in self.subnet and not any(ip in r for r in self.routes):
            raise ValueError(f"{ip} is outside {self.subnet} and the added routes")
        prefix = 24 if ip in self.subnet else 32
        self.exec_ip("addr", "add", f"{ip}/{prefix}", "dev", self.ns_if)
        self.addresses.append(str(ip))
        return str(ip)

    def add_route(self, network: ipaddress.IPv4Network) -> None:
        """Route another /24 of the pool from the root namespace into this one (e.g. a decoy device
        outside the scanned network)."""
        if not network.subnet_of(POOL) or any(network.overlaps(u) for u in _used_networks()):
            raise ValueError(f"{network} is not a free network of {POOL}")
        _ip("route", "add", str(network), "dev", self.host_if)
        self.routes.append(network)

    def popen(self, argv: list[str], *, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", self.name, *argv],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
            )

    def pids(self) -> list[int]:
        proc = _ip("netns", "pids", self.name, check=False)
        return [int(p) for p in proc.stdout.split() if p.isdigit()]

    def delete(self) -> None:
        """Kill what runs inside, drop the veth pair (and with it its routes), drop the namespace."""
        if self._deleted:
            return
        self._deleted = True
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while pids and time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
                time.sleep(0.05)
        _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.name, check=False)

    def __enter__(self) -> Netns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()


# --- peers inside the namespace --------------------------------------------------------------------


def _proc_hex(host: str, port: int) -> str:
    return f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"


def bound_in(pid: int, host: str, port: int, transport: str) -> bool:
    """True when, in the network namespace of ``pid``, something listens (TCP) or is bound (UDP)
    on host:port."""
    wanted = {_proc_hex(host, port), _proc_hex("0.0.0.0", port)}
    try:
        lines = Path(f"/proc/{pid}/net/{transport}").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        cols = line.split()
        if len(cols) > 3 and cols[1] in wanted and (transport == "udp" or cols[3] == "0A"):
            return True
    return False


@dataclass
class NetnsPeer:
    """A device process in the namespace; ``stop`` is idempotent and kills its whole process group."""

    name: str
    ns: Netns
    host: str
    port: int
    transport: str
    argv: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}-{self.host}.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = START_TIMEOUT) -> NetnsPeer:
        self.proc = self.ns.popen(self.argv, log=self.log_path, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise NetnsError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            if bound_in(self.proc.pid, self.host, self.port, self.transport):
                return self
            time.sleep(0.05)
        self.stop()
        raise NetnsError(
            f"{self.name} not bound on {self.host}:{self.port} within {timeout} s:\n{self.log()}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> NetnsPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _running(peer: NetnsPeer) -> Iterator[NetnsPeer]:
    try:
        yield peer.start()
    finally:
        peer.stop()


@contextlib.contextmanager
def modbus_device(
    ns: Netns, host: str, identity: Mapping[str, str], workdir: Path, port: int = 502
) -> Iterator[NetnsPeer]:
    """pymodbus with Read Device Identification objects (``VendorName``, ``ProductCode``,
    ``MajorMinorRevision``, ``ProductName``, ``ModelName``, ...)."""
    argv = [PYTHON, "-c", _MODBUS_SCRIPT, host, str(port), json.dumps(dict(identity))]
    with _running(NetnsPeer("modbus", ns, host, port, "tcp", argv, workdir)) as peer:
        yield peer


# python-snap7's server lacks SZL 0x0424 (PEERS.md): answer it with the CPU mode given on the command
# line (bzu-id low nibble: 0x4 STOP, 0x8 RUN).
_S7_SCRIPT = textwrap.dedent(
    """
    import signal, struct, sys, threading
    from snap7.server import Server
    from snap7.type import SrvArea

    host, port, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 0)

    class Cpu(Server):
        def _get_szl_data(self, szl_id, szl_index):
            if szl_id == 0x0424:
                record = struct.pack(">HBB", 0x4303, 0xFF, mode) + bytes(16)
                return struct.pack(">HH", len(record), 1) + record
            return super()._get_szl_data(szl_id, szl_index)

    server = Cpu(log=False)
    server.register_area(SrvArea.DB, 1, bytearray(100))
    server.start_to(host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()
    """
)
S7_STOP, S7_RUN = 0x34, 0x38


@contextlib.contextmanager
def s7_device(
    ns: Netns, host: str, workdir: Path, *, mode: int = S7_STOP, port: int = 102
) -> Iterator[NetnsPeer]:
    """python-snap7's S7 server (a CPU 315-2 PN/DP "SNAP7-SERVER") that also answers SZL 0x0424."""
    argv = [PYTHON, "-c", _S7_SCRIPT, host, str(port), hex(mode)]
    with _running(NetnsPeer("s7", ns, host, port, "tcp", argv, workdir)) as peer:
        yield peer


@contextlib.contextmanager
def enip_device(
    ns: Netns, host: str, identity: Mapping[str, int | str], workdir: Path, port: int = 44818
) -> Iterator[NetnsPeer]:
    """cpppo's EtherNet/IP server; ``identity`` is its ``[Identity]`` section (decimal integers)."""
    cfg = workdir / f"enip-{host}.cfg"
    cfg.write_text("[Identity]\n" + "".join(f"{k} = {v}\n" for k, v in identity.items()))
    argv = [PYTHON, "-m", "cpppo.server.enip", "-c", str(cfg), "-a", f"{host}:{port}", "Tag=INT[10]"]
    with _running(NetnsPeer("enip", ns, host, port, "tcp", argv, workdir)) as peer:
        yield peer


_BACNET_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os
    from bacpypes3.argparse import SimpleArgumentParser
    from bacpypes3.app import Application

    async def main():
        app = Application.from_args(SimpleArgumentParser().parse_args())
        for name, value in json.loads(os.environ["OTW_BACNET_PROPS"]).items():
            setattr(app.device_object, name, value)
        await asyncio.Future()

    asyncio.run(main())
    """
)


@contextlib.contextmanager
def bacnet_device(
    ns: Netns,
    host: str,
    workdir: Path,
    *,
    name: str,
    instance: int,
    properties: Mapping[str, str],
    port: int = 47808,
) -> Iterator[NetnsPeer]:
    """A bacpypes3 device; ``properties`` are device-object attributes (``modelName``, ...)."""
    props = json.dumps(dict(properties))
    argv = [
        "env",
        f"OTW_BACNET_PROPS={props}",
        PYTHON,
        "-c",
        _BACNET_SCRIPT,
        "--name",
        name,
        "--instance",
        str(instance),
        "--address",
        f"{host}/24:{port}",
    ]
    with _running(NetnsPeer("bacnet", ns, host, port, "udp", argv, workdir)) as peer:
        yield peer


@contextlib.contextmanager
def snmp_device(
    ns: Netns, host: str, community: str, records: list[SnmpRecord], workdir: Path, port: int = 161
) -> Iterator[NetnsPeer]:
    """snmpsim answering v1/v2c with ``community``; stays root (dropping privileges fails silently)."""
    data, cache = workdir / f"snmp-data-{host}", workdir / f"snmp-cache-{host}"
    data.mkdir(exist_ok=True)
    cache.mkdir(exist_ok=True)
    (data / f"{community}.snmprec").write_text(snmprec(records))
    argv = [
        str(BIN / "snmpsim-command-responder"),
        f"--data-dir={data}",
        f"--cache-dir={cache}",
        f"--agent-udpv4-endpoint={host}:{port}",
        "--process-user=root",
        "--process-group=root",
    ]
    with _running(NetnsPeer("snmpsim", ns, host, port, "udp", argv, workdir)) as peer:
        yield peer


# --- what reached the namespace --------------------------------------------------------------------

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4


class LinkSniffer:
    """Counts IPv4 packets the root namespace sends into the veth pair, per destination address.

    An ``AF_PACKET`` socket on the root-side interface read in a thread: no capture tool needed, which
    keeps the namespace test's only requirements root and ``ip``. (``bench/scan.py`` uses tshark.)
    """

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self.sent: Counter[str] = Counter()
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        self._sock.bind((interface, 0))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._run, name=f"sniff-{interface}", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, addr = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if addr[2] == _PACKET_OUTGOING and len(frame) >= 34 and frame[12:14] == b"\x08\x00":
                self.sent[socket.inet_ntoa(frame[30:34])] += 1

    def __enter__(self) -> LinkSniffer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
