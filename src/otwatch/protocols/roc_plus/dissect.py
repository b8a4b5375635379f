"""Passive Emerson ROC Plus over TCP or UDP 4000: one record per message, frames split by their data
length byte (TCP streams and datagrams carrying several messages alike), the CRC checked.

Hand-written for the sensor's hot path; never raises on wire bytes. ROC Plus has no request/response
bit, so the direction is the flow's (the host polls the ROC). Field names follow ICSNPP's
roc_plus.log. Operations (operations.py): opcode 8 Set Real-time Clock (CLOCK_SET); opcodes 11, 166
and 181 writes of configurable-opcode tables and point parameters (PARAMETER_WRITE); opcode 17 logins
(AUTHENTICATION); opcode 203 file writes (PROGRAM_DOWNLOAD: user programs and configurations are
loaded into a ROC800 as files) and deletes (PROGRAM_DELETE); and each of these when carried inside a
Store and Forward (opcode 24) request.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.operations import Operation, tag
from otwatch.protocols.roc_plus.codes import (
    ERROR,
    FILE_DELETE_REQUEST_LENGTH,
    FILE_OPEN_REQUEST_LENGTH,
    FILE_READ_DIRECTORY,
    FILE_TRANSFER,
    FILE_WRITE_REPLY_LENGTH,
    LOGIN,
    LOGIN_KINDS,
    LOGINS,
    OPCODES,
    OPERATIONS,
    READ_CLOCK,
    READ_CONFIG_OPCODE,
    READ_PARAMETERS,
    READ_SINGLE_POINT,
    ROC_SUBTYPES,
    ROC_TYPES,
    SET_CLOCK,
    SET_SINGLE_POINT,
    STORE_AND_FORWARD,
    SYSTEM_CONFIG,
    SYSTEM_MODES,
    VENDOR,
    WRITE_CONFIG_OPCODE,
    WRITE_PARAMETERS,
    error_name,
    opcode_name,
)
from otwatch.protocols.roc_plus.messages import (
    FORWARD,
    HEADER_SIZE,
    MIN_FRAME,
    Clock,
    Frame,
    PointRange,
    RocDecodeError,
    SystemConfig,
    crc16,
    tlps,
)

PROTOCOL: Final = "roc_plus"
MAX_BUFFER: Final = 4096
MAX_FILES: Final = 16
FILE_PATH: Final = 100
FILE_NAME: Final = 25


def detect(payload: bytes) -> bool:
    """A whole first frame with a ROC Plus opcode and a matching CRC-16 (one chance in 65536 for
    random bytes, before the opcode and length checks)."""
    if len(payload) < MIN_FRAME or payload[4] not in OPCODES:
        return False
    size = MIN_FRAME + payload[5]
    if len(payload) < size:
        return False
    return crc16(memoryview(payload)[: size - 2]) == payload[size - 2] | payload[size - 1] << 8


class RocPlusDissector:
    __slots__ = ("_buf", "_datagrams", "_files", "_open_name")

    def __init__(self, datagrams: bool = False) -> None:
        self._datagrams = datagrams
        self._buf = {True: bytearray(), False: bytearray()}
        self._files: dict[int, str] = {}  # file descriptor -> name, from open replies
        self._open_name: str | None = None  # name of the last open request

    def gap(self, from_client: bool) -> None:
        self._buf[from_client].clear()

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        direction: Literal["request", "response"] = "request" if from_client else "response"
        buf = self._buf[from_client]
        if self._datagrams:
            buf.clear()
        buf += data
        records: list[Record] = []
        while len(buf) >= HEADER_SIZE:
            size = MIN_FRAME + buf[5]
            if len(buf) < size:
                break
            frame = Frame.decode(buf)
            del buf[:size]
            records.append(self._record(frame, direction))
            if not frame.crc_ok:  # framing lost (a gap, a foreign stream): start again at the next segment
                buf.clear()
        if buf and (self._datagrams or len(buf) > MAX_BUFFER):
            records.append(
                Record(PROTOCOL, direction, {}, malformed=f"{len(buf)} bytes left, not a whole frame")
            )
            buf.clear()
        return records

    def _record(self, frame: Frame, direction: Literal["request", "response"]) -> Record:
        opcode = frame.opcode
        fields: dict[str, Any] = {
            "destination_unit": frame.destination.unit,
            "destination_group": frame.destination.group,
            "source_unit": frame.source.unit,
            "source_group": frame.source.group,
            "opcode": opcode,
            "opcode_name": opcode_name(opcode),
            "data_length": len(frame.data),
            "crc": frame.crc,
        }
        record = Record(PROTOCOL, direction, fields)
        if not frame.crc_ok:
            record.malformed = f"CRC 0x{frame.crc or 0:04X} does not match the message"
            return record
        try:
            if direction == "request":
                self._request(frame, fields)
            else:
                self._response(frame, fields)
        except RocDecodeError as exc:
            record.malformed = str(exc)
        return record

    def _request(self, frame: Frame, fields: dict[str, Any]) -> None:
        opcode, data = frame.opcode, frame.data
        what = f"a ROC Plus {opcode_name(opcode)} (opcode {opcode})"
        if opcode == SET_CLOCK:
            clock = Clock.decode(data)
            fields["timestamp"] = clock.text
            what += f" to {clock.text}"
        elif opcode in (READ_CONFIG_OPCODE, WRITE_CONFIG_OPCODE):
            if len(data) < 3:
                raise RocDecodeError("configurable opcode request without table, start and count")
            fields["table_number"], fields["starting_table_location"], fields["num_table_locations"] = data[
                :3
            ]
            what += f" of table {data[0]}, {data[2]} location(s) from {data[1]}"
        elif opcode in (SET_SINGLE_POINT, READ_SINGLE_POINT):
            points = PointRange.decode(data)
            fields.update(point_type=points.point_type, logical_number=points.logical_number,
                          num_parameters=points.count, start_parameter=points.first_parameter)  # fmt: skip
            what += (f" of {points.count} parameter(s) from {points.first_parameter} of point type "
                     f"{points.point_type} logical {points.logical_number}")  # fmt: skip
        elif opcode == READ_PARAMETERS:
            fields["parameters"] = [f"{t}.{lg}.{p}" for t, lg, p in tlps(data)]
        elif opcode == WRITE_PARAMETERS:
            if len(data) < 4:
                raise RocDecodeError("write parameters request without a parameter")
            # values follow each TLP with a size that depends on the point type: only the first is read
            fields["num_parameters"] = data[0]
            fields["parameters"] = [f"{data[1]}.{data[2]}.{data[3]}"]
            what += f" of {data[0]} parameter(s) from TLP {data[1]}.{data[2]}.{data[3]}"
        elif opcode == LOGIN:
            kind = LOGIN_KINDS.get(len(data))
            fields["login_type"] = kind or f"unknown ({len(data)} bytes)"
            if kind is not None and len(data) in (6, 11, 71, 76):
                size = 3 if len(data) in (6, 11) else 30
                fields["operator_id"] = _text(data[:size])
            if len(data) in LOGINS:
                tag(fields, Operation.AUTHENTICATION,
                    f"a ROC Plus {kind} of operator '{fields.get('operator_id', '')}'")  # fmt: skip
        elif opcode == STORE_AND_FORWARD:
            self._store_and_forward(data, fields)
        elif opcode == FILE_TRANSFER:
            self._file_request(data, fields)
        operation = OPERATIONS.get(opcode)
        if operation is not None:
            tag(fields, operation, what)

    def _store_and_forward(self, data: bytes, fields: dict[str, Any]) -> None:
        if len(data) < FORWARD.size:
            raise RocDecodeError(f"store and forward: {len(data)} bytes, need {FORWARD.size}")
        values = FORWARD.unpack_from(data)
        fields["host_address"], fields["host_group"] = values[0], values[1]
        fields["forward_path"] = [
            f"{values[i]}.{values[i + 1]}" for i in range(2, 10, 2) if values[i] or values[i + 1]
        ]
        forwarded = values[10]
        fields["desired_opcode"] = forwarded
        fields["desired_opcode_name"] = opcode_name(forwarded)
        operation = OPERATIONS.get(forwarded)
        if operation is not None:
            tag(
                fields,
                operation,
                f"a ROC Plus {opcode_name(forwarded)} (opcode {forwarded}) by Store and Forward",
            )

    def _file_request(self, data: bytes, fields: dict[str, Any]) -> None:
        """Opcode 203 request (ICSNPP's length rules): the open and delete requests carry a 100-byte
        path and a 25-byte file name, a write carries descriptor, file size, offset, byte count and the
        bytes."""
        if not data:
            raise RocDecodeError("file transfer request without its command")
        fields["file_command"] = data[0]
        if len(data) in (FILE_OPEN_REQUEST_LENGTH, FILE_DELETE_REQUEST_LENGTH):
            base = 2 if len(data) == FILE_OPEN_REQUEST_LENGTH else 1
            path = _text(data[base : base + FILE_PATH])
            name = _text(data[base + FILE_PATH : base + FILE_PATH + FILE_NAME])
            fields["file_path"], fields["file_name"] = path, name
            if len(data) == FILE_OPEN_REQUEST_LENGTH:
                fields["file_action"] = "open"
                fields["file_open_options"] = data[1]
                self._open_name = f"{path}/{name}" if path else name
                return
            if data[0] == FILE_READ_DIRECTORY:
                fields["file_action"] = "delete"
                tag(
                    fields,
                    Operation.PROGRAM_DELETE,
                    f"a ROC Plus General File Transfer delete of '{path}/{name}'",
                )
            return
        if len(data) >= 14 and data[13] == len(data) - 14 and len(data) != FILE_WRITE_REPLY_LENGTH:
            descriptor = int.from_bytes(data[1:5], "little")
            offset = int.from_bytes(data[9:13], "little")
            known = self._files.get(descriptor)
            fields.update(file_action="write", file_descriptor=descriptor, file_size=int.from_bytes(data[5:9], "little"),
                          file_offset=offset, file_bytes=data[13])  # fmt: skip
            if known:
                fields["file_name"] = known
            where = f" of '{known}'" if known else f" to file descriptor {descriptor}"
            tag(fields, Operation.PROGRAM_DOWNLOAD,
                f"a ROC Plus General File Transfer write{where} ({data[13]} bytes at offset {offset})")  # fmt: skip
        return None

    def _response(self, frame: Frame, fields: dict[str, Any]) -> None:
        opcode, data = frame.opcode, frame.data
        if opcode == SYSTEM_CONFIG and data:
            config = SystemConfig.decode(data)
            fields.update(
                system_mode=config.system_mode,
                system_mode_name=SYSTEM_MODES.get(config.system_mode, f"unknown-{config.system_mode}"),
                port_number=config.port,
                security_access_mode=config.security_access_mode,
                logical_compatibility_status=config.compatibility_status,
                opcode_revision=config.opcode_revision,
                roc_subtype=config.subtype,
                roc_type=config.roc_type,
                roc_type_name=ROC_TYPES.get(config.roc_type, f"unknown-{config.roc_type}"),
            )
            if config.subtype in ROC_SUBTYPES:
                fields["roc_subtype_name"] = ROC_SUBTYPES[config.subtype]
        elif opcode == READ_CLOCK and data:
            clock = Clock.decode(data)
            fields["timestamp"] = clock.text
            if clock.day_of_week is not None:
                fields["day_of_week"] = clock.day_of_week
        elif opcode == READ_SINGLE_POINT and data:
            points = PointRange.decode(data)
            fields.update(point_type=points.point_type, logical_number=points.logical_number,
                          num_parameters=points.count, start_parameter=points.first_parameter)  # fmt: skip
        elif opcode == ERROR:
            fields["error_code"] = [error_name(code) for code in data[0::2]]
            fields["error_offset"] = list(data[1::2])
            if len(data) % 2:
                raise RocDecodeError(f"error indicator with an odd {len(data)} bytes")
        elif opcode == FILE_TRANSFER and len(data) == 5 and self._open_name is not None:
            # the open reply: command and the descriptor the following writes use
            if len(self._files) >= MAX_FILES:
                self._files.pop(next(iter(self._files)))
            self._files[int.from_bytes(data[1:5], "little")] = self._open_name
            self._open_name = None


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def identity_from(record: Record) -> Identity | None:
    """Vendor and model from a System Configuration (opcode 6) reply, sensor or agent."""
    fields = record.fields
    roc_type = fields.get("roc_type")
    if fields.get("opcode") != SYSTEM_CONFIG or record.direction != "response" or roc_type is None:
        return None
    model = ROC_TYPES.get(roc_type)
    extra: dict[str, Any] = {
        "roc_type": roc_type,
        "roc_subtype": fields.get("roc_subtype"),
        "opcode_revision": fields.get("opcode_revision"),
        "roc_address": f"{fields.get('source_unit')}.{fields.get('source_group')}",
    }
    return Identity(
        protocol=PROTOCOL,
        vendor=VENDOR,
        model=model,
        device_type=DeviceType.RTU,
        state=fields.get("system_mode_name"),
        extra=extra,
    )
