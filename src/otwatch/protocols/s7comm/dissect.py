"""Passive S7comm dissection: TCP byte stream -> TPKT -> COTP -> S7comm / S7comm-plus records.

Per direction the dissector keeps the unframed TCP bytes, the COTP DT segments of an S7 PDU that spans
several TPDUs (EOT bit clear) and user-data responses split over several PDUs ("last data unit" set), so
an SZL answer split by a real CPU still yields its identity. Field names follow the ICSNPP Zeek logs
(``rosctr_name``, ``function_name``, ``subfunction_name``, ``error_class`` ...). Wire bytes never raise:
out-of-spec frames become records with ``malformed`` set.
"""

from __future__ import annotations

import struct
from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.base import Record
from otwatch.protocols.operations import Operation, tag
from otwatch.protocols.s7comm import codes
from otwatch.protocols.s7comm.messages import (
    DECODE_ERRORS,
    CotpStream,
    CotpUnit,
    DataItem,
    S7Pdu,
    SetupCommunication,
    SzlResponse,
    UserDataParam,
    VarRequest,
)

PROTOCOL: Final = "s7comm"
PROTOCOL_PLUS: Final = "s7comm_plus"
S7_STOP_ALERT: Final = "S7_STOP"  # the specific alert of an S7 PLC Stop (a CONTROLLER_STOP operation)
MAX_BUFFER: Final = 1 << 17  # two maximal TPKTs; more means the stream is not TPKT
MAX_PENDING_FRAGMENTS: Final = 8
_U16: Final = struct.Struct(">H")


def _direction(from_client: bool) -> Any:
    return "request" if from_client else "response"


class _Side:
    __slots__ = ("cotp", "fragments")

    def __init__(self) -> None:
        self.cotp = CotpStream(MAX_BUFFER)
        self.fragments: dict[int, bytearray] = {}  # user-data data unit reference -> joined data


class S7commDissector:
    """Stateful per-flow dissector (one instance per TCP connection)."""

    __slots__ = ("_sides",)

    def __init__(self) -> None:
        self._sides = {True: _Side(), False: _Side()}

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        side = self._sides[from_client]
        direction = _direction(from_client)
        units, error = side.cotp.feed(data)
        records = [self._unit(side, unit, direction) for unit in units]
        if error is not None:
            records.append(Record(PROTOCOL, direction, {}, malformed=error))
        return records

    def _unit(self, side: _Side, unit: CotpUnit, direction: Any) -> Record:
        fields, payload, malformed = unit
        if payload is None:
            called = fields.get("called_tsap")
            if malformed is None and called is not None and len(called) == 4:
                tsap = int(called[2:], 16)  # PG/OP TSAP: rack (3 bits), slot (5 bits)
                fields["rack"], fields["slot"] = tsap >> 5, tsap & 0x1F
            return Record(PROTOCOL, direction, fields, malformed=malformed)
        if payload and payload[0] == codes.S7_PROTOCOL_ID:
            return self._s7(side, payload, direction, fields)
        if payload and payload[0] == codes.S7PLUS_PROTOCOL_ID:
            return _s7plus(payload, direction, fields)
        return Record(PROTOCOL, direction, fields)

    def _s7(self, side: _Side, payload: bytes, direction: Any, fields: dict[str, Any]) -> Record:
        fields["pdu"] = "s7comm"
        try:
            pdu = S7Pdu.decode(payload)
        except DECODE_ERRORS as exc:
            return Record(PROTOCOL, direction, fields, malformed=str(exc))
        fields["rosctr_code"] = pdu.rosctr
        fields["rosctr_name"] = codes.ROSCTR_NAMES.get(pdu.rosctr, "unknown")
        fields["pdu_reference"] = pdu.pdu_ref
        if pdu.error_class is not None and pdu.error_code is not None:
            fields["error_class"] = codes.ERROR_CLASS_NAMES.get(
                pdu.error_class, f"Unknown error class-0x{pdu.error_class:02x}"
            )
            fields["error_code"] = f"0x{pdu.error_code:02x}"
        try:
            if pdu.rosctr == codes.ROSCTR_USERDATA:
                self._userdata(side, pdu, fields)
            elif pdu.parameter:
                _job(pdu, fields)
        except DECODE_ERRORS as exc:
            return Record(PROTOCOL, direction, fields, malformed=str(exc))
        return Record(PROTOCOL, direction, fields)

    def _userdata(self, side: _Side, pdu: S7Pdu, fields: dict[str, Any]) -> None:
        param = UserDataParam.decode(pdu.parameter)
        fields["function_code"] = f"0x{param.type_group:02x}"
        fields["function_name"] = codes.userdata_function_name(param.type_group)
        fields["subfunction_code"] = f"0x{param.subfunction:02x}"
        sub_name = codes.userdata_subfunction_name(param.group, param.subfunction)
        if sub_name is not None:
            fields["subfunction_name"] = sub_name
        fields["method"] = codes.USERDATA_METHOD_NAMES.get(param.method, "Unknown")
        fields["sequence"] = param.sequence
        if param.type_group >> 4 == 0x4:  # a request from the engineering station or HMI
            _userdata_operation(param.group, param.subfunction, fields)
        if param.error_code is not None:
            if param.error_code == 0:
                fields["error_class"] = codes.ERROR_CLASS_NAMES[0]
            else:
                fields["error_class"] = "Parameter Error"
            fields["error_code"] = f"0x{param.error_code:02x}"
        if not (param.group == codes.GROUP_CPU and param.subfunction == codes.SUBFUNC_READ_SZL):
            return
        if len(pdu.data) < 4:
            return
        item, _ = DataItem.decode(pdu.data)
        fields["return_code"] = f"0x{item.return_code:02x}"
        fields["return_code_name"] = codes.RETURN_CODE_NAMES.get(item.return_code, "Unknown")
        if param.type_group >> 4 == 0x4 and param.method == 0x11:
            if len(item.payload) >= 4:
                szl_id, szl_index = struct.unpack_from(">HH", item.payload)
                _szl_ids(fields, szl_id, szl_index)
            return
        payload = item.payload
        ref = param.data_unit_ref or 0
        if ref in side.fragments:
            side.fragments[ref] += payload
            payload = bytes(side.fragments.pop(ref))
            fields["reassembled"] = True
        if param.last_data_unit:  # more data units follow in later responses
            if len(side.fragments) < MAX_PENDING_FRAGMENTS and len(payload) < MAX_BUFFER:
                side.fragments[ref] = bytearray(payload)
            fields["more_data"] = True
            if len(payload) >= 4:
                _szl_ids(fields, *struct.unpack_from(">HH", payload))
            return
        if item.return_code != codes.RETURN_CODE_SUCCESS or len(payload) < 4:
            return
        szl = SzlResponse.decode(payload)
        _szl_ids(fields, szl.szl_id, szl.szl_index)
        if szl.szl_id == codes.SZL_MODULE_ID:
            fields.update(szl.module_identification())
        elif szl.szl_id == codes.SZL_COMPONENT_ID:
            fields.update(szl.component_identification())
        elif szl.szl_id == codes.SZL_CPU_MODE and (mode := szl.cpu_mode()) is not None:
            fields["cpu_state"] = mode


def _userdata_operation(group: int, subfunction: int, fields: dict[str, Any]) -> None:
    if group == codes.GROUP_SECURITY and subfunction == codes.SUBFUNC_PLC_PASSWORD:
        tag(fields, Operation.AUTHENTICATION, "an S7 PLC password (user-data security function)")
    elif group == codes.GROUP_TIME and subfunction in codes.SET_CLOCK_SUBFUNCTIONS:
        tag(fields, Operation.CLOCK_SET, f"an S7 {fields.get('subfunction_name', 'Set Clock')} (user-data)")
    elif group == codes.GROUP_PROGRAMMER and subfunction == codes.SUBFUNC_FLASH_LED:
        fields["flash_led"] = True  # the station-identification blink: no change to the controller


def _szl_ids(fields: dict[str, Any], szl_id: int, szl_index: int) -> None:
    fields["szl_id"] = f"0x{szl_id:04x}"
    fields["szl_id_name"] = codes.SZL_NAMES.get(szl_id & 0xFF, "Unknown")
    fields["szl_index"] = f"0x{szl_index:04x}"


def _job(pdu: S7Pdu, fields: dict[str, Any]) -> None:
    """Job / ACK-Data parameter: function code and the parts of each function worth keeping."""
    param = pdu.parameter
    func = param[0]
    fields["function_code"] = f"0x{func:02x}"
    fields["function_name"] = codes.FUNCTION_NAMES.get(func, "unknown")
    is_job = pdu.rosctr == codes.ROSCTR_JOB
    if func == codes.FUNC_SETUP_COMMUNICATION:
        setup = SetupCommunication.decode(param)
        fields["pdu_size"] = setup.pdu_size
    elif func in (codes.FUNC_READ_VAR, codes.FUNC_WRITE_VAR):
        fields["item_count"] = param[1] if len(param) > 1 else 0
        if is_job:
            fields["items"] = [item.as_fields() for item in VarRequest.decode(param).items]
        elif pdu.data:
            fields["return_codes"] = _return_codes(func, pdu.data, fields["item_count"])
    elif func in codes.UPLOAD_DOWNLOAD_FUNCTIONS:
        _upload_download(func, is_job, param, pdu.data, fields)
        if is_job:
            block = fields.get("filename", "block")
            if func in (codes.FUNC_REQUEST_DOWNLOAD, codes.FUNC_DOWNLOAD_BLOCK, codes.FUNC_DOWNLOAD_ENDED):
                tag(fields, Operation.PROGRAM_DOWNLOAD, f"an S7 {fields['function_name']} ({block})")
            elif func == codes.FUNC_START_UPLOAD:
                tag(fields, Operation.PROGRAM_UPLOAD, f"an S7 Start Upload ({block})")
    elif func in (codes.FUNC_PLC_CONTROL, codes.FUNC_PLC_STOP) and is_job:
        service = _pi_service(func, param)
        if service is not None:
            fields["pi_service"] = service
            if func == codes.FUNC_PLC_CONTROL:
                fields["subfunction_code"] = service
                fields["subfunction_name"] = codes.PLC_CONTROL_SERVICES.get(service, "Unknown")
                _pi_operation(service, param, fields)
        if func == codes.FUNC_PLC_STOP:
            tag(fields, Operation.CONTROLLER_STOP, "an S7 PLC Stop job", alert=S7_STOP_ALERT)


def _pi_operation(service: str, param: bytes, fields: dict[str, Any]) -> None:
    """The operation of a PLC Control (PI) service; blocks it names are kept as ``pi_blocks``."""
    blocks = _pi_blocks(param)
    if blocks:
        fields["pi_blocks"] = blocks
    named = f" of {', '.join(blocks)}" if blocks else ""
    if service == codes.PI_START:
        tag(fields, Operation.CONTROLLER_START, "an S7 PLC Control job starting the program (P_PROGRAM)")
    elif service in codes.PI_DOWNLOAD:
        tag(fields, Operation.PROGRAM_DOWNLOAD, f"an S7 PLC Control job activating blocks ({service}){named}")
    elif service == codes.PI_DELETE:
        tag(fields, Operation.PROGRAM_DELETE, f"an S7 PLC Control job deleting blocks (_DELE){named}")
    elif service == codes.PI_COPY_RAM_TO_ROM:
        tag(fields, Operation.PROGRAM_TO_ROM, "an S7 PLC Control job copying RAM to ROM (_MODU)")


def _pi_blocks(param: bytes) -> list[str]:
    """Block names in a PLC Control parameter block: a count byte, then 8-character names
    (type "0B"/"0C"..., five-digit number, file system), as step 7 writes them for _INSE and _DELE."""
    if len(param) < 10:
        return []
    (size,) = _U16.unpack_from(param, 8)
    block = param[10 : 10 + size]
    if len(block) < 2:
        return []
    count = block[0]
    names = []
    for i in range(count):
        raw = block[2 + 8 * i : 10 + 8 * i]
        if len(raw) < 8:
            break
        text = raw.decode("latin-1")
        kind = codes.BLOCK_TYPE_NAMES.get(text[0:2])
        names.append(f"{kind} {text[2:7].lstrip('0') or '0'}" if kind else text)
    return names


def _return_codes(func: int, data: bytes, count: int) -> list[str]:
    out: list[str] = []
    pos = 0
    for _ in range(count):
        if pos >= len(data):
            break
        if func == codes.FUNC_WRITE_VAR:  # write ack: one return code byte per item
            out.append(codes.RETURN_CODE_NAMES.get(data[pos], f"0x{data[pos]:02x}"))
            pos += 1
            continue
        item, pos = DataItem.decode(data, pos)
        out.append(codes.RETURN_CODE_NAMES.get(item.return_code, f"0x{item.return_code:02x}"))
        pos += pos & 1  # items are padded to an even length
    return out


def _pi_service(func: int, param: bytes) -> str | None:
    """PI service name (``P_PROGRAM`` ...) at the end of PLC control / PLC stop parameters."""
    if func == codes.FUNC_PLC_STOP:
        pos = 6
    else:
        if len(param) < 10:
            return None
        pos = 10 + _U16.unpack_from(param, 8)[0]
    if pos >= len(param):
        return None
    return param[pos + 1 : pos + 1 + param[pos]].decode("latin-1")


def _upload_download(func: int, is_job: bool, param: bytes, data: bytes, fields: dict[str, Any]) -> None:
    """Session, file name and block of upload/download functions (ICSNPP s7comm_upload_download)."""
    if len(param) >= 2:
        fields["function_status"] = f"0x{param[1]:02x}"
    if len(param) >= 8:
        fields["session_id"] = struct.unpack_from(">I", param, 4)[0]
    elif func in (codes.FUNC_UPLOAD, codes.FUNC_DOWNLOAD_BLOCK) and not is_job and len(data) >= 2:
        fields["blocklength"] = _U16.unpack_from(data)[0]
        return
    if len(param) < 9:
        return
    text = param[9 : 9 + param[8]].decode("latin-1")
    if is_job and func in (
        codes.FUNC_START_UPLOAD,
        codes.FUNC_REQUEST_DOWNLOAD,
        codes.FUNC_DOWNLOAD_BLOCK,
        codes.FUNC_DOWNLOAD_ENDED,
    ):
        if func == codes.FUNC_START_UPLOAD:
            fields["session_id"] = struct.unpack_from(">I", param, 4)[0]
        fields["filename"] = text
        if len(text) >= 9:
            fields["block_type"] = codes.BLOCK_TYPE_NAMES.get(text[1:3], "Unknown")
            fields["block_number"] = text[3:8]
            fields["destination_filesystem"] = codes.FILESYSTEM_NAMES.get(text[8], "Unknown")
    elif not is_job and func == codes.FUNC_START_UPLOAD and text.strip().isdigit():
        fields["blocklength"] = int(text)


def _s7plus(payload: bytes, direction: Any, fields: dict[str, Any]) -> Record:
    """S7comm-plus (S7-1200/1500): version, opcode and function; the payload itself is not decoded."""
    fields["pdu"] = "s7comm_plus"
    if len(payload) < 5:
        return Record(PROTOCOL_PLUS, direction, fields, malformed="S7comm-plus header too short")
    version = payload[1]
    fields["version"] = version
    pos = 4
    if version == 3:  # integrity part: digest length, digest
        pos += 1 + payload[4]
    if pos >= len(payload):
        return Record(PROTOCOL_PLUS, direction, fields)
    opcode = payload[pos]
    fields["opcode"] = f"0x{opcode:02x}"
    fields["opcode_name"] = codes.S7PLUS_OPCODE_NAMES.get(
        opcode, f"Unknown s7comm-plus opcode-0x{opcode:02x}"
    )
    if opcode in (0x31, 0x32) and pos + 5 <= len(payload):
        function = _U16.unpack_from(payload, pos + 3)[0]
        fields["function_code"] = f"0x{function:04x}"
        fields["function_name"] = codes.S7PLUS_FUNCTION_NAMES.get(
            function, f"Unknown s7comm-plus function-0x{function:04x}"
        )
    return Record(PROTOCOL_PLUS, direction, fields)


IDENTITY_KEYS: Final = ("order_number", "module_type", "serial", "cpu_state", "firmware", "plc_name")
IDENTITY_EXTRA: Final = (
    "order_number",
    "module_name",
    "plant_id",
    "copyright",
    "memory_card_serial",
    "location",
    "module_version",
    "hardware",
)


def identity_from_fields(fields: dict[str, Any]) -> Identity | None:
    """Identity from SZL fields (one record's, or the agent's merged reads of 0x0011/0x001C/0x0424)."""
    if not any(k in fields for k in IDENTITY_KEYS):
        return None
    return Identity(
        protocol=PROTOCOL,
        vendor="Siemens",
        model=fields.get("module_type") or fields.get("order_number"),
        firmware=fields.get("firmware"),
        serial=fields.get("serial"),
        name=fields.get("plc_name"),
        device_type=DeviceType.PLC,
        state=fields.get("cpu_state"),
        extra={k: fields[k] for k in IDENTITY_EXTRA if k in fields},
    )
