"""Passive IEC 60870-5-104: APDU framing across TCP segments -> one Record per APDU.

Like Wireshark, bytes before a 0x68 start octet are skipped (reported once as a malformed record)
and framing resumes at the next start octet. Commands (type ids 45-69) are flagged, since a
control-direction command is what an operator and an alert engine care about. Never raises.
"""

from __future__ import annotations

from typing import Any, Literal

from otwatch.protocols.base import Record
from otwatch.protocols.iec104.codes import (
    COMMAND_TYPE_IDS,
    MAX_APDU_LENGTH,
    START,
    ApciType,
    cause_name,
    type_name,
    u_function_name,
)
from otwatch.protocols.iec104.messages import Apdu, Iec104DecodeError

PROTOCOL = "iec104"
MAX_BUFFER = 4 * (MAX_APDU_LENGTH + 2)


class Iec104Dissector:
    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        buf += data
        direction: Literal["request", "response"] = "request" if from_client else "response"
        records: list[Record] = []
        while buf:
            if buf[0] != START:
                skip = buf.find(START)
                dropped = len(buf) if skip < 0 else skip
                records.append(
                    Record(PROTOCOL, direction, {}, malformed=f"{dropped} bytes before start octet")
                )
                if skip < 0:
                    buf.clear()
                    break
                del buf[:skip]
            if len(buf) < 2:
                break
            length = buf[1]
            if length < 4:
                records.append(Record(PROTOCOL, direction, {}, malformed=f"apdu length {length}"))
                del buf[:1]
                continue
            if len(buf) < 2 + length:
                break
            raw = bytes(buf[: 2 + length])
            del buf[: 2 + length]
            records.append(_record(raw, direction))
        if len(buf) > MAX_BUFFER:
            buf.clear()
        return records


def _record(raw: bytes, direction: Literal["request", "response"]) -> Record:
    try:
        apdu = Apdu.decode(raw)
    except Iec104DecodeError as exc:
        fields: dict[str, Any] = {}
        if len(raw) > 2:
            fields["apci_type"] = (
                ApciType.I if raw[2] & 1 == 0 else ApciType.S if raw[2] & 3 == 1 else ApciType.U
            )
        return Record(PROTOCOL, direction, fields, malformed=str(exc))
    fields = {"apci_type": apdu.apci_type}
    if apdu.apci_type == ApciType.U:
        fields["u_function"] = u_function_name(apdu.u_function)
    elif apdu.apci_type == ApciType.S:
        fields["recv_seq"] = apdu.recv_seq
    else:
        fields["send_seq"], fields["recv_seq"] = apdu.send_seq, apdu.recv_seq
    asdu = apdu.asdu
    if asdu is not None:
        fields.update(
            {
                "type_id": asdu.type_id,
                "type_name": type_name(asdu.type_id),
                "cause": asdu.cause,
                "cause_name": cause_name(asdu.cause),
                "negative": asdu.negative,
                "test": asdu.test,
                "originator": asdu.originator,
                "common_address": asdu.common_address,
                "ioa": asdu.ioa,
                "num_objects": asdu.num_objects,
                "sequence": asdu.sequence,
                "is_command": asdu.type_id in COMMAND_TYPE_IDS,
            }
        )
    return Record(PROTOCOL, direction, fields)
