"""Link, network and transport decoding for the sensor's hot path.

Hand-written for speed: every header is a ``struct.Struct`` compiled once at import and read with
``unpack_from`` at an offset, with no per-layer objects, so one packet costs one slotted
:class:`Decoded`. Bytes from the wire never raise here: an unknown link type gives ``None`` and a
header that is cut short or out of spec gives a result with ``malformed`` set to the reason, keeping
whatever layers were read before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from socket import AF_INET6, inet_ntoa, inet_ntop
from struct import Struct

__all__ = [
    "ETH_ARP",
    "ETH_IPV4",
    "ETH_IPV6",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "PROTO_TCP",
    "PROTO_UDP",
    "TCP_ACK",
    "TCP_FIN",
    "TCP_PSH",
    "TCP_RST",
    "TCP_SYN",
    "Decoded",
    "decode",
]

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_BSD = 12  # DLT_RAW's value on some BSDs
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
MAX_VLAN_TAGS = 4

PROTO_TCP = 6
PROTO_UDP = 17

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10

IPV6_EXT_HEADERS = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44

_U16 = Struct("!H")
_U32_LE = Struct("<I")
_U32_BE = Struct(">I")
_ETH = Struct("!6s6sH")  # dst, src, ethertype
_SLL = Struct("!HHH8sH")  # packet type, ARPHRD, address length, address, protocol
_SLL2 = Struct("!HHiHBB8s")  # protocol, reserved, ifindex, ARPHRD, packet type, address length, address
_IPV4 = Struct("!BBHHHBBH4s4s")  # ver/ihl, tos, total length, id, flags/frag, ttl, proto, csum, src, dst
_IPV6 = Struct("!IHBB16s16s")  # ver/class/flow, payload length, next header, hop limit, src, dst
_IPV6_EXT = Struct("!BB")  # next header, length in 8-byte units (beyond the first 8)
_IPV6_FRAG = Struct("!BBHI")  # next header, reserved, offset/flags, id
_TCP = Struct("!HHIIBBHHH")  # sport, dport, seq, ack, data offset, flags, window, csum, urgent
_UDP = Struct("!HHHH")  # sport, dport, length, csum
_ARP = Struct("!HHBBH6s4s6s4s")  # htype, ptype, hlen, plen, op, sha, spa, tha, tpa


@dataclass(slots=True)
class Decoded:
    """One packet's headers. Fields a packet does not have stay ``None``/empty."""

    linktype: int
    src_mac: bytes | None = None
    dst_mac: bytes | None = None
    vlan: tuple[int, ...] = ()  # VLAN ids, outermost first
    ethertype: int = 0
    ip_version: int = 0
    src_ip: str | None = None
    dst_ip: str | None = None
    ttl: int = 0
    proto: int = -1  # IP protocol number (6 TCP, 17 UDP ...)
    ip_id: int = 0
    more_fragments: bool = False
    dont_fragment: bool = False
    frag_offset: int = 0  # in bytes; non-zero means no transport header in this packet
    src_port: int | None = None
    dst_port: int | None = None
    tcp_flags: int = 0
    tcp_seq: int = 0
    tcp_ack: int = 0
    tcp_window: int = 0
    arp_op: int = 0
    arp_sender_mac: bytes | None = None
    arp_sender_ip: str | None = None
    arp_target_ip: str | None = None
    payload: memoryview | bytes = b""
    malformed: str | None = None

    @property
    def is_fragment(self) -> bool:
        return self.more_fragments or self.frag_offset != 0


def decode(linktype: int, data: bytes) -> Decoded | None:
    """Decode one captured frame; ``None`` when the link type is not one the sensor reads."""
    buf = memoryview(data)
    n = len(buf)
    pkt = Decoded(linktype)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            pkt.malformed = "short ethernet header"
            return pkt
        dst, src, etype = _ETH.unpack_from(buf, 0)
        pkt.dst_mac = dst
        pkt.src_mac = src
        off = 14
        if etype in VLAN_TPIDS:
            vlans: list[int] = []
            while etype in VLAN_TPIDS:
                if off + 4 > n or len(vlans) == MAX_VLAN_TAGS:
                    pkt.vlan = tuple(vlans)
                    pkt.malformed = "short or excessive vlan tags"
                    return pkt
                vlans.append(_U16.unpack_from(buf, off)[0] & 0x0FFF)
                etype = _U16.unpack_from(buf, off + 2)[0]
                off += 4
            pkt.vlan = tuple(vlans)
        if etype < 0x0600:  # 802.3 length field: LLC frame, not Ethernet II
            pkt.ethertype = 0
            pkt.payload = buf[off:]
            return pkt
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            pkt.malformed = "short linux cooked header"
            return pkt
        _ptype, _hatype, halen, addr, etype = _SLL.unpack_from(buf, 0)
        if halen == 6:
            pkt.src_mac = addr[:6]
        off = 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            pkt.malformed = "short linux cooked v2 header"
            return pkt
        etype, _res, _ifindex, _hatype, _ptype, halen, addr = _SLL2.unpack_from(buf, 0)
        if halen == 6:
            pkt.src_mac = addr[:6]
        off = 20
    elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_BSD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if n < 1:
            pkt.malformed = "empty raw ip packet"
            return pkt
        version = buf[0] >> 4
        etype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0
        off = 0
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if n < 4:
            pkt.malformed = "short loopback header"
            return pkt
        # The family is in the capturing host's byte order (NULL) or network order (LOOP).
        family = _U32_LE.unpack_from(buf, 0)[0]
        if family > 0xFFFF:
            family = _U32_BE.unpack_from(buf, 0)[0]
        etype = ETH_IPV4 if family == 2 else ETH_IPV6 if family in (10, 24, 28, 30) else 0
        off = 4
    else:
        return None
    pkt.ethertype = etype
    if etype == ETH_IPV4:
        _ipv4(pkt, buf, off)
    elif etype == ETH_IPV6:
        _ipv6(pkt, buf, off)
    elif etype == ETH_ARP:
        _arp(pkt, buf, off)
    else:
        pkt.payload = buf[off:]
    return pkt


def _ipv4(pkt: Decoded, buf: memoryview, off: int) -> None:
    n = len(buf)
    if off + 20 > n:
        pkt.malformed = "short ipv4 header"
        return
    vihl, _tos, total, ident, frag, ttl, proto, _csum, src, dst = _IPV4.unpack_from(buf, off)
    pkt.ip_version = vihl >> 4
    ihl = (vihl & 0x0F) * 4
    if pkt.ip_version != 4 or ihl < 20:
        pkt.malformed = "bad ipv4 version or header length"
        return
    pkt.src_ip = inet_ntoa(src)
    pkt.dst_ip = inet_ntoa(dst)
    pkt.ttl = ttl
    pkt.proto = proto
    pkt.ip_id = ident
    pkt.dont_fragment = bool(frag & 0x4000)
    pkt.more_fragments = bool(frag & 0x2000)
    pkt.frag_offset = (frag & 0x1FFF) * 8
    if total == 0:  # segmentation offload on the capturing host: trust the captured length
        end = n
    else:
        end = off + total
        if total < ihl:
            pkt.malformed = "ipv4 total length shorter than header"
            return
        if end > n:  # cut by the snap length; decode what is there
            pkt.malformed = "truncated ipv4 packet"
            end = n
    start = off + ihl
    if start > end:
        pkt.malformed = "short ipv4 options"
        return
    if pkt.frag_offset:
        pkt.payload = buf[start:end]
        return
    _transport(pkt, buf, start, end)


def _ipv6(pkt: Decoded, buf: memoryview, off: int) -> None:
    n = len(buf)
    if off + 40 > n:
        pkt.malformed = "short ipv6 header"
        return
    vtf, plen, nxt, hlim, src, dst = _IPV6.unpack_from(buf, off)
    pkt.ip_version = vtf >> 28
    if pkt.ip_version != 6:
        pkt.malformed = "bad ipv6 version"
        return
    pkt.src_ip = inet_ntop(AF_INET6, src)
    pkt.dst_ip = inet_ntop(AF_INET6, dst)
    pkt.ttl = hlim
    start = off + 40
    end = start + plen if plen else n  # jumbograms/offload: use the captured length
    if end > n:
        pkt.malformed = "truncated ipv6 packet"
        end = n
    for _ in range(8):  # bounded walk of extension headers
        if nxt in IPV6_EXT_HEADERS:
            if start + 2 > end:
                pkt.malformed = "short ipv6 extension header"
                return
            nxt2, hlen = _IPV6_EXT.unpack_from(buf, start)
            start += (hlen + 1) * 8
            nxt = nxt2
        elif nxt == IPV6_FRAGMENT:
            if start + 8 > end:
                pkt.malformed = "short ipv6 fragment header"
                return
            nxt2, _res, offflags, ident = _IPV6_FRAG.unpack_from(buf, start)
            pkt.frag_offset = offflags & 0xFFF8
            pkt.more_fragments = bool(offflags & 1)
            pkt.ip_id = ident
            start += 8
            nxt = nxt2
        else:
            break
    pkt.proto = nxt
    if start > end:
        pkt.malformed = "short ipv6 extension header"
        return
    if pkt.frag_offset:
        pkt.payload = buf[start:end]
        return
    _transport(pkt, buf, start, end)


def _transport(pkt: Decoded, buf: memoryview, start: int, end: int) -> None:
    proto = pkt.proto
    if proto == PROTO_TCP:
        if start + 20 > end:
            pkt.malformed = "short tcp header"
            return
        sport, dport, seq, ack, doff, flags, win, _csum, _urg = _TCP.unpack_from(buf, start)
        pkt.src_port = sport
        pkt.dst_port = dport
        pkt.tcp_seq = seq
        pkt.tcp_ack = ack
        pkt.tcp_flags = flags
        pkt.tcp_window = win
        hlen = (doff >> 4) * 4
        if hlen < 20 or start + hlen > end:
            pkt.malformed = "bad tcp header length"
            return
        pkt.payload = buf[start + hlen : end]
    elif proto == PROTO_UDP:
        if start + 8 > end:
            pkt.malformed = "short udp header"
            return
        sport, dport, ulen, _csum = _UDP.unpack_from(buf, start)
        pkt.src_port = sport
        pkt.dst_port = dport
        if ulen < 8:
            if ulen != 0:  # 0 = offloaded/jumbo; anything else under 8 is out of spec
                pkt.malformed = "udp length shorter than header"
                return
            ulen = end - start
        if start + ulen > end:
            pkt.malformed = "truncated udp datagram"
            ulen = end - start
        pkt.payload = buf[start + 8 : start + ulen]
    else:
        pkt.payload = buf[start:end]


def _arp(pkt: Decoded, buf: memoryview, off: int) -> None:
    if off + 28 > len(buf):
        pkt.malformed = "short arp packet"
        return
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = _ARP.unpack_from(buf, off)
    if htype != 1 or ptype != ETH_IPV4 or hlen != 6 or plen != 4:
        pkt.arp_op = op
        pkt.malformed = "arp for other than ethernet/ipv4"
        return
    pkt.arp_op = op
    pkt.arp_sender_mac = sha
    pkt.arp_sender_ip = inet_ntoa(spa)
    pkt.arp_target_ip = inet_ntoa(tpa)
