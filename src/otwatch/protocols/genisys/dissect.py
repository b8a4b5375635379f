"""Passive Genisys over TCP 10001: messages split on their terminator, one record each.

Hand-written for the sensor's hot path; never raises on wire bytes. The direction comes from the
header (0xF1-0xF3 from the field unit, 0xF9-0xFE from the office), the fields are ICSNPP's
genisys.log columns. Genisys carries SCADA controls and indications, not engineering operations: a
Control Data or Execute Controls message is routine operation of the railway, as a DNP3 Operate is,
so nothing is tagged (operations.py); a CRC that does not match marks the record malformed.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.genisys.codes import FROM_SERVER, HEADERS, INDICATION_DATA, TERMINATOR, header_name
from otwatch.protocols.genisys.messages import MAX_MESSAGE, GenisysDecodeError, Message

PROTOCOL: Final = "genisys"
MAX_BUFFER: Final = 4 * MAX_MESSAGE


def detect(payload: bytes) -> bool:
    """Whole messages only: a known header, valid escaping up to the terminator, the CRC right
    where one is carried; a CRC-less message (acknowledge, plain poll) is its station address alone,
    and a payload of only those must be nothing else."""
    if not payload:
        return False
    checked = False
    rest = payload
    while rest:
        if rest[0] not in HEADERS:
            return False
        end = rest.find(TERMINATOR)
        if end < 0:
            return checked
        try:
            message = Message.decode(rest[: end + 1])
        except GenisysDecodeError:
            return False
        if not message.crc_ok or (message.crc is None and end != 2):
            return False
        checked = checked or message.crc is not None
        rest = rest[end + 1 :]
    return True


class GenisysDissector:
    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        buf += data
        records: list[Record] = []
        while buf:
            if buf[0] not in HEADERS:
                skip = next((i for i, b in enumerate(buf) if b in HEADERS), len(buf))
                records.append(Record(PROTOCOL, "request" if from_client else "response", {},
                                      malformed=f"{skip} byte(s) before a Genisys header"))  # fmt: skip
                del buf[:skip]
                continue
            end = buf.find(TERMINATOR)
            if end < 0:
                if len(buf) > MAX_MESSAGE:
                    records.append(Record(PROTOCOL, "request" if from_client else "response", {},
                                          malformed=f"{len(buf)} bytes without a terminator"))  # fmt: skip
                    buf.clear()
                break
            raw = bytes(buf[: end + 1])
            del buf[: end + 1]
            records.append(_record(raw, from_client))
        return records


def _record(raw: bytes, from_client: bool) -> Record:
    header = raw[0]
    fields: dict[str, Any] = {"header": header_name(header), "header_code": header}
    record = Record(PROTOCOL, "response" if header in FROM_SERVER else "request", fields)
    fields["direction"] = record.direction
    try:
        message = Message.decode(raw)
    except GenisysDecodeError as exc:
        record.malformed = str(exc)
        return record
    fields["server"] = message.station
    if message.crc is not None:
        fields["crc_transmitted"] = f"0x{message.crc:02x}"
        fields["crc_calculated"] = f"0x{message.computed or 0:02x}"
    if message.pairs:
        fields["payload"] = [f"{address}={value}" for address, value in message.pairs]
    if message.trailing:
        fields["trailing_byte"] = message.trailing[0]
    if not message.crc_ok:
        record.malformed = (
            f"CRC {fields['crc_transmitted']} does not match the message ({fields['crc_calculated']})"
        )
    return record


def identity_from(record: Record) -> Identity | None:
    """A field code unit: the station that answers with Indication Data (no vendor or model in
    Genisys)."""
    fields = record.fields
    if fields.get("header_code") != INDICATION_DATA or record.malformed or "server" not in fields:
        return None
    return Identity(
        protocol=PROTOCOL, device_type=DeviceType.RTU, extra={"genisys_station": fields["server"]}
    )
