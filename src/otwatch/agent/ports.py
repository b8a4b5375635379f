"""Phase 2, Open ports check: full TCP connects, one at a time per host, each closed with FIN.

No SYN half-open scans: half-open connections fill the small connection tables of PLC Ethernet cards.
UDP services (BACnet 47808, SNMP 161, EtherNet/IP I/O 2222) cannot be found by a connect; their
protocol query finds them instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from otwatch.agent.safety import ScanContext

#: The most frequently used ports of OT and IT devices.
DEFAULT_PORTS: tuple[int, ...] = (
    502, 102, 44818, 2222, 20000, 47808, 2404, 4840, 161, 80, 443, 22, 23, 3389, 445, 21, 8080,
    1911, 18245, 5094, 9600, 1962, 789, 2455, 5007, 20547, 4000, 1089, 1090, 1091,
)  # fmt: skip

#: Ports whose service speaks UDP only (checked by their protocol query, not by connect).
UDP_ONLY_PORTS: frozenset[int] = frozenset({47808, 161, 2222})

PORT_NAMES: dict[int, str] = {
    21: "ftp", 22: "ssh", 23: "telnet", 80: "http", 102: "s7comm", 161: "snmp", 443: "https",
    445: "smb", 502: "modbus", 789: "crimson", 1089: "ff-hse", 1090: "ff-hse", 1091: "ff-hse",
    1911: "niagara-fox", 1962: "pcworx", 2222: "enip-io", 2404: "iec104", 2455: "codesys",
    3389: "rdp", 4000: "roc", 4840: "opcua", 5007: "melsec", 5094: "hart-ip", 8080: "http-alt",
    9600: "omron-fins", 18245: "ge-srtp", 20000: "dnp3", 20547: "proconos", 44818: "enip",
    47808: "bacnet",
}  # fmt: skip


def tcp_ports(ports: Iterable[int]) -> list[int]:
    """Deduplicated TCP-checkable ports in the given order."""
    return [p for p in dict.fromkeys(ports) if p not in UDP_ONLY_PORTS and 0 < p < 65536]


async def check_ports(ctx: ScanContext, host: str, ports: Sequence[int]) -> list[int]:
    """Open TCP ports of ``host`` among ``ports``. Caller holds ``ctx.exclusive(host)``.

    Stops early when the host has timed out twice in a row (PEERS.md: give up on such a host).
    """
    guard = ctx.guard(host)
    found: list[int] = []
    for port in tcp_ports(ports):
        if guard.gave_up:
            break
        try:
            _reader, writer = await ctx.open_tcp(host, port)
        except (ConnectionRefusedError, TimeoutError, OSError):
            continue
        found.append(port)
        await ctx.close_tcp(writer)
    return found
