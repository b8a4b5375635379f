"""A truncated or corrupt capture does not stop a running sensor's replay.

The reader itself is covered by tests/sensor/capture/test_pcap.py (truncated pcap/pcapng keep the packets
before the damage, a corrupt record length stops that file with a warning) and the `sensor analyze`
command by tests/sensor/cli/test_analyze.py. Here the running sensor's source (``sensor run --pcap``:
PcapReplay into SensorNode's capture loop) gets a file that is not a capture at all, a truncated one
and a record with a corrupt length, before a good one: the good one and everything readable of the
damaged ones are analysed, and each problem is a warning.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from otwatch.sensor.capture.pcapfile import CaptureReader
from otwatch.sensor.capture.sources import PcapReplay
from otwatch.sensor.node.managed import SensorNode
from otwatch.wire.client import NodeState
from tests.sensor.replay import capture

pytestmark = pytest.mark.timeout(60)
ENIP = "icsnpp-enip/tests/traces/enip_cip_example.pcap"
MODBUS = "icsnpp-modbus/testing/traces/modbus_example.pcap"


def test_damaged_captures_do_not_stop_the_sensor(tmp_path: Path) -> None:
    modbus = capture(MODBUS).read_bytes()
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"\x00" * 10 + b"not a capture")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(modbus[: len(modbus) * 2 // 3])
    bad_len = bytearray(modbus)
    first_len = struct.unpack_from("<I", bad_len, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", bad_len, second + 8, 0x7FFFFFFF)  # the second record claims 2 GiB
    corrupt = tmp_path / "corrupt.pcap"
    corrupt.write_bytes(bytes(bad_len))
    gone = tmp_path / "deleted-meanwhile.pcap"
    good = capture(ENIP)

    node = SensorNode(NodeState(tmp_path / "state"), [])
    source = PcapReplay([junk, cut, corrupt, gone, good])
    node._capture(source)  # what the sensor's capture thread runs; it must return normally

    assert not [w for w in node.sensor.warnings if "packet source stopped" in w], node.sensor.warnings
    warnings = "\n".join(source.warnings)
    assert "junk.pcap" in warnings and "deleted-meanwhile.pcap" in warnings
    assert "truncated" in warnings and "corrupt record" in warnings
    expected = len(list(CaptureReader(cut))) + 1 + len(list(CaptureReader(good)))
    assert node.sensor.packets == expected  # readable part of each damaged file, then the good one
    protocols = node.sensor.stats.protocol_messages(node.sensor.inventory)
    assert protocols["modbus"] > 0 and protocols["enip"] > 0
