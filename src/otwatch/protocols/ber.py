"""A small, bounded ASN.1 BER reader and writer for the OSI protocols (ISO session/presentation, ACSE,
MMS, GOOSE, Sampled Values).

Hand-written for the hot path: a TLV is read with a few byte comparisons and no object per nesting
level unless asked for. The reader never raises on wire bytes: :func:`read` returns ``None`` when the
identifier or length is out of spec or runs past its enclosing value, and :func:`children` stops at
the first bad TLV or after ``MAX_CHILDREN``. Long tags are limited to 4 bytes, lengths to 4 bytes,
indefinite lengths to ``MAX_DEPTH`` nested levels.
"""

from __future__ import annotations

from typing import Final, NamedTuple

UNIVERSAL: Final = 0
APPLICATION: Final = 1
CONTEXT: Final = 2
PRIVATE: Final = 3
MAX_DEPTH: Final = 16
MAX_CHILDREN: Final = 256

Buffer = bytes | bytearray | memoryview


class Tlv(NamedTuple):
    """One BER TLV: identifier (class, number, constructed), its value's ``[start, end)`` and ``next``,
    the offset after it (``end`` plus two for an indefinite length's end-of-contents)."""

    cls: int
    number: int
    constructed: bool
    start: int
    end: int
    next: int

    @property
    def tag(self) -> tuple[int, int]:
        return (self.cls, self.number)


def read(buf: Buffer, pos: int = 0, end: int | None = None, depth: int = 0) -> Tlv | None:
    """The TLV at ``buf[pos:]`` that ends no later than ``end``, else ``None``."""
    limit = len(buf) if end is None else min(end, len(buf))
    if pos + 2 > limit or depth > MAX_DEPTH:
        return None
    ident = buf[pos]
    cls, constructed, number = ident >> 6, bool(ident & 0x20), ident & 0x1F
    pos += 1
    if number == 0x1F:
        number = 0
        for _ in range(4):
            if pos >= limit:
                return None
            octet = buf[pos]
            pos += 1
            number = (number << 7) | (octet & 0x7F)
            if not octet & 0x80:
                break
        else:
            return None
    if pos >= limit:
        return None
    first = buf[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        if not constructed:
            return None
        inner = pos
        for _ in range(MAX_CHILDREN):  # indefinite: children up to the end-of-contents octets
            if inner + 2 <= limit and buf[inner] == 0 and buf[inner + 1] == 0:
                return Tlv(cls, number, constructed, pos, inner, inner + 2)
            child = read(buf, inner, limit, depth + 1)
            if child is None:
                return None
            inner = child.next
        return None
    else:
        count = first & 0x7F
        if count > 4 or pos + count > limit:
            return None
        length = int.from_bytes(buf[pos : pos + count], "big")
        pos += count
    if pos + length > limit:
        return None
    return Tlv(cls, number, constructed, pos, pos + length, pos + length)


def children(buf: Buffer, parent: Tlv, limit: int = MAX_CHILDREN) -> list[Tlv]:
    """The TLVs inside a constructed ``parent`` (up to the first bad one, at most ``limit``)."""
    out: list[Tlv] = []
    if not parent.constructed:
        return out
    pos = parent.start
    while pos < parent.end and len(out) < limit:
        child = read(buf, pos, parent.end)
        if child is None:
            break
        out.append(child)
        pos = child.next
    return out


def find(buf: Buffer, parent: Tlv, cls: int, number: int) -> Tlv | None:
    """The first child of ``parent`` with this class and number."""
    for child in children(buf, parent):
        if child.cls == cls and child.number == number:
            return child
    return None


def integer(buf: Buffer, tlv: Tlv) -> int | None:
    """A (signed) INTEGER value of at most 8 bytes."""
    if tlv.constructed or not 0 < tlv.end - tlv.start <= 8:
        return None
    return int.from_bytes(buf[tlv.start : tlv.end], "big", signed=True)


def unsigned(buf: Buffer, tlv: Tlv) -> int | None:
    """An unsigned INTEGER (MMS Unsigned32, GOOSE stNum/sqNum): the two's-complement sign octet ignored."""
    if tlv.constructed or not 0 < tlv.end - tlv.start <= 9:
        return None
    return int.from_bytes(buf[tlv.start : tlv.end], "big")


def text(buf: Buffer, tlv: Tlv, limit: int = 255) -> str:
    """A VisibleString / GraphicString / OCTET STRING as text (Latin-1, at most ``limit`` chars)."""
    return bytes(buf[tlv.start : min(tlv.end, tlv.start + limit)]).decode("latin-1")


def boolean(buf: Buffer, tlv: Tlv) -> bool | None:
    if tlv.constructed or tlv.end - tlv.start != 1:
        return None
    return buf[tlv.start] != 0


# -- writing (what the agent sends, and test frames) ---------------------------------------------------
def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(raw),)) + raw


def identifier(cls: int, number: int, constructed: bool) -> bytes:
    head = (cls << 6) | (0x20 if constructed else 0)
    if number < 0x1F:
        return bytes((head | number,))
    out = [number & 0x7F]
    number >>= 7
    while number:
        out.append(0x80 | (number & 0x7F))
        number >>= 7
    return bytes((head | 0x1F, *reversed(out)))


def tlv(cls: int, number: int, value: bytes, constructed: bool = False) -> bytes:
    """One definite-length TLV."""
    return identifier(cls, number, constructed) + length(len(value)) + value


def ctx(number: int, value: bytes, constructed: bool = False) -> bytes:
    """A context-specific ``[number]`` TLV."""
    return tlv(CONTEXT, number, value, constructed)


def encode_unsigned(value: int) -> bytes:
    """Minimal two's-complement content of a non-negative INTEGER."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def encode_integer(value: int) -> bytes:
    size = 1
    while not -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
        size += 1
    return value.to_bytes(size, "big", signed=True)
