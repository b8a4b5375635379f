"""Flow table: roles, reassembly (split, duplicated, overlapping, reordered, lost bytes), detection
by port and content, UDP, and memory bounds."""

from __future__ import annotations

import socket
import struct

from otwatch.protocols import dnp3, modbus
from otwatch.protocols.base import Record
from otwatch.protocols.modbus.messages import Frame, ReadRequest, ReadResponse
from otwatch.sensor.capture.decode import LINKTYPE_RAW, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN
from otwatch.sensor.tracking.flows import MAX_PENDING_BYTES, Flow, FlowTable, dissect_capture
from tests.sensor.replay import capture

CLIENT, SERVER = ("10.1.1.10", 49200), ("10.1.1.20", 502)


def _tcp(src: tuple[str, int], dst: tuple[str, int], seq: int, payload: bytes = b"", flags: int = TCP_PSH | TCP_ACK,
         ack: int = 0) -> bytes:  # fmt: skip
    tcp = struct.pack(
        "!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 8192, 0, 0
    )
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 1, 0, 64, 6, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))  # fmt: skip
    return ip + tcp + payload


def _udp(src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))  # fmt: skip
    return ip + udp + payload


def _feed(table: FlowTable, packets: list[bytes]) -> list[tuple[Flow, Record]]:
    out: list[tuple[Flow, Record]] = []
    for i, raw in enumerate(packets):
        out += table.process(float(i), LINKTYPE_RAW, raw)
    return out


def _request(tid: int) -> bytes:
    return Frame(tid, 1, ReadRequest(3, 100 + tid, 2).encode()).encode()


def _response(tid: int) -> bytes:
    return Frame(tid, 1, ReadResponse(3, bytes(4)).encode()).encode()


def _tids(pairs: list[tuple[Flow, Record]], direction: str = "request") -> list[int]:
    return [r.fields["tid"] for _, r in pairs if r.direction == direction]


def test_split_duplicated_overlapping_and_reordered_segments() -> None:
    stream = b"".join(_request(t) for t in range(1, 6))
    isn = 0xFFFFFFF0  # sequence numbers wrap inside the stream
    chunks = [(0, 5), (5, 20), (0, 20), (15, 30), (40, 60), (30, 40), (30, 45), (60, len(stream))]
    packets = [_tcp(CLIENT, SERVER, isn, flags=TCP_SYN)]
    packets += [_tcp(SERVER, CLIENT, 7000, flags=TCP_SYN | TCP_ACK, ack=isn + 1)]
    packets += [_tcp(CLIENT, SERVER, isn + 1 + a, stream[a:b]) for a, b in chunks]
    table = FlowTable((modbus.SPEC,))
    pairs = _feed(table, packets)
    assert _tids(pairs) == [1, 2, 3, 4, 5]
    assert all(r.malformed is None for _, r in pairs)
    flow = pairs[0][0]
    assert (flow.client_ip, flow.client_port, flow.server_port, flow.protocol) == (*CLIENT, 502, "modbus")
    assert flow.bytes_client == len(stream) and flow.gaps == 0


def test_lost_bytes_resynchronise_after_the_peer_acknowledges_them() -> None:
    r1, r2, r3 = _request(1), _request(2), _request(3)
    packets = [
        _tcp(CLIENT, SERVER, 100, r1),
        _tcp(CLIENT, SERVER, 100 + len(r1) + len(r2), r3),  # r2 never captured
        _tcp(SERVER, CLIENT, 900, _response(1), ack=100 + len(r1) + len(r2) + len(r3)),
        _tcp(CLIENT, SERVER, 100 + len(r1) + len(r2) + len(r3), _request(4)),
    ]
    table = FlowTable((modbus.SPEC,))
    pairs = _feed(table, packets)
    assert _tids(pairs) == [1, 3, 4]
    assert _tids(pairs, "response") == [1]
    assert pairs[0][0].gaps == 1


def test_out_of_order_bytes_are_bounded() -> None:
    table = FlowTable((modbus.SPEC,))
    packets = [_tcp(CLIENT, SERVER, 0, _request(1))]
    packets += [_tcp(CLIENT, SERVER, 10_000 + i * 1000, b"\x00" * 1000) for i in range(200)]
    _feed(table, packets)
    flow = next(iter(table.flows.values()))
    assert flow._dirs[0].pending_bytes <= MAX_PENDING_BYTES
    assert flow.gaps >= 1


def test_server_is_the_well_known_port_even_mid_stream_or_when_it_dialled_out() -> None:
    table = FlowTable((modbus.SPEC,))
    pairs = _feed(table, [_tcp(SERVER, CLIENT, 50, _response(9)), _tcp(CLIENT, SERVER, 10, _request(10))])
    assert [r.direction for _, r in pairs] == ["response", "request"]
    assert (pairs[0][0].client_port, pairs[0][0].server_port) == (CLIENT[1], 502)
    table = FlowTable((modbus.SPEC,))
    dialled = _feed(table, [_tcp(SERVER, CLIENT, 0, flags=TCP_SYN), _tcp(SERVER, CLIENT, 1, _response(1))])
    assert dialled[0][1].direction == "response"


def test_content_detection_on_a_non_standard_port_and_unknown_traffic_left_alone() -> None:
    other = ("10.1.1.20", 5020)
    table = FlowTable((dnp3.SPEC, modbus.SPEC))
    pairs = _feed(table, [_tcp(CLIENT, other, 1, _request(1))])
    assert [(f.protocol, r.fields["func"]) for f, r in pairs] == [("modbus", "READ_HOLDING_REGISTERS")]
    pairs = _feed(table, [_tcp(CLIENT, ("10.1.1.30", 8080), 1, b"GET / HTTP/1.1\r\n\r\n")])
    assert pairs == [] and all(f.spec is None for f in table.flows.values() if f.server_port == 8080)


def test_udp_datagrams_and_flow_close() -> None:
    from otwatch.protocols.dnp3.messages import AppHeader, LinkFrame, TransportSegment

    app = AppHeader(1, objects=bytes.fromhex("3c0206")).encode()
    datagram = LinkFrame(0xC4, 10, 1, TransportSegment(True, True, 0, app).encode()).encode()
    table = FlowTable((dnp3.SPEC_UDP,))
    pairs = _feed(table, [_udp(("10.2.0.1", 40000), ("10.2.0.2", 20000), datagram)])
    assert [r.fields["fc_request"] for _, r in pairs] == ["READ"]
    table = FlowTable((modbus.SPEC,))
    _feed(table, [_tcp(CLIENT, SERVER, 0, _request(1)), _tcp(CLIENT, SERVER, 12, flags=TCP_FIN | TCP_ACK)])
    assert len(table.flows) == 1
    _feed(table, [_tcp(SERVER, CLIENT, 0, flags=TCP_FIN | TCP_ACK)])
    assert len(table.flows) == 0


def test_idle_eviction_and_flow_cap() -> None:
    table = FlowTable((modbus.SPEC,), max_flows=3, tcp_idle=10.0)
    for i in range(5):
        table.process(float(i), LINKTYPE_RAW, _tcp((f"10.3.0.{i + 1}", 40000), SERVER, 0, _request(1)))
    assert len(table.flows) == 3 and table.evicted == 2
    assert table.expire(13.5) == 2  # flows last seen at t=2 and t=3 are idle for more than 10 s
    assert len(table.flows) == 1


def test_resegmented_real_capture_gives_the_same_records() -> None:
    """Every TCP payload of a real capture cut into 3-byte segments: identical records."""
    from otwatch.sensor.capture.decode import decode
    from otwatch.sensor.capture.pcapfile import CaptureReader

    path = capture("icsnpp-modbus/testing/traces/modbus_example.pcap")
    expected = [(r.direction, r.fields) for _, _, r in dissect_capture(path, (modbus.SPEC,))]
    packets: list[bytes] = []
    for _ts, linktype, data in CaptureReader(path):
        pkt = decode(linktype, data)
        assert pkt is not None and pkt.src_ip and pkt.dst_ip and pkt.src_port and pkt.dst_port
        src, dst = (pkt.src_ip, pkt.src_port), (pkt.dst_ip, pkt.dst_port)
        payload = bytes(pkt.payload)
        if not payload:
            packets.append(_tcp(src, dst, pkt.tcp_seq, b"", pkt.tcp_flags, pkt.tcp_ack))
        for i in range(0, len(payload), 3):
            packets.append(_tcp(src, dst, pkt.tcp_seq + i, payload[i : i + 3], pkt.tcp_flags, pkt.tcp_ack))
    got = [(r.direction, r.fields) for _, r in _feed(FlowTable((modbus.SPEC,)), packets)]
    assert got == expected and len(got) == 48


def test_foreign_payload_on_a_well_known_port_is_not_claimed_by_that_port() -> None:
    """Identification is by content: MELSOFT-like bytes on 502 are not Modbus, so no Malformed Modbus."""
    table = FlowTable((modbus.SPEC,))
    melsoft_like = bytes.fromhex(
        "5700330000001111070000ffff030000fe03000014001c080a080000000000000004"
    ) + bytes(20)
    pairs = _feed(table, [_tcp(CLIENT, SERVER, 1, melsoft_like), _tcp(CLIENT, SERVER, 1 + len(melsoft_like),
                                                                      melsoft_like)])  # fmt: skip
    assert pairs == []
    flow = next(iter(table.flows.values()))
    assert flow.spec is None and flow.protocol != "modbus"
    # ... while real Modbus on the same port is still read, from its first byte.
    table = FlowTable((modbus.SPEC,))
    assert _tids(_feed(table, [_tcp(CLIENT, SERVER, 1, _request(7))])) == [7]


def test_a_first_message_cut_into_tiny_segments_is_detected_once_whole_and_read_from_its_start() -> None:
    other = ("10.1.1.20", 5020)  # not Modbus's port: only content can identify it
    first, second = _request(1), _request(2)
    stream = first + second
    packets = [_tcp(CLIENT, other, 1 + i, stream[i : i + 2]) for i in range(0, len(stream), 2)]
    table = FlowTable((dnp3.SPEC, modbus.SPEC))
    pairs = _feed(table, packets)
    assert _tids(pairs) == [1, 2]
    assert all(f.protocol == "modbus" and r.malformed is None for f, r in pairs)


def test_undetected_bytes_are_bounded_and_the_flow_is_given_up() -> None:
    from otwatch.sensor.tracking.flows import DETECT_ATTEMPTS

    table = FlowTable((modbus.SPEC,))
    packets = [_tcp(CLIENT, ("10.1.1.40", 7777), 1 + i * 1000, b"\xee" * 1000) for i in range(10)]
    assert _feed(table, packets) == []
    flow = next(iter(table.flows.values()))
    assert flow.undetected is None and flow.spec is None
    assert flow.detect_attempts == DETECT_ATTEMPTS  # given up: later bytes are not held or tried
    assert _feed(table, [_tcp(CLIENT, ("10.1.1.40", 7777), 20_001, _request(1))]) == []
