"""Passive BACnet/IP dissection: one record per UDP datagram (BVLC -> NPDU -> APDU -> service).

Field names follow the ICSNPP Zeek logs (``bvlc_function``, ``pdu_type``, ``pdu_service``, ``invoke_id``,
``result_code``; ``object_type``/``instance_number``/``property``/``value`` for property access and
``device_id_number``/``vendor`` for I-Am). The request/response direction comes from the APDU type,
since BACnet peers are symmetric on UDP 47808. Wire bytes never raise.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.bacnet import codes
from otwatch.protocols.bacnet.messages import (
    DECODE_ERRORS,
    Apdu,
    BacnetError,
    Bvlc,
    IAm,
    Npdu,
    ReadProperty,
    ReadPropertyAck,
    WhoIs,
    _usual_head,
    decode_application,
    decode_object_id,
    decode_unsigned,
    decode_values,
    object_type_name,
    property_name,
    read_tag,
)
from otwatch.protocols.base import Record

PROTOCOL: Final = "bacnet"
REQUEST_TYPES: Final = frozenset({codes.PDU_CONFIRMED_REQUEST, codes.PDU_UNCONFIRMED_REQUEST})
# Device-object properties that identify a device, and the Identity field each one fills.
IDENTITY_PROPERTIES: Final[dict[int, str]] = {
    codes.PROP_OBJECT_NAME: "name",
    codes.PROP_VENDOR_NAME: "vendor",
    codes.PROP_VENDOR_IDENTIFIER: "vendor_id",
    codes.PROP_MODEL_NAME: "model",
    codes.PROP_FIRMWARE_REVISION: "firmware",
    codes.PROP_APPLICATION_SOFTWARE_VERSION: "application_software_version",
    codes.PROP_DESCRIPTION: "description",
    codes.PROP_LOCATION: "location",
}


def vendor_name(vendor_id: int) -> str:
    return codes.VENDOR_NAMES.get(vendor_id, f"Unknown Vendor-0x{vendor_id:x}")


class BacnetDissector:
    """Stateless per-datagram dissector (kept as a class to fit the per-flow contract)."""

    __slots__ = ()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        return [dissect_datagram(data)]


# The BVLC functions of nearly every datagram on a BACnet/IP network, which carry the NPDU at offset 4.
_DIRECT: Final = {
    f: codes.BVLC_FUNCTION_NAMES[f] for f in (codes.BVLC_ORIGINAL_UNICAST, codes.BVLC_ORIGINAL_BROADCAST)
}
_NPDU_MESSAGE: Final = 0x80  # network layer message: the general path
_NPDU_DNET: Final = 0x20
_NPDU_SNET: Final = 0x08


def dissect_datagram(data: bytes) -> Record:
    """One datagram -> one record. Hand-written fast path first, for what nearly all BACnet/IP traffic
    is: an Original-Unicast/Broadcast-NPDU whose BVLC length is right, carrying an APDU (routed or
    not). The NPDU header is read in place and no Bvlc/Npdu objects or copies are made; anything
    else, or a header cut short, takes the general path. Both give the same record (tested)."""
    n = len(data)
    if (
        n > 6
        and data[0] == codes.BVLC_TYPE_BACNET_IP
        and data[1] in _DIRECT
        and (data[2] << 8 | data[3]) == n
        and data[4] == codes.NPDU_VERSION
        and not data[5] & _NPDU_MESSAGE
    ):
        fields: dict[str, Any] = {"bvlc_function_code": data[1], "bvlc_function": _DIRECT[data[1]]}
        control = data[5]
        pos = 6
        if control & _NPDU_DNET:
            pos = _npdu_address(data, pos, fields, "dnet", "dadr")
        if control & _NPDU_SNET and pos >= 0:
            pos = _npdu_address(data, pos, fields, "snet", "sadr")
        if pos < 0:
            return _dissect_general(data)
        if control & _NPDU_DNET:
            pos += 1  # hop count
        if pos >= n:  # header cut short, or no APDU: the general path words the error
            return _dissect_general(data)
        record = _read_property_in_place(data, pos, fields)
        if record is not None:
            return record
        try:
            apdu = Apdu.decode(data[pos:])
            _apdu_fields(apdu, fields)
        except DECODE_ERRORS as exc:
            return Record(PROTOCOL, "unknown", fields, malformed=str(exc) or type(exc).__name__)
        return Record(PROTOCOL, "request" if apdu.pdu_type in REQUEST_TYPES else "response", fields)
    return _dissect_general(data)


def _read_property_in_place(data: bytes, pos: int, fields: dict[str, Any]) -> Record | None:
    """The APDU at ``pos`` when it is an unsegmented ReadProperty request without array index, or an
    unsegmented ReadProperty ack whose value follows the property id: most of a BACnet network's
    polling. Read in place (no Apdu object, no payload copies); None, with ``fields`` untouched, for
    anything else or on out-of-spec bytes (the caller's general decoding then words the error)."""
    n = len(data)
    first = data[pos]
    t = first >> 4
    if first & 0x08:  # segmented
        return None
    request = t == codes.PDU_CONFIRMED_REQUEST
    if request and pos + 4 <= n and data[pos + 3] == codes.SVC_READ_PROPERTY:
        invoke_id, start = data[pos + 2], pos + 4
    elif t == codes.PDU_COMPLEX_ACK and pos + 3 <= n and data[pos + 2] == codes.SVC_READ_PROPERTY:
        invoke_id, start = data[pos + 1], pos + 3
    else:
        return None
    head = _usual_head(data, start)
    if head is None:
        return None
    object_type, instance, prop, end = head
    if request:
        if end != n:  # an array index follows
            return None
        values = None
    else:
        if end >= n or data[end] != 0x3E:  # opening tag 3 (the value) does not follow
            return None
        try:
            values, _end = decode_values(data, end + 1, 3)
        except DECODE_ERRORS:
            return None
    fields["pdu_type"] = codes.PDU_TYPE_NAMES[t]
    fields["invoke_id"] = invoke_id
    fields["pdu_service"] = _READ_PROPERTY_NAME
    fields["object_type"] = object_type_name(object_type)
    fields["instance_number"] = instance
    fields["property_id"] = prop
    fields["property"] = property_name(prop)
    if values is not None:
        fields["value"] = values[0] if len(values) == 1 else values
    return Record(PROTOCOL, "request" if request else "response", fields)


_READ_PROPERTY_NAME: Final = codes.CONFIRMED_SERVICE_NAMES[codes.SVC_READ_PROPERTY]


def _npdu_address(data: bytes, pos: int, fields: dict[str, Any], net: str, adr: str) -> int:
    """A network number and MAC address (DNET/DADR or SNET/SADR) read in place into ``fields``; the
    position after them, or -1 when the header is cut short (the general path then words the error)."""
    if pos + 3 > len(data):
        return -1
    size = data[pos + 2]
    fields[net], fields[adr] = data[pos] << 8 | data[pos + 1], data[pos + 3 : pos + 3 + size].hex()
    return pos + 3 + size


def _dissect_general(data: bytes) -> Record:
    fields: dict[str, Any] = {}
    try:
        bvlc = Bvlc.decode(data)
        fields["bvlc_function_code"] = bvlc.function
        fields["bvlc_function"] = codes.BVLC_FUNCTION_NAMES.get(
            bvlc.function, f"unknown-0x{bvlc.function:02x}"
        )
        if not bvlc.npdu:
            return Record(PROTOCOL, "unknown", fields)
        npdu = Npdu.decode(bvlc.npdu)
        _npdu_fields(npdu, fields)
        if npdu.network_message is not None:
            fields["pdu_type"] = "NPDU"
            fields["pdu_service"] = codes.NETWORK_MESSAGE_NAMES.get(
                npdu.network_message, f"network_message_0x{npdu.network_message:02x}"
            )
            return Record(PROTOCOL, "unknown", fields)
        if not npdu.apdu:
            return Record(PROTOCOL, "unknown", fields, malformed="NPDU without APDU")
        apdu = Apdu.decode(npdu.apdu)
        direction: Any = "request" if apdu.pdu_type in REQUEST_TYPES else "response"
        _apdu_fields(apdu, fields)
    except DECODE_ERRORS as exc:
        return Record(PROTOCOL, "unknown", fields, malformed=str(exc) or type(exc).__name__)
    malformed = None
    if bvlc.declared_length is not None:
        malformed = f"BVLC length {bvlc.declared_length} but datagram has {len(data)} bytes"
    return Record(PROTOCOL, direction, fields, malformed=malformed)


def _npdu_fields(npdu: Npdu, fields: dict[str, Any]) -> None:
    if npdu.dnet is not None:
        fields["dnet"], fields["dadr"] = npdu.dnet, npdu.dadr.hex()
    if npdu.snet is not None:
        fields["snet"], fields["sadr"] = npdu.snet, npdu.sadr.hex()


def _apdu_fields(apdu: Apdu, fields: dict[str, Any]) -> None:
    t = apdu.pdu_type
    fields["pdu_type"] = codes.PDU_TYPE_NAMES[t]
    if apdu.invoke_id is not None:
        fields["invoke_id"] = apdu.invoke_id
    if t == codes.PDU_UNCONFIRMED_REQUEST:
        service = apdu.service or 0
        fields["pdu_service"] = codes.UNCONFIRMED_SERVICE_NAMES.get(service, f"unconfirmed_0x{service:02x}")
        _unconfirmed(service, apdu.payload, fields)
        return
    if t in (codes.PDU_REJECT, codes.PDU_ABORT):
        fields["pdu_service"] = "reject" if t == codes.PDU_REJECT else "abort"
        table = codes.REJECT_REASONS if t == codes.PDU_REJECT else codes.ABORT_REASONS
        fields["result_code"] = table.get(apdu.reason or 0, f"unknown-{apdu.reason}")
        return
    if apdu.service is None:  # segment ack
        return
    service = apdu.service
    fields["pdu_service"] = codes.CONFIRMED_SERVICE_NAMES.get(service, f"confirmed_0x{service:02x}")
    if apdu.segmented:
        fields["segmented"] = True
        fields["sequence_number"] = apdu.sequence_number
        fields["more_follows"] = apdu.more_follows
        if apdu.sequence_number:
            return  # a later segment: its bytes start mid-value
    if t == codes.PDU_ERROR:
        error = BacnetError.decode(apdu.payload)
        fields["error_class"] = codes.ERROR_CLASS_NAMES.get(error.error_class, str(error.error_class))
        fields["result_code"] = codes.ERROR_CODE_NAMES.get(error.error_code, str(error.error_code))
    elif t == codes.PDU_CONFIRMED_REQUEST and service in (codes.SVC_READ_PROPERTY, codes.SVC_WRITE_PROPERTY):
        req = ReadProperty.decode(apdu.payload)  # WriteProperty starts with the same three tags
        _property(req.object_type, req.instance, req.property_id, req.array_index, fields)
    elif t == codes.PDU_CONFIRMED_REQUEST and service == codes.SVC_READ_PROPERTY_MULTIPLE:
        fields["properties"] = _rpm_request(apdu.payload)
    elif t == codes.PDU_COMPLEX_ACK and service == codes.SVC_READ_PROPERTY and not apdu.segmented:
        ack = ReadPropertyAck.decode(apdu.payload)
        _property(ack.object_type, ack.instance, ack.property_id, ack.array_index, fields)
        fields["value"] = ack.values[0] if len(ack.values) == 1 else ack.values


def _property(object_type: int, instance: int, prop: int, index: int | None, fields: dict[str, Any]) -> None:
    fields["object_type"] = object_type_name(object_type)
    fields["instance_number"] = instance
    fields["property_id"] = prop
    fields["property"] = property_name(prop)
    if index is not None:
        fields["array_index"] = index


def _rpm_request(buf: bytes) -> list[dict[str, Any]]:
    """ReadPropertyMultiple request: (object identifier, [property references]) pairs, flattened."""
    out: list[dict[str, Any]] = []
    pos = 0
    while pos < len(buf):
        oid = read_tag(buf, pos)
        object_type, instance = decode_object_id(buf[oid.start : oid.end])
        tag = read_tag(buf, oid.end)
        if not tag.opening:
            raise ValueError("ReadPropertyMultiple without property list")
        pos = tag.start
        while True:
            tag = read_tag(buf, pos)
            pos = tag.end
            if tag.closing:
                break
            if tag.number == 0:
                prop = decode_unsigned(buf[tag.start : tag.end])
                out.append(
                    {
                        "object_type": object_type_name(object_type),
                        "instance_number": instance,
                        "property": property_name(prop),
                    }
                )
    return out


def _unconfirmed(service: int, payload: bytes, fields: dict[str, Any]) -> None:
    if service == codes.SVC_WHO_IS:
        who = WhoIs.decode(payload)
        fields["range"] = "All" if who.low is None else f"{who.low}-{who.high}"
    elif service == codes.SVC_I_AM:
        iam = IAm.decode(payload)
        fields["object_type"] = object_type_name(iam.object_type)
        fields["device_id_number"] = iam.instance
        fields["max_apdu"] = iam.max_apdu
        fields["segmentation"] = codes.SEGMENTATION_NAMES.get(iam.segmentation, str(iam.segmentation))
        fields["vendor_id"] = iam.vendor_id
        fields["vendor"] = vendor_name(iam.vendor_id)
    elif service == codes.SVC_I_HAVE:
        values, _ = _app_values(payload)
        if len(values) >= 3:
            fields["device_id"], fields["object_id"], fields["object_name"] = values[:3]
    elif service == codes.SVC_WHO_HAS:
        pos = 0
        while pos < len(payload):
            tag = read_tag(payload, pos)
            data = payload[tag.start : tag.end]
            if tag.number == 2:
                fields["object_id"] = (object_type_name(decode_object_id(data)[0]), decode_object_id(data)[1])
            elif tag.number == 3:
                fields["object_name"] = decode_application(
                    type(tag)(codes.TAG_CHARACTER_STRING, False, tag.lvt, tag.start), data
                )
            pos = tag.end


def _app_values(payload: bytes) -> tuple[list[Any], int]:
    """Application-tagged values of a flat service (I-Have): wrap in a virtual [0] list."""
    values: list[Any] = []
    pos = 0
    while pos < len(payload):
        tag = read_tag(payload, pos)
        if tag.context:
            break
        values.append(decode_application(tag, payload[tag.start : tag.end]))
        pos = tag.end
    return values, pos


def identity_from_fields(fields: dict[str, Any]) -> Identity | None:
    """Identity from an I-Am or from a device-object property value (record or agent reads)."""
    if fields.get("pdu_service") == "i_am" and "device_id_number" in fields:
        return Identity(
            protocol=PROTOCOL,
            vendor_id=fields.get("vendor_id"),
            vendor=codes.VENDOR_NAMES.get(fields.get("vendor_id", -1)),
            device_type=DeviceType.CONTROLLER,
            extra={
                "device_instance": fields["device_id_number"],
                "max_apdu": fields.get("max_apdu"),
                "segmentation": fields.get("segmentation"),
            },
        )
    if fields.get("pdu_type") == "COMPLEX_ACK" and fields.get("object_type") == "device":
        target = IDENTITY_PROPERTIES.get(fields.get("property_id", -1))
        value = fields.get("value")
        if target is None or value is None or isinstance(value, list):
            return None
        identity = Identity(protocol=PROTOCOL, extra={"device_instance": fields["instance_number"]})
        if target in ("name", "vendor", "model", "firmware"):
            setattr(identity, target, str(value))
        elif target == "vendor_id" and isinstance(value, int):
            identity.vendor_id = value
        else:
            identity.extra[target] = str(value)
        return identity
    return None
