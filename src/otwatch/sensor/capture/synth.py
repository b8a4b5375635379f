"""Synthetic OT traffic: hand-built Ethernet frames for the demo, the benchmark and the sensor tests.

No capture library, just struct.

:class:`Net` hands out frames (Ethernet II, IPv4, TCP/UDP/ARP) between hosts given by name; TCP
sessions keep their sequence numbers so the flow table reassembles them like real traffic. The OT
payloads come from the protocol packages' own ``encode()`` (the agent's side of each message), so
the sensor is tested against the same bytes the agent would send.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from otwatch.protocols.dnp3.messages import AppHeader, LinkFrame, TransportSegment
from otwatch.protocols.enip import codes as enip
from otwatch.protocols.enip.messages import (
    CipRequest,
    CipResponse,
    CpfItem,
    Encapsulation,
    Path,
    SendRRData,
    unconnected_request,
)
from otwatch.protocols.iec104.codes import ApciType
from otwatch.protocols.iec104.messages import Apdu, Asdu
from otwatch.protocols.modbus.messages import Frame
from otwatch.protocols.s7comm import codes as s7
from otwatch.protocols.s7comm.messages import CotpData, S7Pdu, VarItem, VarRequest, tpkt_frame
from otwatch.sensor.capture.decode import LINKTYPE_ETHERNET, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN

Frame_ = tuple[float, int, bytes]  # ts, linktype, data (what Sensor.process takes)


def mac(n: int, oui: int = 0x001B1B) -> bytes:  # Siemens OUI by default
    return oui.to_bytes(3, "big") + n.to_bytes(3, "big")


def ip_bytes(ip: str) -> bytes:
    return socket.inet_aton(ip)


def ethernet(src: bytes, dst: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1) -> bytes:
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            ident & 0xFFFF,
            0x4000,
            64,
            proto,
            0,
            ip_bytes(src),
            ip_bytes(dst),
        )
        + payload
    )


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 8192, 0, 0)
        + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def arp_request(sender_mac: bytes, sender_ip: str, target_ip: str) -> bytes:
    body = struct.pack(
        "!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, sender_mac, ip_bytes(sender_ip), bytes(6), ip_bytes(target_ip)
    )
    return ethernet(sender_mac, b"\xff" * 6, 0x0806, body)


@dataclass(slots=True)
class Host:
    ip: str
    mac: bytes


@dataclass
class Net:
    """Frames between named hosts, with a clock that advances ``step`` seconds per frame."""

    t: float = 1_700_000_000.0
    step: float = 0.001
    hosts: dict[str, Host] = field(default_factory=dict)
    frames: list[Frame_] = field(default_factory=list)
    _ident: int = 0

    def host(self, name: str, ip: str, oui: int = 0x001B1B) -> Host:
        h = self.hosts[name] = Host(ip, mac(len(self.hosts) + 1, oui))
        return h

    def emit(self, frame: bytes) -> None:
        self.frames.append((self.t, LINKTYPE_ETHERNET, frame))
        self.t += self.step

    def ip_frame(self, a: Host, b: Host, proto: int, payload: bytes) -> bytes:
        self._ident += 1
        return ethernet(a.mac, b.mac, 0x0800, ipv4(a.ip, b.ip, proto, payload, self._ident))

    def udp(self, a: Host, b: Host, sport: int, dport: int, payload: bytes) -> None:
        self.emit(self.ip_frame(a, b, 17, udp(sport, dport, payload)))

    def syn(self, a: Host, b: Host, sport: int, dport: int) -> None:
        self.emit(self.ip_frame(a, b, 6, tcp(sport, dport, 1000, 0, TCP_SYN)))

    def rst(self, a: Host, b: Host, sport: int, dport: int) -> None:
        self.emit(self.ip_frame(a, b, 6, tcp(sport, dport, 0, 1001, 0x14)))

    def session(self, client: Host, server: Host, dport: int, sport: int = 49152) -> TcpSession:
        return TcpSession(self, client, server, sport, dport)

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def __iter__(self) -> Iterator[Frame_]:
        return iter(self.frames)


@dataclass
class TcpSession:
    net: Net
    client: Host
    server: Host
    sport: int
    dport: int
    cseq: int = 1000
    sseq: int = 5000
    opened: bool = False

    def open(self) -> TcpSession:
        n, c, s = self.net, self.client, self.server
        n.emit(n.ip_frame(c, s, 6, tcp(self.sport, self.dport, self.cseq, 0, TCP_SYN)))
        n.emit(n.ip_frame(s, c, 6, tcp(self.dport, self.sport, self.sseq, self.cseq + 1, TCP_SYN | TCP_ACK)))
        self.cseq += 1
        self.sseq += 1
        n.emit(n.ip_frame(c, s, 6, tcp(self.sport, self.dport, self.cseq, self.sseq, TCP_ACK)))
        self.opened = True
        return self

    def send(self, payload: bytes, from_client: bool = True, ack: bool = False) -> None:
        """One data segment (and optionally the peer's bare ACK, as real stacks do)."""
        n = self.net
        if from_client:
            n.emit(
                n.ip_frame(
                    self.client,
                    self.server,
                    6,
                    tcp(self.sport, self.dport, self.cseq, self.sseq, TCP_PSH | TCP_ACK, payload),
                )
            )
            self.cseq += len(payload)
            if ack:
                n.emit(
                    n.ip_frame(
                        self.server,
                        self.client,
                        6,
                        tcp(self.dport, self.sport, self.sseq, self.cseq, TCP_ACK),
                    )
                )
        else:
            n.emit(
                n.ip_frame(
                    self.server,
                    self.client,
                    6,
                    tcp(self.dport, self.sport, self.sseq, self.cseq, TCP_PSH | TCP_ACK, payload),
                )
            )
            self.sseq += len(payload)
            if ack:
                n.emit(
                    n.ip_frame(
                        self.client,
                        self.server,
                        6,
                        tcp(self.sport, self.dport, self.cseq, self.sseq, TCP_ACK),
                    )
                )

    def exchange(self, request: bytes, response: bytes | None, ack: bool = False) -> None:
        self.send(request, True, ack)
        if response is not None:
            self.send(response, False, ack)

    def close(self) -> None:
        n = self.net
        n.emit(
            n.ip_frame(
                self.client,
                self.server,
                6,
                tcp(self.sport, self.dport, self.cseq, self.sseq, TCP_FIN | TCP_ACK),
            )
        )
        n.emit(
            n.ip_frame(
                self.server,
                self.client,
                6,
                tcp(self.dport, self.sport, self.sseq, self.cseq + 1, TCP_FIN | TCP_ACK),
            )
        )


# -- protocol payloads -----------------------------------------------------------------------------
def modbus(tid: int, unit: int, pdu: bytes) -> bytes:
    return Frame(tid, unit, pdu).encode()


def s7_job(ref: int, parameter: bytes, data: bytes = b"") -> bytes:
    return tpkt_frame(CotpData(S7Pdu(s7.ROSCTR_JOB, ref, parameter, data).encode()).encode())


def s7_ack(ref: int, parameter: bytes, data: bytes = b"") -> bytes:
    return tpkt_frame(CotpData(S7Pdu(s7.ROSCTR_ACK_DATA, ref, parameter, data, 0, 0).encode()).encode())


def s7_read_db(ref: int, db: int, start: int = 0, length: int = 4) -> bytes:
    return s7_job(ref, VarRequest(s7.FUNC_READ_VAR, [VarItem(s7.AREA_DB, db, start, length)]).encode())


def s7_read_db_ack(ref: int, length: int = 4) -> bytes:
    return s7_ack(
        ref,
        bytes((s7.FUNC_READ_VAR, 1)),
        bytes((0xFF, 0x04)) + (length * 8).to_bytes(2, "big") + bytes(length),
    )


def s7_plc_stop(ref: int) -> bytes:
    service = b"P_PROGRAM"
    return s7_job(ref, bytes((s7.FUNC_PLC_STOP, 0, 0, 0, 0, 0, len(service))) + service)


def s7_request_download(ref: int, block: str = "_0800001P") -> bytes:
    name = block.encode()
    param = bytes((s7.FUNC_REQUEST_DOWNLOAD, 0, 1, 0, 0, 0, 0, 0, len(name))) + name
    return s7_job(ref, param)


def dnp3_request(
    func: int, seq: int = 0, master: int = 1, outstation: int = 10, objects: bytes = b""
) -> bytes:
    app = AppHeader(func, seq=seq, objects=objects).encode()
    return LinkFrame(0xC4, outstation, master, TransportSegment(True, True, seq, app).encode()).encode()


def dnp3_response(iin: int, seq: int = 0, master: int = 1, outstation: int = 10) -> bytes:
    app = AppHeader(0x81, seq=seq, iin=iin).encode()
    return LinkFrame(0x44, master, outstation, TransportSegment(True, True, seq, app).encode()).encode()


def iec104_command(type_id: int, ioa: int, send_seq: int = 0, common_address: int = 1) -> bytes:
    asdu = Asdu(type_id, 6, common_address, ioa, information=b"\x01")
    return Apdu(ApciType.I, send_seq, 0, asdu=asdu).encode()


def dns_query(name: str, ident: int = 0x1234) -> bytes:
    q = b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def cip_request(service: int, class_id: int, instance: int = 1, attribute: int | None = None) -> bytes:
    return unconnected_request(1, CipRequest(service, Path(class_id, instance, attribute)))


def cip_response(service: int, data: bytes = b"\x00\x00") -> bytes:
    body = SendRRData(
        [
            CpfItem(enip.ITEM_NULL),
            CpfItem(enip.ITEM_UNCONNECTED_DATA, CipResponse(service, 0, [], data).encode()),
        ]
    )
    return Encapsulation(enip.CMD_SEND_RR_DATA, body.encode(), 1).encode()


# -- a whole plant, for the demo ---------------------------------------------------------------------
OUI_SIEMENS, OUI_SCHNEIDER, OUI_ROCKWELL, OUI_DELL = 0x001B1B, 0x000054, 0x00000BC, 0x00065B


def demo_plant(minutes: int = 10, start: float = 1_700_000_000.0) -> Net:
    """A small plant's traffic: an HMI polling a Modbus PLC and an S7 CPU once a second, a SCADA
    master polling a DNP3 RTU, CIP reads of an EtherNet/IP adapter, DNS from the engineering
    station — then, in the last minute, an unknown laptop that sweeps ports, stops the S7 CPU and
    triggers a Modbus exception (what the engines should catch)."""
    from otwatch.protocols.modbus.messages import ReadRequest, ReadResponse

    n = Net(t=start, step=0.0005)
    hmi = n.host("hmi", "10.10.0.20", OUI_DELL)
    eng = n.host("eng", "10.10.0.5", OUI_DELL)
    s7plc = n.host("s7", "10.10.0.10", OUI_SIEMENS)
    mbplc = n.host("mb", "10.10.0.11", OUI_SCHNEIDER)
    rtu = n.host("rtu", "10.10.0.30", OUI_SCHNEIDER)
    cip = n.host("cip", "10.10.0.40", OUI_ROCKWELL)
    dns = n.host("dns", "10.10.0.2", OUI_DELL)
    rogue = n.host("laptop", "10.10.0.99", 0x3C22FB)
    mb = n.session(hmi, mbplc, 502, 49200).open()
    s7s = n.session(hmi, s7plc, 102, 49201).open()
    dnp = n.session(eng, rtu, 20000, 49202).open()
    enip = n.session(hmi, cip, 44818, 49203).open()
    tid = ref = seq = 0
    incident = max(0, minutes - 1) * 60 + 5
    for second in range(minutes * 60):
        n.t = start + second
        tid, ref, seq = tid + 1, (ref + 1) & 0xFFFF, (seq + 1) & 0x0F
        mb.exchange(
            modbus(tid, 1, ReadRequest(3, 100, 10).encode()),
            modbus(tid, 1, ReadResponse(3, bytes(20)).encode()),
        )
        s7s.exchange(s7_read_db(ref, 1, 0, 8), s7_read_db_ack(ref, 8))
        if second % 5 == 0:
            dnp.exchange(dnp3_request(1, seq), dnp3_response(0, seq))
            enip.exchange(cip_request(0x0E, 0x01, 1, 7), cip_response(0x8E, b"\x00\x00\x05PLC-1"))
        if second % 30 == 0:
            n.udp(eng, dns, 53000 + second % 1000, 53, dns_query("historian.plant.local", second & 0xFFFF))
        if second == incident:  # an unknown laptop sweeps the Modbus PLC's ports, then stops the S7 CPU
            for port in (*range(1, 31), 102, 443, 502, 2404, 20000, 44818):
                n.syn(rogue, mbplc, 40000 + port % 20000, port)
                n.rst(mbplc, rogue, port, 40000 + port % 20000)
            attack = n.session(rogue, s7plc, 102, 41000).open()
            attack.exchange(s7_plc_stop(7), s7_ack(7, bytes((0x29,))))
            bad = modbus(tid, 1, ReadRequest(3, 9000, 10).encode())
            mb.exchange(bad, modbus(tid, 1, bytes((0x83, 0x02))))
    return n


def write_capture(path: str, frames: Iterator[Frame_] | list[Frame_]) -> int:
    """Write frames to a classic pcap file; returns the number written."""
    from otwatch.sensor.capture.pcapfile import pcap_header, pcap_record

    count = 0
    with open(path, "wb") as f:
        f.write(pcap_header(LINKTYPE_ETHERNET))
        for ts, _lt, data in frames:
            f.write(pcap_record(ts, data))
            count += 1
    return count


# -- IT and layer-2 payloads (DHCP, DNS, HTTP, TLS, LLDP, PROFINET DCP) ---------------------------------
def dhcp_message(
    op: int,
    client_mac: bytes,
    msg_type: int,
    xid: int = 0x3903F326,
    hostname: str | None = None,
    vendor_class: str | None = None,
    requested: str | None = None,
    yiaddr: str = "0.0.0.0",
    server_id: str | None = None,
) -> bytes:
    """A BOOTP/DHCP message with the options hosts send (53, 12, 60, 50, 54, 55)."""
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s", op, 1, 6, 0, xid, 0, 0x8000, bytes(4), ip_bytes(yiaddr), bytes(4),
                        bytes(4), client_mac + bytes(10))  # fmt: skip
    opts = bytes((53, 1, msg_type))
    for code, value in (
        (12, hostname.encode() if hostname else None),
        (60, vendor_class.encode() if vendor_class else None),
        (50, ip_bytes(requested) if requested else None),
        (54, ip_bytes(server_id) if server_id else None),
        (55, bytes((1, 3, 6, 15)) if op == 1 else None),
    ):
        if value is not None:
            opts += bytes((code, len(value))) + value
    return fixed + bytes(192) + b"\x63\x82\x53\x63" + opts + b"\xff"


def dns_answer(name: str, addresses: list[str], ident: int = 0x1234, ttl: int = 120) -> bytes:
    """A response to :func:`dns_query` with one A record per address (the name compressed)."""
    query = dns_query(name, ident)
    body = b"".join(struct.pack("!HHHIH4s", 0xC00C, 1, 1, ttl, 4, ip_bytes(a)) for a in addresses)
    header = struct.pack("!HHHHHH", ident, 0x8180, 1, len(addresses), 0, 0)
    return header + query[12:] + body


def http_request(host: str, uri: str = "/", agent: str = "OTWatch-Test/1.0") -> bytes:
    return f"GET {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nAccept: */*\r\n\r\n".encode()


def http_response(server: str, body: bytes = b"ok") -> bytes:
    head = f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def tls_client_hello(server_name: str, alpn: tuple[str, ...] = ("h2", "http/1.1")) -> bytes:
    """A TLS 1.2/1.3 ClientHello record with SNI, ALPN and supported_versions."""
    sni = server_name.encode()
    sni_ext = struct.pack("!HHHBH", 0, len(sni) + 5, len(sni) + 3, 0, len(sni)) + sni
    protos = b"".join(bytes((len(p),)) + p.encode() for p in alpn)
    alpn_ext = struct.pack("!HHH", 16, len(protos) + 2, len(protos)) + protos
    versions_ext = struct.pack("!HHBHH", 43, 5, 4, 0x0304, 0x0303)
    exts = sni_ext + alpn_ext + versions_ext
    body = (
        struct.pack("!H", 0x0303) + bytes(32) + b"\x00" + struct.pack("!HHH", 4, 0x1301, 0xC02F) + b"\x01\x00"
    )
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, 0x0301, len(hs)) + hs


def tls_server_hello(cipher: int = 0xC02F, version: int = 0x0303) -> bytes:
    body = struct.pack("!H", version) + bytes(32) + b"\x00" + struct.pack("!HB", cipher, 0) + b"\x00\x00"
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, 0x0303, len(hs)) + hs


LLDP_MULTICAST = bytes.fromhex("0180c200000e")
DCP_MULTICAST = bytes.fromhex("010ecf000000")


def lldp_frame(
    src: bytes, system_name: str, description: str, port: str = "Port 1", caps: int = 0x0014
) -> bytes:
    """An LLDPDU from ``src``: chassis id (MAC), port id (interface name), TTL, names, capabilities."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack("!H", kind << 9 | len(value)) + value

    body = tlv(1, b"\x04" + src) + tlv(2, b"\x05" + port.encode()) + tlv(3, b"\x00\x78")
    body += (
        tlv(5, system_name.encode()) + tlv(6, description.encode()) + tlv(7, struct.pack("!HH", caps, caps))
    )
    body += tlv(8, bytes((5, 1)) + ip_bytes("10.10.0.250") + bytes((2, 0, 0, 0, 1, 0))) + tlv(0, b"")
    return ethernet(src, LLDP_MULTICAST, 0x88CC, body)


def dcp_identify_response(
    src: bytes,
    dst: bytes,
    name: str,
    type_of_station: str,
    vendor_id: int,
    device_id: int,
    role: int,
    ip: str,
) -> bytes:
    """A PROFINET DCP Identify answer: the blocks a device describes itself with."""

    def block(option: int, sub: int, value: bytes) -> bytes:
        value = b"\x00\x00" + value  # BlockInfo
        return struct.pack("!BBH", option, sub, len(value)) + value + (b"\x00" if len(value) & 1 else b"")

    blocks = block(2, 1, type_of_station.encode()) + block(2, 2, name.encode())
    blocks += block(2, 3, struct.pack("!HH", vendor_id, device_id)) + block(2, 4, bytes((role, 0)))
    blocks += block(1, 2, ip_bytes(ip) + ip_bytes("255.255.255.0") + ip_bytes("0.0.0.0"))
    header = struct.pack("!HBBIHH", 0xFEFF, 5, 1, 0x01000001, 0, len(blocks))
    return ethernet(src, dst, 0x8892, header + blocks)


def dcp_identify_request(src: bytes) -> bytes:
    header = struct.pack("!HBBIHH", 0xFEFE, 5, 0, 0x01000001, 1, 4)
    return ethernet(src, DCP_MULTICAST, 0x8892, header + b"\xff\xff\x00\x00")


CDP_MULTICAST = bytes.fromhex("01000ccccccc")


def cdp_frame(
    src: bytes, device_id: str, platform: str, software: str, address: str, caps: int = 0x28
) -> bytes:
    """A CDPv2 announcement in an 802.3 LLC/SNAP frame (the length field instead of an ethertype)."""

    def tlv(kind: int, value: bytes) -> bytes:
        return struct.pack("!HH", kind, 4 + len(value)) + value

    addr = struct.pack("!IBBBH", 1, 1, 1, 0xCC, 4) + ip_bytes(address)
    body = tlv(1, device_id.encode()) + tlv(2, addr) + tlv(3, b"GigabitEthernet0/1")
    body += tlv(4, struct.pack("!I", caps)) + tlv(5, software.encode()) + tlv(6, platform.encode())
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + bytes((2, 180)) + b"\x00\x00" + body
    return CDP_MULTICAST + src + struct.pack("!H", len(llc)) + llc


def netbios_encode(name: str, suffix: int) -> bytes:
    """A NetBIOS name in first-level encoding, as a one-label DNS-style name."""
    raw = name.upper().ljust(15)[:15].encode() + bytes((suffix,))
    return b"\x20" + b"".join(bytes((0x41 + (b >> 4), 0x41 + (b & 0x0F))) for b in raw) + b"\x00"


def nbns_registration(name: str, ip: str, ident: int = 0x8001) -> bytes:
    """A broadcast name registration (what a Windows host sends at boot) for ``name``<00>."""
    header = struct.pack("!HHHHHH", ident, 0x2910, 1, 0, 0, 1)
    question = netbios_encode(name, 0x00) + struct.pack("!HH", 0x20, 1)
    additional = b"\xc0\x0c" + struct.pack("!HHIH", 0x20, 1, 300000, 6) + b"\x00\x00" + ip_bytes(ip)
    return header + question + additional


def nbns_node_status_query(ident: int = 0x8002) -> bytes:
    """A node-status request for the wildcard name, as ``nbtstat -A`` sends."""
    return (
        struct.pack("!HHHHHH", ident, 0, 1, 0, 0, 0) + netbios_encode("*", 0x00) + struct.pack("!HH", 0x21, 1)
    )


def nbns_node_status(names: list[tuple[str, int, bool]], mac_addr: bytes, ident: int = 0x8002) -> bytes:
    """A node-status (NBSTAT) answer listing the responder's names (name, suffix, group)."""
    header = struct.pack("!HHHHHH", ident, 0x8400, 0, 1, 0, 0)
    body = bytes((len(names),)) + b"".join(
        n.upper().ljust(15)[:15].encode() + bytes((s,)) + (b"\x84\x00" if g else b"\x04\x00")
        for n, s, g in names
    )
    body += mac_addr + bytes(40)
    return header + netbios_encode("*", 0x00) + struct.pack("!HHIH", 0x21, 1, 0, len(body)) + body
