"""Passive EtherNet/IP dissection: encapsulation framing (TCP/UDP 44818) and class-1 I/O (UDP 2222).

One record per encapsulation message, its CIP services flattened into ``fields["cip"]`` (the outer
service, then each service embedded in a Multiple Service Packet, as ICSNPP's cip.log lists them), and
List Identity / Identity Get_Attributes_All answers flattened into identity fields. Responses are
matched to their request (sender context for unconnected, sequence count for connected messaging) so a
Get_Attributes_All reply is known to come from the Identity object. Wire bytes never raise.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.enip import codes
from otwatch.protocols.enip.messages import (
    DECODE_ERRORS,
    ENCAP,
    U16,
    U32,
    CipRequest,
    CipResponse,
    CpfItem,
    Encapsulation,
    IdentityInfo,
    Path,
    SendRRData,
    decode_cpf,
    split_multiple_service,
)
from otwatch.protocols.operations import Operation, tag

PROTOCOL: Final = "enip"
MAX_MESSAGE: Final = 65535 + ENCAP.size
MAX_PENDING: Final = 64
# Devices whose CIP device type says more than "an EtherNet/IP node".
DEVICE_TYPES: Final[dict[int, DeviceType]] = {
    0x0C: DeviceType.IO_MODULE,
    0x07: DeviceType.IO_MODULE,
    0x0E: DeviceType.PLC,
    0x18: DeviceType.HMI,
    0x2C: DeviceType.SWITCH,
    0x02: DeviceType.CONTROLLER,
    0x13: DeviceType.CONTROLLER,
    0x25: DeviceType.CONTROLLER,
}


def _direction(from_client: bool) -> Any:
    return "request" if from_client else "response"


class EnipDissector:
    """Per-flow dissector; ``datagrams=True`` treats every ``feed`` as one UDP datagram."""

    __slots__ = ("_bufs", "_datagrams", "_firmware", "_pending")

    def __init__(self, datagrams: bool = False) -> None:
        self._datagrams = datagrams
        self._bufs = {True: bytearray(), False: bytearray()}
        self._pending: dict[tuple[int, bytes | int], Path] = {}
        self._firmware = False  # a firmware transfer to the Non-Volatile Storage object was seen

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        if self._datagrams:
            return [self._datagram(data, from_client)]
        buf = self._bufs[from_client]
        buf += data
        records: list[Record] = []
        pos = 0
        while len(buf) - pos >= ENCAP.size:
            (command,) = U16.unpack_from(buf, pos)
            (length,) = U16.unpack_from(buf, pos + 2)
            if command not in codes.COMMAND_NAMES:
                records.append(
                    Record(
                        PROTOCOL, _direction(from_client), {}, malformed=f"unknown command 0x{command:04x}"
                    )
                )
                pos = len(buf)
                break
            end = pos + ENCAP.size + length
            if end > len(buf):
                break
            records.append(self._message(bytes(buf[pos:end]), from_client))
            pos = end
        del buf[:pos]
        if len(buf) > MAX_MESSAGE:
            buf.clear()
        return records

    def _datagram(self, data: bytes, from_client: bool) -> Record:
        if len(data) >= ENCAP.size:
            command, length = U16.unpack_from(data)[0], U16.unpack_from(data, 2)[0]
            if command in codes.COMMAND_NAMES and length == len(data) - ENCAP.size:
                return self._message(data, from_client)
        return _io(data, from_client)

    def _message(self, raw: bytes, from_client: bool) -> Record:
        direction = _direction(from_client)
        try:
            msg = Encapsulation.decode(raw)
        except DECODE_ERRORS as exc:
            return Record(PROTOCOL, direction, {}, malformed=str(exc))
        fields: dict[str, Any] = {
            "pdu": "enip",
            "enip_command_code": f"0x{msg.command:02x}",
            "enip_command": codes.COMMAND_NAMES.get(msg.command, "unknown"),
            "length": len(msg.data),
            "session_handle": f"0x{msg.session:08x}",
            "enip_status_code": msg.status,
            "enip_status": codes.ENIP_STATUS_NAMES.get(msg.status, f"Unknown ENIP Status-0x{msg.status:02x}"),
            "sender_context": "0x" + msg.sender_context.hex(),
            "options": f"0x{msg.options:08x}",
        }
        try:
            if msg.command in (codes.CMD_SEND_RR_DATA, codes.CMD_SEND_UNIT_DATA) and msg.data:
                self._cip(msg, SendRRData.decode(msg.data).items, fields)
            elif msg.command == codes.CMD_LIST_IDENTITY and msg.data:
                identities = [
                    IdentityInfo.decode_list_identity_item(item.data).as_fields()
                    for item in decode_cpf(msg.data)
                    if item.type_id == codes.ITEM_LIST_IDENTITY
                ]
                if identities:
                    fields.update(identities[0])
                    if len(identities) > 1:
                        fields["identities"] = identities
            elif msg.command == codes.CMD_LIST_SERVICES and msg.data:
                fields["services"] = [
                    item.data[4:20].split(b"\x00", 1)[0].decode("latin-1")
                    for item in decode_cpf(msg.data)
                    if item.type_id == codes.ITEM_LIST_SERVICES
                ]
        except DECODE_ERRORS as exc:
            return Record(PROTOCOL, direction, fields, malformed=str(exc))
        return Record(PROTOCOL, direction, fields)

    def _cip(self, msg: Encapsulation, items: list[CpfItem], fields: dict[str, Any]) -> None:
        sequence: int | None = None
        payload: bytes | None = None
        for item in items:
            if item.type_id == codes.ITEM_UNCONNECTED_DATA:
                payload = item.data
            elif item.type_id == codes.ITEM_CONNECTED_DATA and len(item.data) >= 2:
                (sequence,) = U16.unpack_from(item.data)
                payload = item.data[2:]
        if not payload:
            return
        key: tuple[int, bytes | int] = (msg.command, sequence if sequence is not None else msg.sender_context)
        services: list[dict[str, Any]] = []
        fields["cip"] = services
        if payload[0] & 0x80:
            request_path = self._pending.pop(key, None)
            self._response(payload, sequence, request_path, services, fields)
        else:
            request = CipRequest.decode(payload)
            if len(self._pending) >= MAX_PENDING:
                self._pending.clear()
            self._pending[key] = request.path
            self._request(request, sequence, services, fields)

    def _response(
        self,
        payload: bytes,
        sequence: int | None,
        request_path: Path | None,
        services: list[dict[str, Any]],
        fields: dict[str, Any],
    ) -> None:
        response = CipResponse.decode(payload)
        class_id = request_path.class_id if request_path else None
        entry: dict[str, Any] = {
            "cip_sequence_count": sequence,
            "direction": "response",
            "cip_service_code": f"0x{response.service:02x}",
            "cip_service": codes.service_name(response.service, class_id),
            "cip_status_code": f"0x{response.status:02x}",
            "cip_status": codes.CIP_STATUS_NAMES.get(
                response.status, f"Unknown CIP Status-0x{response.status:02x}"
            ),
        }
        if response.extended_status:
            entry["cip_extended_status_code"] = f"0x{response.extended_status[0]:04x}"
        services.append(entry)
        if response.service == codes.SVC_MULTIPLE_SERVICE_PACKET and response.data:
            for embedded in split_multiple_service(response.data):
                self._response(embedded, sequence, None, services, fields)
        elif (
            response.service == codes.SVC_GET_ATTRIBUTES_ALL
            and response.status == 0
            and class_id == codes.CLASS_IDENTITY
            and response.data
        ):
            fields.update(IdentityInfo.decode_attributes(response.data).as_fields())

    def _request(
        self,
        request: CipRequest,
        sequence: int | None,
        services: list[dict[str, Any]],
        fields: dict[str, Any],
    ) -> None:
        path = request.path
        entry: dict[str, Any] = {
            "cip_sequence_count": sequence,
            "direction": "request",
            "cip_service_code": f"0x{request.service:02x}",
            "cip_service": codes.service_name(request.service, path.class_id),
        }
        if path.class_id is not None:
            entry["class_id"] = f"0x{path.class_id:02x}"
            entry["class_name"] = codes.CLASS_NAMES.get(path.class_id, "unknown")
        if path.instance_id is not None:
            entry["instance_id"] = f"0x{path.instance_id:02x}"
        if path.attribute_id is not None:
            entry["attribute_id"] = f"0x{path.attribute_id:02x}"
        if path.symbol is not None:
            entry["symbol"] = path.symbol
        services.append(entry)
        self._operation(request, entry, fields)
        if request.service == codes.SVC_MULTIPLE_SERVICE_PACKET and request.data:
            for embedded in split_multiple_service(request.data):
                self._request(CipRequest.decode(embedded), sequence, services, fields)
        elif (
            request.service == codes.SVC_UNCONNECTED_SEND
            and path.class_id == codes.CLASS_CONNECTION_MANAGER
            and len(request.data) >= 4
        ):
            # Unconnected Send: priority/tick, timeout ticks, message size, the routed request, route path.
            (size,) = U16.unpack_from(request.data, 2)
            if 2 <= size <= len(request.data) - 4:
                routed = CipRequest.decode(request.data[4 : 4 + size])
                self._request(routed, sequence, services, fields)

    def _operation(self, request: CipRequest, entry: dict[str, Any], fields: dict[str, Any]) -> None:
        """Tag the record with the engineering operation a request carries (see ``codes`` for the objects)."""
        service, path, data = request.service, request.path, request.data
        cls = path.class_id
        if cls is None:
            if path.symbol is not None and service in codes.TAG_WRITES:
                tag(fields, Operation.PARAMETER_WRITE, f"a CIP {entry['cip_service']} of tag '{path.symbol}'")
            return
        what = f"CIP {_service_label(service, cls, entry)} on {_class_label(cls)}"
        if cls in (codes.CLASS_IDENTITY, codes.CLASS_CONTROL_SUPERVISOR, codes.CLASS_LOGIX_CONTROLLER):
            if service == codes.SVC_STOP:
                tag(fields, Operation.CONTROLLER_STOP, f"a {what}")
            elif service == codes.SVC_START:
                tag(fields, Operation.CONTROLLER_START, f"a {what}")
            elif service == codes.SVC_RESET and cls != codes.CLASS_LOGIX_CONTROLLER:
                reset_type = data[0] if data else 0
                entry["reset_type"] = codes.RESET_TYPES.get(reset_type, f"type {reset_type}")
                if cls == codes.CLASS_IDENTITY and self._firmware:
                    self._firmware = False
                    tag(fields, Operation.FIRMWARE_UPDATE, f"a {what} applying the firmware just transferred")
                elif reset_type in (1, 2):
                    tag(fields, Operation.FACTORY_RESET, f"a {what} ({entry['reset_type']})")
                else:
                    tag(fields, Operation.CONTROLLER_RESET, f"a {what} ({entry['reset_type']})")
            elif cls == codes.CLASS_LOGIX_CONTROLLER and service == codes.LOGIX_EXECUTE and data:
                entry["controller_lock"] = data[0]
                if data[0]:
                    tag(fields, Operation.PROTECTION_CHANGE, f"a Logix controller lock request ({what})")
        elif cls == codes.CLASS_NON_VOLATILE_STORAGE:
            if service not in codes.GET_SERVICES:
                self._firmware = True
                tag(fields, Operation.FIRMWARE_UPDATE, f"a firmware transfer: {what}")
        elif service in codes.SET_SERVICES and cls in (codes.CLASS_TCPIP, codes.CLASS_ETHERNET_LINK):
            attributes = _set_attributes(service, path, data)
            entry["set_attributes"] = attributes
            listed = ", ".join(str(a) for a in attributes) or "all"
            tag(fields, Operation.NETWORK_CONFIG, f"a {what}, attribute {listed}")
        elif service in codes.SET_SERVICES and cls == codes.CLASS_WALL_CLOCK:
            attributes = _set_attributes(service, path, data)
            entry["set_attributes"] = attributes
            if service == codes.SVC_SET_ATTRIBUTES_ALL or codes.CLOCK_VALUE_ATTRIBUTES.intersection(
                attributes
            ):
                tag(fields, Operation.CLOCK_SET, f"a {what} setting the controller clock")
        elif service == codes.SVC_CREATE and cls in codes.LOGIX_CREATE_CLASSES:
            tag(fields, Operation.PROGRAM_DOWNLOAD, f"a {what} (a new program object)")
        elif service == codes.SVC_DELETE and cls in codes.LOGIX_CREATE_CLASSES:
            tag(fields, Operation.PROGRAM_DELETE, f"a {what}")
        elif cls in codes.LOGIX_PROGRAM_CLASSES and (
            service == codes.LOGIX_WRITE_PROGRAM
            or (service in codes.TAG_WRITES and cls == codes.CLASS_TEMPLATE)
            or (service == codes.LOGIX_EXECUTE and cls == codes.CLASS_LOGIX_CODE and data)
        ):
            tag(fields, Operation.PROGRAM_DOWNLOAD, f"a {what} (program contents written)")
        elif service == codes.LOGIX_READ_PROGRAM and cls == codes.CLASS_ROUTINE and data[:4] == bytes(4):
            # A read from offset 0 starts reading a routine out; the short reads at an offset that
            # Studio 5000 makes around an online edit are not an upload.
            tag(fields, Operation.PROGRAM_UPLOAD, f"a {what} (a routine read out from its start)")
        elif service == codes.LOGIX_EXECUTE and cls == codes.CLASS_PCCC and data:
            _pccc(data, entry, fields)
        elif service in codes.TAG_WRITES and cls == codes.CLASS_SYMBOL:
            tag(fields, Operation.PARAMETER_WRITE, f"a {what}, instance {path.instance_id}")


def _pccc(data: bytes, entry: dict[str, Any], fields: dict[str, Any]) -> None:
    """Execute PCCC: requestor id (its length first), then the DF1 command, status, TNS, function."""
    pos = data[0]
    if pos < 1 or len(data) < pos + 5:
        return
    command, function = data[pos], data[pos + 4]
    entry["pccc_command"] = f"0x{command:02x}"
    entry["pccc_function"] = f"0x{function:02x}"
    if command != codes.PCCC_CMD:
        return
    if function == codes.PCCC_CHANGE_MODE:
        mode = data[pos + 5] if len(data) > pos + 5 else None
        tag(
            fields, Operation.MODE_CHANGE, f"a PCCC Change Mode (mode 0x{mode or 0:02x}) to an SLC/MicroLogix"
        )
    elif function in codes.PCCC_WRITES:
        tag(fields, Operation.PARAMETER_WRITE, f"a PCCC {codes.PCCC_WRITES[function]}")


def _service_label(service: int, cls: int, entry: dict[str, Any]) -> str:
    if cls in codes.VENDOR_CLASS_NAMES and service >= codes.LOGIX_EXECUTE and service not in codes.TAG_WRITES:
        return f"Rockwell service 0x{service:02x}"
    return f"{entry['cip_service']} (0x{service:02x})"


def _class_label(cls: int) -> str:
    name = codes.CLASS_NAMES.get(cls) or codes.VENDOR_CLASS_NAMES.get(cls)
    return f"the {name} object (class 0x{cls:02x})" if name else f"class 0x{cls:02x}"


def _set_attributes(service: int, path: Path, data: bytes) -> list[int]:
    """Attribute ids a Set request writes: the path's for Set_Attribute_Single, the list's first id for
    Set_Attribute_List (later ids follow values of object-specific sizes), none for Set_Attributes_All."""
    if service == codes.SVC_SET_ATTRIBUTE_SINGLE:
        return [path.attribute_id] if path.attribute_id is not None else []
    if service == codes.SVC_SET_ATTRIBUTE_LIST and len(data) >= 4:
        return [U16.unpack_from(data, 2)[0]]
    return []


# The two-item CPF head of nearly every class 1 I/O datagram: count 2, sequenced address item of 8
# bytes; then connection id, sequence number, and a connected data item (type, length).
_IO_HEAD: Final = b"\x02\x00\x02\x80\x08\x00"
_IO_BODY: Final = struct.Struct("<IIHH")


def _io(data: bytes, from_client: bool) -> Record:
    """Class 0/1 implicit I/O: sequenced address item (connection id, sequence) + connected data.

    Hand-written fast path for the usual two-item layout, read in place with one struct (the sensor
    sees one such datagram per I/O cycle per connection); anything else is decoded as CPF items."""
    direction = _direction(from_client)
    if len(data) >= 18 and data.startswith(_IO_HEAD):
        connection, sequence, item, length = _IO_BODY.unpack_from(data, 6)
        if item == codes.ITEM_CONNECTED_DATA and 18 + length == len(data):
            io = data[18:]
            return Record(
                PROTOCOL,
                direction,
                {
                    "pdu": "io",
                    "connection_id": f"0x{connection:08x}",
                    "sequence_number": sequence,
                    "data_length": length,
                    "io_data": io.hex(),
                },
            )
    return _io_items(data, direction)


def _io_items(data: bytes, direction: Any) -> Record:
    """The general path: every CPF item decoded, whatever their number and order."""
    fields: dict[str, Any] = {"pdu": "io"}
    try:
        items = decode_cpf(data)
    except DECODE_ERRORS as exc:
        return Record(PROTOCOL, direction, fields, malformed=f"not EtherNet/IP: {exc}")
    for item in items:
        if item.type_id == codes.ITEM_SEQUENCED_ADDRESS and len(item.data) >= 8:
            fields["connection_id"] = f"0x{U32.unpack_from(item.data)[0]:08x}"
            fields["sequence_number"] = U32.unpack_from(item.data, 4)[0]
        elif item.type_id == codes.ITEM_CONNECTED_DATA:
            fields["data_length"] = len(item.data)
            fields["io_data"] = item.data.hex()
    if "connection_id" not in fields:
        return Record(PROTOCOL, direction, fields, malformed="no sequenced address item")
    return Record(PROTOCOL, direction, fields)


def identity_from_fields(fields: dict[str, Any]) -> Identity | None:
    """Identity from List Identity / Identity-object fields (a record's or the agent's)."""
    if "vendor_id" not in fields or "product_name" not in fields:
        return None
    vendor_id = int(fields["vendor_id"])
    device_type = int(fields.get("device_type_id", -1))
    extra: dict[str, Any] = {
        k: fields[k]
        for k in ("device_type_name", "device_status", "device_state_name", "socket_address")
        if k in fields
    }
    return Identity(
        protocol=PROTOCOL,
        vendor=codes.VENDOR_NAMES.get(vendor_id),
        vendor_id=vendor_id,
        model=fields["product_name"] or None,
        product_code=fields.get("product_code"),
        firmware=fields.get("revision"),
        serial=fields.get("serial_number"),
        device_type=DEVICE_TYPES.get(device_type),
        state=fields.get("device_state_name"),
        extra=extra,
    )
