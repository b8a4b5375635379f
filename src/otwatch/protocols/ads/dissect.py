"""Passive Beckhoff ADS/AMS: AMS/TCP framing -> one Record per ADS request or response, and the
TwinCAT UDP service (port 48899: discovery, AddRoute) -> one Record per datagram.

Hand-written for the sensor's hot path: the 38-byte AMS/TCP + AMS header and the command's fixed
fields are read with precompiled ``struct`` calls, straight from the segment. Only the first
:data:`KEEP` bytes of a frame's data are ever looked at, so a large Read reply or a burst of device
notifications is skipped without being buffered (memory stays flat in frame size). Replies carry the
index group and offset of their request (matched by invoke id). Never raises on wire bytes: a frame
that is out of spec becomes a record with ``malformed`` set and the direction's buffer is dropped.

Engineering operations (protocols.operations) are tagged on requests: WriteControl to Run, Stop,
Reset, Config; Write (and sum-write ReadWrite) of values; the TwinCAT system service's clock, NetId
and route groups; and on UDP an AddRoute request (ROUTE_ADDED). The AddRoute password is never kept:
the record says only that one was sent.
"""

from __future__ import annotations

from typing import Any, Final

from otwatch.inventory.identity import DeviceType, Identity
from otwatch.protocols.ads.codes import (
    AMS_TCP_COMMANDS,
    COMMAND_NAMES,
    FLAG_RESPONSE,
    NON_VALUE_WRITE_GROUPS,
    OS_PLATFORMS,
    SYSTEM_SERVICE_PORT,
    UDP_MAGIC,
    UDP_RESPONSE,
    UDP_SERVICE_NAMES,
    AdsState,
    Command,
    UdpService,
    UdpTag,
    error_name,
    index_group_name,
    state_name,
)
from otwatch.protocols.ads.messages import (
    ADD_NOTIFICATION,
    AMS_HEADER,
    AMS_TCP,
    DEVICE_INFO,
    FRAME_HEADER_SIZE,
    GROUP_OFFSET_LENGTH,
    MAX_AMS_LENGTH,
    NOTIFICATION_HEADER,
    READ_WRITE,
    RESULT_HANDLE,
    RESULT_LENGTH,
    STATE,
    U32,
    UDP_HEADER,
    UDP_TAG,
    WRITE_CONTROL,
    c_string,
    net_id_text,
)
from otwatch.protocols.base import Record
from otwatch.protocols.operations import Operation, tag

PROTOCOL: Final = "ads"
VENDOR: Final = "Beckhoff"
KEEP: Final = 512  # bytes of a frame's data read; the rest of a long frame is skipped unbuffered
MAX_PENDING: Final = 64  # outstanding requests remembered per flow
MAX_UDP_TAGS: Final = 64

_unpack_tcp = AMS_TCP.unpack_from
_unpack_ams = AMS_HEADER.unpack_from
_COMMANDS: Final = tuple(COMMAND_NAMES.get(c, f"unknown-{c}") for c in range(16))

#: System service (AMS port 10000) groups whose Write changes something, with the operation it is.
_SYSTEM_WRITES: Final[dict[int, tuple[Operation, str]]] = {
    400: (Operation.CLOCK_SET, "a TwinCAT time service write (clock set)"),
    600: (Operation.NETWORK_CONFIG, "a TwinCAT AMS NetId change"),
    801: (Operation.ROUTE_ADDED, "an ADS route added through the system service"),
    802: (Operation.NETWORK_CONFIG, "an ADS route deleted through the system service"),
    200: (Operation.PARAMETER_WRITE, "a TwinCAT registry write"),
    123: (Operation.PARAMETER_WRITE, "a file write through the TwinCAT system service"),
    127: (Operation.PARAMETER_WRITE, "a file write through the TwinCAT system service"),
    129: (Operation.PARAMETER_WRITE, "a file write through the TwinCAT system service"),
    131: (Operation.PARAMETER_WRITE, "a file deleted through the TwinCAT system service"),
    132: (Operation.PARAMETER_WRITE, "a file renamed through the TwinCAT system service"),
    500: (Operation.PARAMETER_WRITE, "a process started through the TwinCAT system service"),
}
#: Index groups of a ReadWrite that write values (ADS sum commands).
_READWRITE_WRITES: Final = frozenset({0xF081, 0xF082})
_CONTROL: Final[dict[int, tuple[Operation, str]]] = {
    AdsState.RUN: (Operation.CONTROLLER_START, "Run"),
    AdsState.STOP: (Operation.CONTROLLER_STOP, "Stop"),
    AdsState.RESET: (Operation.CONTROLLER_RESET, "Reset"),
    AdsState.SHUTDOWN: (Operation.CONTROLLER_RESET, "Shutdown"),
    AdsState.CONFIG: (Operation.MODE_CHANGE, "Config"),
    AdsState.RECONFIG: (Operation.MODE_CHANGE, "Reconfig (restart in config mode)"),
}


class AdsDissector:
    """AMS/TCP framing per direction, reading at most :data:`KEEP` data bytes of each frame."""

    __slots__ = ("_buf", "_pending", "_skip")

    def __init__(self) -> None:
        self._buf = {True: bytearray(), False: bytearray()}
        self._skip = {True: 0, False: 0}
        self._pending: dict[int, tuple[int, int, int]] = {}  # invoke id -> command, group, offset

    def gap(self, from_client: bool) -> None:
        """Bytes were lost in one direction: drop its partial frame and resynchronise."""
        self._buf[from_client].clear()
        self._skip[from_client] = 0

    def feed(self, data: bytes, from_client: bool) -> list[Record]:
        skip = self._skip[from_client]
        if skip:
            if len(data) <= skip:
                self._skip[from_client] = skip - len(data)
                return []
            data = data[skip:]
            self._skip[from_client] = 0
        buf = self._buf[from_client]
        if buf:
            buf += data
            data = bytes(buf)
            buf.clear()
        records: list[Record] = []
        n = len(data)
        pos = 0
        while n - pos >= 6:
            reserved, length = _unpack_tcp(data, pos)
            total = 6 + length
            if reserved not in AMS_TCP_COMMANDS or length > MAX_AMS_LENGTH or (reserved == 0 and length < 32):
                records.append(
                    Record(
                        PROTOCOL,
                        "request" if from_client else "response",
                        {"ams_tcp_reserved": reserved, "ams_tcp_length": length},
                        malformed=f"bad AMS/TCP header (reserved 0x{reserved:04x}, length {length})",
                    )
                )
                return records
            if reserved:  # router-internal AMS/TCP command (port connect, NetId query): no ADS data
                record = Record(PROTOCOL, "request" if from_client else "response")
                record.fields["ams_tcp_command"] = AMS_TCP_COMMANDS[reserved]
                records.append(record)
            else:
                need = min(total, FRAME_HEADER_SIZE + KEEP)
                if n - pos < need:
                    break
                records.append(self._frame(data, pos, pos + need, total))
            if pos + total > n:
                self._skip[from_client] = pos + total - n
                return records
            pos += total
        if pos < n:
            buf += data[pos:]
        return records

    def _frame(self, data: bytes, pos: int, end: int, total: int) -> Record:
        target, tport, source, sport, cmd, flags, cb, error, invoke = _unpack_ams(data, pos + 6)
        response = bool(flags & FLAG_RESPONSE)
        fields: dict[str, Any] = {
            "target_net_id": net_id_text(target),
            "target_port": tport,
            "source_net_id": net_id_text(source),
            "source_port": sport,
            "command_id": cmd,
            "command": _COMMANDS[cmd] if cmd < 16 else f"unknown-{cmd}",
            "state_flags": flags,
            "data_length": cb,
            "error_code": error,
            "invoke_id": invoke,
        }
        record = Record(PROTOCOL, "response" if response else "request", fields)
        if cb != total - FRAME_HEADER_SIZE:
            record.malformed = f"AMS data length {cb} does not match AMS/TCP length {total - 6}"
            return record
        if error:
            fields["error"] = error_name(error)
        body = data[pos + FRAME_HEADER_SIZE : end]
        try:
            if response:
                self._response(fields, cmd, body, cb)
            else:
                self._request(fields, cmd, body, cb, tport)
        except _Short as exc:
            record.malformed = str(exc)
        return record

    def _request(self, fields: dict[str, Any], cmd: int, body: bytes, cb: int, port: int) -> None:
        group = offset = -1
        if cmd == Command.READ:
            _need(cb, body, 12, "read request")
            group, offset, fields["length"] = GROUP_OFFSET_LENGTH.unpack_from(body)
        elif cmd == Command.WRITE:
            _need(cb, body, 12, "write request")
            group, offset, length = GROUP_OFFSET_LENGTH.unpack_from(body)
            fields["length"] = length
            if cb < 12 + length:
                raise _Short(f"write request: {length} data bytes announced, {cb - 12} sent")
            _write_operation(fields, group, offset, port)
        elif cmd == Command.READ_WRITE:
            _need(cb, body, 16, "read/write request")
            group, offset, fields["read_length"], write_length = READ_WRITE.unpack_from(body)
            fields["write_length"] = write_length
            if cb < 16 + write_length:
                raise _Short(f"read/write request: {write_length} data bytes announced, {cb - 16} sent")
            if write_length and group in _READWRITE_WRITES:
                tag(
                    fields,
                    Operation.PARAMETER_WRITE,
                    f"an ADS sum write ({_name(group, port)}) to AMS port {port}",
                )
            elif write_length and port == SYSTEM_SERVICE_PORT and group in (600, 801):
                _write_operation(fields, group, offset, port)
        elif cmd == Command.WRITE_CONTROL:
            _need(cb, body, 8, "write control request")
            state, device_state, _length = WRITE_CONTROL.unpack_from(body)
            fields["ads_state"] = state
            fields["ads_state_name"] = state_name(state)
            fields["device_state"] = device_state
            operation, what = _CONTROL.get(state, (Operation.MODE_CHANGE, state_name(state)))
            target = "the TwinCAT system" if port == SYSTEM_SERVICE_PORT else f"AMS port {port}"
            tag(fields, operation, f"an ADS WriteControl {what} (ADS state {state}) to {target}")
        elif cmd == Command.ADD_DEVICE_NOTIFICATION:
            _need(cb, body, ADD_NOTIFICATION.size, "add device notification request")
            group, offset, length, mode, delay, cycle, _ = ADD_NOTIFICATION.unpack_from(body)
            fields.update(length=length, transmission_mode=mode, max_delay=delay, cycle_time=cycle)
        elif cmd == Command.DELETE_DEVICE_NOTIFICATION:
            _need(cb, body, 4, "delete device notification request")
            fields["notification_handle"] = U32.unpack_from(body)[0]
        elif cmd == Command.DEVICE_NOTIFICATION:
            _need(cb, body, 8, "device notification")
            fields["length"], fields["stamps"] = NOTIFICATION_HEADER.unpack_from(body)
        if group >= 0:
            fields["index_group"] = group
            fields["index_offset"] = offset
            fields["index_group_name"] = _name(group, port)
        if cmd != Command.DEVICE_NOTIFICATION:
            pending = self._pending
            if len(pending) >= MAX_PENDING:
                pending.pop(next(iter(pending)))
            pending[fields["invoke_id"]] = (cmd, group, offset)

    def _response(self, fields: dict[str, Any], cmd: int, body: bytes, cb: int) -> None:
        request = self._pending.pop(fields["invoke_id"], None)
        if request is not None and request[0] == cmd:
            fields["matched"] = True
            if request[1] >= 0:
                fields["index_group"], fields["index_offset"] = request[1], request[2]
        if cmd == Command.DEVICE_NOTIFICATION or cmd > Command.READ_WRITE or cmd == Command.INVALID:
            return
        if fields["error_code"] and not cb:  # the AMS router refused it (no such port, no route)
            return
        _need(cb, body, 4, "response result")
        result = U32.unpack_from(body)[0]
        fields["result"] = result
        if result:
            fields["result_name"] = error_name(result)
            return
        if cmd == Command.READ_DEVICE_INFO:
            # 16 name bytes by the specification; some servers (pyads' test server) send the name
            # without its padding, which every client accepts: read what there is
            _need(cb, body, 8, "read device info response")
            major, minor, build = body[4], body[5], body[6] | body[7] << 8
            name = body[8 : DEVICE_INFO.size]
            fields.update(
                version_major=major,
                version_minor=minor,
                version_build=build,
                version=f"{major}.{minor}.{build}",
                device_name=c_string(name),
            )
        elif cmd == Command.READ_STATE:
            _need(cb, body, STATE.size, "read state response")
            _r, state, device_state = STATE.unpack_from(body)
            fields.update(ads_state=state, ads_state_name=state_name(state), device_state=device_state)
        elif cmd in (Command.READ, Command.READ_WRITE):
            _need(cb, body, 8, "read response")
            fields["length"] = RESULT_LENGTH.unpack_from(body)[1]
        elif cmd == Command.ADD_DEVICE_NOTIFICATION:
            _need(cb, body, 8, "add device notification response")
            fields["notification_handle"] = RESULT_HANDLE.unpack_from(body)[1]


class _Short(Exception):
    """A command's fixed fields are cut short by its own data length."""


def _need(cb: int, body: bytes, size: int, what: str) -> None:
    if cb < size:
        raise _Short(f"{what}: {cb} data bytes, need {size}")
    # cb >= size and body holds min(cb, KEEP) >= size bytes: nothing else to check


def _name(group: int, port: int) -> str:
    return index_group_name(group, port)


def _write_operation(fields: dict[str, Any], group: int, offset: int, port: int) -> None:
    if port == SYSTEM_SERVICE_PORT:
        found = _SYSTEM_WRITES.get(group)
        if found is not None:
            tag(fields, found[0], found[1])
        return
    if group in NON_VALUE_WRITE_GROUPS:
        return
    tag(
        fields,
        Operation.PARAMETER_WRITE,
        f"an ADS Write to index group 0x{group:x} ({_name(group, port)}) offset 0x{offset:x} on AMS port {port}",
    )


# -- the TwinCAT UDP service (port 48899) ------------------------------------------------------------


def dissect_udp(data: bytes) -> Record:
    """One datagram of the TwinCAT UDP service -> one record; never raises."""
    if len(data) < UDP_HEADER.size or data[:4] != UDP_MAGIC:
        return Record(PROTOCOL, "unknown", {}, malformed="not a TwinCAT UDP service datagram")
    _magic, invoke, service, net_id, port, count = UDP_HEADER.unpack_from(data)
    response = bool(service & UDP_RESPONSE)
    service &= ~UDP_RESPONSE
    fields: dict[str, Any] = {
        "invoke_id": invoke,
        "service_id": service,
        "service": UDP_SERVICE_NAMES.get(service, f"unknown-{service}"),
        "net_id": net_id_text(net_id),
        "ams_port": port,
        "tag_count": count,
    }
    record = Record(PROTOCOL, "response" if response else "request", fields)
    pos = UDP_HEADER.size
    n = len(data)
    for _ in range(min(count, MAX_UDP_TAGS)):
        if pos + 4 > n:
            record.malformed = "ads udp tag header past the end"
            break
        tid, length = UDP_TAG.unpack_from(data, pos)
        value = data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if len(value) < length:
            record.malformed = "ads udp tag value past the end"
            break
        _udp_tag(fields, service, tid, value)
    if not response and service == UdpService.ADD_ROUTE and record.malformed is None:
        detail = "an ADS AddRoute request (TwinCAT UDP service)"
        parts = [
            f"{k} {fields[f]!r}" for k, f in (("route", "route_name"), ("user", "user_name")) if f in fields
        ]
        if "route_net_id" in fields:
            parts.append(f"AMS NetId {fields['route_net_id']}")
        if "route_host" in fields:
            parts.append(f"address {fields['route_host']}")
        if parts:
            detail += " for " + ", ".join(parts)
        tag(fields, Operation.ROUTE_ADDED, detail)
    return record


def _udp_tag(fields: dict[str, Any], service: int, tid: int, value: bytes) -> None:
    if tid == UdpTag.PASSWORD:
        fields["password_sent"] = True  # the password itself is never kept
    elif tid == UdpTag.HOST_NAME:
        fields["route_host" if service == UdpService.ADD_ROUTE else "host_name"] = c_string(value)
    elif tid == UdpTag.ROUTE_NAME:
        fields["route_name"] = c_string(value)
    elif tid == UdpTag.USER_NAME:
        fields["user_name"] = c_string(value)
    elif tid == UdpTag.NET_ID and len(value) == 6:
        fields["route_net_id" if service == UdpService.ADD_ROUTE else "reported_net_id"] = net_id_text(value)
    elif tid == UdpTag.STATUS and len(value) == 4:
        status = U32.unpack(value)[0]
        fields["status"] = status
        if status:
            fields["status_name"] = error_name(status)
    elif tid == UdpTag.TWINCAT_VERSION and len(value) >= 4:
        fields["twincat_version"] = f"{value[0]}.{value[1]}.{value[2] | value[3] << 8}"
    elif tid == UdpTag.OS_VERSION:
        fields.update(_os_version(value))
    elif tid == UdpTag.OPTIONS and len(value) == 4:
        fields["temporary_route"] = bool(U32.unpack(value)[0] & 1)
    elif tid == UdpTag.FINGERPRINT:
        fields["fingerprint"] = c_string(value)[:128]


def _os_version(value: bytes) -> dict[str, Any]:
    """OSVERSIONINFO (size, major, minor, build, platform, CSD version in UTF-16) on Windows and CE;
    other systems (TwinCAT/BSD) send their own layout, kept as a length only."""
    if len(value) >= 20 and U32.unpack_from(value)[0] == len(value):
        major, minor, build, platform = (U32.unpack_from(value, i)[0] for i in (4, 8, 12, 16))
        name = OS_PLATFORMS.get(platform, f"platform {platform}")
        csd = value[20:].decode("utf-16-le", "replace").split("\x00", 1)[0].strip()
        os_text = (
            f"{name} {major}.{minor}" + (f" build {build}" if build else "") + (f" {csd}" if csd else "")
        )
        return {"os_platform": platform, "os_version": os_text}
    return {"os_version_length": len(value)}


def detect(payload: bytes) -> bool:
    """A segment that starts with an AMS/TCP header of an ADS command whose AMS header agrees with it:
    reserved 0, AMS data length = AMS/TCP length - 32, a known command id and the ADS-command flag."""
    if len(payload) < FRAME_HEADER_SIZE:
        return False
    reserved, length = _unpack_tcp(payload)
    if reserved != 0 or not 32 <= length <= MAX_AMS_LENGTH:
        return False
    _t, _tp, _s, _sp, cmd, flags, cb, _err, _inv = _unpack_ams(payload, 6)
    return cb == length - 32 and 1 <= cmd <= 9 and bool(flags & 0x0004) and not flags & ~0x80FF


def detect_udp(payload: bytes) -> bool:
    """The TwinCAT UDP magic, a known service and a tag count that fits the datagram."""
    if len(payload) < UDP_HEADER.size or payload[:4] != UDP_MAGIC:
        return False
    _m, _inv, service, _net, _port, count = UDP_HEADER.unpack_from(payload)
    return service & ~UDP_RESPONSE in UDP_SERVICE_NAMES and count * 4 <= len(payload) - UDP_HEADER.size


def identity_from(record: Record) -> Identity | None:
    """ReadDeviceInfo and ReadState replies (TCP); Identify replies of the UDP service."""
    fields = record.fields
    if record.direction != "response" or record.malformed:
        return None
    if "host_name" in fields or "twincat_version" in fields:  # UDP Identify reply
        extra: dict[str, Any] = {"ams_net_id": fields["net_id"]}
        for key in ("os_version", "twincat_version"):
            if key in fields:
                extra[key] = fields[key]
        return Identity(
            protocol=PROTOCOL,
            vendor=VENDOR,
            name=fields.get("host_name") or None,
            firmware=fields.get("twincat_version"),
            extra=extra,
        )
    if fields.get("result") != 0:
        return None
    port = fields.get("source_port", 0)
    plc = 800 <= port <= 899
    if "device_name" in fields:
        if plc:  # the PLC runtime: its name (e.g. "PLC Server", "Plc30 App") and build
            return Identity(
                protocol=PROTOCOL,
                vendor=VENDOR,
                model=fields["device_name"] or None,
                device_type=DeviceType.PLC,
                # the runtime's own build, not the TwinCAT version (firmware) the system reports
                extra={
                    "ams_net_id": fields["source_net_id"],
                    "ams_port": port,
                    "plc_version": fields["version"],
                },
            )
        if port == SYSTEM_SERVICE_PORT:  # "TwinCAT System": the runtime's version
            return Identity(
                protocol=PROTOCOL,
                vendor=VENDOR,
                firmware=fields["version"],
                extra={"ams_net_id": fields["source_net_id"]},
            )
        return None  # I/O, NC and other servers of the same runtime say nothing about the device
    if "ads_state_name" in fields:
        return Identity(
            protocol=PROTOCOL,
            vendor=VENDOR,
            state=fields["ads_state_name"],
            device_type=DeviceType.PLC if plc else None,
            extra={"ams_net_id": fields["source_net_id"], "ads_device_state": fields["device_state"]},
        )
    return None
