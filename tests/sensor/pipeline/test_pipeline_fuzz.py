"""Hypothesis: the whole pipeline (all engines on, learning on and off) never raises and never counts
an internal error, whatever bytes arrive; memory stays bounded by flows and assets."""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.config.settings import SensorSettings
from otwatch.sensor.pipeline.sensor import Sensor
from tests.budget import examples
from tests.sensor.packets import Net, modbus
from tests.sensor.replay import CAPTURES

FAST = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINKTYPES = (0, 1, 101, 113, 276)


@cache
def _frames() -> list[tuple[float, int, bytes]]:
    out: list[tuple[float, int, bytes]] = []
    for name in (
        "icsnpp-modbus/testing/traces/modbus_example.pcap",
        "icsnpp-s7comm/tests/traces/snap7.pcap",
        "icsnpp-enip/tests/traces/enip_cip_example.pcap",
        "icsnpp-dnp3/testing/traces/dnp3_example.pcap",
        "iti/IEC60870-5-104__TestDissectIec104.pcap",
    ):
        path = CAPTURES / name
        if not path.exists():
            pytest.skip(f"public capture {path} is absent")
        out += list(CaptureReader(path))
    return out


@FAST
@given(
    picks=st.lists(st.tuples(st.integers(0, 10_000), st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 255)), max_size=6), st.integers(0, 40)), min_size=1, max_size=40),
    learning=st.booleans(),
)  # fmt: skip
def test_mutated_real_traffic_never_breaks_the_pipeline(
    picks: list[tuple[int, list[tuple[int, int]], int]], learning: bool
) -> None:
    frames = _frames()
    sensor = Sensor(SensorSettings(learning=learning))
    for index, edits, cut in picks:
        ts, linktype, data = frames[index % len(frames)]
        out = bytearray(data)
        for pos, value in edits:
            out[pos % len(out)] = value
        sensor.process(ts, linktype, bytes(out[: max(0, len(out) - cut)]))
    sensor.finish()
    sensor.report()
    assert sensor.errors == 0, sensor.last_error


@FAST
@given(
    st.lists(st.tuples(st.sampled_from(LINKTYPES), st.binary(max_size=200), st.floats(0, 2e9)), max_size=30)
)
def test_random_frames_never_break_the_pipeline(frames: list[tuple[int, bytes, float]]) -> None:
    sensor = Sensor(SensorSettings(learning=False))
    for linktype, data, ts in frames:
        sensor.process(ts, linktype, data)
    sensor.finish()
    assert sensor.errors == 0, sensor.last_error


def test_memory_is_bounded_by_flows_not_packets() -> None:
    net = Net(step=0.0001)
    hmi, plc = net.host("hmi", "10.0.0.10"), net.host("plc", "10.0.0.21")
    for port in range(3000):  # 3,000 short connections
        session = net.session(hmi, plc, 502, 10000 + port).open()
        session.exchange(modbus(1, 1, b"\x03\x00\x00\x00\x01"), modbus(1, 1, b"\x03\x02\x00\x00"))
    sensor = Sensor(SensorSettings(max_flow_states=256, ring_packets=4))
    for frame in net.frames:
        sensor.process(*frame)
    assert len(sensor._states) <= 256
    assert len(sensor.inventory.assets) == 2 and len(sensor.inventory.connections) == 1
    (conn,) = sensor.inventory.connections.values()
    assert conn.flows == 3000 and conn.packets == len(net.frames)


def test_shards_partition_the_traffic() -> None:
    """Two shards together see every packet once, and each conversation entirely in one shard."""
    frames = _frames()
    shards = [Sensor(shard=(i, 2)) for i in range(2)]
    whole = Sensor()
    for frame in frames:
        whole.process(*frame)
        for shard in shards:
            shard.process(*frame)
    assert sum(s.packets for s in shards) == whole.packets == len(frames)
    assert all(s.packets for s in shards)
    conns = [
        {(c.key.protocol, c.messages, c.packets) for c in s.inventory.connections.values()} for s in shards
    ]
    assert sorted(conns[0] | conns[1]) == sorted(
        {(c.key.protocol, c.messages, c.packets) for c in whole.inventory.connections.values()}
    )
