"""Test-only capture replay: pcap/pcapng -> per-flow ordered payloads, via dpkt.

Deliberately simple TCP reassembly (in-order by sequence number, retransmissions trimmed) so the
S7comm/EtherNet/IP/BACnet answer-key tests do not depend on the sensor's own flow code.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "captures"


def capture_dir(name: str) -> Path:
    """A public capture folder, or skip the test with the reason when it is absent."""
    path = (CAPTURES / name).resolve()
    if not path.is_dir():
        pytest.skip(f"capture folder {path} is absent (expected ../shared/captures/{name})")
    return path


@dataclass(slots=True)
class Segment:
    """One payload in capture order: which flow, whether from the client, transport, the bytes."""

    flow: tuple[str, int, str, int]  # client ip, client port, server ip, server port
    from_client: bool
    transport: str
    payload: bytes
    frame: int


def _ip_packets(path: Path) -> Iterator[tuple[int, dpkt.ip.IP | dpkt.ip6.IP6]]:
    with path.open("rb") as fh:
        try:
            reader = dpkt.pcap.Reader(fh)
        except ValueError:
            fh.seek(0)
            reader = dpkt.pcapng.Reader(fh)
        linktype = reader.datalink()
        for number, (_, raw) in enumerate(reader, start=1):
            try:
                if linktype == dpkt.pcap.DLT_LINUX_SLL:
                    pkt = dpkt.sll.SLL(raw).data
                elif linktype == dpkt.pcap.DLT_RAW or linktype == 101:
                    pkt = dpkt.ip.IP(raw)
                else:
                    pkt = dpkt.ethernet.Ethernet(raw).data
            except (dpkt.UnpackError, IndexError):
                continue
            if isinstance(pkt, dpkt.ip.IP | dpkt.ip6.IP6):
                yield number, pkt


def _addr(ip: dpkt.ip.IP | dpkt.ip6.IP6, src: bool) -> str:
    import socket

    raw = ip.src if src else ip.dst
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def segments(path: Path, server_ports: set[int]) -> list[Segment]:
    """Ordered payloads of TCP and UDP flows touching ``server_ports`` (client = the other end)."""
    out: list[Segment] = []
    next_seq: dict[tuple[str, int, str, int], int] = {}
    for number, ip in _ip_packets(path):
        l4 = ip.data
        if not isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP):
            continue
        src, dst = _addr(ip, True), _addr(ip, False)
        if l4.dport in server_ports:
            flow, from_client = (src, l4.sport, dst, l4.dport), True
        elif l4.sport in server_ports:
            flow, from_client = (dst, l4.dport, src, l4.sport), False
        else:
            continue
        if isinstance(l4, dpkt.udp.UDP):
            out.append(Segment(flow, from_client, "udp", bytes(l4.data), number))
            continue
        key = (src, l4.sport, dst, l4.dport)
        data = bytes(l4.data)
        seq = l4.seq
        if l4.flags & dpkt.tcp.TH_SYN:
            next_seq[key] = (seq + 1) & 0xFFFFFFFF
            continue
        if not data:
            continue
        expected = next_seq.get(key, seq)
        behind = (expected - seq) & 0xFFFFFFFF
        if behind and behind < 0x80000000:  # retransmission or overlap
            if behind >= len(data):
                continue
            data = data[behind:]
        next_seq[key] = (seq + len(l4.data)) & 0xFFFFFFFF
        out.append(Segment(flow, from_client, "tcp", data, number))
    return out


def read_zeek_log(path: Path, fields: list[str] | None = None) -> list[dict[str, str]]:
    """Rows of a Zeek TSV log; ``fields`` names the columns when the baseline lacks its header."""
    rows: list[dict[str, str]] = []
    names = fields
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            names = line.split("\t")[1:]
            continue
        if line.startswith("#") or not line.strip():
            continue
        assert names is not None, f"{path} has no #fields header"
        rows.append(dict(zip(names, line.split("\t"), strict=False)))
    return rows


def tshark_fields(path: Path, display_filter: str, fields: list[str]) -> list[list[str]]:
    """tshark's reading of a capture (the second answer key); skips when tshark is absent."""
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("tshark is not installed (apt-get install -y tshark)")
    cmd = [
        exe,
        "-r",
        str(path),
        "-Y",
        display_filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for name in fields:
        cmd += ["-e", name]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in result.stdout.splitlines()]


def zeek_value(value: str) -> str | None:
    """Zeek's unset ``-`` as None and ``(empty)`` as the empty string."""
    if value == "-":
        return None
    return "" if value == "(empty)" else value


def as_text(value: object) -> str | None:
    return None if value is None else str(value)


def assert_same_rows(ours: list[tuple[str | None, ...]], theirs: list[tuple[str | None, ...]]) -> None:
    """Same number of rows and, row by row, the same values; the first difference is reported."""
    for index, (mine, key) in enumerate(zip(ours, theirs, strict=False)):
        assert mine == key, f"row {index}: ours {mine} != answer key {key}"
    assert len(ours) == len(theirs), f"{len(ours)} records, answer key has {len(theirs)}"
