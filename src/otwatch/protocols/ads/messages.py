"""Beckhoff ADS/AMS messages: each class both ``encode()``s (what the agent sends) and ``decode()``s
(what the sensor reads). All integers are little-endian.

An ADS frame on TCP is an AMS/TCP header (reserved u16, length u32), the 32-byte AMS header (target
and source AMS NetId and port, command id, state flags, data length, error code, invoke id), then the
command's data. The TwinCAT UDP service (port 48899) is a separate format: a magic, an invoke id, a
service id (bit 31 set in replies), the sender's AMS address and a list of tags.

``decode`` raises :class:`AdsDecodeError` on out-of-spec bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct
from typing import Final, Self

from otwatch.protocols.ads.codes import FLAG_ADS_COMMAND, FLAG_RESPONSE, UDP_MAGIC, UDP_RESPONSE, UdpTag

AMS_TCP: Final = Struct("<HI")  # reserved (0 = ADS command), length of the AMS packet
AMS_HEADER: Final = Struct("<6sH6sHHHIII")  # target, port, source, port, cmd, flags, cbData, error, invoke
AMS_TCP_SIZE: Final = AMS_TCP.size
FRAME_HEADER_SIZE: Final = AMS_TCP.size + AMS_HEADER.size  # 38
UDP_HEADER: Final = Struct("<4sII6sHI")  # magic, invoke id, service, source NetId, source port, tag count
UDP_TAG: Final = Struct("<HH")
MAX_AMS_LENGTH: Final = 64 * 1024 * 1024  # a larger length field means the stream is not ADS

U32: Final = Struct("<I")
GROUP_OFFSET_LENGTH: Final = Struct("<III")
READ_WRITE: Final = Struct("<IIII")  # group, offset, read length, write length
RESULT_LENGTH: Final = Struct("<II")
DEVICE_INFO: Final = Struct("<IBBH16s")  # result, major, minor, build, device name
STATE: Final = Struct("<IHH")  # result, ADS state, device state
WRITE_CONTROL: Final = Struct("<HHI")  # ADS state, device state, length
ADD_NOTIFICATION: Final = Struct("<IIIIII16s")  # group, offset, length, mode, max delay, cycle, reserved
RESULT_HANDLE: Final = Struct("<II")
NOTIFICATION_HEADER: Final = Struct("<II")  # length, stamps


class AdsDecodeError(ValueError):
    """The bytes are not a valid ADS message of the expected kind."""


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise AdsDecodeError(f"{what}: {len(data)} bytes, need {size}")


def net_id_text(raw: bytes) -> str:
    """An AMS NetId as TwinCAT writes it: six dotted decimal bytes."""
    return ".".join(str(b) for b in raw)


def net_id_bytes(text: str) -> bytes:
    parts = [int(p) for p in text.split(".")]
    if len(parts) != 6 or not all(0 <= p <= 255 for p in parts):
        raise ValueError(f"not an AMS NetId: {text!r}")
    return bytes(parts)


def c_string(raw: bytes) -> str:
    """A NUL-terminated (or NUL-padded) ASCII/Latin-1 string."""
    end = raw.find(b"\x00")
    return (raw if end < 0 else raw[:end]).decode("latin-1")


@dataclass(slots=True)
class AmsFrame:
    """One AMS packet with its AMS/TCP header; ``data`` is the command's own bytes."""

    target: str
    target_port: int
    source: str
    source_port: int
    command: int
    state_flags: int
    invoke_id: int
    data: bytes = b""
    error_code: int = 0

    @property
    def is_response(self) -> bool:
        return bool(self.state_flags & FLAG_RESPONSE)

    def encode(self) -> bytes:
        header = AMS_HEADER.pack(
            net_id_bytes(self.target),
            self.target_port,
            net_id_bytes(self.source),
            self.source_port,
            self.command,
            self.state_flags,
            len(self.data),
            self.error_code,
            self.invoke_id,
        )
        return AMS_TCP.pack(0, AMS_HEADER.size + len(self.data)) + header + self.data

    @classmethod
    def request(
        cls,
        target: str,
        target_port: int,
        source: str,
        source_port: int,
        command: int,
        invoke_id: int,
        data: bytes,
    ) -> Self:
        return cls(target, target_port, source, source_port, command, FLAG_ADS_COMMAND, invoke_id, data)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, FRAME_HEADER_SIZE, "ams frame")
        reserved, length = AMS_TCP.unpack_from(data)
        if reserved != 0 or length < AMS_HEADER.size:
            raise AdsDecodeError(f"bad AMS/TCP header (reserved {reserved}, length {length})")
        target, tport, source, sport, cmd, flags, cb, error, invoke = AMS_HEADER.unpack_from(
            data, AMS_TCP_SIZE
        )
        if cb != length - AMS_HEADER.size:
            raise AdsDecodeError(f"AMS data length {cb} does not match AMS/TCP length {length}")
        _need(data, AMS_TCP_SIZE + length, "ams data")
        body = bytes(data[FRAME_HEADER_SIZE : AMS_TCP_SIZE + length])
        return cls(net_id_text(target), tport, net_id_text(source), sport, cmd, flags, invoke, body, error)


@dataclass(slots=True)
class DeviceInfo:
    """ReadDeviceInfo (command 1) response: result, version and the ADS device's name."""

    result: int
    major: int
    minor: int
    build: int
    name: str

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}"

    def encode(self) -> bytes:
        return DEVICE_INFO.pack(
            self.result, self.major, self.minor, self.build, self.name.encode("latin-1")[:16]
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if 4 <= len(data) < 8:  # an error reply carries the result only
            return cls(U32.unpack_from(data)[0], 0, 0, 0, "")
        _need(data, 8, "read device info response")
        if len(data) < DEVICE_INFO.size:  # a name sent without its padding to 16 bytes
            data = data.ljust(DEVICE_INFO.size, b"\x00")
        result, major, minor, build, name = DEVICE_INFO.unpack_from(data)
        return cls(result, major, minor, build, c_string(name))


@dataclass(slots=True)
class StateInfo:
    """ReadState (command 4) response: result, ADS state, device state."""

    result: int
    ads_state: int
    device_state: int

    def encode(self) -> bytes:
        return STATE.pack(self.result, self.ads_state, self.device_state)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) >= 4 and len(data) < STATE.size:
            return cls(U32.unpack_from(data)[0], 0, 0)
        _need(data, STATE.size, "read state response")
        return cls(*STATE.unpack_from(data))


@dataclass(slots=True)
class ReadRequest:
    """Read (command 2): index group, index offset and the number of bytes to read."""

    index_group: int
    index_offset: int
    length: int

    def encode(self) -> bytes:
        return GROUP_OFFSET_LENGTH.pack(self.index_group, self.index_offset, self.length)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, GROUP_OFFSET_LENGTH.size, "read request")
        return cls(*GROUP_OFFSET_LENGTH.unpack_from(data))


@dataclass(slots=True)
class WriteRequest:
    """Write (command 3): index group, index offset and the bytes written."""

    index_group: int
    index_offset: int
    data: bytes

    def encode(self) -> bytes:
        return GROUP_OFFSET_LENGTH.pack(self.index_group, self.index_offset, len(self.data)) + self.data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, GROUP_OFFSET_LENGTH.size, "write request")
        group, offset, length = GROUP_OFFSET_LENGTH.unpack_from(data)
        _need(data, GROUP_OFFSET_LENGTH.size + length, "write data")
        return cls(group, offset, bytes(data[12 : 12 + length]))


@dataclass(slots=True)
class ReadWriteRequest:
    """ReadWrite (command 9): index group and offset, bytes to read back, bytes written."""

    index_group: int
    index_offset: int
    read_length: int
    data: bytes

    def encode(self) -> bytes:
        return (
            READ_WRITE.pack(self.index_group, self.index_offset, self.read_length, len(self.data)) + self.data
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, READ_WRITE.size, "read/write request")
        group, offset, read_length, write_length = READ_WRITE.unpack_from(data)
        _need(data, READ_WRITE.size + write_length, "read/write data")
        return cls(group, offset, read_length, bytes(data[16 : 16 + write_length]))


@dataclass(slots=True)
class WriteControlRequest:
    """WriteControl (command 5): the ADS state and device state requested, and optional data."""

    ads_state: int
    device_state: int
    data: bytes = b""

    def encode(self) -> bytes:
        return WRITE_CONTROL.pack(self.ads_state, self.device_state, len(self.data)) + self.data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, WRITE_CONTROL.size, "write control request")
        state, device_state, length = WRITE_CONTROL.unpack_from(data)
        return cls(state, device_state, bytes(data[8 : 8 + length]))


@dataclass(slots=True)
class AddNotificationRequest:
    """AddDeviceNotification (command 6)."""

    index_group: int
    index_offset: int
    length: int
    transmission_mode: int
    max_delay: int
    cycle_time: int

    def encode(self) -> bytes:
        return ADD_NOTIFICATION.pack(
            self.index_group,
            self.index_offset,
            self.length,
            self.transmission_mode,
            self.max_delay,
            self.cycle_time,
            bytes(16),
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, ADD_NOTIFICATION.size, "add device notification request")
        return cls(*ADD_NOTIFICATION.unpack_from(data)[:6])


@dataclass(slots=True)
class ReadResponse:
    """Read and ReadWrite responses: result, then the bytes read."""

    result: int
    data: bytes = b""

    def encode(self) -> bytes:
        return RESULT_LENGTH.pack(self.result, len(self.data)) + self.data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, 4, "read response")
        if len(data) < RESULT_LENGTH.size:
            return cls(U32.unpack_from(data)[0])
        result, length = RESULT_LENGTH.unpack_from(data)
        return cls(result, bytes(data[8 : 8 + length]))


@dataclass(slots=True)
class UdpMessage:
    """One datagram of the TwinCAT UDP service (port 48899): header then ``(tag id, value)`` pairs."""

    service: int  # without the reply bit
    net_id: str
    port: int
    tags: list[tuple[int, bytes]] = field(default_factory=list)
    invoke_id: int = 0
    response: bool = False

    def tag(self, tag: int) -> bytes | None:
        for tid, value in self.tags:
            if tid == tag:
                return value
        return None

    def encode(self) -> bytes:
        service = self.service | (UDP_RESPONSE if self.response else 0)
        out = bytearray(
            UDP_HEADER.pack(
                UDP_MAGIC, self.invoke_id, service, net_id_bytes(self.net_id), self.port, len(self.tags)
            )
        )
        for tid, value in self.tags:
            out += UDP_TAG.pack(tid, len(value)) + value
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, UDP_HEADER.size, "ads udp header")
        magic, invoke, service, net_id, port, count = UDP_HEADER.unpack_from(data)
        if magic != UDP_MAGIC:
            raise AdsDecodeError("not the TwinCAT UDP magic")
        msg = cls(
            service & ~UDP_RESPONSE, net_id_text(net_id), port, [], invoke, bool(service & UDP_RESPONSE)
        )
        pos = UDP_HEADER.size
        for _ in range(min(count, 64)):
            _need(data, pos + UDP_TAG.size, "ads udp tag header")
            tid, length = UDP_TAG.unpack_from(data, pos)
            pos += UDP_TAG.size
            _need(data, pos + length, "ads udp tag value")
            msg.tags.append((tid, bytes(data[pos : pos + length])))
            pos += length
        return msg


def string_tag(value: str) -> bytes:
    return value.encode("latin-1", "replace") + b"\x00"


def identify_request(net_id: str = "0.0.0.0.0.0", port: int = 0, invoke_id: int = 0) -> UdpMessage:
    """The discovery request TwinCAT's "Broadcast Search" and every ADS library send."""
    return UdpMessage(1, net_id, port, [], invoke_id)


PASSWORD_TAG: Final = UdpTag.PASSWORD
