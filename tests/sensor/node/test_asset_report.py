"""What a managed sensor sends the console for each asset: a typed AssetReport naming each value's source."""

from __future__ import annotations

from otwatch.inventory.merge import SOURCE_RANKS
from otwatch.sensor.capture import synth
from otwatch.sensor.node.managed import asset_report
from otwatch.sensor.pipeline.sensor import Sensor


def test_reports_say_where_each_value_came_from() -> None:
    sensor = Sensor()
    for frame in synth.demo_plant(minutes=1):
        sensor.process(*frame)
    sensor.inventory.classify()
    reports = [asset_report(a) for a in sensor.inventory.assets if a.ip or a.mac]
    plcs = [r for r in reports if r.device_type == "PLC"]
    assert plcs and all(r.vendor for r in plcs)
    for r in plcs:
        # the vendor here is only the MAC's OUI and the type a guess from behaviour: both rank low,
        # so a protocol answer from an agent replaces them in the console (inventory.merge)
        assert r.sources == {"vendor": "oui", "device_type": "behaviour"}
        assert SOURCE_RANKS["oui"] < SOURCE_RANKS["behaviour"] < SOURCE_RANKS["modbus"]
    assert all(p.role in ("server", "client") for r in reports for p in r.protocols)
