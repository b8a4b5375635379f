"""The pipeline's remembered flow directions (``Sensor._known_direction``) have the effects of the
general path: the same assets, connections, alerts with their PCAPs, statistics, timeline and
baseline, on real captures, a generated plant, mutated traffic, and with flow states evicted, flows
closed and re-opened, and assets removed by retention on the way."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.protocols.modbus.messages import ReadRequest, ReadResponse
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.retention import Retention, StoreLimit
from tests.budget import examples
from tests.sensor.packets import (
    Net,
    cip_request,
    cip_response,
    demo_plant,
    dnp3_request,
    dnp3_response,
    modbus,
)
from tests.sensor.pipeline.test_pipeline_fuzz import _frames

Frame = tuple[float, int, bytes]


def _outcome(sensor: Sensor) -> str:
    """Everything the sensor found, as one comparable text (timeline events without their wall time)."""
    report = sensor.report(with_pcap=True)
    report["timeline"] = [(str(e.type), e.title, e.details) for e in sensor.timeline.items]
    report["baseline"] = sensor.baseline.as_dict()
    report["flows"] = sorted(
        (f.key, f.packets, f.bytes_client, f.bytes_server, f.gaps, f.protocol)
        for f in sensor.flows.flows.values()
    )
    report["states"] = [(k, s.label, len(s.ring)) for k, s in sensor._states.items()]
    return json.dumps(report, sort_keys=True, default=repr)


def _run(frames: list[Frame], fast: bool, **settings_: Any) -> tuple[Sensor, str]:
    sensor = Sensor(SensorSettings(**settings_))
    sensor.fast_directions = fast
    for frame in frames:
        sensor.process(*frame)
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error
    return sensor, _outcome(sensor)


def _same(frames: list[Frame], **settings_: Any) -> Sensor:
    fast, with_fast = _run(frames, True, **settings_)
    general, without = _run(frames, False, **settings_)
    assert with_fast == without
    assert not general._tcp_directions and not general._udp_directions
    return fast


def _plant() -> list[Frame]:
    net = demo_plant(minutes=3)
    return list(net.frames)


def test_known_directions_equal_the_general_path_on_captures_and_a_plant() -> None:
    frames = _frames() + _plant()
    sensor = _same(frames)
    assert sensor._tcp_directions  # the fast path was taken
    _same(frames, learning=False)


def test_known_directions_equal_the_general_path_with_few_flow_states() -> None:
    """Evicted states drop their directions: the dicts stay bounded by the states."""
    frames = _frames() + _plant()
    sensor = _same(frames, max_flow_states=8, ring_packets=4)
    assert len(sensor._states) <= 8
    assert len(sensor._tcp_directions) + len(sensor._udp_directions) <= 2 * 8


def test_closed_expired_and_reopened_flows_and_retransmissions() -> None:
    """A flow closed by RST that still carries data, then opened again with the same ports; UDP flows
    idle past their timeout that resume; retransmitted and out-of-order segments: each refused by
    the fast path or learned again, with the general path's effects."""
    net = Net(step=0.01)
    hmi, plc, rtu = net.host("hmi", "10.0.0.10"), net.host("plc", "10.0.0.21"), net.host("rtu", "10.0.0.30")
    for round_ in range(3):
        session = net.session(hmi, plc, 502, 40000).open()
        for tid in range(5):
            request = modbus(tid, 1, ReadRequest(3, tid, 2).encode())
            session.exchange(request, modbus(tid, 1, ReadResponse(3, bytes(4)).encode()))
            if tid == 2:
                net.emit(net.frames[-2][2])  # the request again: a retransmission
        net.rst(hmi, plc, 40000, 502)
        session.send(modbus(9, 1, ReadRequest(3, 9, 2).encode()))  # data after the RST: a new flow
        dnp = net.session(hmi, rtu, 20000, 41000 + round_).open()
        dnp.exchange(dnp3_request(1, 0, 1, 10), dnp3_response(0, 0, 1, 10))
        cip = net.session(hmi, plc, 44818, 42000).open()
        cip.exchange(cip_request(0x0E, 0x04, 0x64, 0x03), cip_response(0x0E), ack=True)
        for cycle in range(600):  # EtherNet/IP class-1 I/O both ways
            io = (
                b"\x02\x00\x02\x80\x08\x00\x10\x10\x00\x00"
                + bytes((cycle & 0xFF, 0, 0, 0))
                + b"\xb1\x00\x0a\x00"
                + bytes(10)
            )
            net.udp(plc, hmi, 2222, 2222, io)
            net.udp(hmi, plc, 2222, 2222, io)
        net.advance(200.0)  # past the UDP idle time; the BACnet reads below let the table sweep (every
        read = b"\x81\x0a\x00\x11\x01\x04\x00\x05\x07\x0c\x0c\x02\x00\x00\x01\x19\x4d"
        for _ in range(4200):  # 4096 packets), and the I/O flows come back in the next round
            net.udp(hmi, rtu, 47808, 47808, read)
    frames = list(net.frames)
    frames[10], frames[11] = frames[11], frames[10]  # out of order
    sensor = _same(frames)
    assert sensor._tcp_directions and sensor._udp_directions
    assert sensor.flows.evicted  # UDP flows expired and came back
    _same(frames, learning=False)


def test_assets_removed_by_retention_are_learned_again() -> None:
    """Retention removes the least recently seen assets, some of them ends of flows that go on: the
    remembered directions are forgotten and the next packets find new assets, as the general path
    does."""
    net = Net(t=1_700_000_000.0, step=0.5)
    hosts = [net.host(f"h{i}", f"10.0.0.{10 + i}") for i in range(6)]
    sessions = [net.session(hosts[i], hosts[i + 3], 502, 40000 + i).open() for i in range(3)]
    for tid in range(120):
        for session in sessions[: 1 + tid % 3]:  # the first pair talks most, the last least
            session.exchange(
                modbus(tid, 1, ReadRequest(3, 0, 2).encode()),
                modbus(tid, 1, ReadResponse(3, bytes(4)).encode()),
            )
        net.advance(5.0)
    retention = Retention(devices=StoreLimit(90, 4))
    outcomes = []
    for fast in (True, False):
        sensor = Sensor()
        sensor.fast_directions = fast
        sensor.set_retention(retention)
        for frame in net.frames:
            sensor.process(*frame)
        sensor.finish()
        assert sensor.errors == 0, sensor.last_error
        assert sensor.inventory.removed_assets > 3
        outcomes.append(_outcome(sensor))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    picks=st.lists(st.tuples(st.integers(0, 10_000), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=3)), min_size=1, max_size=300),
    learning=st.booleans(),
)  # fmt: skip
def test_mutated_traffic_gives_the_same_outcome(
    picks: list[tuple[int, list[tuple[int, int]]]], learning: bool
) -> None:
    """Real frames in a random order, some with header bytes changed (MACs, flags, sequence
    numbers, ports, lengths): each packet takes whichever path it takes, with the same effects."""
    source = _frames()
    frames: list[Frame] = []
    for i, (index, edits) in enumerate(picks):
        _ts, linktype, data = source[index % len(source)]
        out = bytearray(data)
        for pos, value in edits:
            out[pos % len(out)] = value
        frames.append((1_700_000_000.0 + i * 0.5, linktype, bytes(out)))
    _same(frames + frames, learning=learning)
