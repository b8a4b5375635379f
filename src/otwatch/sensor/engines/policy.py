"""Policy Violation: deviations from the learned baseline (new device, conversation, function code,
register range, CIP class or service, I/O connection, S7 function or data block, program transfer).

Silent while learning. Once the baseline is frozen, each check is a set lookup with the same facts
that :func:`otwatch.sensor.tracking.baseline.activities` produced while learning. Activities of a conversation
the baseline has never seen are covered by the one "Unauthorized Communication Behavior" alert, except
program transfers, which are always named.
"""

from __future__ import annotations

from typing import Final

from otwatch.inventory.asset import Asset
from otwatch.protocols.base import Record
from otwatch.sensor.config.settings import IT_NOISE_PORTS, SensorSettings
from otwatch.sensor.tracking.alerts import AlertStore, protocol_label
from otwatch.sensor.tracking.baseline import Activity, Baseline, ConvKey, activities, register_range
from otwatch.sensor.tracking.flows import FlowKey

FC_CODES: Final[dict[str, str]] = {
    "modbus": "UNPERMITTED_MODBUS_FUNCTION",
    "dnp3": "UNPERMITTED_DNP3_FUNCTION",
}


class PolicyViolationEngine:
    def __init__(self, alerts: AlertStore, baseline: Baseline, settings: SensorSettings) -> None:
        self.alerts = alerts
        self.baseline = baseline
        self.settings = settings

    def check_asset(self, ts: float, asset: Asset) -> None:
        if not asset.local or (asset.mac, asset.ip) in self.baseline.assets:
            return
        self.alerts.raise_alert(
            "NEW_ASSET",
            ts,
            f"A device not in the learned baseline appeared: {asset.label}.",
            src=asset,
        )

    def check_conversation(
        self, ts: float, conv: ConvKey, client: Asset, server: Asset, transport: str, port: int, flow: FlowKey
    ) -> None:
        if conv in self.baseline.conversations:
            return
        if self.settings.smart_it_learning and port in IT_NOISE_PORTS:
            return
        self.alerts.raise_alert(
            "NEW_CONVERSATION",
            ts,
            f"{client.label} started communicating with {server.label} over {protocol_label(conv[2])} "
            f"({transport}/{port}); this conversation is not in the learned baseline.",
            src=client,
            dst=server,
            protocol=conv[2],
            subject=conv[2],
            flow=flow,
        )

    def check_record(
        self, ts: float, conv: ConvKey, record: Record, src: Asset | None, dst: Asset | None, flow: FlowKey
    ) -> None:
        acts = activities(record)
        known_conv = conv in self.baseline.conversations
        learned = self.baseline.activities.get(conv, set())
        for act in acts:
            if act in learned or (not known_conv and act[0] != "transfer"):
                continue
            code, what = _describe(record, act)
            self.alerts.raise_alert(
                code,
                ts,
                f"{_l(src)} -> {_l(dst)} ({protocol_label(record.protocol)}): {what}, which this "
                f"conversation did not use while learning.",
                src=src,
                dst=dst,
                protocol=record.protocol,
                subject=act,
                flow=flow,
                details={"activity": list(act)},
            )
        if not known_conv:
            return
        rng = register_range(record)
        if rng is None:
            return
        unit, table, first, last = rng
        span = self.baseline.ranges.get((conv, unit, table))
        if span is None or (span[0] <= first and last <= span[1]):
            return
        self.alerts.raise_alert(
            "MODBUS_ADDRESS_RANGE",
            ts,
            f"{_l(src)} accessed {table.replace('_', ' ')} {first}-{last} of unit {unit} on {_l(dst)}; "
            f"the learned range is {span[0]}-{span[1]}.",
            src=src,
            dst=dst,
            protocol="modbus",
            subject=(unit, table),
            flow=flow,
            details={"unit": unit, "table": table, "first": first, "last": last, "learned": list(span)},
        )


def _describe(record: Record, act: Activity) -> tuple[str, str]:
    kind = act[0]
    fields = record.fields
    if kind == "fc":
        return FC_CODES[record.protocol], f"function code {act[1]} ({fields.get('func')})"
    if kind == "asdu":
        return "UNPERMITTED_ASDU_TYPE", f"ASDU type {act[1]} ({fields.get('type_name')})"
    if kind == "class":
        return "NEW_CIP_CLASS", f"CIP class {act[1]} ({act[2] or 'unknown'})"
    if kind == "service":
        return "NEW_CIP_SERVICE", f"CIP service {act[2]} ({act[3]}) on class {act[1]}"
    if kind == "io":
        return "NEW_ENIP_IO", f"an EtherNet/IP I/O connection ({fields.get('connection_id')})"
    if kind == "db":
        return "UNAUTHORIZED_S7_DATA_BLOCK", f"data block DB{act[1]} ({fields.get('function_name')})"
    if kind == "transfer":
        if act[1] == "download":
            return "UNAUTHORIZED_PROGRAMMING", f"a program download ({fields.get('filename') or 'block'})"
        return "UNAUTHORIZED_UPLOAD", f"a program upload ({fields.get('filename') or 'block'})"
    sub = f" / {act[2]}" if len(act) > 2 and act[2] else ""
    return "NEW_S7_FUNCTION", f"S7 function {act[1]}{sub}"


def _l(asset: Asset | None) -> str:
    return asset.label if asset is not None else "an unknown device"
