"""BSAP messages: the BSAP/IP datagram (header, request and response bodies, RDB requests) and a BSAP
serial frame carried over IP. Each class ``encode()``s (tests, a future query) and ``decode()``s (the
sensor).

Hand-written with precompiled ``struct.Struct`` because it is the sensor's hot path. All integers are
little-endian. The layout is ICSNPP icsnpp-bsap's (src/bsap-protocol.pac), the only public
description of BSAP/IP:

* BSAP/IP header: header length (u16: 14 or 22), number of messages (u16, 0 in a poll), message
  function (u16: 0x0006/0x0084/0x0086 request, 0x0005/0x0001 response, 0x0000 poll), then
  ``header length - 6`` bytes whose first eight are two sequence numbers (a request: response
  sequence, message sequence; a response: message sequence, response sequence).
* request body: data length (u32), header size (u8), sequence (u32), application function (u8),
  then for RDB (0xA0): node status byte (u8), RDB function (u8) and its data.
* response body: data length (u32), header size (u8), sequence (u32, the request's response
  sequence), response status (u8), number of message elements (u8), data.
* serial frame: DLE STX, address (bit 7 set: a global message), serial number, [destination and
  source address (u16 each), control byte,] destination function, sequence (u16), source function,
  node status byte, data, DLE ETX, CRC (2 bytes, not checked). A DLE inside the frame is sent twice.

ICSNPP logs the data length without interpreting it, so the decoder does not check it either; the
encoder writes the number of body bytes that follow the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct
from typing import Final, Self

from otwatch.protocols.bsap.codes import DLE, SERIAL_END, SERIAL_MARK

IP_HEADER: Final = Struct("<HHH")  # header length, number of messages, message function
SEQUENCES: Final = Struct("<II")
REQUEST_HEADER: Final = Struct("<IBIB")  # data length, header size, sequence, application function
RESPONSE_HEADER: Final = Struct("<IBIBB")  # data length, header size, sequence, status, elements
LOCAL_HEADER: Final = Struct("<BBBHBB")  # address, serial, DFUN, sequence, SFUN, node status
GLOBAL_HEADER: Final = Struct("<BBHHBBHBB")  # address, serial, DADD, SADD, control, DFUN, seq, SFUN, NSB
BASE_HEADER_LENGTH: Final = 14


class BsapDecodeError(ValueError):
    """The bytes are not a valid BSAP message."""


@dataclass(slots=True)
class IpMessage:
    """One BSAP/IP datagram: header and body (the request or response bytes after the header)."""

    function: int
    num_messages: int = 1
    first_sequence: int = 0  # a request's response sequence, a response's message sequence
    second_sequence: int = 0  # a request's message sequence, a response's response sequence
    body: bytes = b""
    header_length: int = BASE_HEADER_LENGTH
    header_rest: bytes = b""  # header bytes after the two sequences (22-byte headers)

    def encode(self) -> bytes:
        rest = self.header_rest.ljust(self.header_length - BASE_HEADER_LENGTH, b"\x00")
        return (IP_HEADER.pack(self.header_length, self.num_messages, self.function)
                + SEQUENCES.pack(self.first_sequence, self.second_sequence) + rest + self.body)  # fmt: skip

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < BASE_HEADER_LENGTH:
            raise BsapDecodeError(f"{len(data)} bytes, a BSAP/IP header needs {BASE_HEADER_LENGTH}")
        length, count, function = IP_HEADER.unpack_from(data)
        if not BASE_HEADER_LENGTH <= length <= len(data):
            raise BsapDecodeError(f"header length {length} out of range for {len(data)} bytes")
        first, second = SEQUENCES.unpack_from(data, 6)
        return cls(
            function,
            count,
            first,
            second,
            bytes(data[length:]),
            length,
            bytes(data[BASE_HEADER_LENGTH:length]),
        )


@dataclass(slots=True)
class IpRequest:
    """A BSAP/IP request body; ``data`` starts after the application function code."""

    app_function: int
    sequence: int
    data: bytes = b""
    header_size: int = 0
    data_length: int | None = None

    def encode(self) -> bytes:
        length = REQUEST_HEADER.size - 4 + len(self.data) if self.data_length is None else self.data_length
        return REQUEST_HEADER.pack(length, self.header_size, self.sequence, self.app_function) + self.data

    @classmethod
    def decode(cls, body: bytes) -> Self:
        if len(body) < REQUEST_HEADER.size:
            raise BsapDecodeError(f"request body: {len(body)} bytes, need {REQUEST_HEADER.size}")
        length, header_size, sequence, app = REQUEST_HEADER.unpack_from(body)
        return cls(app, sequence, bytes(body[REQUEST_HEADER.size :]), header_size, length)


@dataclass(slots=True)
class IpResponse:
    """A BSAP/IP response body; ``sequence`` is the response sequence of the request it answers."""

    sequence: int
    status: int = 0
    elements: int = 0
    data: bytes = b""
    header_size: int = 12
    data_length: int | None = None

    def encode(self) -> bytes:
        length = RESPONSE_HEADER.size - 4 + len(self.data) if self.data_length is None else self.data_length
        return (
            RESPONSE_HEADER.pack(length, self.header_size, self.sequence, self.status, self.elements)
            + self.data
        )

    @classmethod
    def decode(cls, body: bytes) -> Self:
        if len(body) < RESPONSE_HEADER.size:
            raise BsapDecodeError(f"response body: {len(body)} bytes, need {RESPONSE_HEADER.size}")
        length, header_size, sequence, status, elements = RESPONSE_HEADER.unpack_from(body)
        return cls(sequence, status, elements, bytes(body[RESPONSE_HEADER.size :]), header_size, length)


@dataclass(slots=True)
class RdbRequest:
    """RDB (remote database access) request: node status byte (BSAP/IP only), function, data."""

    function: int
    data: bytes = b""
    node_status: int = 0

    def encode(self) -> bytes:
        return bytes((self.node_status, self.function)) + self.data

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < 2:
            raise BsapDecodeError("RDB request without node status and function")
        return cls(data[1], bytes(data[2:]), data[0])


def names_request(function: int, names: list[str], node_status: int = 0) -> RdbRequest:
    """An RDB read or write by name as ICSNPP reads it: four bytes, the count, then each name with its
    terminating NUL (the parser skips to each '@')."""
    body = bytes(4) + bytes((len(names),)) + b"".join(n.encode("latin-1") + b"\x00" for n in names)
    return RdbRequest(function, body, node_status)


def rdb_names(data: bytes, count_at: int = 4) -> tuple[int, list[str]]:
    """The count and the '@'-names of an RDB by-name request (ICSNPP's reading: the count at byte 4,
    then each name from the next '@' to its NUL)."""
    if len(data) <= count_at:
        raise BsapDecodeError("by-name request without its count")
    count = data[count_at]
    names: list[str] = []
    at = count_at + 1
    for _ in range(count):
        start = data.find(b"@", at)
        if start < 0:
            break
        end = data.find(b"\x00", start)
        end = len(data) if end < 0 else end
        names.append(data[start:end].decode("latin-1"))
        at = end + 1
    return count, names


@dataclass(slots=True)
class SerialFrame:
    """A BSAP serial message between DLE STX and DLE ETX (the trailing CRC is kept, not checked)."""

    address: int
    serial: int
    dfun: int
    sequence: int
    sfun: int
    node_status: int
    data: bytes = b""
    destination: int | None = None  # global messages (address bit 7): DADD, SADD, control byte
    source: int | None = None
    control: int | None = None
    crc: bytes = b"\x00\x00"

    @property
    def is_global(self) -> bool:
        return bool(self.address & 0x80)

    def encode(self) -> bytes:
        if self.is_global:
            head = GLOBAL_HEADER.pack(self.address, self.serial, self.destination or 0, self.source or 0,
                                      self.control or 0, self.dfun, self.sequence, self.sfun, self.node_status)  # fmt: skip
        else:
            head = LOCAL_HEADER.pack(
                self.address, self.serial, self.dfun, self.sequence, self.sfun, self.node_status
            )
        inner = (head + self.data).replace(bytes((DLE,)), bytes((DLE, DLE)))
        return SERIAL_MARK + inner + SERIAL_END + self.crc

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if data[:2] != SERIAL_MARK:
            raise BsapDecodeError("no DLE STX")
        inner = bytearray()
        i, end = 2, len(data)
        while i < end:
            byte = data[i]
            if byte == DLE:
                if i + 1 >= end:
                    raise BsapDecodeError("frame cut after a DLE")
                following = data[i + 1]
                if following == DLE:
                    inner.append(DLE)
                    i += 2
                    continue
                if following == SERIAL_END[1]:
                    break
                raise BsapDecodeError(f"DLE followed by 0x{following:02X} inside the frame")
            inner.append(byte)
            i += 1
        else:
            raise BsapDecodeError("no DLE ETX")
        crc = bytes(data[i + 2 : i + 4])
        if len(inner) < LOCAL_HEADER.size:
            raise BsapDecodeError(f"serial header: {len(inner)} bytes")
        if inner[0] & 0x80:
            if len(inner) < GLOBAL_HEADER.size:
                raise BsapDecodeError(f"global serial header: {len(inner)} bytes, need {GLOBAL_HEADER.size}")
            addr, ser, dadd, sadd, ctl, dfun, seq, sfun, nsb = GLOBAL_HEADER.unpack_from(inner)
            return cls(
                addr, ser, dfun, seq, sfun, nsb, bytes(inner[GLOBAL_HEADER.size :]), dadd, sadd, ctl, crc
            )
        addr, ser, dfun, seq, sfun, nsb = LOCAL_HEADER.unpack_from(inner)
        return cls(addr, ser, dfun, seq, sfun, nsb, bytes(inner[LOCAL_HEADER.size :]), crc=crc)
