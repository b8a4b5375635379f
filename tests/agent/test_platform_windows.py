"""The Windows platform layer, exercised on Linux through its real Win32 structures.

Sizes and offsets are the Windows x64 figures of the SDK headers (iptypes.h, netioapi.h, ipmib.h,
ws2def.h, ws2ipdef.h), laid out by MSVC's x64 rules (natural alignment, 8-byte pointers, 4-byte
ULONG/enum) — e.g. ``sizeof(MIB_IPNET_ROW2) == 88``, ``sizeof(MIB_IPNETROW) == 24``,
``sizeof(IP_ADAPTER_ADDRESSES_LH) == 448``, ``sizeof(IP_ADAPTER_UNICAST_ADDRESS_LH) == 64``; the same
figures appear in public ctypes/Rust layout checks of these structures. The buffers below are built
with ``struct`` at those offsets, independently of the ctypes declarations, as Windows returns them.
"""

from __future__ import annotations

import ast
import asyncio
import ctypes
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otwatch.agent import discovery, platform
from otwatch.agent.platform import Link, Neighbour, winservice
from otwatch.agent.platform import windows as w
from otwatch.agent.platform.base import Interface
from otwatch.agent.safety import ScanContext, ScanPolicy, Scope

X64 = ctypes.sizeof(ctypes.c_void_p) == 8
x64_only = pytest.mark.skipif(not X64, reason="the figures are the Windows x64 layout (8-byte pointers)")
REPO = Path(__file__).resolve().parents[2]


# --- layouts ----------------------------------------------------------------------------------------


@x64_only
@pytest.mark.parametrize(
    ("struct_", "size", "header"),
    [
        (w.SOCKADDR_IN, 16, "ws2def.h"),
        (w.SOCKADDR_IN6, 28, "ws2ipdef.h"),
        (w.SOCKADDR_INET, 28, "ws2ipdef.h"),
        (w.SOCKET_ADDRESS, 16, "ws2def.h"),
        (w.GUID, 16, "guiddef.h"),
        (w.IP_ADAPTER_UNICAST_ADDRESS_LH, 64, "iptypes.h"),
        (w.IP_ADAPTER_ADDRESSES_LH, 448, "iptypes.h"),
        (w.MIB_IPNET_ROW2, 88, "netioapi.h"),
        (w.MIB_IPNETROW, 24, "ipmib.h"),
    ],
)
def test_structure_sizes_are_the_windows_x64_ones(
    struct_: type[ctypes.Structure], size: int, header: str
) -> None:
    assert ctypes.sizeof(struct_) == size, f"{struct_.__name__} ({header})"


@x64_only
@pytest.mark.parametrize(
    ("struct_", "field", "offset"),
    [
        (w.IP_ADAPTER_ADDRESSES_LH, "IfIndex", 4),
        (w.IP_ADAPTER_ADDRESSES_LH, "Next", 8),
        (w.IP_ADAPTER_ADDRESSES_LH, "AdapterName", 16),
        (w.IP_ADAPTER_ADDRESSES_LH, "FirstUnicastAddress", 24),
        (w.IP_ADAPTER_ADDRESSES_LH, "FriendlyName", 72),
        (w.IP_ADAPTER_ADDRESSES_LH, "PhysicalAddress", 80),
        (w.IP_ADAPTER_ADDRESSES_LH, "PhysicalAddressLength", 88),
        (w.IP_ADAPTER_ADDRESSES_LH, "IfType", 100),
        (w.IP_ADAPTER_ADDRESSES_LH, "OperStatus", 104),
        (w.IP_ADAPTER_ADDRESSES_LH, "FirstPrefix", 176),
        (w.IP_ADAPTER_ADDRESSES_LH, "Luid", 224),
        (w.IP_ADAPTER_ADDRESSES_LH, "Dhcpv4Server", 232),
        (w.IP_ADAPTER_ADDRESSES_LH, "NetworkGuid", 252),
        (w.IP_ADAPTER_ADDRESSES_LH, "Dhcpv6Server", 280),
        (w.IP_ADAPTER_ADDRESSES_LH, "Dhcpv6ClientDuid", 296),
        (w.IP_ADAPTER_ADDRESSES_LH, "FirstDnsSuffix", 440),
        (w.IP_ADAPTER_UNICAST_ADDRESS_LH, "Next", 8),
        (w.IP_ADAPTER_UNICAST_ADDRESS_LH, "Address", 16),
        (w.IP_ADAPTER_UNICAST_ADDRESS_LH, "OnLinkPrefixLength", 56),
        (w.MIB_IPNET_ROW2, "InterfaceIndex", 28),
        (w.MIB_IPNET_ROW2, "InterfaceLuid", 32),
        (w.MIB_IPNET_ROW2, "PhysicalAddress", 40),
        (w.MIB_IPNET_ROW2, "PhysicalAddressLength", 72),
        (w.MIB_IPNET_ROW2, "State", 76),
        (w.MIB_IPNET_ROW2, "Flags", 80),
        (w.MIB_IPNET_ROW2, "ReachabilityTime", 84),
        (w.MIB_IPNET_TABLE2, "Table", 8),
        (w.MIB_IPNETROW, "bPhysAddr", 8),
        (w.MIB_IPNETROW, "dwAddr", 16),
        (w.MIB_IPNETROW, "dwType", 20),
        (w.MIB_IPNETTABLE, "table", 4),
        (w.SOCKADDR_IN, "sin_addr", 4),
        (w.SOCKADDR_IN6, "sin6_addr", 8),
    ],
)
def test_field_offsets_are_the_windows_x64_ones(
    struct_: type[ctypes.Structure], field: str, offset: int
) -> None:
    assert getattr(struct_, field).offset == offset


# --- neighbour tables -------------------------------------------------------------------------------


def _row2(family: int, addr: bytes, index: int, mac: bytes, state: int) -> bytes:
    """One MIB_IPNET_ROW2 (88 bytes) as Windows writes it."""
    row = bytearray(88)
    struct.pack_into("<H", row, 0, family)  # SOCKADDR_INET.si_family
    if family == w.AF_INET:
        row[4:8] = addr  # sin_addr
    else:
        row[8:24] = addr  # sin6_addr
    struct.pack_into("<I", row, 28, index)  # InterfaceIndex
    struct.pack_into("<Q", row, 32, 0x0006_0000_0100_0000 + index)  # InterfaceLuid
    row[40 : 40 + len(mac)] = mac  # PhysicalAddress[32]
    struct.pack_into("<Ii", row, 72, len(mac), state)  # PhysicalAddressLength, State
    struct.pack_into("<BxxxI", row, 80, 0x1, 1234)  # Flags (IsRouter), ReachabilityTime
    return bytes(row)


def test_ipnet_table2_rows_parse_to_ip_mac_state() -> None:
    rows = [
        _row2(w.AF_INET, socket.inet_aton("192.168.10.21"), 7, bytes.fromhex("0080f4123456"), 5),
        _row2(w.AF_INET6, socket.inet_pton(socket.AF_INET6, "fe80::1"), 7, bytes.fromhex("0080f4aaaaaa"), 5),
        _row2(w.AF_INET, socket.inet_aton("192.168.10.99"), 7, b"", 1),  # incomplete: no MAC yet
        _row2(w.AF_INET, socket.inet_aton("10.1.2.3"), 12, bytes.fromhex("001b1b0a0b0c"), 6),
    ]
    table = struct.pack("<I4x", len(rows)) + b"".join(rows)  # NumEntries, padding to 8, Table[]
    assert w.parse_ipnet_table2(table) == [
        Neighbour("192.168.10.21", "00:80:f4:12:34:56", 7, "reachable"),
        Neighbour("10.1.2.3", "00:1b:1b:0a:0b:0c", 12, "permanent"),
    ]


def test_ipnet_table2_shorter_than_its_count_is_refused() -> None:
    table = struct.pack("<I4x", 2) + _row2(w.AF_INET, socket.inet_aton("10.0.0.1"), 1, b"\x02" * 6, 5)
    with pytest.raises(ValueError, match="2 rows needs 184 bytes"):
        w.parse_ipnet_table2(table)


def test_ipnettable_rows_parse_with_their_type() -> None:
    def row(index: int, mac: bytes, ip: str, kind: int) -> bytes:
        return struct.pack("<II8s4sI", index, len(mac), mac, socket.inet_aton(ip), kind)

    table = struct.pack("<I", 3) + b"".join(
        [
            row(3, bytes.fromhex("00a0457e0001"), "172.16.0.5", 3),
            row(3, bytes.fromhex("00a0457e0002"), "172.16.0.6", 2),  # invalid: left out
            row(4, bytes.fromhex("0800060102ff"), "172.16.1.1", 4),
        ]
    )
    assert len(table) == 4 + 3 * 24
    assert w.parse_ipnet_table(table) == [
        Neighbour("172.16.0.5", "00:a0:45:7e:00:01", 3, "dynamic"),
        Neighbour("172.16.1.1", "08:00:06:01:02:ff", 4, "static"),
    ]


# --- adapters: a linked list in memory, as GetAdaptersAddresses writes it ---------------------------


def _adapter_buffer() -> tuple[ctypes.Array[ctypes.c_char], int]:
    """Two adapters (an Ethernet one with an IPv4 and an IPv6 address, a loopback one), with their
    unicast addresses, sockaddrs and strings in one buffer, pointers absolute as Windows leaves them."""
    buf = ctypes.create_string_buffer(2048)
    base = ctypes.addressof(buf)
    a0, a1, u0, u1, u2 = 0, 448, 896, 960, 1024
    s0, s1, s2, names = 1088, 1104, 1136, 1200

    def put(fmt: str, offset: int, *values: object) -> None:
        struct.pack_into(fmt, buf, offset, *values)

    put("<H2x4s", s0, w.AF_INET, socket.inet_aton("192.168.10.5"))
    put("<H6x16s", s1, w.AF_INET6, socket.inet_pton(socket.AF_INET6, "fe80::20c:29ff:fe01:203"))
    put("<H2x4s", s2, w.AF_INET, socket.inet_aton("127.0.0.1"))
    for u, nxt, sockaddr, length, prefix in (
        (u0, u1, s0, 16, 24),
        (u1, 0, s1, 28, 64),
        (u2, 0, s2, 16, 8),
    ):
        put("<IIQQi", u, 64, 0, base + nxt if nxt else 0, base + sockaddr, length)
        put("<B", u + 56, prefix)
    strings = {}
    offset = names
    for key, data in (
        ("name0", b"{4D36E972-E325-11CE-BFC1-08002BE10318}\0"),
        ("friendly0", "Ethernet 2\0".encode("utf-16-le")),
        ("name1", b"{B5A8F4C1-0000-4000-8000-000000000001}\0"),
        ("friendly1", "Loopback Pseudo-Interface 1\0".encode("utf-16-le")),
    ):
        buf[offset : offset + len(data)] = data
        strings[key] = base + offset
        offset += len(data) + 8
    for a, index, nxt, name, unicast, friendly, mac, if_type in (
        (a0, 11, a1, "name0", u0, "friendly0", bytes.fromhex("000c29010203"), 6),
        (a1, 1, 0, "name1", u2, "friendly1", b"", 24),
    ):
        put("<IIQQQ", a, 448, index, base + nxt if nxt else 0, strings[name], base + unicast)
        put("<Q", a + 72, strings[friendly])
        buf[a + 80 : a + 80 + len(mac)] = mac
        put("<IIIIi", a + 88, len(mac), 0, 1500, if_type, 1)  # length, Flags, Mtu, IfType, OperStatus up
    return buf, base


def test_adapter_list_parses_to_interfaces_with_prefixes() -> None:
    buf, base = _adapter_buffer()
    adapters = w.parse_adapters(base)
    assert adapters == [
        Interface(
            "{4D36E972-E325-11CE-BFC1-08002BE10318}",
            11,
            "00:0c:29:01:02:03",
            up=True,
            ethernet=True,
            loopback=False,
            addresses=(("192.168.10.5", 24),),
            description="Ethernet 2",
        ),
        Interface(
            "{B5A8F4C1-0000-4000-8000-000000000001}",
            1,
            None,
            up=True,
            ethernet=False,
            loopback=True,
            addresses=(("127.0.0.1", 8),),
            description="Loopback Pseudo-Interface 1",
        ),
    ]
    routes = w.routes_of(adapters)
    assert [(str(r.network), r.interface, r.on_link) for r in routes] == [
        ("192.168.10.0/24", "{4D36E972-E325-11CE-BFC1-08002BE10318}", True)
    ]
    link = w.link_from(adapters, routes[0].interface)
    assert link is not None and (link.address, link.mac) == ("192.168.10.5", bytes.fromhex("000c29010203"))
    assert w.link_from(adapters, "{B5A8F4C1-0000-4000-8000-000000000001}") is None  # loopback: no ARP
    del buf


def test_sendarp_addresses_are_in_addr_as_a_ulong() -> None:
    # IPAddr is the in_addr's four bytes read as a (little-endian, on x86/x64) ULONG
    assert w.ipaddr("192.168.1.10") == int.from_bytes(bytes([192, 168, 1, 10]), sys.byteorder)


# --- Npcap, folder ACL, service command lines --------------------------------------------------------


def test_npcap_is_found_by_its_wpcap_dll(tmp_path: Path) -> None:
    assert not w.npcap_installed(tmp_path)
    (tmp_path / "System32" / "Npcap").mkdir(parents=True)
    (tmp_path / "System32" / "Npcap" / "wpcap.dll").write_bytes(b"MZ")
    assert w.npcap_installed(tmp_path)


def test_state_folder_is_closed_to_all_but_system_and_administrators() -> None:
    assert subprocess.list2cmdline(w.secure_dir_command(Path("C:/Program Files/OTWatch/OT Agent/state"))) == (
        'icacls "C:/Program Files/OTWatch/OT Agent/state" /inheritance:r /grant:r '
        "*S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F"
    )


def test_sc_exe_command_lines() -> None:
    python = r"C:\Program Files\Python312\python.exe"
    launcher = r"C:\Program Files\OTWatch\OT Agent\otwatch-agent.py"
    base = "C:\\Program Files\\OTWatch\\OT Agent\\"  # as msiexec formats a folder: trailing backslash
    lines = [winservice.command_line(c) for c in winservice.install_commands(python, launcher, base)]
    image = (
        r'"C:\Program Files\Python312\python.exe" "C:\Program Files\OTWatch\OT Agent\otwatch-agent.py" '
        r'service run --install-base "C:\Program Files\OTWatch\OT Agent"'
    )
    assert winservice.service_command(python, launcher, base) == image
    escaped = image.replace('"', '\\"')
    assert lines == [
        f'sc.exe create OTWatchAgent binPath= "{escaped}" start= auto DisplayName= "OTWatch OT Agent"',
        f'sc.exe description OTWatchAgent "{winservice.DESCRIPTION}"',
        "sc.exe failure OTWatchAgent reset= 86400 actions= restart/5000/restart/5000/restart/60000",
        "sc.exe start OTWatchAgent",
    ]
    assert [winservice.command_line(c) for c in winservice.remove_commands()] == [
        "sc.exe stop OTWatchAgent",
        "sc.exe delete OTWatchAgent",
    ]


# --- the agent imports on Windows -----------------------------------------------------------------


def test_agent_imports_with_windows_platform_and_no_unix_modules() -> None:
    """Every agent module imports with ``sys.platform == "win32"``, ``fcntl``, ``termios``, ``pwd``,
    ``grp`` and ``resource`` unimportable and ``os`` without its Unix-only functions (``uname``,
    ``fchmod`` ...); the Windows layer is selected, the Linux one never loaded, the agent's own CLI
    (``python -m otwatch.agent``) answers, and the node's key files and check-in host name work."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import otwatch.agent.__main__, otwatch.agent.node  # stdlib and third-party load as on Linux
        for name in [k for k in sys.modules if k == "otwatch" or k.startswith("otwatch.")]:
            del sys.modules[name]
        for banned in ("fcntl", "termios", "pwd", "grp", "resource"):
            sys.modules[banned] = None
        import os, socket, tempfile
        for attr in ("uname", "fchmod", "fchown", "getuid", "geteuid", "killpg", "setsid"):
            if hasattr(os, attr):
                delattr(os, attr)  # what Windows' os module does not have
        sys.platform = "win32"
        import otwatch.agent
        failed = []
        for info in pkgutil.walk_packages(otwatch.agent.__path__, "otwatch.agent."):
            if info.name != "otwatch.agent.platform.linux":
                try:
                    importlib.import_module(info.name)
                except Exception as exc:
                    failed.append(f"{info.name}: {exc!r}")
        from otwatch.agent import platform
        from typer.testing import CliRunner
        from otwatch.agent.__main__ import app
        help_text = CliRunner().invoke(app, ["--help"]).output
        printed = CliRunner().invoke(app, ["service", "remove", "--print"]).output
        print(platform.current.__name__)
        print("linux loaded" if "otwatch.agent.platform.linux" in sys.modules else "linux not loaded")
        print("failed:", failed)
        print("msi-configure" in help_text and "service" in help_text)
        print(printed.strip().replace(chr(10), "|"))
        from otwatch.wire.client import hostname, write_private
        with tempfile.TemporaryDirectory() as tmp:
            write_private(os.path.join(tmp, "key.pem"), "secret")
            print(hostname() == socket.gethostname(), open(os.path.join(tmp, "key.pem")).read())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": f"{REPO / 'src'}", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "otwatch.agent.platform.windows",
        "linux not loaded",
        "failed: []",
        "True",
        "sc.exe stop OTWatchAgent|sc.exe delete OTWatchAgent",
        "True secret",
    ]


# --- discovery's Windows ARP path ---------------------------------------------------------------------


def test_windows_arp_sweep_paces_and_scopes_each_sendarp(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows each who-has is a SendARP call. SendARP (iphlpapi.dll) does not exist here, so a
    stand-in answers for it; what is tested is discovery's side: every call passes the scope and
    the rate limiter first, an address outside the scope is never asked, replies become MACs."""
    asked: list[tuple[str, str]] = []
    answers = {"10.9.0.7": "00:80:f4:00:00:07", "10.9.0.9": "00:1b:1b:00:00:09"}

    def send_arp(target: str, source: str) -> str | None:
        asked.append((target, source))
        return answers.get(target)

    monkeypatch.setattr(platform, "is_windows", lambda: True)
    monkeypatch.setattr(w, "send_arp", send_arp)
    monkeypatch.setattr(platform, "current", w)
    policy = ScanPolicy(networks=("10.9.0.0/24",), rate_pps=1000, per_host_pps=100)
    ctx = ScanContext(policy, Scope(policy.networks))
    link = Link("{GUID}", "10.9.0.2", bytes.fromhex("000c29010203"))
    notes: list[str] = []
    found = asyncio.run(
        discovery.arp_sweep(ctx, link, ["10.9.0.7", "10.9.0.8", "10.9.1.5", "10.9.0.9"], notes=notes)
    )
    assert found == answers
    assert sorted(asked) == [("10.9.0.7", "10.9.0.2"), ("10.9.0.8", "10.9.0.2"), ("10.9.0.9", "10.9.0.2")]
    assert len(notes) == 1 and "10.9.1.5" in notes[0]  # refused by the scope, never asked
    assert set(ctx.hosts) == {"10.9.0.7", "10.9.0.8", "10.9.0.9"}  # each one charged to its host's rate


#: Functions and constants Windows' ``os``, ``socket`` and ``signal`` do not have.
UNIX_ONLY = {
    "os": {
        "uname",
        "fchmod",
        "fchown",
        "chown",
        "lchown",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "setuid",
        "setgid",
        "setsid",
        "killpg",
        "getpgid",
        "fork",
        "forkpty",
        "sched_getaffinity",
        "getloadavg",
        "statvfs",
        "mkfifo",
        "pipe2",
        "O_NONBLOCK",
        "WNOHANG",
        "sync",
    },
    "socket": {"AF_PACKET", "AF_UNIX", "SO_BINDTODEVICE", "SO_REUSEPORT", "IP_RECVERR", "MSG_DONTWAIT"},
    "signal": {"SIGHUP", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGQUIT", "alarm", "pause"},
}
#: Where a Unix-only name is used on purpose: the Linux layer, and uses behind a platform check.
ALLOWED = {
    ("otwatch/agent/platform/linux.py", "*"),
    ("otwatch/agent/discovery.py", "AF_PACKET"),  # arp_sweep's Linux branch (Windows returns before it)
    ("otwatch/wire/client.py", "fchmod"),  # behind hasattr(os, "fchmod")
}


def test_agent_code_uses_no_unix_only_os_names_outside_the_linux_layer() -> None:
    """The import test above cannot see a call that fails only when it runs (``os.uname()`` in the
    check-in loop did): every module the agent loads is read for Unix-only names of ``os``,
    ``socket`` and ``signal``."""
    script = "import sys, otwatch.agent.__main__, otwatch.agent.node, otwatch.agent.scan; print('\\n'.join(m.__file__ for n, m in list(sys.modules.items()) if n.startswith('otwatch') and getattr(m, '__file__', None)))"
    files = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert any(f.endswith("wire/runtime.py") for f in files)
    found = []
    for file in files:
        rel = Path(file).resolve().relative_to(REPO / "src").as_posix()
        for node in ast.walk(ast.parse(Path(file).read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.attr in UNIX_ONLY.get(node.value.id, ())
                and (rel, "*") not in ALLOWED
                and (rel, node.attr) not in ALLOWED
            ):
                found.append(f"{rel}:{node.lineno}: {node.value.id}.{node.attr}")
    assert found == []
