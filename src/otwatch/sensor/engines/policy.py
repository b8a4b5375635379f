"""Policy Violation: deviations from the learned baseline (new device, conversation, function code,
register range, CIP class or service, I/O connection, S7 function or data block, program transfer).

Silent while learning. Once the baseline is frozen, each check is a set lookup with the same facts
that :func:`otwatch.sensor.tracking.baseline.activities` produced while learning. Activities of a conversation
the baseline has never seen are covered by the one "Unauthorized Communication Behavior" alert, except
program transfers, which are always named.

New conversations from one source in one burst (each within :data:`BURST_GAP` seconds of the one
before) are one "Unauthorized Communication Behavior" alert listing them: a laptop probing fifteen
ports on two PLCs is one alert with thirty conversations (and, from the Anomaly engine, one scan
alert), not thirty alerts. The packets of every conversation join that alert's PCAP. At most
:data:`MAX_BURSTS` sources are followed at once; the least recently active is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from otwatch.inventory.asset import Asset
from otwatch.inventory.vocabulary import AlertStatus
from otwatch.protocols.base import Record
from otwatch.sensor.config.settings import IT_NOISE_PORTS, SensorSettings
from otwatch.sensor.tracking.alerts import MAX_LISTED, Alert, AlertStore, listing, protocol_label
from otwatch.sensor.tracking.baseline import Activity, Baseline, ConvKey, activities, register_range
from otwatch.sensor.tracking.flows import FlowKey

FC_CODES: Final[dict[str, str]] = {
    "modbus": "UNPERMITTED_MODBUS_FUNCTION",
    "dnp3": "UNPERMITTED_DNP3_FUNCTION",
}
BURST_GAP: Final = 5.0  # seconds between two new conversations of one source that make them one burst
MAX_BURSTS: Final = 4096


class _Burst:
    """The new conversations one source started in one burst, and the alert that lists them."""

    __slots__ = ("alert", "first", "last", "listed", "servers", "text", "total")

    def __init__(self, alert: Alert, ts: float, server: int, conversation: str) -> None:
        self.alert = alert
        self.first = ts
        self.last = ts
        self.listed = [conversation]  # the first MAX_LISTED
        self.text = conversation  # listed, joined
        self.servers = {server}  # asset ids, up to MAX_LISTED + 1 (enough to say "several")
        self.total = 1


class PolicyViolationEngine:
    def __init__(self, alerts: AlertStore, baseline: Baseline, settings: SensorSettings) -> None:
        self.alerts = alerts
        self.baseline = baseline
        self.settings = settings
        self._bursts: OrderedDict[int, _Burst] = OrderedDict()  # by the source's asset id

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
        where = f"{transport}/{port}"  # a conversation of no known protocol is labelled by its port
        what = where if conv[2] == where else f"{protocol_label(conv[2])} ({where})"
        conversation = f"{server.ip or server.label} {what}"
        bursts = self._bursts
        burst = bursts.get(client.id)
        if burst is not None and ts - burst.last <= BURST_GAP and self._is_open(burst.alert):
            bursts.move_to_end(client.id)
            self._extend(burst, ts, server, conversation, flow)
            return
        alert = self.alerts.raise_alert(
            "NEW_CONVERSATION",
            ts,
            f"{client.label} started communicating with {server.label} over {protocol_label(conv[2])} "
            f"({transport}/{port}); this conversation is not in the learned baseline.",
            src=client,
            dst=server,
            protocol=conv[2],
            subject=conv[2],
            flow=flow,
            details={"conversations": conversation, "conversation_count": 1},
        )
        if alert is None:
            return
        bursts[client.id] = _Burst(alert, ts, server.id, conversation)
        bursts.move_to_end(client.id)
        while len(bursts) > MAX_BURSTS:
            bursts.popitem(last=False)

    def _is_open(self, alert: Alert) -> bool:
        return alert.status != AlertStatus.CLOSED and self.alerts.alerts.get(alert.id) is alert

    def _extend(self, burst: _Burst, ts: float, server: Asset, conversation: str, flow: FlowKey) -> None:
        """One more new conversation in a source's burst: listed on the burst's alert, packets added."""
        burst.last = ts
        burst.total += 1
        if len(burst.listed) < MAX_LISTED:
            burst.listed.append(conversation)
            burst.text = listing(burst.listed)
        if len(burst.servers) <= MAX_LISTED:
            burst.servers.add(server.id)
        alert = burst.alert
        self.alerts.add_occurrence(alert, ts, (flow,))
        servers = len(burst.servers)
        if servers > 1:
            alert.destination = None
            alert.destination_label = f"{servers}{'+' if servers > MAX_LISTED else ''} devices"
        more = burst.total - len(burst.listed)
        listed = f"{burst.text} (+{more} more)" if more else burst.text
        alert.details["conversations"] = listed
        alert.details["conversation_count"] = burst.total
        alert.description = (
            f"{alert.source_label} started {burst.total} conversations that are not in the learned baseline "
            f"within {ts - burst.first:.1f} s: {listed}."
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
