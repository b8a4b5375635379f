"""Alerts: the ONE table of alert types, the alert record and the store that de-duplicates them.

Engines, severities and statuses are the shared vocabulary (:mod:`otwatch.inventory.vocabulary`).

Every alert an engine can raise is a row of :data:`ALERT_TYPES` (code -> engine, severity, title). The
engines refer to rows by code, so a title or a severity is changed in one place. Titles are the ones an
OT analyst knows from commercial sensors; ``{protocol}`` in a title is replaced by the protocol's label.

:class:`AlertStore` de-duplicates: the same alert type between the same assets about the same thing
(e.g. the same protocol) is one alert whose ``count`` and ``last_seen`` grow, until it is closed. Each
occurrence can name what varied (``tally``: e.g. the function code), counted in the alert's details, and
the flow it happened in, whose packet then joins the alert's PCAP (see
:class:`~otwatch.sensor.tracking.forensics.Forensics`). Engines that fold many events into one alert
themselves (a scan, a burst of new conversations) add occurrences with :meth:`AlertStore.add_occurrence`.

Details are flat (text and numbers, as the console stores them): lists are rendered by :func:`listing`,
bounded to :data:`MAX_LISTED` items and followed by how many more there are.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from otwatch.inventory.vocabulary import AlertStatus, Engine, Severity
from otwatch.protocols import operations as ops
from otwatch.protocols.operations import OPERATIONS, Technique
from otwatch.sensor.capture.pcapfile import Frame

if TYPE_CHECKING:
    from otwatch.inventory.asset import Asset


@dataclass(frozen=True, slots=True)
class AlertType:
    code: str
    engine: Engine
    severity: Severity
    title: str
    technique: Technique | None = None  # MITRE ATT&CK for ICS, where the alert maps onto one


_PV, _PO, _MW, _AN, _OP = (
    Engine.PROTOCOL_VIOLATION,
    Engine.POLICY_VIOLATION,
    Engine.MALWARE,
    Engine.ANOMALY,
    Engine.OPERATIONAL,
)
_C, _MJ, _MN, _W = Severity.CRITICAL, Severity.MAJOR, Severity.MINOR, Severity.WARNING

ALERT_TYPES: Final[dict[str, AlertType]] = {
    t.code: t
    for t in (
        # Protocol Violation: frames out of spec, codes the protocol does not define.
        AlertType("MALFORMED_PACKET", _PV, _MN, "Malformed {protocol} Packet"),
        AlertType(
            "MODBUS_FUNCTION_CODE_ZERO",
            _PV,
            _MJ,
            "Illegal Modbus Operation (Function Code Zero)",
            ops.UNAUTHORIZED_COMMAND_T,
        ),
        AlertType(
            "ILLEGAL_FUNCTION_CODE", _PV, _MJ, "Illegal {protocol} Function Code", ops.UNAUTHORIZED_COMMAND_T
        ),
        AlertType("SLAVE_ILLEGAL_FUNCTION", _PV, _MN, "Slave Device Received Illegal Function Code"),
        AlertType("SLAVE_ILLEGAL_ADDRESS", _PV, _MN, "Slave Device Received Illegal Data Address"),
        AlertType("SLAVE_ILLEGAL_VALUE", _PV, _MN, "Slave Device Received Illegal Data Value"),
        # Policy Violation: deviation from the learned baseline.
        AlertType("NEW_ASSET", _PO, _MJ, "New Asset Detected"),
        AlertType("NEW_CONVERSATION", _PO, _MJ, "Unauthorized Communication Behavior", ops.REMOTE_SERVICES_T),
        AlertType("UNPERMITTED_MODBUS_FUNCTION", _PO, _MJ, "Unpermitted Usage of Modbus Function Code"),
        AlertType("UNPERMITTED_DNP3_FUNCTION", _PO, _MJ, "Unpermitted Usage of DNP3 Function Code"),
        AlertType("UNPERMITTED_ASDU_TYPE", _PO, _MJ, "Unpermitted Usage of ASDU Types"),
        AlertType("MODBUS_ADDRESS_RANGE", _PO, _MJ, "Modbus Address Range Violation"),
        AlertType("NEW_CIP_CLASS", _PO, _MJ, "New Activity Detected - CIP Class"),
        AlertType("NEW_CIP_SERVICE", _PO, _MJ, "New Activity Detected - CIP Class Service"),
        AlertType("NEW_ENIP_IO", _PO, _MJ, "New Activity Detected - EtherNet/IP I/O Connection"),
        AlertType("NEW_S7_FUNCTION", _PO, _MJ, "New Activity Detected - S7 Function"),
        AlertType(
            "UNAUTHORIZED_S7_DATA_BLOCK",
            _PO,
            _MJ,
            "Unauthorized Access to S7 Data Block",
            ops.MODIFY_PARAMETER_T,
        ),
        AlertType(
            "UNAUTHORIZED_PROGRAMMING", _PO, _C, "Unauthorized PLC Programming", ops.PROGRAM_DOWNLOAD_T
        ),
        AlertType("UNAUTHORIZED_UPLOAD", _PO, _MJ, "Unauthorized PLC Program Upload", ops.PROGRAM_UPLOAD_T),
        # Malware: threat-intelligence indicators and known ICS malware behaviour.
        AlertType(
            "MALICIOUS_IP", _MW, _C, "Connection Attempt to Known Malicious IP", ops.STANDARD_PROTOCOL_T
        ),
        AlertType("MALICIOUS_DOMAIN", _MW, _C, "Malicious Domain Name Request", ops.STANDARD_PROTOCOL_T),
        AlertType("ICS_MALWARE", _MW, _C, "Suspicion of Malicious Activity"),
        # Anomaly: behaviour that is unusual whatever the baseline.
        AlertType("PORT_SCAN", _AN, _MJ, "Port Scan Detected", ops.REMOTE_DISCOVERY_T),
        AlertType("ADDRESS_SCAN", _AN, _MJ, "Address Scan Detected", ops.REMOTE_DISCOVERY_T),
        AlertType("PLC_SCAN", _AN, _MJ, "PLC Scan Detected", ops.REMOTE_INFO_DISCOVERY_T),
        AlertType("ARP_SCAN", _AN, _MJ, "ARP Address Scan Detected", ops.REMOTE_DISCOVERY_T),
        AlertType("BANDWIDTH", _AN, _MN, "Abnormal Traffic Bandwidth"),
        # IEC 61850 GOOSE publishers (engines/substation.py).
        AlertType("GOOSE_STNUM_JUMP", _AN, _MJ, "GOOSE State Number Out of Sequence", ops.SPOOF_REPORTING_T),
        AlertType("GOOSE_SQNUM_REPLAY", _AN, _MJ, "GOOSE Message Replayed", ops.ADVERSARY_IN_THE_MIDDLE_T),
        AlertType("GOOSE_SIMULATION", _AN, _MN, "GOOSE Simulation/Test Message", ops.SPOOF_REPORTING_T),
        AlertType(
            "GOOSE_TAL_EXPIRED",
            _OP,
            _MN,
            "GOOSE Publisher Silent Past Its Time Allowed to Live",
            ops.DENIAL_OF_SERVICE_T,
        ),
        # Operational: what the process engineer wants to know happened. Engineering operations that
        # dissectors tag (program download, mode change, firmware update ...) are the rows of
        # protocols.operations.OPERATIONS, added below.
        AlertType("S7_STOP", _OP, _MJ, "S7 Stop PLC Command was Sent", ops.CHANGE_MODE_T),
        AlertType("OUTSTATION_RESTARTED", _OP, _MN, "Outstation Restarted", ops.RESTART_T),
        AlertType("FIRMWARE_CHANGED", _OP, _MJ, "Firmware Version Changed", ops.SYSTEM_FIRMWARE_T),
        AlertType("MODE_CHANGED", _OP, _MN, "Controller Mode Changed", ops.CHANGE_MODE_T),
        AlertType("MODBUS_EXCEPTION", _OP, _MN, "Modbus Exception"),
        AlertType(
            "UNRESPONSIVE_DEVICE",
            _OP,
            _MJ,
            "Suspicion of Unresponsive {protocol} Device",
            ops.DENIAL_OF_SERVICE_T,
        ),
        AlertType("INACTIVE_CHANNEL", _OP, _MN, "Inactive Communication Channel"),
    )
}
ALERT_TYPES.update(
    (str(op), AlertType(str(op), _OP, Severity(t.severity), t.title, t.technique))
    for op, t in OPERATIONS.items()
)

#: How protocols are named in titles and descriptions.
PROTOCOL_LABELS: Final[dict[str, str]] = {
    "modbus": "Modbus",
    "dnp3": "DNP3",
    "iec104": "IEC 60870-5-104",
    "s7comm": "S7",
    "s7comm_plus": "S7comm-plus",
    "enip": "EtherNet/IP",
    "bacnet": "BACnet",
    "snmp": "SNMP",
    "profinet_dcp": "PROFINET DCP",
    "profinet_io": "PROFINET IO",
    "mms": "MMS",
    "goose": "GOOSE",
    "sv": "IEC 61850 Sampled Values",
    "ads": "ADS",
    "hartip": "HART-IP",
    "c37118": "C37.118",
    "ethercat": "EtherCAT",
    "ge_srtp": "GE SRTP",
    "melsec": "MELSEC",
    "melsoft": "MELSOFT",
    "fins": "FINS",
    "roc_plus": "ROC Plus",
    "bsap": "BSAP",
    "genisys": "Genisys",
}


def protocol_label(protocol: str | None) -> str:
    """The protocol's name for people ("EtherNet/IP"); IT protocols without an entry are upper-cased
    ("dhcp" -> "DHCP"), which is how they are written."""
    if protocol is None:
        return "Unknown"
    return PROTOCOL_LABELS.get(protocol) or protocol.upper()


@dataclass(slots=True, eq=False)
class Alert:
    id: int
    type: AlertType
    title: str
    description: str
    first_seen: float
    last_seen: float
    protocol: str | None = None
    source: int | None = None  # asset ids
    destination: int | None = None
    source_label: str | None = None
    destination_label: str | None = None
    count: int = 1
    status: AlertStatus = AlertStatus.OPEN
    details: dict[str, Any] = field(default_factory=dict)
    pcap: bytes | None = None  # the packets around the alert (classic pcap)
    # Occurrences per value of what varies between them (details name -> value -> count); see tally().
    tallies: dict[str, dict[str, int]] | None = None

    @property
    def engine(self) -> Engine:
        return self.type.engine

    @property
    def severity(self) -> Severity:
        return self.type.severity

    def as_dict(self, with_pcap: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "code": self.type.code,
            "engine": str(self.engine),
            "severity": str(self.severity),
            "title": self.title,
            "technique": self.type.technique.id if self.type.technique else None,
            "technique_name": self.type.technique.name if self.type.technique else None,
            "description": self.description,
            "source": self.source,
            "source_label": self.source_label,
            "destination": self.destination,
            "destination_label": self.destination_label,
            "protocol": self.protocol,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "count": self.count,
            "status": str(self.status),
            "details": self.details,
            "pcap_bytes": len(self.pcap) if self.pcap else 0,
        }
        if with_pcap and self.pcap:
            out["pcap"] = self.pcap.hex()
        return out


MAX_ALERTS: Final = 100_000
MAX_LISTED: Final = 32  # items a details list shows; the rest are counted
MAX_TALLIED: Final = 64  # distinct values one alert counts per details name; later values count as "other"


def listing(items: Iterable[str], total: int | None = None) -> str:
    """``items`` as one line of text, at most :data:`MAX_LISTED` of them, then how many more
    (``total`` is the number of items there are when ``items`` holds only some of them)."""
    shown: list[str] = []
    n = 0
    for item in items:
        n += 1
        if len(shown) < MAX_LISTED:
            shown.append(item)
    total = max(n, total or 0)
    text = ", ".join(shown)
    return f"{text} (+{total - len(shown)} more)" if total > len(shown) else text


def tally(alert: Alert, name: str, value: str) -> None:
    """Count one occurrence of ``value`` under ``details[name]``, e.g. ``"99 ×3, 100"``."""
    tallies = alert.tallies
    if tallies is None:
        tallies = alert.tallies = {}
    counts = tallies.setdefault(name, {})
    if value not in counts and len(counts) >= MAX_TALLIED:
        value = "other"
    counts[value] = counts.get(value, 0) + 1
    alert.details[name] = listing(f"{v} ×{n}" if n > 1 else v for v, n in counts.items())
    alert.details["occurrences"] = alert.count


class AlertStore:
    """Open alerts, de-duplicated by (type, source, destination, subject)."""

    def __init__(self, enabled: set[Engine] | None = None, max_alerts: int = MAX_ALERTS) -> None:
        self.enabled: set[Engine] = set(Engine) if enabled is None else set(enabled)
        self.alerts: dict[int, Alert] = {}
        self._open: dict[Hashable, Alert] = {}
        self._next_id = 1
        self.max_alerts = max_alerts
        self.dropped = 0
        # Called with each new alert, the flow it is about and the packets that show it, if the engine
        # kept them (the pipeline attaches the PCAP).
        self.on_new: Callable[[Alert, Hashable | None, Sequence[Frame]], None] | None = None
        # Called with an open alert and the flows, or the packets, of its new occurrences (for its PCAP).
        self.on_more: Callable[[Alert, Sequence[Hashable]], None] | None = None
        self.on_frames: Callable[[Alert, Sequence[Frame]], None] | None = None

    def raise_alert(
        self,
        code: str,
        ts: float,
        description: str,
        *,
        src: Asset | None = None,
        dst: Asset | None = None,
        protocol: str | None = None,
        subject: Hashable = None,
        flow: Hashable | None = None,
        details: dict[str, Any] | None = None,
        tally_as: tuple[str, str] | None = None,
        frames: Sequence[Frame] = (),
    ) -> Alert | None:
        """Open a new alert, or count one more occurrence of the same open alert; returns the new one.

        ``tally_as`` (details name, value) counts what this occurrence is (see :func:`tally`); the
        packet of ``flow`` that caused a repeated occurrence joins the open alert's PCAP. ``frames``:
        the packets that show the alert, when the engine kept them (a new alert's PCAP is then those
        rather than the flow's recent packets)."""
        atype = ALERT_TYPES[code]
        if atype.engine not in self.enabled:
            return None
        key = (code, src.id if src else None, dst.id if dst else None, subject)
        alert = self._open.get(key)
        if alert is not None and alert.status != AlertStatus.CLOSED:
            self.add_occurrence(alert, ts, (flow,) if flow is not None else ())
            if tally_as is not None:
                tally(alert, *tally_as)
            return None
        if len(self.alerts) >= self.max_alerts:
            self.dropped += 1
            return None
        alert = Alert(
            id=self._next_id,
            type=atype,
            title=atype.title.replace("{protocol}", protocol_label(protocol)),
            description=description,
            first_seen=ts,
            last_seen=ts,
            protocol=protocol,
            source=src.id if src else None,
            destination=dst.id if dst else None,
            source_label=src.label if src else None,
            destination_label=dst.label if dst else None,
            details=details or {},
        )
        self._next_id += 1
        self.alerts[alert.id] = alert
        self._open[key] = alert
        if tally_as is not None:
            tally(alert, *tally_as)
        if self.on_new is not None:
            self.on_new(alert, flow, frames)
        return alert

    def add_occurrence(
        self,
        alert: Alert,
        ts: float,
        flows: Sequence[Hashable] = (),
        n: int = 1,
        frames: Sequence[Frame] = (),
    ) -> None:
        """``n`` more occurrences of an open alert, in ``flows`` or shown by ``frames`` (for its PCAP)."""
        alert.count += n
        if ts > alert.last_seen:
            alert.last_seen = ts
        if flows and self.on_more is not None:
            self.on_more(alert, flows)
        if frames and self.on_frames is not None:
            self.on_frames(alert, frames)

    def set_status(self, alert_id: int, status: AlertStatus) -> Alert:
        alert = self.alerts[alert_id]
        alert.status = status
        return alert

    def remove(self, ids: set[int]) -> list[Alert]:
        """Forget these alerts (retention); a later occurrence opens a new alert. Returns the removed."""
        gone = [self.alerts.pop(i) for i in ids if i in self.alerts]
        if gone:
            dead = {id(a) for a in gone}
            self._open = {k: a for k, a in self._open.items() if id(a) not in dead}
        return gone

    def by_code(self, code: str) -> list[Alert]:
        return [a for a in self.alerts.values() if a.type.code == code]

    def open_alerts(self) -> list[Alert]:
        """Open alerts, most severe first, then most recent."""
        return sorted(
            (a for a in self.alerts.values() if a.status != AlertStatus.CLOSED),
            key=lambda a: (a.severity.order, -a.last_seen),
        )
