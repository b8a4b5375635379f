"""Passive HART-IP (TCP and UDP 5094): message framing by the header's byte count -> one Record per
message, with the token-passing HART PDU it carries.

Hand-written for the sensor's hot path: one ``struct`` read of the 8-byte header, then the PDU's few
fixed bytes by index. Command 0 replies (the device's unique identifier: manufacturer, expanded device
type, device id, revisions) and tag replies (13, 20) fill the inventory; write commands (polling
address, tag, message, range, units, damping, device variables ...), Device Reset (42), Lock Device
(71), Set Real-Time Clock (89) and the WirelessHART join key and network id are tagged as operations.
Direction is read from the message type, because a HART-IP server may answer UDP from another port.
Never raises on wire bytes; a PDU whose check byte or lengths are wrong is malformed.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import Record
from otwatch.protocols.framing import LengthFramed
from otwatch.protocols.hartip.codes import (
    EXTENDED_COMMAND,
    FRAME_TYPES,
    MANUFACTURERS,
    MASTER_TYPES,
    MESSAGE_IDS,
    MESSAGE_TYPES,
    PASS_THROUGH,
    RESPONSE_CODES,
    SESSION_INITIATE,
    WRITE_OPERATIONS,
    command_name,
)
from otwatch.protocols.hartip.messages import (
    HEADER,
    HEADER_SIZE,
    MAX_MESSAGE,
    SESSION,
    HartDecodeError,
    Pdu,
    UniqueIdentifier,
    packed_ascii,
)
from otwatch.protocols.operations import tag

PROTOCOL: Final = "hartip"
_unpack = HEADER.unpack_from


class HartIpDissector(LengthFramed):
    """Per-direction framing by byte count; ``datagrams`` drops a partial message at the end of each
    datagram (UDP), a stream keeps it for the next segment (TCP)."""

    __slots__ = ()
    protocol = PROTOCOL
    header_size = HEADER_SIZE
    cut_short = "HART-IP message cut short"

    def frame_size(self, data: bytes, pos: int, from_client: bool) -> int | Record:
        version, mtype, _, _, _, count = _unpack(data, pos)
        if version not in (1, 2) or mtype not in MESSAGE_TYPES or not HEADER_SIZE <= count <= MAX_MESSAGE:
            return Record(
                PROTOCOL,
                "request" if from_client else "response",
                {"version": version, "message_type_code": mtype, "byte_count": count},
                malformed=f"bad HART-IP header (version {version}, type {mtype}, byte count {count})",
            )
        return int(count)

    def message(self, data: bytes, pos: int, size: int, from_client: bool) -> Record:
        version, mtype, mid, status, seq, count = _unpack(data, pos)
        return _message(data[pos + HEADER_SIZE : pos + size], version, mtype, mid, status, seq, count)


def _message(body: bytes, version: int, mtype: int, mid: int, status: int, seq: int, count: int) -> Record:
    fields: dict[str, Any] = {
        "version": version,
        "message_type_code": mtype,
        "message_type": MESSAGE_TYPES[mtype],
        "message_id_code": mid,
        "message_id": MESSAGE_IDS.get(mid, f"unknown-{mid}"),
        "status": status,
        "sequence": seq,
        "byte_count": count,
    }
    record = Record(PROTOCOL, "request" if mtype == 0 else "response", fields)
    if mid == SESSION_INITIATE and len(body) >= SESSION.size:
        master, timer = SESSION.unpack_from(body)
        fields["master_type"] = MASTER_TYPES.get(master, str(master))
        fields["inactivity_close_timer"] = timer
    elif mid == PASS_THROUGH and body and mtype in (0, 1, 2):
        try:
            pdu = Pdu.decode(body)
        except HartDecodeError as exc:
            record.malformed = str(exc)
            return record
        _pdu_fields(fields, pdu, mtype == 0)
    return record


def _pdu_fields(fields: dict[str, Any], pdu: Pdu, request: bool) -> None:
    command, data = pdu.command, pdu.data
    if command == EXTENDED_COMMAND and len(data) >= 2:
        command, data = int.from_bytes(data[:2], "big"), data[2:]
    fields["delimiter"] = pdu.delimiter
    fields["frame_type"] = FRAME_TYPES.get(pdu.frame_type, str(pdu.frame_type))
    if pdu.long_address:
        fields["long_address"] = pdu.address.hex()
    else:
        fields["short_address"] = pdu.address[0] & 0x3F
    fields["command"] = command
    fields["command_name"] = command_name(command)
    if pdu.response_code is not None:
        fields["response_code"] = pdu.response_code
        fields["response"] = RESPONSE_CODES.get(pdu.response_code, f"code {pdu.response_code}")
        fields["device_status"] = pdu.device_status
    if request:
        operation = WRITE_OPERATIONS.get(command)
        if operation is not None:
            where = fields.get("long_address") or f"polling address {fields.get('short_address')}"
            tag(fields, operation, f"HART command {command} ({command_name(command)}) for device {where}")
        return
    if pdu.response_code not in (0, None) and pdu.response_code != 8 and pdu.response_code < 24:
        return  # an error reply: no data (8 is "set to nearest value", a warning with data)
    if command in (0, 11, 21) and len(data) >= 12 and data[0] == 254:
        uid = UniqueIdentifier.decode(data)
        fields.update(
            expanded_device_type=uid.expanded_device_type,
            universal_revision=uid.universal_revision,
            device_revision=uid.device_revision,
            software_revision=uid.software_revision,
            hardware_revision=uid.hardware_revision,
            device_id=f"{uid.device_id:06x}",
            manufacturer_id=uid.manufacturer_id,
        )
        if uid.private_label is not None:
            fields["private_label"] = uid.private_label
            fields["device_profile"] = uid.device_profile
            fields["config_change_counter"] = uid.config_change_counter
        if uid.manufacturer_id in MANUFACTURERS:
            fields["manufacturer"] = MANUFACTURERS[uid.manufacturer_id]
    elif command == 13 and len(data) >= 21:
        fields["tag"] = packed_ascii(data[0:6]).rstrip()
        fields["descriptor"] = packed_ascii(data[6:18]).rstrip()
        if 1 <= data[18] <= 31 and 1 <= data[19] <= 12:
            fields["date"] = f"{1900 + data[20]:04d}-{data[19]:02d}-{data[18]:02d}"
    elif command == 12 and len(data) >= 24:
        fields["message"] = packed_ascii(data[0:24]).rstrip()
    elif command == 20 and len(data) >= 32:
        fields["long_tag"] = data[0:32].split(b"\x00", 1)[0].decode("latin-1").rstrip()


def identity_from(record: Record) -> Identity | None:
    """A command 0 reply: the device's manufacturer, expanded device type, id and revisions; tag
    replies add its name (the long tag, else the tag)."""
    fields = record.fields
    if record.direction != "response" or record.malformed:
        return None
    if "manufacturer_id" in fields:
        extra: dict[str, Any] = {
            "hart_long_address": fields.get("long_address"),
            "hart_universal_revision": fields["universal_revision"],
            "hart_device_revision": fields["device_revision"],
            "hart_hardware_revision": fields["hardware_revision"],
        }
        if fields.get("device_profile") is not None:
            extra["hart_device_profile"] = fields["device_profile"]
        return Identity(
            protocol=PROTOCOL,
            vendor=fields.get("manufacturer"),
            vendor_id=fields["manufacturer_id"],
            product_code=fields["expanded_device_type"],
            serial=fields["device_id"],
            firmware=str(fields["software_revision"]),
            extra={k: v for k, v in extra.items() if v is not None},
        )
    name = fields.get("long_tag") or fields.get("tag")
    if name and name.strip("@ "):  # an unset packed-ASCII tag reads as "@@@@@@@@"
        return Identity(protocol=PROTOCOL, name=name)
    return None


def detect(payload: bytes) -> bool:
    """A HART-IP header (version 1 or 2, a known message type and id, a byte count that fits the
    message id) and, for a pass-through message, a HART delimiter."""
    if len(payload) < HEADER_SIZE:
        return False
    version, mtype, mid, _status, _seq, count = _unpack(payload)
    if version not in (1, 2) or mtype not in MESSAGE_TYPES or mid not in MESSAGE_IDS:
        return False
    if mid == SESSION_INITIATE:
        return bool(count == HEADER_SIZE + SESSION.size or (mtype == 3 and count >= HEADER_SIZE))
    if mid in (1, 2):
        return bool(count == HEADER_SIZE)
    if not HEADER_SIZE + 5 <= count <= MAX_MESSAGE:
        return False
    return mid != PASS_THROUGH or len(payload) <= HEADER_SIZE or payload[HEADER_SIZE] & 0x07 in (1, 2, 6)
