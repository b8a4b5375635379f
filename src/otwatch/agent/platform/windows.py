"""Windows: the IP Helper API (``iphlpapi.dll``) through ctypes, ``msvcrt`` locking, Npcap detection.

Structures are declared with fixed-width ctypes types (never ``c_long``/``c_ulong``, which are 8 bytes
on Linux and 4 on Windows) and ``c_void_p`` for pointers, so they have their Windows x64 layout on
any 64-bit host: tests/agent/test_platform_windows.py checks every size and offset against the
Windows SDK headers and parses byte buffers laid out as Windows returns them. Parsing is split from
the API calls: ``parse_*`` take bytes or an address and run anywhere; ``get_*`` load the DLL (lazily,
on Windows only) and hand the result to the parser.

Bit-field unions of the SDK (``IP_ADAPTER_ADDRESSES_LH.Flags``, ``MIB_IPNET_ROW2.Flags``) are
declared as their whole integer: the bits are not read, and MSVC and GCC place bit-fields alike only
for the simplest cases.

ARP: Windows has no ``AF_PACKET``; an on-link host is asked with ``SendARP`` (IP Helper), which sends
the who-has through the kernel's own neighbour cache and needs no administrator rights or driver.
Npcap (its ``wpcap.dll``) is detected and reported; frames are not sent through it.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

from otwatch.agent.platform.base import Interface, Link, LockHeld, Neighbour, RawAccess, Route

NAME = "windows"

AF_INET = 2  # ws2def.h
AF_INET6 = 23  # ws2def.h (10 on Linux)
IF_TYPE_ETHERNET_CSMACD = 6  # ipifcons.h
IF_TYPE_SOFTWARE_LOOPBACK = 24
IF_TYPE_IEEE80211 = 71
IF_OPER_STATUS_UP = 1  # ifdef.h, IfOperStatusUp
GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_MULTICAST, GAA_FLAG_SKIP_DNS_SERVER = 0x2, 0x4, 0x8
ERROR_BUFFER_OVERFLOW = 111
ERROR_BAD_NET_NAME = 67  # SendARP: no answer
NO_ERROR = 0
MAX_ADAPTER_ADDRESS_LENGTH = 8
MAX_DHCPV6_DUID_LENGTH = 130
IF_MAX_PHYS_ADDRESS_LENGTH = 32

#: NL_NEIGHBOR_STATE (nldef.h)
NEIGHBOR_STATES = ("unreachable", "incomplete", "probe", "delay", "stale", "reachable", "permanent")
#: MIB_IPNET_TYPE (ipmib.h): dwType of MIB_IPNETROW
IPNET_TYPES = {1: "other", 2: "invalid", 3: "dynamic", 4: "static"}

u8, u16, u32, u64, i32 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int32


# --- ws2def.h / ws2ipdef.h ------------------------------------------------------------------------


class SOCKADDR(ctypes.Structure):
    _fields_ = (("sa_family", u16), ("sa_data", ctypes.c_char * 14))


class SOCKADDR_IN(ctypes.Structure):  # the SDK's names, as declared there
    _fields_ = (
        ("sin_family", u16),
        ("sin_port", u16),
        ("sin_addr", u8 * 4),
        ("sin_zero", ctypes.c_char * 8),
    )


class SOCKADDR_IN6(ctypes.Structure):
    _fields_ = (
        ("sin6_family", u16),
        ("sin6_port", u16),
        ("sin6_flowinfo", u32),
        ("sin6_addr", u8 * 16),
        ("sin6_scope_id", u32),
    )


class SOCKADDR_INET(ctypes.Union):
    _fields_ = (("Ipv4", SOCKADDR_IN), ("Ipv6", SOCKADDR_IN6), ("si_family", u16))


class SOCKET_ADDRESS(ctypes.Structure):
    _fields_ = (("lpSockaddr", ctypes.c_void_p), ("iSockaddrLength", i32))


class GUID(ctypes.Structure):
    _fields_ = (("Data1", u32), ("Data2", u16), ("Data3", u16), ("Data4", u8 * 8))


# --- iptypes.h -------------------------------------------------------------------------------------


class IP_ADAPTER_UNICAST_ADDRESS_LH(ctypes.Structure):
    _fields_ = (
        ("Length", u32),  # with Flags: the union with ULONGLONG Alignment
        ("Flags", u32),
        ("Next", ctypes.c_void_p),
        ("Address", SOCKET_ADDRESS),
        ("PrefixOrigin", i32),
        ("SuffixOrigin", i32),
        ("DadState", i32),
        ("ValidLifetime", u32),
        ("PreferredLifetime", u32),
        ("LeaseLifetime", u32),
        ("OnLinkPrefixLength", u8),
    )


class IP_ADAPTER_ADDRESSES_LH(ctypes.Structure):
    _fields_ = (
        ("Length", u32),  # with IfIndex: the union with ULONGLONG Alignment
        ("IfIndex", u32),
        ("Next", ctypes.c_void_p),
        ("AdapterName", ctypes.c_void_p),  # PCHAR
        ("FirstUnicastAddress", ctypes.c_void_p),
        ("FirstAnycastAddress", ctypes.c_void_p),
        ("FirstMulticastAddress", ctypes.c_void_p),
        ("FirstDnsServerAddress", ctypes.c_void_p),
        ("DnsSuffix", ctypes.c_void_p),  # PWCHAR (UTF-16)
        ("Description", ctypes.c_void_p),
        ("FriendlyName", ctypes.c_void_p),
        ("PhysicalAddress", u8 * MAX_ADAPTER_ADDRESS_LENGTH),
        ("PhysicalAddressLength", u32),
        ("Flags", u32),
        ("Mtu", u32),
        ("IfType", u32),
        ("OperStatus", i32),
        ("Ipv6IfIndex", u32),
        ("ZoneIndices", u32 * 16),
        ("FirstPrefix", ctypes.c_void_p),
        ("TransmitLinkSpeed", u64),
        ("ReceiveLinkSpeed", u64),
        ("FirstWinsServerAddress", ctypes.c_void_p),
        ("FirstGatewayAddress", ctypes.c_void_p),
        ("Ipv4Metric", u32),
        ("Ipv6Metric", u32),
        ("Luid", u64),
        ("Dhcpv4Server", SOCKET_ADDRESS),
        ("CompartmentId", u32),
        ("NetworkGuid", GUID),
        ("ConnectionType", i32),
        ("TunnelType", i32),
        ("Dhcpv6Server", SOCKET_ADDRESS),
        ("Dhcpv6ClientDuid", u8 * MAX_DHCPV6_DUID_LENGTH),
        ("Dhcpv6ClientDuidLength", u32),
        ("Dhcpv6Iaid", u32),
        ("FirstDnsSuffix", ctypes.c_void_p),
    )


# --- netioapi.h / ipmib.h --------------------------------------------------------------------------


class MIB_IPNET_ROW2(ctypes.Structure):
    _fields_ = (
        ("Address", SOCKADDR_INET),
        ("InterfaceIndex", u32),
        ("InterfaceLuid", u64),
        ("PhysicalAddress", u8 * IF_MAX_PHYS_ADDRESS_LENGTH),
        ("PhysicalAddressLength", u32),
        ("State", i32),
        ("Flags", u8),  # IsRouter : 1, IsUnreachable : 1
        ("ReachabilityTime", u32),  # union LastReachable / LastUnreachable
    )


class MIB_IPNET_TABLE2(ctypes.Structure):
    _fields_ = (("NumEntries", u32), ("Table", MIB_IPNET_ROW2 * 1))  # Table[ANY_SIZE]


class MIB_IPNETROW(ctypes.Structure):
    _fields_ = (
        ("dwIndex", u32),
        ("dwPhysAddrLen", u32),
        ("bPhysAddr", u8 * MAX_ADAPTER_ADDRESS_LENGTH),
        ("dwAddr", u32),  # IPv4 address, network byte order in memory
        ("dwType", u32),
    )


class MIB_IPNETTABLE(ctypes.Structure):
    _fields_ = (("dwNumEntries", u32), ("table", MIB_IPNETROW * 1))


# --- parsing (pure: bytes or addresses in, plain data out) -----------------------------------------


def _mac(raw: Any, length: int) -> str | None:
    data = bytes(raw)[: max(0, min(length, len(bytes(raw))))]
    if len(data) != 6 or data == b"\0" * 6:
        return None
    return ":".join(f"{b:02x}" for b in data)


def _utf16_at(address: int | None, limit: int = 512) -> str:
    """A NUL-terminated UTF-16 string (a Windows PWCHAR) at ``address``; ``ctypes.wstring_at`` is
    UTF-32 on Linux, so the units are read one by one."""
    if not address:
        return ""
    units = bytearray()
    for i in range(limit):
        unit = ctypes.string_at(address + 2 * i, 2)
        if unit == b"\0\0":
            break
        units += unit
    return units.decode("utf-16-le", "replace")


def _ipv4_of(sockaddr: int | None) -> str | None:
    """The IPv4 address of a ``SOCKADDR`` at ``sockaddr``, or None for another family."""
    if not sockaddr:
        return None
    sin = SOCKADDR_IN.from_address(sockaddr)
    return socket.inet_ntoa(bytes(sin.sin_addr)) if sin.sin_family == AF_INET else None


def parse_adapters(first: int | None) -> list[Interface]:
    """Walk the ``IP_ADAPTER_ADDRESSES_LH`` list that ``GetAdaptersAddresses`` wrote, starting at
    address ``first``: each adapter with its IPv4 unicast addresses and on-link prefix lengths."""
    out: list[Interface] = []
    address = first
    seen: set[int] = set()
    while address and address not in seen:
        seen.add(address)
        ad = IP_ADAPTER_ADDRESSES_LH.from_address(address)
        addresses: list[tuple[str, int]] = []
        ua = ad.FirstUnicastAddress
        while ua:
            u = IP_ADAPTER_UNICAST_ADDRESS_LH.from_address(ua)
            ip = _ipv4_of(u.Address.lpSockaddr)
            if ip is not None and 0 <= u.OnLinkPrefixLength <= 32:
                addresses.append((ip, int(u.OnLinkPrefixLength)))
            ua = u.Next
        name = ctypes.string_at(ad.AdapterName).decode("ascii", "replace") if ad.AdapterName else ""
        out.append(
            Interface(
                name=name,
                index=int(ad.IfIndex),
                mac=_mac(ad.PhysicalAddress, ad.PhysicalAddressLength),
                up=ad.OperStatus == IF_OPER_STATUS_UP,
                ethernet=ad.IfType in (IF_TYPE_ETHERNET_CSMACD, IF_TYPE_IEEE80211),
                loopback=ad.IfType == IF_TYPE_SOFTWARE_LOOPBACK,
                addresses=tuple(addresses),
                description=_utf16_at(ad.FriendlyName) or _utf16_at(ad.Description),
            )
        )
        address = ad.Next
    return out


def _count(data: bytes, what: str) -> int:
    """The row count a table starts with (a ULONG); ValueError when the buffer cannot hold it."""
    if len(data) < 4:
        raise ValueError(f"{what} needs at least 4 bytes, got {len(data)}")
    return int(struct.unpack_from("<I", data, 0)[0])


def parse_ipnet_table2(data: bytes) -> list[Neighbour]:
    """``MIB_IPNET_TABLE2`` as ``GetIpNetTable2`` returns it: IPv4 rows with a MAC, any state but
    unreachable and incomplete. A malformed buffer is a ValueError, never a read past its end."""
    count = _count(data, "MIB_IPNET_TABLE2")
    first = MIB_IPNET_TABLE2.Table.offset
    size = ctypes.sizeof(MIB_IPNET_ROW2)
    if len(data) < first + count * size:
        raise ValueError(
            f"MIB_IPNET_TABLE2 of {count} rows needs {first + count * size} bytes, got {len(data)}"
        )
    out: list[Neighbour] = []
    for i in range(count):
        row = MIB_IPNET_ROW2.from_buffer_copy(data, first + i * size)
        if row.Address.si_family != AF_INET:
            continue
        state = NEIGHBOR_STATES[row.State] if 0 <= row.State < len(NEIGHBOR_STATES) else str(row.State)
        mac = _mac(row.PhysicalAddress, row.PhysicalAddressLength)
        if mac is None or state in ("unreachable", "incomplete"):
            continue
        ip = socket.inet_ntoa(bytes(row.Address.Ipv4.sin_addr))
        out.append(Neighbour(ip, mac, int(row.InterfaceIndex), state))
    return out


def parse_ipnet_table(data: bytes) -> list[Neighbour]:
    """``MIB_IPNETTABLE`` as ``GetIpNetTable`` returns it (the older, IPv4-only call)."""
    count = _count(data, "MIB_IPNETTABLE")
    first = MIB_IPNETTABLE.table.offset
    size = ctypes.sizeof(MIB_IPNETROW)
    if len(data) < first + count * size:
        raise ValueError(
            f"MIB_IPNETTABLE of {count} rows needs {first + count * size} bytes, got {len(data)}"
        )
    out: list[Neighbour] = []
    for i in range(count):
        row = MIB_IPNETROW.from_buffer_copy(data, first + i * size)
        kind = IPNET_TYPES.get(row.dwType, str(row.dwType))
        mac = _mac(row.bPhysAddr, row.dwPhysAddrLen)
        if mac is None or kind == "invalid":
            continue
        ip = socket.inet_ntoa(struct.pack("<I", row.dwAddr))  # the in_addr's bytes, as stored
        out.append(Neighbour(ip, mac, int(row.dwIndex), kind))
    return out


def routes_of(adapters: list[Interface]) -> list[Route]:
    """On-link routes: the subnet of every IPv4 address of an up Ethernet/Wi-Fi adapter. Routes
    through gateways are not needed: discovery only asks whether a target is on a local link."""
    return [
        Route(net, a.name, True)
        for a in adapters
        if a.up and a.ethernet and not a.loopback
        for net in a.networks()
    ]


def link_from(adapters: list[Interface], name: str) -> Link | None:
    for a in adapters:
        if a.name == name and a.up and a.ethernet and a.mac and a.addresses:
            return Link(name, a.addresses[0][0], bytes.fromhex(a.mac.replace(":", "")))
    return None


def npcap_installed(system_root: Path | None = None) -> bool:
    """Npcap's ``wpcap.dll`` under ``%SystemRoot%\\System32\\Npcap`` (its default, non-WinPcap-compatible
    place), or its uninstall key in the registry."""
    root = system_root or Path(os.environ.get("SYSTEMROOT", r"C:\Windows"))
    if (root / "System32" / "Npcap" / "wpcap.dll").is_file():
        return True
    if system_root is not None:
        return False
    try:
        winreg: Any = importlib.import_module("winreg")
    except ImportError:
        return False
    with contextlib.suppress(OSError):
        winreg.CloseKey(winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Npcap"))
        return True
    return False


def ipaddr(ip: str) -> int:
    """An ``IPAddr`` (``in_addr`` as a ULONG): the address's bytes as they lie in memory."""
    return int(struct.unpack("=I", socket.inet_aton(ip))[0])


# --- the API calls (Windows only) -------------------------------------------------------------------


@functools.cache
def _iphlpapi() -> Any:
    """``iphlpapi.dll`` with the signatures of the calls used here (pointers stay 64-bit, return
    codes unsigned)."""
    windll: Any = getattr(ctypes, "WinDLL")  # noqa: B009 - absent off Windows
    api = windll("iphlpapi", use_last_error=True)
    ulong_p = ctypes.POINTER(u32)
    api.GetAdaptersAddresses.argtypes = (u32, u32, ctypes.c_void_p, ctypes.c_void_p, ulong_p)
    api.GetAdaptersAddresses.restype = u32
    api.GetIpNetTable2.argtypes = (u16, ctypes.POINTER(ctypes.c_void_p))
    api.GetIpNetTable2.restype = u32
    api.FreeMibTable.argtypes = (ctypes.c_void_p,)
    api.FreeMibTable.restype = None
    api.SendARP.argtypes = (u32, u32, ctypes.c_void_p, ulong_p)
    api.SendARP.restype = u32
    return api


def get_adapters() -> list[Interface]:
    api = _iphlpapi()
    size = u32(16 * 1024)
    for _ in range(4):
        buf = ctypes.create_string_buffer(size.value)
        rc = api.GetAdaptersAddresses(
            AF_INET,
            GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER,
            None,
            buf,
            ctypes.byref(size),
        )
        if rc == NO_ERROR:
            return parse_adapters(ctypes.addressof(buf))
        if rc != ERROR_BUFFER_OVERFLOW:
            raise OSError(rc, f"GetAdaptersAddresses failed ({rc})")
    raise OSError(ERROR_BUFFER_OVERFLOW, "GetAdaptersAddresses: the adapter list kept growing")


def get_neighbours() -> list[Neighbour]:
    api = _iphlpapi()
    table = ctypes.c_void_p()
    rc = api.GetIpNetTable2(AF_INET, ctypes.byref(table))
    if rc != NO_ERROR or not table.value:
        raise OSError(rc, f"GetIpNetTable2 failed ({rc})")
    try:
        count = u32.from_address(table.value).value
        size = MIB_IPNET_TABLE2.Table.offset + count * ctypes.sizeof(MIB_IPNET_ROW2)
        return parse_ipnet_table2(ctypes.string_at(table.value, size))
    finally:
        api.FreeMibTable(table)


def send_arp(target: str, source: str) -> str | None:
    """One ARP resolution of ``target`` from our address ``source`` (blocking, about 3 s when no
    one answers); the MAC, or None."""
    api = _iphlpapi()
    mac = (u8 * 8)()
    length = u32(8)
    rc = api.SendARP(ipaddr(target), ipaddr(source), mac, ctypes.byref(length))
    if rc != NO_ERROR:
        return None
    return _mac(mac, length.value)


# --- the platform answers --------------------------------------------------------------------------


def interfaces() -> list[Interface]:
    return get_adapters()


def read_routes() -> list[Route]:
    try:
        return routes_of(get_adapters())
    except OSError:
        return []


def link_of(interface: str) -> Link | None:
    try:
        return link_from(get_adapters(), interface)
    except OSError:
        return None


def neighbours() -> list[Neighbour]:
    try:
        return get_neighbours()
    except (OSError, ValueError):  # IP Helper failed, or answered a table that does not parse
        return []


def arp_permitted() -> bool:
    """``SendARP`` needs no privilege: available wherever ``iphlpapi.dll`` loads."""
    try:
        _iphlpapi()
    except (OSError, AttributeError):
        return False
    return True


def raw_access(icmp: bool) -> RawAccess:
    arp = arp_permitted()
    npcap = npcap_installed()
    notes = (
        f"ARP discovery through SendARP (IP Helper); Npcap {'installed, not used' if npcap else 'not installed'}",
    )
    return RawAccess(arp, icmp, "sendarp" if arp else "none", npcap, notes)


class MsvcrtLock:
    """``msvcrt.locking(LK_NBLCK)`` on the first byte of ``path``: Windows' mandatory byte-range
    lock, dropped when the file is closed or the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        msvcrt: Any = importlib.import_module("msvcrt")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            os.close(fd)
            raise LockHeld(f"{self.path} is locked by another process") from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            msvcrt: Any = importlib.import_module("msvcrt")
            with contextlib.suppress(OSError):
                os.lseek(self._fd, 0, os.SEEK_SET)
                msvcrt.locking(self._fd, msvcrt.LK_UNLCK, 1)
            os.close(self._fd)
            self._fd = None


def file_lock(path: Path) -> MsvcrtLock:
    return MsvcrtLock(path)


#: Well-known SIDs (``*`` makes icacls take a SID, so it works on any display language).
SYSTEM_SID, ADMINISTRATORS_SID = "*S-1-5-18", "*S-1-5-32-544"


def secure_dir_command(path: Path) -> list[str]:
    """``icacls``: inheritance off, full control for SYSTEM and Administrators only. The state folder
    holds the agent's private key; under Program Files it would otherwise inherit Users: read."""
    return [
        "icacls",
        str(path),
        "/inheritance:r",
        "/grant:r",
        f"{SYSTEM_SID}:(OI)(CI)F",
        f"{ADMINISTRATORS_SID}:(OI)(CI)F",
    ]


def secure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(secure_dir_command(path), check=True, capture_output=True)
