"""Modbus/TCP messages: each class both ``encode()``s (what the agent sends) and ``decode()``s (what the
sensor reads), so both sides share one definition of the wire format.

``decode`` raises :class:`ModbusDecodeError` on out-of-spec bytes; the dissector turns that into a
malformed record, the query code into "no answer".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from struct import Struct
from typing import ClassVar, Self

from otwatch.protocols.modbus.codes import (
    EXCEPTION_BIT,
    MEI_READ_DEVICE_ID,
    FunctionCode,
)

MBAP = Struct(">HHHB")  # transaction id, protocol id, length (unit id + PDU), unit id
MBAP_SIZE = MBAP.size
MAX_PDU = 253
_ADDR_QTY = Struct(">HH")
_ADDR_QTY_COUNT = Struct(">HHB")
_RW_MULTI = Struct(">HHHHB")
_MASK = Struct(">HHH")
_FIFO_RSP = Struct(">HH")


class ModbusDecodeError(ValueError):
    """The bytes are not a valid Modbus message of the expected kind."""


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise ModbusDecodeError(f"{what}: {len(data)} bytes, need {size}")


def unpack_bits(data: bytes, count: int) -> list[int]:
    """Coil/discrete bits, least significant bit of the first byte first."""
    return [(data[i >> 3] >> (i & 7)) & 1 for i in range(min(count, len(data) * 8))]


def pack_bits(bits: list[int]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def unpack_registers(data: bytes) -> list[int]:
    """Big-endian 16-bit registers (an odd trailing byte is ignored); one struct call, since the
    sensor unpacks every read response."""
    count = len(data) // 2
    return list(struct.unpack_from(f">{count}H", data)) if count else []


def pack_registers(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


@dataclass(slots=True)
class Frame:
    """One Modbus/TCP ADU: MBAP header and the PDU (function code first)."""

    tid: int
    unit: int
    pdu: bytes
    protocol_id: int = 0

    @property
    def function(self) -> int:
        return self.pdu[0] if self.pdu else -1

    def encode(self) -> bytes:
        return MBAP.pack(self.tid, self.protocol_id, len(self.pdu) + 1, self.unit) + self.pdu

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _need(data, MBAP_SIZE + 1, "mbap frame")
        tid, pid, length, unit = MBAP.unpack_from(data)
        if pid != 0 or not 2 <= length <= MAX_PDU + 1 or len(data) < 6 + length:
            raise ModbusDecodeError(f"bad mbap header (protocol {pid}, length {length})")
        return cls(tid, unit, bytes(data[MBAP_SIZE : 6 + length]), pid)


@dataclass(slots=True)
class ReadRequest:
    """FC 1-4: read coils, discrete inputs, holding or input registers."""

    function: int
    address: int
    quantity: int

    def encode(self) -> bytes:
        return bytes((self.function,)) + _ADDR_QTY.pack(self.address, self.quantity)

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 5, "read request")
        return cls(pdu[0], *_ADDR_QTY.unpack_from(pdu, 1))


@dataclass(slots=True)
class ReadResponse:
    """FC 1-4 (and 23) reply: a byte count then packed bits or registers."""

    function: int
    data: bytes

    def encode(self) -> bytes:
        return bytes((self.function, len(self.data))) + self.data

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 2, "read response")
        count = pdu[1]
        _need(pdu, 2 + count, "read response data")
        return cls(pdu[0], bytes(pdu[2 : 2 + count]))

    def bits(self, quantity: int) -> list[int]:
        return unpack_bits(self.data, quantity)

    def registers(self) -> list[int]:
        return unpack_registers(self.data)


@dataclass(slots=True)
class WriteSingle:
    """FC 5/6 request and its echo reply. A coil is written as 0xFF00 (on) or 0x0000 (off)."""

    function: int
    address: int
    value: int

    def encode(self) -> bytes:
        return bytes((self.function,)) + _ADDR_QTY.pack(self.address, self.value)

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 5, "write single")
        return cls(pdu[0], *_ADDR_QTY.unpack_from(pdu, 1))

    @property
    def logical_value(self) -> int:
        if self.function == FunctionCode.WRITE_SINGLE_COIL:
            return 1 if self.value == 0xFF00 else 0
        return self.value


@dataclass(slots=True)
class WriteMultipleRequest:
    """FC 15/16: address, quantity and the packed coils or registers to write."""

    function: int
    address: int
    values: list[int]

    def encode(self) -> bytes:
        if self.function == FunctionCode.WRITE_MULTIPLE_COILS:
            data = pack_bits(self.values)
        else:
            data = pack_registers(self.values)
        return (
            bytes((self.function,)) + _ADDR_QTY_COUNT.pack(self.address, len(self.values), len(data)) + data
        )

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 6, "write multiple request")
        address, quantity, count = _ADDR_QTY_COUNT.unpack_from(pdu, 1)
        data = bytes(pdu[6 : 6 + count])
        _need(data, count, "write multiple data")
        if pdu[0] == FunctionCode.WRITE_MULTIPLE_COILS:
            return cls(pdu[0], address, unpack_bits(data, quantity))
        return cls(pdu[0], address, unpack_registers(data)[:quantity])


@dataclass(slots=True)
class WriteMultipleResponse:
    """FC 15/16 reply: address and quantity written."""

    function: int
    address: int
    quantity: int

    def encode(self) -> bytes:
        return bytes((self.function,)) + _ADDR_QTY.pack(self.address, self.quantity)

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 5, "write multiple response")
        return cls(pdu[0], *_ADDR_QTY.unpack_from(pdu, 1))


@dataclass(slots=True)
class MaskWriteRegister:
    """FC 22 request and its echo reply."""

    function: ClassVar[int] = FunctionCode.MASK_WRITE_REGISTER
    address: int
    and_mask: int
    or_mask: int

    def encode(self) -> bytes:
        return bytes((self.function,)) + _MASK.pack(self.address, self.and_mask, self.or_mask)

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 7, "mask write register")
        return cls(*_MASK.unpack_from(pdu, 1))


@dataclass(slots=True)
class ReadWriteMultipleRequest:
    """FC 23: write registers then read registers in one transaction."""

    function: ClassVar[int] = FunctionCode.READ_WRITE_MULTIPLE_REGISTERS
    read_address: int
    read_quantity: int
    write_address: int
    write_values: list[int]

    def encode(self) -> bytes:
        data = pack_registers(self.write_values)
        head = _RW_MULTI.pack(
            self.read_address, self.read_quantity, self.write_address, len(self.write_values), len(data)
        )
        return bytes((self.function,)) + head + data

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 10, "read/write multiple request")
        raddr, rqty, waddr, wqty, count = _RW_MULTI.unpack_from(pdu, 1)
        data = bytes(pdu[10 : 10 + count])
        _need(data, count, "read/write multiple data")
        return cls(raddr, rqty, waddr, unpack_registers(data)[:wqty])


@dataclass(slots=True)
class ReadFifoRequest:
    function: ClassVar[int] = FunctionCode.READ_FIFO_QUEUE
    address: int

    def encode(self) -> bytes:
        return bytes((self.function,)) + self.address.to_bytes(2, "big")

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 3, "read fifo request")
        return cls(int.from_bytes(pdu[1:3], "big"))


@dataclass(slots=True)
class ReadFifoResponse:
    function: ClassVar[int] = FunctionCode.READ_FIFO_QUEUE
    values: list[int]

    def encode(self) -> bytes:
        data = pack_registers(self.values)
        return bytes((self.function,)) + _FIFO_RSP.pack(len(data) + 2, len(self.values)) + data

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 5, "read fifo response")
        _byte_count, count = _FIFO_RSP.unpack_from(pdu, 1)
        data = bytes(pdu[5 : 5 + 2 * count])
        _need(data, 2 * count, "read fifo data")
        return cls(unpack_registers(data))


@dataclass(slots=True)
class Diagnostics:
    """FC 08 request or echo reply. The agent never sends it (sub-function 04 silences devices)."""

    function: ClassVar[int] = FunctionCode.DIAGNOSTICS
    subfunction: int
    data: bytes

    def encode(self) -> bytes:
        return bytes((self.function,)) + self.subfunction.to_bytes(2, "big") + self.data

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 3, "diagnostics")
        return cls(int.from_bytes(pdu[1:3], "big"), bytes(pdu[3:]))


@dataclass(slots=True)
class ExceptionResponse:
    """A reply whose function code has the 0x80 bit set, carrying one exception code."""

    function: int  # the original function code, without the exception bit
    exception_code: int

    def encode(self) -> bytes:
        return bytes((self.function | EXCEPTION_BIT, self.exception_code))

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 2, "exception response")
        return cls(pdu[0] & ~EXCEPTION_BIT, pdu[1])


@dataclass(slots=True)
class ReadDeviceIdRequest:
    """FC 43 / MEI 14: ask for identification objects starting at ``object_id``."""

    function: ClassVar[int] = FunctionCode.ENCAP_INTERFACE_TRANSPORT
    read_code: int
    object_id: int = 0

    def encode(self) -> bytes:
        return bytes((self.function, MEI_READ_DEVICE_ID, self.read_code, self.object_id))

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 4, "read device id request")
        if pdu[1] != MEI_READ_DEVICE_ID:
            raise ModbusDecodeError(f"mei type {pdu[1]} is not read device identification")
        return cls(pdu[2], pdu[3])


@dataclass(slots=True)
class ReadDeviceIdResponse:
    """FC 43 / MEI 14 reply: a list of (object id, value) plus paging (more follows, next object)."""

    function: ClassVar[int] = FunctionCode.ENCAP_INTERFACE_TRANSPORT
    read_code: int
    conformity: int
    more_follows: bool
    next_object_id: int
    objects: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        out = bytearray(
            (
                self.function,
                MEI_READ_DEVICE_ID,
                self.read_code,
                self.conformity,
                0xFF if self.more_follows else 0,
                self.next_object_id,
                len(self.objects),
            )
        )
        for oid, value in self.objects.items():
            out += bytes((oid, len(value))) + value
        return bytes(out)

    @classmethod
    def decode(cls, pdu: bytes) -> Self:
        _need(pdu, 7, "read device id response")
        if pdu[1] != MEI_READ_DEVICE_ID:
            raise ModbusDecodeError(f"mei type {pdu[1]} is not read device identification")
        msg = cls(pdu[2], pdu[3], pdu[4] == 0xFF, pdu[5])
        pos = 7
        for _ in range(pdu[6]):
            _need(pdu, pos + 2, "device id object header")
            oid, size = pdu[pos], pdu[pos + 1]
            _need(pdu, pos + 2 + size, "device id object value")
            msg.objects[oid] = bytes(pdu[pos + 2 : pos + 2 + size])
            pos += 2 + size
        return msg


Message = (
    ReadRequest
    | ReadResponse
    | WriteSingle
    | WriteMultipleRequest
    | WriteMultipleResponse
    | MaskWriteRegister
    | ReadWriteMultipleRequest
    | ReadFifoRequest
    | ReadFifoResponse
    | Diagnostics
    | ExceptionResponse
    | ReadDeviceIdRequest
    | ReadDeviceIdResponse
)

_READS = (1, 2, 3, 4)
_REQUESTS: dict[int, type[Message]] = {
    **dict.fromkeys(_READS, ReadRequest),
    5: WriteSingle,
    6: WriteSingle,
    8: Diagnostics,
    15: WriteMultipleRequest,
    16: WriteMultipleRequest,
    22: MaskWriteRegister,
    23: ReadWriteMultipleRequest,
    24: ReadFifoRequest,
    43: ReadDeviceIdRequest,
}
_RESPONSES: dict[int, type[Message]] = {
    **dict.fromkeys(_READS, ReadResponse),
    5: WriteSingle,
    6: WriteSingle,
    8: Diagnostics,
    15: WriteMultipleResponse,
    16: WriteMultipleResponse,
    22: MaskWriteRegister,
    23: ReadResponse,
    24: ReadFifoResponse,
    43: ReadDeviceIdResponse,
}


def decode_pdu(pdu: bytes, is_request: bool) -> Message | None:
    """Decode a PDU into its message class; ``None`` for codes with no structured decoding here."""
    if not pdu:
        raise ModbusDecodeError("empty pdu")
    if not is_request and pdu[0] & EXCEPTION_BIT:
        return ExceptionResponse.decode(pdu)
    cls = (_REQUESTS if is_request else _RESPONSES).get(pdu[0])
    if cls is None:
        return None
    if pdu[0] == FunctionCode.ENCAP_INTERFACE_TRANSPORT and len(pdu) > 1 and pdu[1] != MEI_READ_DEVICE_ID:
        return None  # CANopen and other MEI types: reported by name only
    return cls.decode(pdu)
