"""Operational: what happened to the process — controller stop/start/reset, program download and
upload, firmware and mode changes, exceptions, devices that stop answering, channels that go quiet.

Events come from the operations dissectors tag on requests (:mod:`otwatch.protocols.operations`;
each protocol names its own), from replies (DNP3 IIN restart bit, Modbus exception codes) and from
identity changes the inventory reports (firmware, CPU state). Devices not responding are counted per server
and protocol: :data:`UNRESPONSIVE_REQUESTS` requests in a row over at least
:data:`UNRESPONSIVE_SECONDS` without a reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from otwatch.inventory.asset import Asset
from otwatch.inventory.merge import FieldChange
from otwatch.protocols.base import Record
from otwatch.protocols.dnp3.codes import IIN
from otwatch.protocols.operations import (
    OPERATION_ALERT_FIELD,
    OPERATION_BY_SERVER_FIELD,
    OPERATION_DETAIL_FIELD,
    OPERATION_FIELD,
    Operation,
)
from otwatch.sensor.tracking.alerts import AlertStore, protocol_label
from otwatch.sensor.tracking.baseline import Baseline, ConvKey
from otwatch.sensor.tracking.flows import FlowKey

UNRESPONSIVE_REQUESTS: Final = 5
UNRESPONSIVE_SECONDS: Final = 5.0
INACTIVE_MIN_MESSAGES: Final = 10  # only channels that were busy while learning can go quiet
REQUEST_RESPONSE: Final = frozenset({"modbus", "s7comm", "enip", "dnp3"})
#: The protocols :meth:`OperationalEngine.on_record` looks at; the pipeline skips the call for others.
RECORD_PROTOCOLS: Final = REQUEST_RESPONSE
DNP3_NO_REPLY: Final = frozenset({6, 8, 10, 12})  # *_NR codes: no response expected
#: Operations that mark their client as an engineering station.
PROGRAMMING: Final = frozenset(
    {Operation.PROGRAM_DOWNLOAD, Operation.PROGRAM_UPLOAD, Operation.PROGRAM_DELETE, Operation.PROGRAM_TO_ROM}
)


class _Pending:
    __slots__ = ("count", "first", "server")

    def __init__(self, server: Asset | None) -> None:
        self.count = 0
        self.first = 0.0
        self.server = server


class OperationalEngine:
    def __init__(
        self,
        alerts: AlertStore,
        baseline: Baseline,
        inactive_after: float,
        find_asset: Callable[[str], Asset | None],
    ) -> None:
        self.alerts = alerts
        self.baseline = baseline
        self.inactive_after = inactive_after
        self.find_asset = find_asset
        self.monitor_start: float | None = None  # first time seen after learning was turned off
        self.last_seen: dict[ConvKey, float] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._restarted: dict[tuple[int, object], bool] = {}

    def on_record(
        self,
        ts: float,
        record: Record,
        src: Asset | None,
        dst: Asset | None,
        server_ip: str,
        flow: FlowKey,
    ) -> None:
        protocol = record.protocol
        fields = record.fields
        request = record.direction == "request"
        if protocol in REQUEST_RESPONSE:
            self._responsiveness(ts, protocol, server_ip, request, fields, dst, src, flow)
        operation = fields.get(OPERATION_FIELD)
        if operation is not None and request != bool(fields.get(OPERATION_BY_SERVER_FIELD)):
            # A dissector tagged an engineering operation (protocols.operations): one alert type per
            # operation, whatever the protocol.
            self._operation(ts, Operation(operation), fields, src, dst, protocol, flow)
        elif protocol == "dnp3" and not request and "iin" in fields and src is not None:
            restarted = bool(fields["iin"] & IIN.DEVICE_RESTART)
            key = (src.id, fields.get("source"))
            if restarted and not self._restarted.get(key, False):
                self.alerts.raise_alert(
                    "OUTSTATION_RESTARTED",
                    ts,
                    f"DNP3 outstation {src.label} (address {fields.get('source')}) reports a restart "
                    f"(IIN1.7 DEVICE_RESTART) to {_l(dst)}.",
                    src=src,
                    dst=dst,
                    protocol=protocol,
                    flow=flow,
                )
            self._restarted[key] = restarted
        elif protocol == "modbus" and not request:
            exc = fields.get("exception_code")
            if exc is not None and exc not in (1, 2, 3):
                self.alerts.raise_alert(
                    "MODBUS_EXCEPTION",
                    ts,
                    f"Modbus device {_l(src)} (unit {fields.get('unit')}) answered {fields.get('func')} with "
                    f"exception {fields.get('exception')} to {_l(dst)}.",
                    src=src,
                    dst=dst,
                    protocol=protocol,
                    subject=exc,
                    flow=flow,
                )

    def _operation(
        self,
        ts: float,
        operation: Operation,
        fields: dict[str, object],
        src: Asset | None,
        dst: Asset | None,
        protocol: str,
        flow: FlowKey,
    ) -> None:
        detail = str(fields.get(OPERATION_DETAIL_FIELD) or f"a {protocol_label(protocol)} {operation}")
        if operation in PROGRAMMING and src is not None:
            src.notes.add("programming")
        self.alerts.raise_alert(
            str(fields.get(OPERATION_ALERT_FIELD) or operation),
            ts,
            f"{_l(src)} sent {detail} to {_l(dst)}." if dst is not None else f"{_l(src)} sent {detail}.",
            src=src,
            dst=dst,
            protocol=protocol,
            subject=protocol,  # one alert per client, server, operation and protocol; the count grows
            flow=flow,
            details={"operation": str(operation), "detail": detail},
        )

    def _responsiveness(
        self,
        ts: float,
        protocol: str,
        server_ip: str,
        request: bool,
        fields: dict[str, object],
        server: Asset | None,
        client: Asset | None,
        flow: FlowKey,
    ) -> None:
        if request and server is None:  # broadcast or multicast (a List Identity to all): no one answers
            return
        key = (server_ip, protocol)
        if not request:
            entry = self._pending.get(key)
            if entry is not None:
                entry.count = 0
            return
        if protocol == "dnp3" and fields.get("func_code") in DNP3_NO_REPLY:
            return
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = _Pending(server)
        if entry.count == 0:
            entry.first = ts
        entry.count += 1
        if entry.count >= UNRESPONSIVE_REQUESTS and ts - entry.first >= UNRESPONSIVE_SECONDS:
            self.alerts.raise_alert(
                "UNRESPONSIVE_DEVICE",
                ts,
                f"{server_ip} has not answered {entry.count} {protocol_label(protocol)} requests over "
                f"{ts - entry.first:.0f} s (last from {_l(client)}).",
                src=server,
                protocol=protocol,
                flow=flow,
                details={"requests": entry.count, "seconds": round(ts - entry.first, 3)},
            )

    def on_identity_changes(self, ts: float, asset: Asset, changes: list[FieldChange]) -> None:
        for change in changes:
            if change.field == "firmware":
                self.alerts.raise_alert(
                    "FIRMWARE_CHANGED",
                    ts,
                    f"{asset.label} reports firmware {change.new} over {protocol_label(change.source)}; it "
                    f"reported {change.old} before.",
                    src=asset,
                    protocol=change.source,
                    subject=change.new,
                    details={"old": change.old, "new": change.new},
                )
            elif change.field == "state":
                self.alerts.raise_alert(
                    "MODE_CHANGED",
                    ts,
                    f"{asset.label} changed mode from {change.old} to {change.new} "
                    f"({protocol_label(change.source)}).",
                    src=asset,
                    protocol=change.source,
                    subject=(change.old, change.new),
                    details={"old": change.old, "new": change.new},
                )

    def tick(self, now: float) -> None:
        """Learned channels that have been quiet for longer than ``inactive_after``."""
        if self.monitor_start is None:
            return
        for conv, messages in self.baseline.conversations.items():
            if messages < INACTIVE_MIN_MESSAGES:
                continue
            last = self.last_seen.get(conv, self.monitor_start)
            if now - last <= self.inactive_after:
                continue
            client, server, protocol = conv
            self.alerts.raise_alert(
                "INACTIVE_CHANNEL",
                now,
                f"The learned {protocol_label(protocol)} channel {client} -> {server} has been silent for "
                f"{now - last:.0f} s.",
                src=self.find_asset(client),
                dst=self.find_asset(server),
                protocol=protocol,
                details={"silent_seconds": round(now - last, 3)},
            )


def _l(asset: Asset | None) -> str:
    return asset.label if asset is not None else "an unknown device"
