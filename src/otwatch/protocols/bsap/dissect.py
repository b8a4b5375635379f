"""Passive BSAP over UDP 1234/1235: BSAP/IP datagrams (OpenBSI's BSAPIPDRV) and BSAP serial frames
carried over IP (serial-to-Ethernet taps), one record per datagram.

Hand-written for the sensor's hot path; never raises on wire bytes. Field names follow ICSNPP's
bsap_ip_header / bsap_ip_rdb / bsap_serial_header logs. The direction comes from the BSAP/IP message
function (request, response or poll), a response is matched to its request by the request's response
sequence, which the response carries as its sequence. Operations (operations.py): RDB writes of
signals by address, by name and by list (PARAMETER_WRITE); a Flash Download application message
(FIRMWARE_UPDATE); RDB extension reset system (CONTROLLER_RESET), write date and time (CLOCK_SET) and
change local node address (NETWORK_CONFIG).
"""

from __future__ import annotations

from typing import Any, Final, Literal

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.bsap.codes import (
    APP_FUNCTIONS,
    FLASH_DOWNLOAD,
    IP_HEADER_LENGTHS,
    LINK_FUNCTIONS,
    MESSAGE_FUNCTIONS,
    PEI_PC,
    POLL,
    RDB,
    RDB_EXT_FUNCTIONS,
    RDB_EXT_OPERATIONS,
    RDB_EXTENSION,
    RDB_FUNCTIONS,
    RDB_WRITES,
    REQUESTS,
    RESPONSES,
    SERIAL_END,
    SERIAL_MARK,
    VENDOR,
    WRITE_SIGNAL_BY_ADDRESS,
    app_name,
    message_name,
    rdb_name,
)
from otwatch.protocols.bsap.messages import (
    BASE_HEADER_LENGTH,
    RESPONSE_HEADER,
    BsapDecodeError,
    IpMessage,
    IpRequest,
    IpResponse,
    RdbRequest,
    SerialFrame,
    rdb_names,
)
from otwatch.protocols.operations import Operation, tag

PROTOCOL: Final = "bsap"
MAX_PENDING: Final = 64
MAX_VARIABLES: Final = 64
Direction = Literal["request", "response", "unknown"]


def detect(payload: bytes) -> bool:
    """A BSAP/IP header (length 14 or 22, a known message function, zero high bytes) whose body fits
    the function, or a BSAP serial frame from DLE STX to DLE ETX and its CRC with a known function."""
    if payload[:2] == SERIAL_MARK:
        return _detect_serial(payload)
    if len(payload) < BASE_HEADER_LENGTH or payload[0] not in IP_HEADER_LENGTHS or payload[1] or payload[3]:
        return False
    length, count, function = payload[0], payload[2], payload[4] | payload[5] << 8
    if function not in MESSAGE_FUNCTIONS or len(payload) < length:
        return False
    body = len(payload) - length
    if function == POLL:
        return count == 0
    if function in REQUESTS:
        return count > 0 and body >= 10 and payload[length + 9] in APP_FUNCTIONS
    return count > 0 and body >= RESPONSE_HEADER.size


def _detect_serial(payload: bytes) -> bool:
    if not 12 <= len(payload) <= 1024 or payload[-4:-2] != SERIAL_END:
        return False
    try:
        frame = SerialFrame.decode(payload)
    except BsapDecodeError:
        return False
    if len(frame.encode()) != len(payload):
        return False  # not exactly one whole frame
    return frame.dfun in APP_FUNCTIONS or frame.dfun in LINK_FUNCTIONS


class BsapDissector:
    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[int, dict[str, Any]] = {}  # response sequence -> the request's fields

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        if not data:
            return []
        fallback: Direction = "request" if from_client else "response"
        try:
            if data[:2] == SERIAL_MARK:
                return [self._serial(SerialFrame.decode(data))]
            return [self._ip(IpMessage.decode(data), fallback)]
        except BsapDecodeError as exc:
            return [Record(PROTOCOL, fallback, {}, malformed=str(exc))]

    # -- BSAP/IP ---------------------------------------------------------------------------------
    def _ip(self, message: IpMessage, fallback: Direction) -> Record:
        function = message.function
        fields: dict[str, Any] = {
            "num_msg": message.num_messages,
            "msg_func": function,
            "type_name": message_name(function),
            "header_length": message.header_length,
        }
        record = Record(PROTOCOL, fallback, fields)
        try:
            if function in REQUESTS:
                record.direction = "request"
                fields["res_seq"], fields["mes_seq"] = message.first_sequence, message.second_sequence
                if message.num_messages:
                    self._ip_request(IpRequest.decode(message.body), fields)
            elif function in RESPONSES:
                record.direction = "response"
                fields["mes_seq"], fields["res_seq"] = message.first_sequence, message.second_sequence
                if message.num_messages:
                    self._ip_response(IpResponse.decode(message.body), fields)
            elif function == POLL:
                record.direction = "request"
        except BsapDecodeError as exc:
            record.malformed = str(exc)
        return record

    def _ip_request(self, request: IpRequest, fields: dict[str, Any]) -> None:
        fields.update(data_len=request.data_length, header_size=request.header_size, sequence=request.sequence,
                      app_func=request.app_function, app_func_code=app_name(request.app_function))  # fmt: skip
        if request.app_function == FLASH_DOWNLOAD:
            tag(fields, Operation.FIRMWARE_UPDATE, "a BSAP Flash Download (0x68) message")
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        self._pending[fields["res_seq"]] = fields
        if request.app_function == RDB:
            rdb = RdbRequest.decode(request.data)
            fields["node_status"] = rdb.node_status
            self._rdb(rdb, fields, serial=False)

    def _ip_response(self, response: IpResponse, fields: dict[str, Any]) -> None:
        fields.update(data_len=response.data_length, header_size=response.header_size, sequence=response.sequence,
                      resp_status=response.status, nme=response.elements)  # fmt: skip
        request = self._pending.pop(response.sequence, None)
        if request is None:
            return
        fields["matched"] = True
        for key in ("app_func", "app_func_code", "func", "func_code", "variables"):
            if key in request:
                fields[key] = request[key]
        if "func_code" in request:
            fields["func_code"] = f"RSP_{request['func_code']}"

    # -- RDB (both carriers) ---------------------------------------------------------------------
    def _rdb(self, rdb: RdbRequest, fields: dict[str, Any], serial: bool) -> None:
        """ICSNPP's reading of the by-name and by-address requests: the count is at byte 4 of a BSAP/IP
        request's data, at byte 3 (read) or 1 (write) of a serial one; by address, at byte 3 of
        both, followed by (address, value byte) triples."""
        function, data = rdb.function, rdb.data
        fields["func"] = function
        fields["func_code"] = rdb_name(function)
        names: list[str] = []
        if function in (0x04, 0x84):  # read / write signal by name
            count, names = rdb_names(data, (3 if function == 0x04 else 1) if serial else 4)
            fields["variable_count"] = count
        elif function == WRITE_SIGNAL_BY_ADDRESS and len(data) > 3:
            count = data[3]
            fields["variable_count"] = count
            items = [data[4 + 3 * i : 7 + 3 * i] for i in range(min(count, MAX_VARIABLES))]
            names = [f"Addr 0x{item[:2].hex().upper()}" for item in items if len(item) == 3]
            fields["variable_value"] = [item[2:].hex().upper() for item in items if len(item) == 3]
        if names:
            fields["variables"] = names[:MAX_VARIABLES]
        if function in RDB_WRITES:
            shown = ", ".join(f"'{n}'" for n in names[:3]) + (" ..." if len(names) > 3 else "")
            tag(fields, Operation.PARAMETER_WRITE,
                f"a BSAP RDB {function_title(function)}" + (f" of {shown}" if shown else ""))  # fmt: skip

    # -- serial over IP --------------------------------------------------------------------------
    def _serial(self, frame: SerialFrame) -> Record:
        fields: dict[str, Any] = {
            "addr": frame.address & 0x7F,
            "ser": frame.serial,
            "dfun": app_name(frame.dfun),
            "seq": frame.sequence,
            "sfun": app_name(frame.sfun),
            "nsb": frame.node_status,
            "type_name": "Global Message" if frame.is_global else "Local Message",
        }
        if frame.is_global:
            fields.update(dadd=frame.destination, sadd=frame.source, ctl=frame.control)
        # a message to a task (DFUN) from the PEI/PC side is a request; the reply comes back to PEI_PC
        direction: Direction = "response" if frame.dfun == PEI_PC else "request"
        if frame.dfun in LINK_FUNCTIONS:
            direction = "unknown"
        record = Record(PROTOCOL, direction, fields)
        if direction != "request":
            return record
        if frame.dfun == FLASH_DOWNLOAD:
            tag(fields, Operation.FIRMWARE_UPDATE, "a BSAP Flash Download (0x68) message")
        elif frame.dfun == RDB and frame.data:
            try:
                self._rdb(RdbRequest(frame.data[0], frame.data[1:]), fields, serial=True)
            except BsapDecodeError as exc:
                record.malformed = str(exc)
        elif frame.dfun == RDB_EXTENSION:
            if len(frame.data) < 7:
                record.malformed = f"RDB extension: {len(frame.data)} bytes, need 7"
                return record
            xfun = int.from_bytes(frame.data[5:7], "little")  # after a repeated DFUN/SEQ/SFUN/NSB (ICSNPP)
            fields["extfun"] = RDB_EXT_FUNCTIONS.get(xfun, f"Unknown RDB Func-0x{xfun:02x}")
            operation = RDB_EXT_OPERATIONS.get(xfun)
            if operation is not None:
                tag(fields, operation, f"a BSAP RDB extension {fields['extfun'].lower()} (0x{xfun:04X})")
        return record


def function_title(function: int) -> str:
    return RDB_FUNCTIONS.get(function, f"function 0x{function:02X}").replace("_", " ").title()


def identity_from(record: Record) -> Identity | None:
    """A BSAP/IP node that answered an RDB request: a Bristol (Emerson) controller serving its
    database; BSAP carries no model or version."""
    fields = record.fields
    if record.direction != "response" or not fields.get("matched") or fields.get("app_func") != RDB:
        return None
    return Identity(protocol=PROTOCOL, vendor=VENDOR, device_type=DeviceType.RTU)
