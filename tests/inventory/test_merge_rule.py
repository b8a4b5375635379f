"""The one merge rule (otwatch.inventory.merge.offer) as the sensor, the agent and the wire use it."""

from __future__ import annotations

import math
import typing

import pytest
from pydantic import ValidationError

from otwatch.agent.result import Asset as ScanAsset
from otwatch.inventory import vocabulary
from otwatch.inventory.identity import DeviceType, Identity
from otwatch.inventory.mac import format_mac, normalise_mac
from otwatch.inventory.merge import merge
from otwatch.wire.messages import AssetReport

MODBUS = Identity(protocol="modbus", vendor="Schneider Electric", model="BMX P34 2020", firmware="v3.1")
GUESS = Identity(protocol="fingerprint", vendor="Linux", model="web server", device_type=DeviceType.IT_HOST)


@pytest.mark.parametrize("order", [(GUESS, MODBUS), (MODBUS, GUESS)])
def test_agent_keeps_the_ot_answer_whatever_the_order(order: tuple[Identity, Identity]) -> None:
    """The agent used to keep the first value it was given, so a guess listed first won."""
    asset = ScanAsset(ip="10.0.0.1")
    asset.merge(order)
    assert (asset.vendor, asset.model, asset.firmware) == ("Schneider Electric", "BMX P34 2020", "v3.1")
    assert asset.device_type == "IT Host"  # only the guess knew a type
    assert asset.sources == {
        "vendor": "modbus",
        "model": "modbus",
        "firmware": "modbus",
        "device_type": "fingerprint",
    }


def test_sensor_and_agent_agree() -> None:
    for order in [(GUESS, MODBUS), (MODBUS, GUESS)]:
        sensor = merge(order).identity
        agent = ScanAsset(ip="10.0.0.1")
        agent.merge(order)
        assert (sensor.vendor, sensor.model, sensor.firmware) == (agent.vendor, agent.model, agent.firmware)


def test_same_source_change_is_a_device_change() -> None:
    merged = merge([MODBUS])
    (change,) = merged.add(Identity(protocol="modbus", firmware="v3.2"))
    assert (change.field, change.old, change.new) == ("firmware", "v3.1", "v3.2")
    assert merged.add(Identity(protocol="snmp", firmware="v9")) == [] and merged.identity.firmware == "v3.2"


def test_vocabulary_literals_match_the_enums() -> None:
    assert typing.get_args(vocabulary.SeverityName) == tuple(s.value for s in vocabulary.Severity)
    assert typing.get_args(vocabulary.EngineName) == tuple(e.value for e in vocabulary.Engine)
    assert [s.order for s in vocabulary.Severity] == sorted(s.order for s in vocabulary.Severity)
    assert vocabulary.Severity.CRITICAL.cef > vocabulary.Severity.WARNING.cef
    assert vocabulary.Severity.CRITICAL.syslog < vocabulary.Severity.WARNING.syslog  # lower is worse
    assert vocabulary.severity_order("nonsense") > vocabulary.severity_order("Warning")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"),
        ("aabb.ccdd.eeff", "aa:bb:cc:dd:ee:ff"),
        ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"),
        ("aa:bb:cc:dd:ee", None),
        ("zz:bb:cc:dd:ee:ff", None),
        (None, None),
    ],
)
def test_one_mac_format(text: object, want: str | None) -> None:
    assert normalise_mac(text) == want
    if want:
        assert format_mac(bytes.fromhex(want.replace(":", ""))) == want


def test_asset_report_is_typed_at_the_boundary() -> None:
    r = AssetReport.model_validate({"ip": "10.0.0.1", "mac": "00-1B-1B-00-00-01", "protocols": ["modbus"],
                                    "unknown_key_from_a_newer_node": 1, "model": "x" * 1000})  # fmt: skip
    assert (
        r.mac == "00:1b:1b:00:00:01" and r.protocols[0].name == "modbus" and r.protocols[0].role == "server"
    )
    assert r.model is not None and len(r.model) == 255  # device-told text is clipped, not refused
    for bad in (
        {"ip": "10.0.0.1", "modules": ["x"]},
        {"ip": "10.0.0.1", "open_ports": ["http"]},
        {"ip": "10.0.0.1", "vendor_id": math.inf},
        {"ip": "10.0.0.1", "modules": [{"slot": math.nan}]},
        {"vendor": "no address"},
    ):
        with pytest.raises(ValidationError):
            AssetReport.model_validate(bad)
