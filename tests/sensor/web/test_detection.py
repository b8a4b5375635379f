"""System settings > Network monitoring > Detection engines and network modeling: a locally managed
sensor switches Learning, Smart IT Learning and the five engines from its own console; the choice
survives a restart; turning learning off asks first; a console-connected sensor shows them read-only."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from otwatch.inventory.vocabulary import Engine
from otwatch.sensor.local.store import Detection, SensorStore
from otwatch.sensor.pipeline.sensor import Sensor
from otwatch.sensor.tracking.timeline import EventType
from tests.sensor.web.conftest import AppFactory, client_for, csrf
from tests.sensor.web.test_pages import _paired_node

ALL = [e.value for e in Engine]


def _form(
    token: str, *, learning: bool, smart_it: bool, engines: list[str], confirmed: bool = False
) -> dict[str, str | list[str]]:
    data: dict[str, str | list[str]] = {"csrf": token, "engine": engines}
    if learning:
        data["learning"] = "on"
    if smart_it:
        data["smart_it_learning"] = "on"
    if confirmed:
        data["confirmed"] = "yes"
    return data


def _checked(html: str, name: str, value: str = "on") -> bool:
    m = re.search(
        rf'<input type="checkbox" role="switch" name="{name}" value="{re.escape(value)}"([^>]*)>', html
    )
    assert m, (name, value)
    return "checked" in m.group(1)


def test_locally_managed_sensor_switches_engines_and_keeps_them(
    make_app: AppFactory, store: SensorStore
) -> None:
    sensor = Sensor()
    with client_for(make_app(sensor)) as c:
        html = c.get("/system/detection").text
        assert "Detection engines and network modeling" in html
        assert 'href="/system/detection"' in html  # in the side navigation
        assert _checked(html, "learning") and _checked(html, "smart_it_learning")
        assert all(_checked(html, "engine", e) for e in ALL)
        engines = [e for e in ALL if e not in ("Malware", "Anomaly")]
        r = c.post(
            "/system/detection",
            data=_form(csrf(c, "/system/detection"), learning=True, smart_it=True, engines=engines),
            follow_redirects=True,
        )
        assert r.status_code == 200
        assert "engines on: Protocol Violation, Policy Violation, Operational" in r.text
        assert not _checked(r.text, "engine", "Malware") and _checked(r.text, "engine", "Operational")
    assert sensor.settings.engines == {Engine.PROTOCOL_VIOLATION, Engine.POLICY_VIOLATION, Engine.OPERATIONAL}
    assert sensor.learning  # no confirmation needed for engines alone
    titles = [e.title for e in list(sensor.timeline)]
    assert "Malware engine turned off" in titles and "Anomaly engine turned off" in titles
    assert store.detection == Detection(True, True, frozenset(sensor.settings.engines))

    # the sensor starts again (a new pipeline, the same state directory): the saved choice applies
    again = Sensor()
    make_app(again)
    assert again.settings.engines == sensor.settings.engines and again.learning


def test_turning_learning_and_smart_it_off_asks_first(make_app: AppFactory, store: SensorStore) -> None:
    sensor = Sensor()
    with client_for(make_app(sensor)) as c:
        token = csrf(c, "/system/detection")
        r = c.post("/system/detection", data=_form(token, learning=False, smart_it=False, engines=ALL))
        assert r.status_code == 200
        assert 'data-testid="confirm"' in r.text
        assert "freezes the baseline" in r.text
        assert "can trigger many false positive policy violation alerts" in r.text
        assert sensor.learning and sensor.settings.smart_it_learning and store.detection is None
        # Cancel changes nothing; OK saves what was asked
        r = c.post(
            "/system/detection",
            data=_form(token, learning=False, smart_it=False, engines=ALL, confirmed=True),
            follow_redirects=True,
        )
        assert "Learning off, Smart IT Learning off" in r.text
        assert not _checked(r.text, "learning") and not _checked(r.text, "smart_it_learning")
        # turning them on again needs no confirmation
        r = c.post(
            "/system/detection",
            data=_form(csrf(c, "/system/detection"), learning=True, smart_it=True, engines=ALL),
            follow_redirects=True,
        )
        assert "Learning on, Smart IT Learning on" in r.text
    assert sensor.learning and sensor.settings.smart_it_learning
    kinds = [(e.type, e.title) for e in list(sensor.timeline) if e.type is EventType.LEARNING]
    assert len(kinds) == 2  # off, then on again


def test_support_user_has_the_page_too_and_forms_need_csrf(make_app: AppFactory) -> None:
    from otwatch.sensor.local.store import Role

    sensor = Sensor()
    app = make_app(sensor)
    with client_for(app, Role.SUPPORT) as c:
        assert c.get("/system/detection").status_code == 200
        r = c.post("/system/detection", data={"csrf": "wrong", "learning": "on"})
        assert r.status_code == 403
    with TestClient(app, base_url="https://testserver") as anonymous:
        r = anonymous.get("/system/detection", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert sensor.settings.engines == set(Engine)


def test_console_connected_sensor_shows_them_read_only(make_app: AppFactory, tmp_path: Path) -> None:
    node = _paired_node(tmp_path)
    with client_for(make_app(node)) as c:
        html = c.get("/system/detection").text
        assert "Managed by the console at console.plant:8443" in html
        assert 'data-testid="managed-note"' in html
        assert re.search(r'name="learning" value="on" checked\s+disabled', html)
        token = csrf(c, "/system/detection")
        r = c.post("/system/detection", data=_form(token, learning=True, smart_it=True, engines=[]))
        assert r.status_code == 403
        assert "Sites and Sensors" in r.text
    assert node.sensor.settings.engines == set(Engine)


def test_monitoring_port_limits_are_advanced_configurations(make_app: AppFactory, tmp_path: Path) -> None:
    """Advanced Configurations > monitoring: how long without traffic and how many drops make a SPAN
    monitoring-port failure; applied to the running node's port watch at once and at the next start."""
    from otwatch.sensor.node.managed import SensorNode
    from otwatch.wire.client import NodeState

    node = SensorNode(NodeState(tmp_path / "node"), [])
    with client_for(make_app(node)) as c:
        page = c.get("/system/advanced").text
        assert "no_traffic_seconds=300" in page and "drop_percent=1" in page
        r = c.post(
            "/system/advanced",
            data={
                "csrf": csrf(c),
                "category": "monitoring",
                "values": "no_traffic_seconds=60\ndrop_percent=2.5",
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert (node.ports.no_traffic_after, node.ports.drop_percent) == (60, 2.5)
        bad = c.post(
            "/system/advanced", data={"csrf": csrf(c), "category": "monitoring", "values": "drop_percent=0"}
        )
        assert bad.status_code == 400 and "drop_percent" in bad.text
    again = SensorNode(NodeState(tmp_path / "node2"), [])
    make_app(again)
    assert again.ports.no_traffic_after == 60  # the saved limits, applied when the console starts


def test_the_saved_choice_applies_without_the_console_too(tmp_path: Path) -> None:
    """`sensor run` without --console-port applies it as well (SensorHost.apply_detection)."""
    from otwatch.sensor.node.managed import SensorNode
    from otwatch.sensor.web.host import SensorHost
    from otwatch.wire.client import NodeState

    node = SensorNode(NodeState(tmp_path / "local"), [])  # never paired: locally managed
    SensorHost(node).apply_detection(Detection(False, False, frozenset({Engine.OPERATIONAL})))
    s = node.sensor
    assert not s.learning and not s.settings.smart_it_learning and s.settings.engines == {Engine.OPERATIONAL}
    paired = _paired_node(tmp_path)
    SensorHost(paired).apply_detection(Detection(False, False, frozenset()))
    assert paired.sensor.learning and paired.sensor.settings.engines == set(Engine)  # its console decides
