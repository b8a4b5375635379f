"""Passive SNMP: one UDP datagram -> one :class:`Record`. Never raises on wire bytes."""

from __future__ import annotations

from typing import Any, Literal

from otwatch.protocols.base import Record
from otwatch.protocols.snmp import codes
from otwatch.protocols.snmp.messages import SnmpMessage, decode_message

_MAX_RECORD_VARBINDS = 64  # keep records small; a GETBULK answer can carry hundreds


def record_from(msg: SnmpMessage) -> Record:
    """ICSNPP-style record: common fields first, then varbind OIDs and their simple values."""
    direction: Literal["request", "response", "unknown"]
    if msg.pdu_type is None:
        direction = "unknown"
    else:
        direction = "request" if msg.pdu_type in codes.REQUEST_PDUS else "response"
    fields: dict[str, Any] = {"version": msg.version_name}
    if msg.community is not None:
        fields["community"] = msg.community
    if msg.user_name is not None:
        fields["user_name"] = msg.user_name
    if msg.encrypted:
        fields["encrypted"] = True
    if msg.pdu_type is not None:
        fields["pdu_type"] = msg.pdu_name
    if msg.request_id is not None:
        fields["request_id"] = msg.request_id
    if msg.pdu_type == codes.GET_BULK_REQUEST:
        fields["non_repeaters"], fields["max_repetitions"] = msg.error_status, msg.error_index
    elif msg.pdu_type is not None and msg.pdu_type != codes.TRAP_V1:
        fields["error_status"] = codes.ERROR_STATUS.get(msg.error_status, str(msg.error_status))
        fields["error_index"] = msg.error_index
    if msg.pdu_type == codes.TRAP_V1:
        fields.update(
            enterprise=msg.enterprise,
            agent_addr=msg.agent_addr,
            generic_trap=msg.generic_trap,
            specific_trap=msg.specific_trap,
        )
    vbs = msg.varbinds[:_MAX_RECORD_VARBINDS]
    fields["oids"] = [vb.oid for vb in vbs]
    fields["values"] = {vb.oid: vb.value for vb in vbs if vb.value is not None}
    return Record(protocol="snmp", direction=direction, fields=fields)


def dissect_datagram(data: bytes) -> Record:
    msg, error = decode_message(data)
    if msg is None:
        return Record(protocol="snmp", direction="unknown", fields={"length": len(data)}, malformed=error)
    return record_from(msg)


class SnmpDissector:
    """Stateless per-flow dissector: SNMP rides on UDP, so every ``feed`` is one whole message."""

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        if not data:
            return []
        return [dissect_datagram(data)]
