"""Sharding: flows split over processes by address pair, and the shards' reports merged into one that
matches a single process's on what sharding by address pair keeps whole."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from bench.sensor import build_mix

from otwatch.sensor.capture.pcapfile import CaptureReader, pcap_header, pcap_record
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.pipeline.shard import analyze_sharded, merge_reports, run_shard


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shard") / "mix.pcap"
    build_mix(path, 6000)
    return path


def _addresses(report: dict[str, Any]) -> tuple[set[str], set[str]]:
    """IPs and MACs of the inventory. Which (MAC, IP) pairs are keyed together depends on the router
    rule (a MAC with many addresses), which a shard applies to what it saw: merging approximates it."""
    return {a["ip"] for a in report["assets"] if a["ip"]}, {a["mac"] for a in report["assets"] if a["mac"]}


def _conns(report: dict[str, Any]) -> Counter[tuple[Any, ...]]:
    """Packets and messages per (protocol, port): independent of how the ends were keyed."""
    out: Counter[tuple[Any, ...]] = Counter()
    for c in report["connections"]:
        out[(c["protocol"], c["port"], "packets")] += c["packets"]
        out[(c["protocol"], c["port"], "messages")] += c["messages"]
    return out


@pytest.mark.parametrize("shards", [2, 3])
def test_merged_shards_match_one_process(mix: Path, shards: int) -> None:
    one = run_shard(mix, 0, 1)
    parts = [run_shard(mix, i, shards) for i in range(shards)]
    assert sum(p["summary"]["packets"] for p in parts) == one["summary"]["packets"]
    assert all(p["summary"]["packets"] < one["summary"]["packets"] for p in parts)  # really split
    merged = merge_reports(parts)
    s1, sm = one["summary"], merged["summary"]
    assert (sm["packets"], sm["bytes"], sm["first_seen"], sm["last_seen"]) == (
        s1["packets"],
        s1["bytes"],
        s1["first_seen"],
        s1["last_seen"],
    )
    assert sm["shards"] == shards and sm["errors"] == 0
    assert merged["protocols"] == one["protocols"]
    assert _addresses(merged) == _addresses(one)
    assert abs(len(merged["assets"]) - len(one["assets"])) <= 2
    assert _conns(merged) == _conns(one)
    assert [a["id"] for a in merged["assets"]] == list(range(1, len(merged["assets"]) + 1))
    codes = Counter(a["code"] for a in merged["alerts"] if a["code"] != "NEW_ASSET")
    assert codes == Counter(a["code"] for a in one["alerts"] if a["code"] != "NEW_ASSET")
    assert merged["statistics"]["traffic_per_hour"] == one["statistics"]["traffic_per_hour"]
    assert merged["statistics"]["traffic_by_port"] == one["statistics"]["traffic_by_port"]


def test_alert_every_shard_raised_is_one(mix: Path) -> None:
    """A host every shard sees first (learning off, empty baseline) is one New Asset alert."""
    from otwatch.sensor.config.settings import SensorSettings

    settings = SensorSettings(learning=False)
    one = run_shard(mix, 0, 1, settings)
    merged = merge_reports([run_shard(mix, i, 2, SensorSettings(learning=False)) for i in range(2)])
    new_one = [a for a in one["alerts"] if a["code"] == "NEW_ASSET"]
    new_merged = [a for a in merged["alerts"] if a["code"] == "NEW_ASSET"]
    assert len({a["source"] for a in new_merged}) == len(new_merged)  # one per asset, not per shard
    assert abs(len(new_merged) - len(new_one)) <= 2 * 2  # router keying, see _addresses
    assert sum(a["count"] for a in new_merged) >= len(new_merged)


def test_analyze_sharded_uses_processes(mix: Path) -> None:
    merged = analyze_sharded(mix, 2)
    assert merged["summary"]["shards"] == 2
    assert merged["summary"]["packets"] == run_shard(mix, 0, 1)["summary"]["packets"]


def test_shard_zero_keeps_non_ip_frames(tmp_path: Path) -> None:
    arp = bytes.fromhex(
        "ffffffffffff00000000000108060001080006040001000000000001c0a80001000000000000c0a80002"
    )
    path = tmp_path / "arp.pcap"
    path.write_bytes(pcap_header(1) + pcap_record(1.0, arp))
    counts = []
    for i in range(2):
        sensor = Sensor(shard=(i, 2))
        sensor.process_capture(path)
        counts.append(sensor.packets)
    assert counts == [1, 0]
    assert len(list(CaptureReader(path))) == 1
