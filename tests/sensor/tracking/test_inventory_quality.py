"""Inventory quality: an address seen only as the target of probes nobody answered is a ghost, and a
station is typed by what it does (a scanner, an engineering station, a historian, an HMI) with the
reason the console shows. Hand-built frames through the real pipeline."""

from __future__ import annotations

from pathlib import Path

from otwatch.inventory.identity import DeviceType
from otwatch.sensor.capture.synth import ethernet, ipv4, mac, modbus, tcp
from otwatch.sensor.node.managed import SensorNode, asset_report
from otwatch.wire.client import NodeState
from otwatch.wire.messages import AssetReport

SYN, RST_ACK, SYN_ACK, ACK, PSH_ACK = 0x02, 0x14, 0x12, 0x10, 0x18
LAPTOP, ROUTER, PLC, HISTORIAN = mac(1, 0x3C22FB), mac(2, 0x00000C), mac(3), mac(4, 0x001B21)
LINKTYPE_ETHERNET = 1


def _tcp(
    src_mac: bytes,
    dst_mac: bytes,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: int,
    payload: bytes = b"",
    seq: int = 1000,
) -> bytes:
    return ethernet(src_mac, dst_mac, 0x0800, ipv4(src, dst, 6, tcp(sport, dport, seq, 1, flags, payload)))


def _modbus_read(client_mac: bytes, client: str, sport: int) -> list[bytes]:
    """A handshake and one Read Holding Registers with its answer, client -> the PLC."""
    request, answer = modbus(1, 1, b"\x03\x00\x00\x00\x02"), modbus(1, 1, b"\x03\x04\x00\x01\x00\x02")
    return [
        _tcp(client_mac, PLC, client, "10.1.0.10", sport, 502, SYN, seq=1000),
        _tcp(PLC, client_mac, "10.1.0.10", client, 502, sport, SYN_ACK, seq=5000),
        _tcp(client_mac, PLC, client, "10.1.0.10", sport, 502, PSH_ACK, request, seq=1001),
        _tcp(PLC, client_mac, "10.1.0.10", client, 502, sport, PSH_ACK, answer, seq=5001),
    ]


def _reports(tmp_path: Path, frames: list[bytes], end: float) -> dict[str, AssetReport]:
    node = SensorNode(NodeState(tmp_path / "sensor"), [])
    for i, frame in enumerate(frames):
        node.sensor.process(1_700_000_000 + i * 0.01, LINKTYPE_ETHERNET, frame)
    node.sensor.tick(1_700_000_000 + end)
    node.sensor.inventory.classify()
    return {str(a.ip): asset_report(a) for a in node.sensor.inventory.assets}


def test_unanswered_probes_leave_ghosts_and_type_the_scanner(tmp_path: Path) -> None:
    frames = []
    # the laptop sweeps 30 ports of a remote address (through the router) that never answers ...
    frames += [_tcp(LAPTOP, ROUTER, "10.1.0.50", "93.184.216.7", 40000 + p, p, SYN) for p in range(1, 31)]
    # ... and of one that refuses with resets (a real host: it answered)
    for p in range(1, 31):
        frames.append(_tcp(LAPTOP, ROUTER, "10.1.0.50", "93.184.216.8", 41000 + p, p, SYN))
        frames.append(_tcp(ROUTER, LAPTOP, "93.184.216.8", "10.1.0.50", p, 41000 + p, RST_ACK))
    # it also reads a PLC's registers, which alone would make it an HMI
    frames += _modbus_read(LAPTOP, "10.1.0.50", 42000)
    reports = _reports(tmp_path, frames, end=120)

    ghost, refused = reports["93.184.216.7"], reports["93.184.216.8"]
    assert ghost.ghost and ghost.mac is None
    assert not refused.ghost
    assert not reports["10.1.0.10"].ghost and not reports["10.1.0.50"].ghost
    laptop = reports["10.1.0.50"]
    assert laptop.device_type == DeviceType.SCANNER
    assert (
        laptop.type_reason and "scan" in laptop.type_reason and laptop.sources["device_type"] == "behaviour"
    )
    plc = reports["10.1.0.10"]
    assert plc.device_type == DeviceType.PLC and plc.type_reason == "serves modbus"


def test_hmi_and_historian_by_behaviour(tmp_path: Path) -> None:
    frames = [
        *_modbus_read(LAPTOP, "10.1.0.20", 42000),
        _tcp(LAPTOP, HISTORIAN, "10.1.0.20", "10.1.0.60", 43000, 5450, SYN),
        _tcp(HISTORIAN, LAPTOP, "10.1.0.60", "10.1.0.20", 5450, 43000, SYN_ACK, seq=7000),
    ]
    reports = _reports(tmp_path, frames, end=5)
    hmi, historian = reports["10.1.0.20"], reports["10.1.0.60"]
    assert hmi.device_type == DeviceType.HMI and hmi.type_reason == "polls modbus as a client"
    assert (
        historian.device_type == DeviceType.HISTORIAN
        and historian.type_reason == "serves a historian port (tcp/5450)"
    )


def test_analyze_shows_the_behaviour_reason_and_the_ghosts(tmp_path: Path) -> None:
    """``otwatch sensor analyze`` says what the console says: the type's reason, and which addresses
    are ghosts (one rule, ``inventory.asset.Asset``), in its tables and its JSON, sharded or not."""
    import json

    from typer.testing import CliRunner

    from otwatch.cli import app
    from otwatch.sensor.capture.synth import write_capture
    from otwatch.sensor.pipeline.shard import analyze_sharded

    frames = [_tcp(LAPTOP, ROUTER, "10.1.0.50", "93.184.216.7", 40000 + p, p, SYN) for p in range(1, 31)]
    frames += _modbus_read(LAPTOP, "10.1.0.50", 42000)
    pcap = tmp_path / "sweep.pcap"
    write_capture(str(pcap), [(1_700_000_000 + i * 0.01, LINKTYPE_ETHERNET, f) for i, f in enumerate(frames)])
    expected = _reports(tmp_path, frames, end=120)  # what the console is told
    laptop = expected["10.1.0.50"]
    assert laptop.type_reason and expected["93.184.216.7"].ghost

    runner = CliRunner()
    result = runner.invoke(app, ["sensor", "analyze", str(pcap)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "10.1.0.50" in line and "Scanner" in line)
    assert f"Scanner — by behaviour: {laptop.type_reason}" in row
    ghost_row = next(line for line in result.stdout.splitlines() if "93.184.216.7" in line and "│" in line)
    assert "ghost" in ghost_row and "ghost" not in row
    assert "Ghost: 1 addresses only ever probed" in result.stdout

    out = runner.invoke(app, ["sensor", "analyze", str(pcap), "--json"])
    assert out.exit_code == 0, out.output
    for report in (json.loads(out.stdout), analyze_sharded(pcap, 2)):  # and the shards' merged report
        assets = {a["ip"]: a for a in report["assets"]}
        assert assets["10.1.0.50"]["type_reason"] == laptop.type_reason
        assert assets["93.184.216.7"]["ghost"] is True and assets["10.1.0.50"]["ghost"] is False
