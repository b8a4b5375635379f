"""SNMP MIB monitoring served by a sensor, queried by a real pysnmp manager over 127.0.0.x."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
    usmAesCfb128Protocol,
    usmHMAC192SHA256AuthProtocol,
)

from otwatch.inventory.vocabulary import AlertStatus
from otwatch.sensor.capture import synth
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.node.snmpagent import HEALTH, IF_NONE
from otwatch.wire.client import NodeState

pytestmark = pytest.mark.network

SYS = "1.3.6.1.2.1.1"
H = ".".join(map(str, HEALTH))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def snmp_get(
    port: int,
    oids: list[str],
    auth: Any,
    *,
    source: str | None = None,
    timeout: float = 1.0,
    host: str = "127.0.0.1",
) -> dict[str, Any] | str:
    """GET through pysnmp's manager: {oid: value} or the error text (a timeout when unanswered)."""

    async def run() -> dict[str, Any] | str:
        engine = SnmpEngine()
        try:
            target = await UdpTransportTarget.create((host, port), timeout=timeout, retries=0)
            if source is not None:
                target.set_local_address((source, 0))
            err, status, _index, binds = await get_cmd(
                engine, auth, target, ContextData(), *(ObjectType(ObjectIdentity(o)) for o in oids)
            )
            if err or status:
                return str(err or status.prettyPrint())
            return {str(name): value for name, value in binds}
        finally:
            engine.close_dispatcher()

    return asyncio.run(run())


def snmp_walk(port: int, root: str, auth: Any) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = SnmpEngine()
        out: dict[str, Any] = {}
        try:
            target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=1.0, retries=0)
            async for err, status, _i, binds in bulk_walk_cmd(
                engine, auth, target, ContextData(), 0, 10, ObjectType(ObjectIdentity(root)),
                lexicographicMode=False,
            ):  # fmt: skip
                assert not err and not status, err or status
                out.update({str(name): value for name, value in binds})
        finally:
            engine.close_dispatcher()
        return out

    return asyncio.run(run())


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SensorNode]:
    n = SensorNode(NodeState(tmp_path / "sensor"), [], snmp_host="127.0.0.1")
    try:
        yield n
    finally:
        n.stop()


def snmp_settings(port: int, **over: Any) -> dict[str, Any]:
    return {"snmp_mib_monitoring": {"enabled": True, "version": "v2c", "port": port,
                                    "allowed_managers": ["127.0.0.1"], **over}}  # fmt: skip


def test_sensor_serves_its_health_over_snmp_v2c(node: SensorNode) -> None:
    for frame in synth.demo_plant(minutes=2).frames:
        node.sensor.process(*frame)
    node.secrets.set("snmp_community", "plant-monitor")
    port = free_udp_port()
    node.apply_config(snmp_settings(port))
    assert node.snmp.status() == {"serving": True, "port": port, "error": None}

    community = CommunityData("plant-monitor", mpModel=1)
    got = snmp_get(port, [f"{SYS}.1.0", f"{SYS}.2.0", f"{SYS}.3.0", f"{SYS}.5.0"], community)
    assert isinstance(got, dict), got
    assert str(got[f"{SYS}.1.0"]).startswith("OTWatch sensor ")
    assert str(got[f"{SYS}.2.0"]) == "1.3.6.1.4.1.32473.1"
    assert int(got[f"{SYS}.3.0"]) >= 0
    assert str(got[f"{SYS}.5.0"]) == socket.gethostname()

    health = snmp_walk(port, H, community)
    s = node.sensor
    open_alerts = sum(1 for a in s.alerts.alerts.values() if a.status != AlertStatus.CLOSED)
    assert s.packets > 500 and open_alerts > 0  # the demo plant's incident raised alerts
    assert int(health[f"{H}.1.0"]) == s.packets
    assert int(health[f"{H}.2.0"]) == 0  # no live capture socket: nothing dropped by a kernel
    assert int(health[f"{H}.3.0"]) == s.errors
    assert int(health[f"{H}.4.0"]) == open_alerts
    for oid in (f"{H}.5.0", f"{H}.6.0", f"{H}.7.0"):
        assert 0 <= int(health[oid]) <= 100
    assert int(health[f"{H}.6.0"]) > 0 and int(health[f"{H}.7.0"]) > 0  # memory and disk are in use
    assert int(health[f"{H}.8.0"]) == IF_NONE  # PCAP replay only: no live interface
    assert int(health[f"{H}.9.0"]) == len(s.inventory.assets)
    assert len(health) == 9

    # a wrong community and a manager outside the list get no answer at all
    assert "No SNMP response" in str(snmp_get(port, [f"{SYS}.5.0"], CommunityData("public", mpModel=1)))
    node.apply_config(snmp_settings(port, allowed_managers=["127.0.0.2"]))
    assert "No SNMP response" in str(snmp_get(port, [f"{SYS}.5.0"], community))
    answered = snmp_get(port, [f"{SYS}.5.0"], community, source="127.0.0.2")
    assert isinstance(answered, dict) and str(answered[f"{SYS}.5.0"]) == socket.gethostname()
    report = next(r for r in node.build_reports() if r.kind == "stats").stats["system"]
    assert report["snmp_mib_monitoring"]["serving"] is True
    assert "plant-monitor" not in str(report)  # the community is never reported


def test_snmp_v3_user_with_auth_and_privacy(node: SensorNode) -> None:
    node.secrets.set("snmp_v3_auth_key", "auth-pass-123")
    node.secrets.set("snmp_v3_priv_key", "priv-pass-456")
    port = free_udp_port()
    node.apply_config(snmp_settings(port, version="v3", v3_user="nms", v3_auth_protocol="SHA-256",
                                    v3_priv_protocol="AES-128"))  # fmt: skip
    assert node.snmp.status()["serving"] is True

    def user(auth: str, priv: str) -> UsmUserData:
        return UsmUserData(
            "nms", auth, priv, authProtocol=usmHMAC192SHA256AuthProtocol, privProtocol=usmAesCfb128Protocol
        )

    got = snmp_get(port, [f"{H}.1.0", f"{SYS}.2.0"], user("auth-pass-123", "priv-pass-456"))
    assert isinstance(got, dict), got
    assert int(got[f"{H}.1.0"]) == 0 and str(got[f"{SYS}.2.0"]) == "1.3.6.1.4.1.32473.1"
    wrong = snmp_get(port, [f"{H}.1.0"], user("wrong-pass-000", "priv-pass-456"))
    assert isinstance(wrong, str)  # refused (wrong digest) or unanswered, never served
    # v2c is not served while v3 is configured
    node.secrets.set("snmp_community", "plant-monitor")
    assert isinstance(snmp_get(port, [f"{H}.1.0"], CommunityData("plant-monitor")), str)


def test_reapplied_settings_restart_and_stop_the_agent(node: SensorNode) -> None:
    first, second = free_udp_port(), free_udp_port()
    node.apply_config(snmp_settings(first))
    status = node.snmp.status()
    assert status["serving"] is False and "no SNMP community" in str(status["error"])

    node.secrets.set("snmp_community", "c1")
    node.apply_config(snmp_settings(first))  # the same settings again: now the secret is there
    community = CommunityData("c1")
    before = snmp_get(first, [f"{SYS}.3.0"], community)
    assert isinstance(before, dict)

    node.apply_config(snmp_settings(second))  # pushed from another sensor: another port
    after = snmp_get(second, [f"{SYS}.3.0"], community)
    assert isinstance(after, dict)
    assert int(after[f"{SYS}.3.0"]) >= int(before[f"{SYS}.3.0"])  # the sensor's uptime, not the agent's
    assert "No SNMP response" in str(snmp_get(first, [f"{SYS}.5.0"], community, timeout=0.5))

    node.apply_config({"snmp_mib_monitoring": {"enabled": False, "port": second}})
    assert node.snmp.status() == {"serving": False, "port": None, "error": None}
    assert "No SNMP response" in str(snmp_get(second, [f"{SYS}.5.0"], community, timeout=0.5))


def test_port_in_use_is_reported(node: SensorNode) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        node.secrets.set("snmp_community", "c1")
        node.apply_config(snmp_settings(busy.getsockname()[1]))
        status = node.snmp.status()
    assert status["serving"] is False
    assert "cannot serve SNMP on 127.0.0.1 port" in str(status["error"])


def test_secrets_are_set_on_the_sensor_with_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from otwatch.cli import app
    from otwatch.sensor.config.syssettings import LocalSecrets

    value = tmp_path / "community.txt"
    value.write_text("plant-monitor")
    base = tmp_path / "install"
    runner = CliRunner()
    r = runner.invoke(
        app, ["sensor", "secret", "snmp_community", "--install-base", str(base), "--from-file", str(value)]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["sensor", "secret", "ad_bind_password", "--install-base", str(base)], input="pw1\npw1\n"
    )
    assert r.exit_code == 0, r.output
    secrets = LocalSecrets(base / "state")
    assert secrets.get() == {"snmp_community": "plant-monitor", "ad_bind_password": "pw1"}
    assert (secrets.path.stat().st_mode & 0o777) == 0o600
    r = runner.invoke(app, ["sensor", "secret", "snmp_community", "--install-base", str(base), "--clear"])
    assert r.exit_code == 0 and secrets.get() == {"ad_bind_password": "pw1"}
    r = runner.invoke(app, ["sensor", "secret", "root_password", "--install-base", str(base)])
    assert r.exit_code == 2 and "unknown secret 'root_password'" in r.output
