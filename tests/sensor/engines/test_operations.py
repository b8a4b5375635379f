"""Engineering operations tagged by any dissector become one alert type each, with its ATT&CK technique."""

from __future__ import annotations

from otwatch.inventory.asset import Asset
from otwatch.protocols.base import Record
from otwatch.protocols.operations import OPERATIONS, Operation, tag
from otwatch.sensor.engines.operational import OperationalEngine
from otwatch.sensor.tracking.alerts import ALERT_TYPES, AlertStore
from otwatch.sensor.tracking.baseline import Baseline

FLOW = (6, "10.0.0.5", 50000, "10.0.0.9", 102)


def _engine() -> tuple[OperationalEngine, AlertStore]:
    alerts = AlertStore()
    return OperationalEngine(alerts, Baseline(), 3600.0, lambda _ip: None), alerts


def _record(protocol: str, operation: Operation, detail: str, direction: str = "request") -> Record:
    fields: dict[str, object] = {}
    tag(fields, operation, detail)
    return Record(protocol, direction, fields)  # type: ignore[arg-type]


def test_every_operation_is_an_alert_type_with_a_technique() -> None:
    for op, row in OPERATIONS.items():
        atype = ALERT_TYPES[str(op)]
        assert atype.technique is row.technique
        assert atype.technique is not None and atype.technique.id.startswith("T0")
        assert atype.title == row.title


def test_tagged_request_raises_its_operation_with_technique() -> None:
    engine, alerts = _engine()
    eng, plc = Asset(1, None, "10.0.0.5", 0.0, 0.0), Asset(2, None, "10.0.0.9", 0.0, 0.0)
    record = _record("mms", Operation.PROGRAM_DOWNLOAD, "an MMS InitiateDownloadSequence of domain 'LD0'")
    engine.on_record(1.0, record, eng, plc, "10.0.0.9", FLOW)
    engine.on_record(2.0, record, eng, plc, "10.0.0.9", FLOW)
    [alert] = alerts.by_code("PROGRAM_DOWNLOAD")
    assert alert.count == 2  # the same operation again counts, it does not flood
    out = alert.as_dict()
    assert out["technique"] == "T0843" and out["technique_name"] == "Program Download"
    assert "InitiateDownloadSequence of domain 'LD0'" in alert.description
    assert "programming" in eng.notes  # the client is marked as an engineering station


def test_first_tag_wins_and_responses_raise_nothing() -> None:
    fields: dict[str, object] = {}
    tag(fields, Operation.CONTROLLER_STOP, "a stop")
    tag(fields, Operation.PARAMETER_WRITE, "a write")
    assert fields["operation"] == Operation.CONTROLLER_STOP
    engine, alerts = _engine()
    engine.on_record(1.0, _record("fins", Operation.CONTROLLER_STOP, "x", "response"), None, None, "h", FLOW)
    assert not alerts.alerts


def test_each_operation_and_protocol_is_its_own_alert() -> None:
    engine, alerts = _engine()
    a, b = Asset(1, None, "10.0.0.5", 0.0, 0.0), Asset(2, None, "10.0.0.9", 0.0, 0.0)
    engine.on_record(
        1.0, _record("ads", Operation.CONTROLLER_STOP, "an ADS WriteControl STOP"), a, b, "h", FLOW
    )
    engine.on_record(1.0, _record("fins", Operation.CONTROLLER_STOP, "a FINS Stop"), a, b, "h", FLOW)
    engine.on_record(1.0, _record("fins", Operation.CLOCK_SET, "a FINS Clock Write"), a, b, "h", FLOW)
    assert sorted((x.type.code, x.protocol) for x in alerts.alerts.values()) == [
        ("CLOCK_SET", "fins"),
        ("CONTROLLER_STOP", "ads"),
        ("CONTROLLER_STOP", "fins"),
    ]
    assert alerts.by_code("CLOCK_SET")[0].type.technique.id == "T0836"  # type: ignore[union-attr]
