"""Support > Clear data: the privileged support user alone; learned data, alerts, inventory, baseline and
configuration go, network settings stay."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI

from otwatch.sensor.config.netsettings import validate
from otwatch.sensor.config.timefmt import DateFormat, TimeRegion
from otwatch.sensor.local.store import Role, SensorStore
from otwatch.sensor.local.trust import ConsoleTrust, ConsoleValidation
from otwatch.sensor.node.managed import SensorNode
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.wire.client import NodeState
from otwatch.wire.messages import Report
from tests.sensor.web.conftest import AppFactory, client_for, console_of, csrf
from tests.sensor.web.test_network import GOOD

PIN = "CD:" * 31 + "CD"


def _configure(store: SensorStore) -> None:
    store.set_network(validate(GOOD))
    store.set_time_region(TimeRegion("Europe/Berlin", DateFormat.DAY_FIRST))
    store.set_advanced("pcaps", {"enabled": "1"})
    store.set_console_trust(ConsoleTrust(ConsoleValidation.NONE, PIN))
    store.pcap_dir.mkdir(parents=True, exist_ok=True)
    (store.pcap_dir / "old.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")


def test_admin_may_not_clear(app: FastAPI, store: SensorStore) -> None:
    _configure(store)
    sensor = console_of(app).host.sensor
    before = (len(sensor.inventory.assets), len(sensor.alerts.alerts))
    with client_for(app) as c:
        page = c.get("/support").text
        assert 'data-testid="support-only"' in page and 'action="/support/clear-data"' not in page
        assert 'href="/support"' not in c.get("/overview").text
        r = c.post("/support/clear-data", data={"csrf": csrf(c), "confirm": "yes"})
    assert r.status_code == 403 and "Only the privileged support user" in r.text
    assert console_of(app).host.sensor is sensor
    assert (len(sensor.inventory.assets), len(sensor.alerts.alerts)) == before
    assert store.time_region.timezone == "Europe/Berlin" and (store.pcap_dir / "old.pcap").exists()


def test_support_clears_everything_but_the_network(
    app: FastAPI, store: SensorStore, fed_sensor: Sensor
) -> None:
    _configure(store)
    fingerprint = store.certificate_info()["fingerprint"]
    assert fed_sensor.baseline.conversations and fed_sensor.inventory.assets
    with client_for(app, role=Role.SUPPORT) as c:
        assert 'href="/support"' in c.get("/overview").text
        r = c.post("/support/clear-data", data={"csrf": csrf(c)}, follow_redirects=False)
        assert r.status_code == 303 and "was not confirmed" in c.get("/support").text
        assert console_of(app).host.sensor is fed_sensor
        r = c.post("/support/clear-data", data={"csrf": csrf(c), "confirm": "yes"}, follow_redirects=False)
        assert r.status_code == 303
        assert "Network settings were kept." in c.get("/support").text
        fresh = console_of(app).host.sensor
        assert fresh is not fed_sensor
        assert not fresh.inventory.assets and not fresh.alerts.alerts and fresh.packets == 0
        assert not fresh.baseline.conversations and not fresh.baseline.assets  # allowlists and policies
        assert fresh.learning  # learning starts again
        assert store.network == validate(GOOD)  # kept
        assert store.certificate_info()["fingerprint"] == fingerprint  # kept
        assert store.time_region == TimeRegion()
        assert not store.pcaps_enabled
        assert store.console_trust == ConsoleTrust()
        assert list(store.pcap_dir.iterdir()) == []
        html = c.get("/overview").text
        assert re.search(r"<dt>Devices</dt><dd><a href=\"/devices\">0</a>", html)
        assert c.get("/devices").text.count("<tr data-id") == 0


def test_clear_data_on_a_managed_sensor(
    make_app: AppFactory, store: SensorStore, tmp_path: Path, plant_capture: Path
) -> None:
    state = tmp_path / "node"
    state.mkdir()
    node = SensorNode(NodeState(state), [])
    node.runtime.config, node.runtime.config_version = {"learning": False}, 7
    old_run = node.run_id
    app = make_app(node)
    from otwatch.sensor.local.uploads import PcapLibrary

    frames = PcapLibrary(plant_capture.parent).replay([plant_capture.name])
    node.play(frames).join(30)
    assert node.sensor.inventory.assets
    assert node.build_reports()
    with client_for(app, role=Role.SUPPORT) as c:
        # no console link (not paired): nothing to offer about a console's copy
        assert 'data-testid="console-data"' not in c.get("/support").text
        assert (
            c.post(
                "/support/clear-data", data={"csrf": csrf(c), "confirm": "yes"}, follow_redirects=False
            ).status_code
            == 303
        )
    assert not node.sensor.inventory.assets and not node.sensor.alerts.alerts
    assert node.runtime.config_version == 0  # the console sends its configuration again
    assert node.run_id != old_run  # alert keys stay unique at the console
    kinds = [r.kind for r in node.build_reports()]
    assert kinds == ["stats"]  # nothing old is reported again


def test_a_report_built_before_clear_data_is_not_sent_after_it(tmp_path: Path, plant_capture: Path) -> None:
    """The reporter builds, Clear data (console data too) lands, the reporter would queue: it does not,
    so the console never takes the old pipeline's assets after the "cleared" report."""
    state = tmp_path / "node"
    state.mkdir()
    node = SensorNode(NodeState(state), [])
    from otwatch.sensor.local.uploads import PcapLibrary

    node.play(PcapLibrary(plant_capture.parent).replay([plant_capture.name])).join(30)
    build = node.build_reports

    def build_then_clear() -> list[Report]:
        reports = build()
        assert any(r.kind == "assets" for r in reports)
        node.clear_data(console_too=True)  # the support user clicks while the reporter works
        return reports

    node.build_reports = build_then_clear  # type: ignore[method-assign]
    assert node.report_once() == 0
    assert [r.kind for r in node.runtime.report_box.pending()] == ["cleared"]
    node.build_reports = build  # type: ignore[method-assign]
    assert node.report_once() >= 1  # the fresh pipeline reports again (its statistics at least)
    assert [r.kind for r in node.runtime.report_box.pending()][:1] == ["cleared"]
