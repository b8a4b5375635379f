"""BACnet/IP messages: BVLC, NPDU, APDU and the tagged encoding of the services OTWatch reads.

Hand-written over ``memoryview``/``struct`` because the passive sensor decodes every BACnet datagram on
busy building networks, and so the agent sends exactly the bytes listed here. ``decode`` raises one of
``DECODE_ERRORS`` on out-of-spec bytes; the dissector turns that into ``Record.malformed``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Final

from otwatch.protocols.bacnet import codes

Buffer = bytes | bytearray | memoryview
# What decoding out-of-spec bytes may raise: short buffers fail in struct or indexing, bad values here.
DECODE_ERRORS: Final = (ValueError, IndexError, struct.error)

BVLC_HEAD: Final = struct.Struct(">BBH")  # type 0x81, function, length (header included)
U16: Final = struct.Struct(">H")
U32: Final = struct.Struct(">I")
F32: Final = struct.Struct(">f")
F64: Final = struct.Struct(">d")


# --- tags -------------------------------------------------------------------------------------------


class Tag:
    """One tag header: number, class (context or application), length/value/type and where data starts.

    A hand-written slotted class rather than a frozen dataclass: the sensor reads several tags per
    BACnet datagram, a frozen dataclass's ``__init__`` pays an ``object.__setattr__`` per field, and
    ``end`` (the first byte after the data) is computed once here instead of on every access.
    """

    __slots__ = ("closing", "context", "end", "lvt", "number", "opening", "start")

    def __init__(
        self, number: int, context: bool, lvt: int, start: int, opening: bool = False, closing: bool = False
    ) -> None:
        self.number = number
        self.context = context
        self.lvt = lvt  # length, or boolean value for application booleans
        self.start = start  # first data byte
        self.opening = opening
        self.closing = closing
        if opening or closing or (not context and number == codes.TAG_BOOLEAN):
            self.end = start
        else:
            self.end = start + lvt

    def _fields(self) -> tuple[int, bool, int, int, bool, bool]:
        return (self.number, self.context, self.lvt, self.start, self.opening, self.closing)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tag) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"Tag(number={self.number!r}, context={self.context!r}, lvt={self.lvt!r}, start={self.start!r}, "
            f"opening={self.opening!r}, closing={self.closing!r})"
        )


def read_tag(buf: Buffer, pos: int) -> Tag:
    first = buf[pos]
    pos += 1
    number = first >> 4
    if number == 0x0F:
        number = buf[pos]
        pos += 1
    context = bool(first & 0x08)
    lvt = first & 0x07
    if context and lvt == 6:
        return Tag(number, True, 0, pos, opening=True)
    if context and lvt == 7:
        return Tag(number, True, 0, pos, closing=True)
    if lvt == 5:
        lvt = buf[pos]
        pos += 1
        if lvt == 254:
            (lvt,) = U16.unpack_from(buf, pos)
            pos += 2
        elif lvt == 255:
            (lvt,) = U32.unpack_from(buf, pos)
            pos += 4
    tag = Tag(number, context, lvt, pos)
    if tag.end > len(buf):
        raise ValueError("tag data runs past the APDU")
    return tag


def encode_tag(number: int, context: bool, length: int) -> bytes:
    head = bytearray((((number if number < 15 else 15) << 4) | (0x08 if context else 0),))
    if number >= 15:
        head.append(number)
    if length < 5:
        head[0] |= length
    else:
        head[0] |= 5
        if length < 254:
            head.append(length)
        elif length < 65536:
            head += b"\xfe" + U16.pack(length)
        else:
            head += b"\xff" + U32.pack(length)
    return bytes(head)


def opening(number: int) -> bytes:
    return bytes(((number << 4) | 0x0E,))


def closing(number: int) -> bytes:
    return bytes(((number << 4) | 0x0F,))


def _uint_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def encode_unsigned(number: int, value: int, context: bool = True) -> bytes:
    raw = _uint_bytes(value)
    return encode_tag(number, context, len(raw)) + raw


def encode_object_id(number: int, object_type: int, instance: int, context: bool = True) -> bytes:
    return encode_tag(number, context, 4) + U32.pack((object_type << 22) | (instance & 0x3FFFFF))


def encode_character_string(
    value: str, number: int = codes.TAG_CHARACTER_STRING, context: bool = False
) -> bytes:
    raw = b"\x00" + value.encode("utf-8")
    return encode_tag(number, context, len(raw)) + raw


def decode_unsigned(data: Buffer) -> int:
    return int.from_bytes(data, "big")


def decode_object_id(data: Buffer) -> tuple[int, int]:
    (raw,) = U32.unpack_from(data, 0)
    return raw >> 22, raw & 0x3FFFFF


def object_type_name(object_type: int) -> str:
    name = codes.OBJECT_TYPE_NAMES.get(object_type)
    if name is not None:
        return name
    return f"Vendor Specific ({object_type})" if object_type >= 128 else f"unknown ({object_type})"


def property_name(prop: int) -> str:
    name = codes.PROPERTY_NAMES.get(prop)
    if name is not None:
        return name
    return f"Vendor Specific ({prop})" if prop >= 512 else f"unknown ({prop})"


def decode_application(tag: Tag, data: Buffer) -> Any:
    """An application-tagged primitive as a Python value (object ids as ``(type name, instance)``)."""
    n = tag.number
    if n == codes.TAG_NULL:
        return None
    if n == codes.TAG_BOOLEAN:
        return bool(tag.lvt)
    if n in (codes.TAG_UNSIGNED, codes.TAG_ENUMERATED):
        return decode_unsigned(data)
    if n == codes.TAG_SIGNED:
        return int.from_bytes(data, "big", signed=True)
    if n == codes.TAG_REAL:
        return F32.unpack_from(data)[0]
    if n == codes.TAG_DOUBLE:
        return F64.unpack_from(data)[0]
    if n == codes.TAG_OCTET_STRING:
        return bytes(data).hex()
    if n == codes.TAG_CHARACTER_STRING:
        if not data:
            return ""
        codec = codes.CHARSET_CODECS.get(data[0], "latin-1")
        return bytes(data[1:]).decode(codec, errors="replace")
    if n == codes.TAG_BIT_STRING:
        if not data:
            return ""
        bits = "".join(f"{b:08b}" for b in bytes(data[1:]))
        return bits[: max(0, len(bits) - data[0])]
    if n == codes.TAG_OBJECT_ID:
        object_type, instance = decode_object_id(data)
        return (object_type_name(object_type), instance)
    return bytes(data).hex()  # date, time and reserved tags: raw


def decode_values(buf: Buffer, pos: int, closing_tag: int) -> tuple[list[Any], int]:
    """Application values up to the matching closing tag; constructed (context) data is skipped."""
    values: list[Any] = []
    depth = 0
    while pos < len(buf):
        tag = read_tag(buf, pos)
        if tag.closing:
            if depth == 0 and tag.number == closing_tag:
                return values, tag.start
            depth -= 1
        elif tag.opening:
            depth += 1
        elif not tag.context:
            values.append(decode_application(tag, buf[tag.start : tag.end]))
        pos = tag.end
    raise ValueError("missing closing tag")


# --- BVLC / NPDU ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Bvlc:
    """BACnet Virtual Link Control header (Annex J) and the NPDU it carries."""

    function: int
    npdu: bytes = b""
    original_source: bytes | None = None  # Forwarded-NPDU: B/IP address of the originator
    declared_length: int | None = None  # the header's length when it disagrees with the datagram

    def encode(self) -> bytes:
        body = (self.original_source or b"") + self.npdu
        return BVLC_HEAD.pack(codes.BVLC_TYPE_BACNET_IP, self.function, BVLC_HEAD.size + len(body)) + body

    @classmethod
    def decode(cls, buf: Buffer) -> Bvlc:
        kind, function, length = BVLC_HEAD.unpack_from(buf, 0)
        if kind != codes.BVLC_TYPE_BACNET_IP:
            raise ValueError(f"not BACnet/IP: BVLC type 0x{kind:02x}")
        if length < BVLC_HEAD.size:
            raise ValueError("BVLC length shorter than its header")
        declared = None
        if length != len(buf):  # some stacks miscount; the datagram boundary is authoritative
            declared, length = length, len(buf)
        offset = codes.BVLC_NPDU_OFFSET.get(function)
        if offset is None:
            return cls(function, declared_length=declared)
        source = bytes(buf[4:10]) if function == codes.BVLC_FORWARDED_NPDU else None
        return cls(function, bytes(buf[offset:length]), source, declared)


@dataclass(slots=True)
class Npdu:
    """Network layer header: routing addresses, network message type, and the APDU."""

    apdu: bytes = b""
    expecting_reply: bool = False
    priority: int = 0
    dnet: int | None = None
    dadr: bytes = b""
    snet: int | None = None
    sadr: bytes = b""
    hop_count: int = 255
    network_message: int | None = None

    def encode(self) -> bytes:
        control = (0x04 if self.expecting_reply else 0) | (self.priority & 0x03)
        out = bytearray((codes.NPDU_VERSION, 0))
        if self.network_message is not None:
            control |= 0x80
        if self.dnet is not None:
            control |= 0x20
            out += U16.pack(self.dnet) + bytes((len(self.dadr),)) + self.dadr
        if self.snet is not None:
            control |= 0x08
            out += U16.pack(self.snet) + bytes((len(self.sadr),)) + self.sadr
        if self.dnet is not None:
            out.append(self.hop_count)
        if self.network_message is not None:
            out.append(self.network_message)
        out[1] = control
        return bytes(out) + self.apdu

    @classmethod
    def decode(cls, buf: Buffer) -> Npdu:
        version, control = buf[0], buf[1]
        if version != codes.NPDU_VERSION:
            raise ValueError(f"unknown NPDU version {version}")
        msg = cls(expecting_reply=bool(control & 0x04), priority=control & 0x03)
        pos = 2
        if control & 0x20:
            (msg.dnet,) = U16.unpack_from(buf, pos)
            size = buf[pos + 2]
            msg.dadr = bytes(buf[pos + 3 : pos + 3 + size])
            pos += 3 + size
        if control & 0x08:
            (msg.snet,) = U16.unpack_from(buf, pos)
            size = buf[pos + 2]
            msg.sadr = bytes(buf[pos + 3 : pos + 3 + size])
            pos += 3 + size
        if control & 0x20:
            msg.hop_count = buf[pos]
            pos += 1
        if control & 0x80:
            msg.network_message = buf[pos]
            pos += 1
            return msg
        if pos > len(buf):
            raise ValueError("NPDU header runs past the datagram")
        msg.apdu = bytes(buf[pos:])
        return msg


# --- APDU -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Apdu:
    """Application layer PDU header for all eight PDU types; ``payload`` is the service data."""

    pdu_type: int
    service: int | None = None
    invoke_id: int | None = None
    payload: bytes = b""
    segmented: bool = False
    more_follows: bool = False
    segmented_accepted: bool = False
    max_segments: int = 0
    max_apdu: int = 5  # encoded: 5 = 1476 bytes
    sequence_number: int | None = None
    window_size: int | None = None
    reason: int | None = None  # reject / abort reason

    def encode(self) -> bytes:
        t = self.pdu_type
        first = t << 4
        if t == codes.PDU_CONFIRMED_REQUEST:
            first |= (0x08 if self.segmented else 0) | (0x04 if self.more_follows else 0)
            first |= 0x02 if self.segmented_accepted else 0
            out = bytes((first, (self.max_segments << 4) | self.max_apdu, self.invoke_id or 0))
            if self.segmented:
                out += bytes((self.sequence_number or 0, self.window_size or 1))
            return out + bytes((self.service or 0,)) + self.payload
        if t == codes.PDU_UNCONFIRMED_REQUEST:
            return bytes((first, self.service or 0)) + self.payload
        if t == codes.PDU_SIMPLE_ACK:
            return bytes((first, self.invoke_id or 0, self.service or 0))
        if t == codes.PDU_COMPLEX_ACK:
            first |= (0x08 if self.segmented else 0) | (0x04 if self.more_follows else 0)
            out = bytes((first, self.invoke_id or 0))
            if self.segmented:
                out += bytes((self.sequence_number or 0, self.window_size or 1))
            return out + bytes((self.service or 0,)) + self.payload
        if t == codes.PDU_SEGMENT_ACK:
            return bytes((first, self.invoke_id or 0, self.sequence_number or 0, self.window_size or 1))
        if t == codes.PDU_ERROR:
            return bytes((first, self.invoke_id or 0, self.service or 0)) + self.payload
        return bytes((first, self.invoke_id or 0, self.reason or 0))  # reject, abort

    @classmethod
    def decode(cls, buf: Buffer) -> Apdu:
        first = buf[0]
        t = first >> 4
        if t == codes.PDU_CONFIRMED_REQUEST:
            msg = cls(t, segmented=bool(first & 0x08), more_follows=bool(first & 0x04))
            msg.segmented_accepted = bool(first & 0x02)
            msg.max_segments, msg.max_apdu = (buf[1] >> 4) & 0x07, buf[1] & 0x0F
            msg.invoke_id = buf[2]
            pos = 3
            if msg.segmented:
                msg.sequence_number, msg.window_size = buf[3], buf[4]
                pos = 5
            msg.service = buf[pos]
            msg.payload = bytes(buf[pos + 1 :])
            return msg
        if t == codes.PDU_UNCONFIRMED_REQUEST:
            return cls(t, service=buf[1], payload=bytes(buf[2:]))
        if t == codes.PDU_SIMPLE_ACK:
            return cls(t, service=buf[2], invoke_id=buf[1])
        if t == codes.PDU_COMPLEX_ACK:
            msg = cls(t, segmented=bool(first & 0x08), more_follows=bool(first & 0x04), invoke_id=buf[1])
            pos = 2
            if msg.segmented:
                msg.sequence_number, msg.window_size = buf[2], buf[3]
                pos = 4
            msg.service = buf[pos]
            msg.payload = bytes(buf[pos + 1 :])
            return msg
        if t == codes.PDU_SEGMENT_ACK:
            return cls(t, invoke_id=buf[1], sequence_number=buf[2], window_size=buf[3])
        if t == codes.PDU_ERROR:
            return cls(t, invoke_id=buf[1], service=buf[2], payload=bytes(buf[3:]))
        if t in (codes.PDU_REJECT, codes.PDU_ABORT):
            return cls(t, invoke_id=buf[1], reason=buf[2])
        raise ValueError(f"reserved APDU type {t}")


# --- services ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class WhoIs:
    low: int | None = None
    high: int | None = None

    def encode(self) -> bytes:
        if self.low is None or self.high is None:
            return b""
        return encode_unsigned(0, self.low) + encode_unsigned(1, self.high)

    @classmethod
    def decode(cls, buf: Buffer) -> WhoIs:
        if not buf:
            return cls()
        low = read_tag(buf, 0)
        high = read_tag(buf, low.end)
        return cls(decode_unsigned(buf[low.start : low.end]), decode_unsigned(buf[high.start : high.end]))


@dataclass(slots=True)
class IAm:
    instance: int
    max_apdu: int
    segmentation: int
    vendor_id: int
    object_type: int = codes.OBJECT_DEVICE

    def encode(self) -> bytes:
        return (
            encode_object_id(codes.TAG_OBJECT_ID, self.object_type, self.instance, context=False)
            + encode_unsigned(codes.TAG_UNSIGNED, self.max_apdu, context=False)
            + encode_unsigned(codes.TAG_ENUMERATED, self.segmentation, context=False)
            + encode_unsigned(codes.TAG_UNSIGNED, self.vendor_id, context=False)
        )

    @classmethod
    def decode(cls, buf: Buffer) -> IAm:
        values: list[Any] = []
        raw_oid = b""
        pos = 0
        for _ in range(4):
            tag = read_tag(buf, pos)
            if tag.context:
                raise ValueError("I-Am carries application tags only")
            if tag.number == codes.TAG_OBJECT_ID:
                raw_oid = bytes(buf[tag.start : tag.end])
            values.append(decode_unsigned(buf[tag.start : tag.end]))
            pos = tag.end
        object_type, instance = decode_object_id(raw_oid)
        return cls(instance, values[1], values[2], values[3], object_type)


def _usual_head(buf: Buffer, at: int = 0) -> tuple[int, int, int, int] | None:
    """(object type, instance, property id, position after them) when a ReadProperty request or ack
    starting at ``at`` starts the usual way: context tag 0 with a 4-byte object id, context tag 1
    with a 1-4 byte property id. Read in place (no Tag objects) for the sensor's hot path; None
    means decode by tags."""
    if len(buf) >= at + 7 and buf[at] == 0x0C:
        head = buf[at + 5]
        size = head & 0x07
        end = at + 6 + size
        if head & 0xF8 == 0x18 and 1 <= size <= 4 and end <= len(buf):
            (raw,) = U32.unpack_from(buf, at + 1)
            return raw >> 22, raw & 0x3FFFFF, int.from_bytes(buf[at + 6 : end], "big"), end
    return None


@dataclass(slots=True)
class ReadProperty:
    """ReadProperty request: object identifier, property identifier, optional array index."""

    object_type: int
    instance: int
    property_id: int
    array_index: int | None = None

    def encode(self) -> bytes:
        out = encode_object_id(0, self.object_type, self.instance) + encode_unsigned(1, self.property_id)
        if self.array_index is not None:
            out += encode_unsigned(2, self.array_index)
        return out

    @classmethod
    def decode(cls, buf: Buffer) -> ReadProperty:
        head = _usual_head(buf)
        if head is not None and head[3] == len(buf):  # no array index
            return cls(head[0], head[1], head[2])
        return cls.decode_tags(buf)

    @classmethod
    def decode_tags(cls, buf: Buffer) -> ReadProperty:
        """The general decoding, tag by tag (any encoding the standard allows)."""
        oid = read_tag(buf, 0)
        prop = read_tag(buf, oid.end)
        if not (oid.context and oid.number == 0 and prop.context and prop.number == 1):
            raise ValueError("ReadProperty request tags out of order")
        object_type, instance = decode_object_id(buf[oid.start : oid.end])
        index = None
        if prop.end < len(buf):
            tag = read_tag(buf, prop.end)
            if tag.context and tag.number == 2:
                index = decode_unsigned(buf[tag.start : tag.end])
        return cls(object_type, instance, decode_unsigned(buf[prop.start : prop.end]), index)


@dataclass(slots=True)
class ReadPropertyAck:
    """ReadProperty acknowledgement: the request's identifiers plus the value(s) in tag [3]."""

    object_type: int
    instance: int
    property_id: int
    array_index: int | None = None
    values: list[Any] = field(default_factory=list)
    raw_value: bytes = b""  # application-tagged encoding, used when encoding

    def encode(self) -> bytes:
        head = ReadProperty(self.object_type, self.instance, self.property_id, self.array_index).encode()
        return head + opening(3) + self.raw_value + closing(3)

    @classmethod
    def decode(cls, buf: Buffer) -> ReadPropertyAck:
        head = _usual_head(buf)
        if head is not None and head[3] < len(buf) and buf[head[3]] == 0x3E:  # opening tag 3: no index
            values, end = decode_values(buf, head[3] + 1, 3)
            return cls(head[0], head[1], head[2], None, values, bytes(buf[head[3] + 1 : end - 1]))
        return cls.decode_tags(buf)

    @classmethod
    def decode_tags(cls, buf: Buffer) -> ReadPropertyAck:
        """The general decoding, tag by tag (any encoding the standard allows)."""
        oid = read_tag(buf, 0)
        prop = read_tag(buf, oid.end)
        if not (oid.context and oid.number == 0 and prop.context and prop.number == 1):
            raise ValueError("ReadProperty ack tags out of order")
        object_type, instance = decode_object_id(buf[oid.start : oid.end])
        pos = prop.end
        index = None
        tag = read_tag(buf, pos)
        if tag.context and tag.number == 2 and not tag.opening:
            index = decode_unsigned(buf[tag.start : tag.end])
            pos = tag.end
            tag = read_tag(buf, pos)
        if not (tag.opening and tag.number == 3):
            raise ValueError("ReadProperty ack has no value")
        values, end = decode_values(buf, tag.start, 3)
        return cls(
            object_type,
            instance,
            decode_unsigned(buf[prop.start : prop.end]),
            index,
            values,
            bytes(buf[tag.start : end - 1]),
        )


@dataclass(slots=True)
class BacnetError:
    """Error PDU payload: error class and error code (application enumerated)."""

    error_class: int
    error_code: int

    def encode(self) -> bytes:
        return encode_unsigned(codes.TAG_ENUMERATED, self.error_class, context=False) + encode_unsigned(
            codes.TAG_ENUMERATED, self.error_code, context=False
        )

    @classmethod
    def decode(cls, buf: Buffer) -> BacnetError:
        pos = 0
        found: list[int] = []
        while pos < len(buf) and len(found) < 2:
            tag = read_tag(buf, pos)
            if not tag.context and tag.number == codes.TAG_ENUMERATED:
                found.append(decode_unsigned(buf[tag.start : tag.end]))
            pos = tag.end
        if len(found) != 2:
            raise ValueError("error PDU without class and code")
        return cls(found[0], found[1])
