"""Passive Modbus/TCP: MBAP framing across TCP segments -> one Record per request or response.

Replies carry the request's address and quantity (matched by transaction and unit id), because a
read reply alone does not say which registers it holds. Never raises on wire bytes: a frame that is
out of spec becomes a record with ``malformed`` set and the direction's buffer is dropped.

Hand-written for speed on the sensor's hot path: MBAP frames are parsed in place, and register reads
(FC 3 and 4, most of any Modbus network's traffic) are read straight from the PDU without building
message objects; every other function goes through :func:`decode_pdu`.
"""

from __future__ import annotations

from struct import Struct
from typing import Any, Final

from otwatch.inventory.identity import Identity
from otwatch.protocols.base import Record
from otwatch.protocols.modbus import umas
from otwatch.protocols.modbus.codes import (
    DEVICE_ID_OBJECTS,
    DIAGNOSTIC_SUBFUNCTIONS,
    EXCEPTION_BIT,
    MEI_TYPES,
    FunctionCode,
    exception_name,
    function_name,
)
from otwatch.protocols.modbus.messages import (
    MAX_PDU,
    MBAP,
    MBAP_SIZE,
    Diagnostics,
    ExceptionResponse,
    MaskWriteRegister,
    ModbusDecodeError,
    ReadDeviceIdRequest,
    ReadDeviceIdResponse,
    ReadFifoRequest,
    ReadFifoResponse,
    ReadRequest,
    ReadResponse,
    ReadWriteMultipleRequest,
    WriteMultipleRequest,
    WriteMultipleResponse,
    WriteSingle,
    decode_pdu,
    unpack_registers,
)
from otwatch.protocols.operations import Operation, tag

PROTOCOL = "modbus"
MAX_BUFFER = 4 * (MAX_PDU + MBAP_SIZE)  # a few frames; more means we lost framing
MAX_PENDING = 64  # outstanding requests remembered per flow


def object_text(value: bytes) -> str:
    """Identification objects are ASCII by spec; keep anything else readable rather than fail."""
    return value.decode("utf-8", errors="replace")


# function_name() goes through the FunctionCode enum; a record per message makes it worth a table.
_FUNCTION_NAMES: tuple[str, ...] = tuple(function_name(code) for code in range(256))
_unpack_mbap = MBAP.unpack_from


class ModbusDissector:
    """MBAP framing per direction.

    ``feed`` is hand-written for the common case: a segment that starts a frame while nothing is
    buffered is parsed in place, frame by frame, and only a partial frame left at its end is copied
    into the direction's buffer; a buffered partial frame takes the general path through the buffer.
    """

    __slots__ = ("_buf", "_pending")

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._pending: dict[tuple[int, int], dict[str, Any]] = {}

    def gap(self, from_client: bool) -> None:
        """Bytes were lost in one direction: drop its partial frame and resynchronise."""
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        buf = self._buf[from_client]
        if buf:
            buf += data
            return self._frames(buf, from_client)
        records: list[Record] = []
        n = len(data)
        pos = 0
        while n - pos >= MBAP_SIZE:
            tid, pid, length, unit = _unpack_mbap(data, pos)
            if pid != 0 or not 2 <= length <= MAX_PDU + 1:
                records.append(
                    Record(
                        PROTOCOL,
                        "request" if from_client else "response",
                        {"tid": tid, "unit": unit},
                        malformed=f"bad mbap header (protocol id {pid}, length {length})",
                    )
                )
                return records
            end = pos + 6 + length
            if end > n:
                break
            records.append(self._message(tid, unit, data[pos + MBAP_SIZE : end], from_client))
            pos = end
        if pos < n:
            buf += data[pos:]
            if len(buf) > MAX_BUFFER:
                buf.clear()
        return records

    def _frames(self, buf: bytearray, from_client: bool) -> list[Record]:
        records: list[Record] = []
        while len(buf) >= MBAP_SIZE:
            tid, pid, length, unit = MBAP.unpack_from(buf)
            if pid != 0 or not 2 <= length <= MAX_PDU + 1:
                records.append(
                    Record(
                        PROTOCOL,
                        "request" if from_client else "response",
                        {"tid": tid, "unit": unit},
                        malformed=f"bad mbap header (protocol id {pid}, length {length})",
                    )
                )
                buf.clear()
                break
            end = 6 + length
            if len(buf) < end:
                break
            pdu = bytes(buf[MBAP_SIZE:end])
            del buf[:end]
            records.append(self._message(tid, unit, pdu, from_client))
        if len(buf) > MAX_BUFFER:
            buf.clear()
        return records

    def _message(self, tid: int, unit: int, pdu: bytes, is_request: bool) -> Record:
        code = pdu[0]
        fields: dict[str, Any] = {
            "tid": tid,
            "unit": unit,
            "func": _FUNCTION_NAMES[code],
            "func_code": code & ~EXCEPTION_BIT,
        }
        record = Record(PROTOCOL, "request" if is_request else "response", fields)
        n = len(pdu)
        # Register reads, in place: what ReadRequest/ReadResponse.decode and the *_fields give.
        fast = code in _REGISTER_READS and (n >= 5 if is_request else n >= 2 and n >= 2 + pdu[1])
        msg = None
        if not fast:
            try:
                msg = decode_pdu(pdu, is_request)
            except ModbusDecodeError as exc:
                record.malformed = str(exc)
        if is_request:
            if fast:
                fields["address"], fields["quantity"] = _ADDR_QTY.unpack_from(pdu, 1)
            elif code == umas.FUNCTION:
                umas.request_fields(pdu, fields)
            else:
                _request_fields(fields, msg, pdu)
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[(tid, unit)] = fields
            return record
        request = self._pending.pop((tid, unit), None)
        if request is not None and request["func_code"] == fields["func_code"]:
            fields["matched"] = True
            for key in ("address", "quantity", "read_start_address", "read_quantity"):
                if key in request:
                    fields.setdefault(key, request[key])
        if fast:
            fields["response_values"] = unpack_registers(pdu[2 : 2 + pdu[1]])
        elif code == umas.FUNCTION:
            umas.response_fields(pdu, fields, request)
        else:
            _response_fields(fields, msg, pdu)
        return record


_REGISTER_READS: Final = frozenset({FunctionCode.READ_HOLDING_REGISTERS, FunctionCode.READ_INPUT_REGISTERS})
_ADDR_QTY: Final = Struct(">HH")


def _request_fields(fields: dict[str, Any], msg: object, pdu: bytes) -> None:
    match msg:
        case ReadRequest():
            fields["address"], fields["quantity"] = msg.address, msg.quantity
        case WriteSingle():
            fields["address"], fields["quantity"] = msg.address, 1
            fields["request_values"] = [msg.logical_value]
        case WriteMultipleRequest():
            fields["address"], fields["quantity"] = msg.address, len(msg.values)
            fields["request_values"] = msg.values
        case MaskWriteRegister():
            fields["address"] = msg.address
            fields["and_mask"], fields["or_mask"] = msg.and_mask, msg.or_mask
        case ReadWriteMultipleRequest():
            fields["read_start_address"], fields["read_quantity"] = msg.read_address, msg.read_quantity
            fields["write_start_address"] = msg.write_address
            fields["write_registers"] = msg.write_values
        case ReadFifoRequest():
            fields["address"] = msg.address
        case Diagnostics():
            fields["request_subfunction_code"] = _diag_name(msg.subfunction)
            fields["request_data"] = msg.data
            operation = DIAGNOSTIC_OPERATIONS.get(msg.subfunction)
            if operation is not None:
                tag(fields, operation, f"Modbus diagnostics '{fields['request_subfunction_code']}'")
        case ReadDeviceIdRequest():
            fields["mei_type"] = MEI_TYPES[pdu[1]]
            fields["read_device_id_code"] = msg.read_code
            fields["object_id"] = msg.object_id
        case _:
            if fields["func_code"] == FunctionCode.ENCAP_INTERFACE_TRANSPORT and len(pdu) > 1:
                fields["mei_type"] = MEI_TYPES.get(pdu[1], f"unknown-{pdu[1]}")


def _response_fields(fields: dict[str, Any], msg: object, pdu: bytes) -> None:
    match msg:
        case ExceptionResponse():
            fields["exception"] = exception_name(msg.exception_code)
            fields["exception_code"] = msg.exception_code
        case ReadResponse():
            if fields["func_code"] in (FunctionCode.READ_COILS, FunctionCode.READ_DISCRETE_INPUTS):
                quantity = fields.get("quantity", len(msg.data) * 8)
                fields["response_values"] = msg.bits(quantity)
            elif fields["func_code"] == FunctionCode.READ_WRITE_MULTIPLE_REGISTERS:
                fields["read_registers"] = msg.registers()
            else:
                fields["response_values"] = msg.registers()
        case WriteSingle():
            fields["address"], fields["quantity"] = msg.address, 1
            fields["response_values"] = [msg.logical_value]
        case WriteMultipleResponse():
            fields["address"], fields["quantity"] = msg.address, msg.quantity
        case MaskWriteRegister():
            fields["address"] = msg.address
            fields["and_mask"], fields["or_mask"] = msg.and_mask, msg.or_mask
        case ReadFifoResponse():
            fields["quantity"] = len(msg.values)
            fields["response_values"] = msg.values
        case Diagnostics():
            fields["response_subfunction_code"] = _diag_name(msg.subfunction)
            fields["response_data"] = msg.data
        case ReadDeviceIdResponse():
            fields["mei_type"] = MEI_TYPES[pdu[1]]
            fields["read_device_id_code"] = msg.read_code
            fields["conformity_level"] = msg.conformity
            fields["more_follows"] = msg.more_follows
            fields["next_object_id"] = msg.next_object_id
            fields["objects"] = {
                DEVICE_ID_OBJECTS.get(oid, f"object-{oid}"): object_text(value)
                for oid, value in msg.objects.items()
            }
        case _:
            if fields["func_code"] == FunctionCode.ENCAP_INTERFACE_TRANSPORT and len(pdu) > 1:
                fields["mei_type"] = MEI_TYPES.get(pdu[1], f"unknown-{pdu[1]}")


def identity_from(record: Record) -> Identity | None:
    """Identity from a Read Device Identification reply (the sensor's record or the agent's), or from
    a UMAS READ_ID answer (a Schneider Modicon CPU model)."""
    objects: dict[str, str] | None = record.fields.get("objects")
    if not objects:
        model = record.fields.get("umas_cpu_model")
        if model:
            return Identity(protocol="modbus", vendor="Schneider Electric", model=model, extra={"umas": True})
        return None
    extra: dict[str, Any] = {}
    product_code: int | None = None
    code = objects.get("ProductCode")
    if code is not None:
        if code.strip().isdigit():
            product_code = int(code.strip())
        else:
            extra["product_code"] = code  # Modbus product codes are free text, Identity's are numbers
    for key, name in (("VendorUrl", "vendor_url"), ("UserApplicationName", "user_application_name")):
        if objects.get(key):
            extra[name] = objects[key]
    if "unit" in record.fields:
        extra["unit_id"] = record.fields["unit"]
    return Identity(
        protocol="modbus",
        vendor=objects.get("VendorName") or None,
        product_code=product_code,
        firmware=objects.get("MajorMinorRevision") or None,
        model=objects.get("ModelName") or None,
        name=objects.get("ProductName") or None,
        extra=extra,
    )


#: Diagnostics sub-functions that restart the device's communications or silence it.
DIAGNOSTIC_OPERATIONS: Final[dict[int, Operation]] = {
    0x01: Operation.CONTROLLER_RESET,  # Restart Communications Option
    0x04: Operation.CONTROLLER_STOP,  # Force Listen Only Mode
}


def _diag_name(subfunction: int) -> str:
    return DIAGNOSTIC_SUBFUNCTIONS.get(subfunction, f"unknown-{subfunction}")
