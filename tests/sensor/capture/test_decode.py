"""Decoding cross-checked with tshark on every public capture, plus hand-built frames for the link
types and corner cases the captures lack (QinQ, SLL2, raw IP, IPv6 fragments, ARP)."""

from __future__ import annotations

import socket
import struct

import pytest

from otwatch.inventory.mac import format_mac
from otwatch.sensor.capture.decode import (
    ETH_ARP,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    TCP_ACK,
    TCP_PSH,
    decode,
)
from otwatch.sensor.capture.pcapfile import CaptureReader
from tests.sensor.replay import CAPTURES, capture, tshark_fields

FIELDS = ["eth.src", "vlan.id", "ip.src", "ip.dst", "ipv6.src", "tcp.srcport", "tcp.dstport", "udp.srcport",
          "udp.dstport", "tcp.seq_raw", "tcp.len", "ip.flags.mf", "ip.frag_offset"]  # fmt: skip


@pytest.mark.parametrize(
    "name",
    [
        "icsnpp-modbus/testing/traces/modbus_example.pcap",
        "icsnpp-s7comm/tests/traces/s7comm_plus.pcap",  # Linux cooked capture
        "iti/IEC61850__Sample_File_MMS_and_GOOSE.pcap",  # VLAN-tagged GOOSE
        "iti/BACnet__bacnet_test.pcap",
        "iti/hart__hart_ip.pcap",
        "iti/profinet__PROFINET-RT-DCP__PROFINET-RT.pcap",
        "icsnpp-dnp3/testing/traces/dnp3_example.pcap",
    ],
)
def test_headers_match_tshark(name: str) -> None:
    path = capture(name)
    rows = {int(r[0]): r[1:] for r in tshark_fields(path, "frame", FIELDS)}
    for number, (_ts, linktype, data) in enumerate(CaptureReader(path), start=1):
        pkt = decode(linktype, data)
        assert pkt is not None
        esrc, vlan, ip_src, ip_dst, ip6_src, tsp, tdp, usp, udp_, seq, tlen, mf, frag = rows[number]
        if esrc:
            assert pkt.src_mac is not None and format_mac(pkt.src_mac) == esrc.split(",")[0], number
        assert pkt.vlan == tuple(int(v) for v in vlan.split(",") if v), number
        if "," in ip_src or "," in ip6_src:  # tunnelled/ICMP-quoted inner headers: outer only
            ip_src, ip_dst = ip_src.split(",")[0], ip_dst.split(",")[0]
        if ip_src:
            assert (pkt.src_ip, pkt.dst_ip) == (ip_src, ip_dst), number
            mf, frag = mf.split(",")[0], frag.split(",")[0]
            assert pkt.more_fragments == (mf == "1") and pkt.frag_offset == int(frag or 0) * 8
        elif ip6_src:
            assert pkt.src_ip == socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, ip6_src))
        if pkt.is_fragment or pkt.proto not in (6, 17):  # reassembled or ICMP-quoted ports in tshark
            continue
        if tsp and "," not in tsp:
            assert (pkt.src_port, pkt.dst_port, pkt.tcp_seq) == (int(tsp), int(tdp), int(seq)), number
            assert len(pkt.payload) == int(tlen), number
        elif usp and "," not in usp:
            assert (pkt.src_port, pkt.dst_port) == (int(usp), int(udp_)), number


def test_capture_folder_resolves_beside_the_repository() -> None:
    assert CAPTURES.name == "captures" and CAPTURES.parent.name == "shared"


MAC_A, MAC_B = bytes.fromhex("00163e000001"), bytes.fromhex("00163e000002")


def _ipv4(proto: int, l4: bytes, flags_frag: int = 0x4000, total: int | None = None) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total or 20 + len(l4), 7, flags_frag, 64, proto, 0,
                       socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))  # fmt: skip
    return head + l4


def _tcp(payload: bytes, flags: int = TCP_PSH | TCP_ACK) -> bytes:
    return struct.pack("!HHIIBBHHH", 49152, 502, 1000, 2000, 5 << 4, flags, 8192, 0, 0) + payload


def test_qinq_vlan_and_ethernet_padding_trimmed() -> None:
    tags = struct.pack("!HHHH", 0x88A8, 100, 0x8100, 0x2000 | 200)
    frame = MAC_B + MAC_A + tags + struct.pack("!H", 0x0800) + _ipv4(6, _tcp(b"ab")) + b"\x00" * 6
    pkt = decode(LINKTYPE_ETHERNET, frame)
    assert pkt is not None and pkt.malformed is None
    assert pkt.vlan == (100, 200) and pkt.src_mac == MAC_A and pkt.dst_mac == MAC_B
    assert (pkt.src_ip, pkt.dst_ip, pkt.src_port, pkt.dst_port, pkt.tcp_seq) == (
        "10.0.0.1",
        "10.0.0.2",
        49152,
        502,
        1000,
    )
    assert bytes(pkt.payload) == b"ab"  # the 6 padding bytes are not TCP payload


def test_linux_cooked_v2_and_raw_ip() -> None:
    sll2 = struct.pack("!HHiHBB8s", 0x0800, 0, 3, 1, 0, 6, MAC_A + b"\x00\x00")
    pkt = decode(LINKTYPE_LINUX_SLL2, sll2 + _ipv4(17, struct.pack("!HHHH", 47808, 47808, 10, 0) + b"hi"))
    assert pkt is not None and pkt.src_mac == MAC_A and pkt.dst_port == 47808 and bytes(pkt.payload) == b"hi"
    raw = decode(LINKTYPE_RAW, _ipv4(6, _tcp(b"xyz")))
    assert raw is not None and raw.src_mac is None and bytes(raw.payload) == b"xyz"


def test_ipv4_fragments_carry_no_ports_after_the_first() -> None:
    first = decode(LINKTYPE_RAW, _ipv4(17, struct.pack("!HHHH", 1, 2, 100, 0) + b"a" * 16, flags_frag=0x2000))
    assert first is not None and first.more_fragments and first.src_port == 1 and first.is_fragment
    later = decode(LINKTYPE_RAW, _ipv4(17, b"b" * 16, flags_frag=3))
    assert (
        later is not None
        and later.frag_offset == 24
        and later.src_port is None
        and bytes(later.payload) == b"b" * 16
    )


def test_ipv6_with_extension_and_fragment_headers() -> None:
    src, dst = socket.inet_pton(socket.AF_INET6, "fe80::1"), socket.inet_pton(socket.AF_INET6, "fe80::2")
    hop = bytes((44, 0)) + b"\x00" * 6  # hop-by-hop -> fragment
    frag = struct.pack("!BBHI", 6, 0, 0, 99)  # -> TCP, offset 0, last fragment
    body = hop + frag + _tcp(b"z")
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, len(body), 0, 64, src, dst) + body
    pkt = decode(LINKTYPE_ETHERNET, MAC_B + MAC_A + b"\x86\xdd" + ip6)
    assert pkt is not None and pkt.malformed is None
    assert (pkt.src_ip, pkt.proto, pkt.dst_port, bytes(pkt.payload), pkt.ip_id) == (
        "fe80::1",
        6,
        502,
        b"z",
        99,
    )


def test_arp() -> None:
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_A, socket.inet_aton("10.0.0.1"), b"\x00" * 6,
                      socket.inet_aton("10.0.0.9"))  # fmt: skip
    pkt = decode(LINKTYPE_ETHERNET, b"\xff" * 6 + MAC_A + struct.pack("!H", ETH_ARP) + arp)
    assert pkt is not None and pkt.ethertype == ETH_ARP and pkt.arp_op == 1
    assert (pkt.arp_sender_mac, pkt.arp_sender_ip, pkt.arp_target_ip) == (MAC_A, "10.0.0.1", "10.0.0.9")


@pytest.mark.parametrize(
    ("linktype", "frame", "reason"),
    [
        (LINKTYPE_ETHERNET, MAC_B + MAC_A, "short ethernet header"),
        (LINKTYPE_ETHERNET, MAC_B + MAC_A + b"\x81\x00\x00", "vlan"),
        (LINKTYPE_RAW, _ipv4(6, b"\x00" * 10), "short tcp header"),
        (LINKTYPE_RAW, _ipv4(6, _tcp(b"abcd"))[:-2], "truncated ipv4 packet"),
        (LINKTYPE_RAW, b"\x45" + b"\x00" * 10, "short ipv4 header"),
        (LINKTYPE_RAW, _ipv4(17, struct.pack("!HHHH", 1, 2, 4, 0)), "udp length"),
    ],
)
def test_out_of_spec_bytes_are_marked_not_raised(linktype: int, frame: bytes, reason: str) -> None:
    pkt = decode(linktype, frame)
    assert pkt is not None and pkt.malformed is not None and reason in pkt.malformed


def test_unknown_linktype_is_none() -> None:
    assert decode(147, b"\x00" * 40) is None
