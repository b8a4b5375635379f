"""EtherNet/IP encapsulation, common packet format and CIP messages (encode for the agent, decode for the sensor).

Hand-written with precompiled little-endian ``struct.Struct`` layouts: the sensor decodes every
EtherNet/IP packet, including cyclic class-1 I/O at millisecond rates. ``decode`` raises one of
``DECODE_ERRORS`` on out-of-spec bytes; the dissector turns that into ``Record.malformed``.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Final

from otwatch.protocols.enip import codes

Buffer = bytes | bytearray | memoryview
# What decoding out-of-spec bytes may raise: short buffers fail in struct or indexing, bad values here.
DECODE_ERRORS: Final = (ValueError, IndexError, struct.error)

ENCAP: Final = struct.Struct("<HHII8sI")  # command, length, session, status, sender context, options
ITEM_HEAD: Final = struct.Struct("<HH")  # type id, length
RR_HEAD: Final = struct.Struct("<IH")  # interface handle, timeout
IDENTITY_HEAD: Final = struct.Struct("<H")  # encapsulation protocol version
SOCKADDR: Final = struct.Struct(">HH4s8s")  # family, port, address, zero (big-endian on the wire)
IDENTITY_BODY: Final = struct.Struct("<HHHBBHI")  # vendor, type, product, major, minor, status, serial
U16: Final = struct.Struct("<H")
U32: Final = struct.Struct("<I")


@dataclass(slots=True)
class Encapsulation:
    """The 24-byte encapsulation header and the command-specific data that follows it."""

    command: int
    data: bytes = b""
    session: int = 0
    status: int = 0
    sender_context: bytes = bytes(8)
    options: int = 0

    def encode(self) -> bytes:
        return (
            ENCAP.pack(
                self.command, len(self.data), self.session, self.status, self.sender_context, self.options
            )
            + self.data
        )

    @classmethod
    def decode(cls, buf: Buffer) -> Encapsulation:
        command, length, session, status, context, options = ENCAP.unpack_from(buf, 0)
        data = bytes(buf[ENCAP.size : ENCAP.size + length])
        if len(data) != length:
            raise ValueError("encapsulation length runs past the message")
        return cls(command, data, session, status, context, options)


@dataclass(slots=True)
class CpfItem:
    type_id: int
    data: bytes = b""

    def encode(self) -> bytes:
        return ITEM_HEAD.pack(self.type_id, len(self.data)) + self.data


def encode_cpf(items: list[CpfItem]) -> bytes:
    return U16.pack(len(items)) + b"".join(item.encode() for item in items)


def decode_cpf(buf: Buffer, offset: int = 0) -> list[CpfItem]:
    """Common packet format: item count, then (type, length, data) items."""
    (count,) = U16.unpack_from(buf, offset)
    pos = offset + U16.size
    items: list[CpfItem] = []
    for _ in range(count):
        type_id, length = ITEM_HEAD.unpack_from(buf, pos)
        pos += ITEM_HEAD.size
        data = bytes(buf[pos : pos + length])
        if len(data) != length:
            raise ValueError("CPF item runs past the message")
        items.append(CpfItem(type_id, data))
        pos += length
    return items


@dataclass(slots=True)
class SendRRData:
    """Send RR Data / Send Unit Data body: interface handle, timeout, CPF items."""

    items: list[CpfItem]
    timeout: int = 0

    def encode(self) -> bytes:
        return RR_HEAD.pack(0, self.timeout) + encode_cpf(self.items)

    @classmethod
    def decode(cls, buf: Buffer) -> SendRRData:
        _, timeout = RR_HEAD.unpack_from(buf, 0)
        return cls(decode_cpf(buf, RR_HEAD.size), timeout)


@dataclass(slots=True, frozen=True)
class Path:
    """The logical part of a CIP request path: class, instance, attribute (and a symbol, if any)."""

    class_id: int | None = None
    instance_id: int | None = None
    attribute_id: int | None = None
    symbol: str | None = None

    def encode(self) -> bytes:
        out = b""
        if self.symbol is not None:
            name = self.symbol.encode("latin-1")
            out += bytes((0x91, len(name))) + name + (b"\x00" if len(name) & 1 else b"")
        for seg8, value in ((0x20, self.class_id), (0x24, self.instance_id), (0x30, self.attribute_id)):
            if value is None:
                continue
            if value <= 0xFF:
                out += bytes((seg8, value))
            else:
                out += bytes((seg8 | 1, 0)) + U16.pack(value)
        return out

    @classmethod
    def decode(cls, buf: Buffer) -> Path:
        values: dict[int, int] = {}
        symbol = None
        pos = 0
        while pos < len(buf):
            seg = buf[pos]
            kind = seg & 0xFC
            if seg == 0x91:  # ANSI extended symbolic segment, padded to even length
                size = buf[pos + 1]
                symbol = bytes(buf[pos + 2 : pos + 2 + size]).decode("latin-1")
                pos += 2 + size + (size & 1)
            elif seg >> 5 == 1:  # logical segment
                fmt = seg & 0x03
                if fmt == 0:
                    value, pos = buf[pos + 1], pos + 2
                elif fmt == 1:
                    value, pos = U16.unpack_from(buf, pos + 2)[0], pos + 4
                elif fmt == 2:
                    value, pos = U32.unpack_from(buf, pos + 2)[0], pos + 6
                else:
                    raise ValueError("reserved logical segment format")
                values.setdefault(kind, value)
            elif seg >> 5 == 0:  # port segment: routing, not addressing
                if seg & 0x10:  # extended link address: size byte, address, pad to even
                    size = buf[pos + 1]
                    pos += 2 + size + (size & 1)
                else:
                    pos += 2
            else:
                break
        return cls(values.get(0x20), values.get(0x24), values.get(0x30) or values.get(0x2C), symbol)


@dataclass(slots=True)
class CipRequest:
    service: int
    path: Path = field(default_factory=Path)
    data: bytes = b""

    def encode(self) -> bytes:
        raw_path = self.path.encode()
        return bytes((self.service, len(raw_path) // 2)) + raw_path + self.data

    @classmethod
    def decode(cls, buf: Buffer) -> CipRequest:
        if len(buf) < 2:
            raise ValueError("CIP request too short")
        size = buf[1] * 2
        if 2 + size > len(buf):
            raise ValueError("CIP path runs past the request")
        return cls(buf[0], Path.decode(buf[2 : 2 + size]), bytes(buf[2 + size :]))


@dataclass(slots=True)
class CipResponse:
    service: int  # without the 0x80 reply bit
    status: int = 0
    extended_status: list[int] = field(default_factory=list)
    data: bytes = b""

    def encode(self) -> bytes:
        ext = b"".join(U16.pack(v) for v in self.extended_status)
        return bytes((self.service | 0x80, 0, self.status, len(self.extended_status))) + ext + self.data

    @classmethod
    def decode(cls, buf: Buffer) -> CipResponse:
        if len(buf) < 4 or not buf[0] & 0x80:
            raise ValueError("not a CIP response")
        words = buf[3]
        if 4 + 2 * words > len(buf):
            raise ValueError("CIP additional status runs past the response")
        ext = [U16.unpack_from(buf, 4 + 2 * i)[0] for i in range(words)]
        return cls(buf[0] & 0x7F, buf[2], ext, bytes(buf[4 + 2 * words :]))


def split_multiple_service(data: Buffer) -> list[bytes]:
    """Embedded services of a Multiple Service Packet (count, offsets, then the services)."""
    (count,) = U16.unpack_from(data, 0)
    offsets = [U16.unpack_from(data, 2 + 2 * i)[0] for i in range(count)]
    out = []
    for i, start in enumerate(offsets):
        end = offsets[i + 1] if i + 1 < count else len(data)
        if not 2 + 2 * count <= start <= end <= len(data):
            raise ValueError("Multiple Service Packet offset out of range")
        out.append(bytes(data[start:end]))
    return out


@dataclass(slots=True)
class IdentityInfo:
    """Identity object attributes 1-7, as List Identity and Get_Attributes_All on class 1 carry them."""

    vendor_id: int
    device_type: int
    product_code: int
    revision_major: int
    revision_minor: int
    status: int
    serial: int
    product_name: str
    state: int | None = None
    encapsulation_version: int | None = None
    socket_address: str | None = None
    socket_port: int | None = None

    def encode_attributes(self) -> bytes:
        name = self.product_name.encode("latin-1")
        body = IDENTITY_BODY.pack(
            self.vendor_id,
            self.device_type,
            self.product_code,
            self.revision_major,
            self.revision_minor,
            self.status,
            self.serial,
        )
        return body + bytes((len(name),)) + name + (bytes((self.state,)) if self.state is not None else b"")

    def encode_list_identity_item(self) -> bytes:
        addr = ipaddress.IPv4Address(self.socket_address or "0.0.0.0").packed
        sock = SOCKADDR.pack(2, self.socket_port or 0, addr, bytes(8))
        version = IDENTITY_HEAD.pack(self.encapsulation_version or 1)
        return CpfItem(codes.ITEM_LIST_IDENTITY, version + sock + self.encode_attributes()).encode()

    @classmethod
    def decode_attributes(cls, buf: Buffer, offset: int = 0) -> IdentityInfo:
        vendor, dtype, product, major, minor, status, serial = IDENTITY_BODY.unpack_from(buf, offset)
        pos = offset + IDENTITY_BODY.size
        size = buf[pos]
        name = bytes(buf[pos + 1 : pos + 1 + size])
        if len(name) != size:
            raise ValueError("product name runs past the message")
        state_pos = pos + 1 + size
        state = buf[state_pos] if state_pos < len(buf) else None
        return cls(vendor, dtype, product, major, minor, status, serial, name.decode("latin-1"), state)

    @classmethod
    def decode_list_identity_item(cls, data: Buffer) -> IdentityInfo:
        (version,) = IDENTITY_HEAD.unpack_from(data, 0)
        _, port, addr, _ = SOCKADDR.unpack_from(data, IDENTITY_HEAD.size)
        info = cls.decode_attributes(data, IDENTITY_HEAD.size + SOCKADDR.size)
        info.encapsulation_version = version
        info.socket_address = str(ipaddress.IPv4Address(addr))
        info.socket_port = port
        return info

    def as_fields(self) -> dict[str, object]:
        out: dict[str, object] = {
            "vendor_id": self.vendor_id,
            "vendor_name": codes.VENDOR_NAMES.get(self.vendor_id, f"Unknown Vendor-{self.vendor_id}"),
            "device_type_id": self.device_type,
            "device_type_name": codes.DEVICE_TYPE_NAMES.get(self.device_type, "unknown"),
            "product_code": self.product_code,
            "revision": f"{self.revision_major}.{self.revision_minor}",
            "device_status": f"0x{self.status:04x}",
            "serial_number": f"0x{self.serial:08x}",
            "product_name": self.product_name,
        }
        if self.state is not None:
            out["device_state"] = f"0x{self.state:04x}"
            out["device_state_name"] = codes.STATE_NAMES.get(self.state, "unknown")
        if self.encapsulation_version is not None:
            out["encapsulation_version"] = self.encapsulation_version
            out["socket_address"] = self.socket_address
            out["socket_port"] = self.socket_port
        return out


def list_identity_request(sender_context: bytes = bytes(8)) -> bytes:
    return Encapsulation(codes.CMD_LIST_IDENTITY, sender_context=sender_context).encode()


def register_session_request() -> bytes:
    """Register Session: protocol version 1, no options."""
    return Encapsulation(codes.CMD_REGISTER_SESSION, struct.pack("<HH", 1, 0)).encode()


def unconnected_request(session: int, request: CipRequest, sender_context: bytes = bytes(8)) -> bytes:
    """A CIP request sent unconnected (Send RR Data, null address item + unconnected data item)."""
    body = SendRRData([CpfItem(codes.ITEM_NULL), CpfItem(codes.ITEM_UNCONNECTED_DATA, request.encode())])
    return Encapsulation(
        codes.CMD_SEND_RR_DATA, body.encode(), session, sender_context=sender_context
    ).encode()


#: Unconnected Send timing: a 1,024 ms tick (2**10) times 2 ticks, so a module that does not answer
#: costs the router about 2 s, no more than the scan's response timeout
UNCONNECTED_SEND_TICK: Final = 0x0A
UNCONNECTED_SEND_TICKS: Final = 0x02
BACKPLANE_PORT: Final = 1


def unconnected_send(request: CipRequest, slot: int, port: int = BACKPLANE_PORT) -> CipRequest:
    """``request`` wrapped in the Connection Manager's Unconnected Send (CIP Vol. 1, 3-5.6), routed
    through ``port`` (1: the backplane) to the module in ``slot``: priority/tick, timeout ticks, the
    embedded request's size and bytes (padded to even), then the route path (one port segment)."""
    if not 0 <= slot <= 0xFF or not 0 < port < 0x0F:
        raise ValueError(f"no route to port {port}, slot {slot}")
    embedded = request.encode()
    data = (
        bytes((UNCONNECTED_SEND_TICK, UNCONNECTED_SEND_TICKS))
        + U16.pack(len(embedded))
        + embedded
        + (b"\x00" if len(embedded) & 1 else b"")
        + bytes((1, 0, port, slot))  # route path: 1 word, reserved, port segment (port, link = slot)
    )
    return CipRequest(
        codes.SVC_UNCONNECTED_SEND, Path(class_id=codes.CLASS_CONNECTION_MANAGER, instance_id=1), data
    )
