"""Capture-file reader for PCAP and PCAPNG, hand-written so the sensor needs no libpcap or dpkt.

Yields :class:`Packet` ``(ts, linktype, data)`` tuples. Real captures are often cut short (a sensor
that crashed, a file copied while being written), so a truncated or corrupt tail ends iteration with
a message in :attr:`CaptureReader.warnings` that names the byte offset, and every packet read before
it is kept. Only input that is not a capture at all raises, and always as :class:`PcapError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple

__all__ = [
    "CaptureReader",
    "Frame",
    "Packet",
    "PcapError",
    "pcap_header",
    "pcap_record",
    "read_capture",
    "write_pcap",
]

# Largest record we accept; anything bigger is a corrupt length field, not a packet (jumbo + headroom).
MAX_RECORD = 256 * 1024
MAX_BLOCK = 16 * 1024 * 1024
CHUNK = 1 << 20  # bytes read at a time from a classic pcap

PCAP_MAGICS: dict[bytes, tuple[str, float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"

BT_IDB = 0x00000001
BT_OPB = 0x00000002  # obsolete Packet Block, still written by old tools
BT_SPB = 0x00000003
BT_EPB = 0x00000006
BT_SHB = 0x0A0D0D0A

OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14


class PcapError(ValueError):
    """The input is not a readable PCAP/PCAPNG capture."""


class Packet(NamedTuple):
    ts: float
    linktype: int
    data: bytes


class _Interface(NamedTuple):
    linktype: int
    snaplen: int
    ts_unit: float  # seconds per timestamp tick
    ts_offset: int  # seconds added to every timestamp


class CaptureReader:
    """Iterate over the packets of a PCAP or PCAPNG file (path, open binary file or bytes).

    The format is recognised when the reader is created, so a non-capture fails early with
    :class:`PcapError`; problems found while iterating become :attr:`warnings`.
    """

    def __init__(self, source: str | Path | BinaryIO | bytes) -> None:
        self.warnings: list[str] = []
        self._owned = False
        if isinstance(source, bytes | bytearray):
            import io

            self._f: BinaryIO = io.BytesIO(bytes(source))
            self.name = "<bytes>"
        elif isinstance(source, str | Path):
            try:
                self._f = open(source, "rb")  # noqa: SIM115 - closed by close()/__exit__/iteration end
            except OSError as exc:
                raise PcapError(f"cannot open capture {source}: {exc}") from exc
            self._owned = True
            self.name = str(source)
        else:
            self._f = source
            self.name = getattr(source, "name", "<stream>")
        self._offset = 0
        head = self._f.read(4)
        self._offset = len(head)
        if len(head) < 4:
            self.close()
            raise PcapError(f"{self.name}: too short to be a capture ({len(head)} bytes)")
        if head in PCAP_MAGICS:
            self.format = "pcap"
            self._endian, self._tick = PCAP_MAGICS[head]
            rest = self._f.read(20)
            self._offset += len(rest)
            if len(rest) < 20:
                self.close()
                raise PcapError(f"{self.name}: truncated pcap global header")
            _vmaj, _vmin, _zone, _sig, self.snaplen, lt = struct.unpack(self._endian + "HHiIII", rest)
            self.linktype = lt & 0x0FFFFFFF  # upper bits may carry FCS information
        elif head == PCAPNG_SHB:
            self.format = "pcapng"
            self._endian = "<"
            self._tick = 1e-6
            self.snaplen = 0
            self.linktype = -1
            self._pending_shb = True
        else:
            self.close()
            raise PcapError(f"{self.name}: not a pcap or pcapng file (magic {head.hex()})")

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._f.close()

    def __iter__(self) -> Iterator[Packet]:
        try:
            if self.format == "pcap":
                yield from map(Packet._make, self._iter_pcap())
            else:
                yield from self._iter_pcapng()
        finally:
            self.close()

    def frames(self) -> Iterator[tuple[float, int, bytes]]:
        """Like iterating the reader, but plain ``(ts, linktype, data)`` tuples: the sensor's loop."""
        try:
            if self.format == "pcap":
                yield from self._iter_pcap()
            else:
                yield from self._iter_pcapng()
        finally:
            self.close()

    def _warn(self, msg: str) -> None:
        self.warnings.append(f"{self.name}: {msg}")

    def _iter_pcap(self) -> Iterator[tuple[float, int, bytes]]:
        """Classic pcap, read :data:`CHUNK` bytes at a time and cut into records in memory.

        Hand-written because this loop runs once per packet: one ``read`` per chunk instead of two
        per record, one precompiled ``unpack_from`` at an offset for the record header, and the
        packet bytes are one slice of the chunk. ``self._offset`` is the file offset of the next
        record, so warnings name the same byte offsets as a record-by-record reader would.
        """
        unpack_from = struct.Struct(self._endian + "IIII").unpack_from
        read = self._f.read
        tick = self._tick
        linktype = self.linktype
        buf = b""
        pos = 0
        eof = False
        while True:
            avail = len(buf)
            while pos + 16 <= avail:
                sec, frac, caplen, _origlen = unpack_from(buf, pos)
                if caplen > MAX_RECORD:
                    self._warn(
                        f"corrupt record at byte offset {self._offset}: captured length {caplen} is implausible"
                    )
                    return
                end = pos + 16 + caplen
                if end > avail:
                    break
                self._offset += 16 + caplen
                yield sec + frac * tick, linktype, buf[pos + 16 : end]
                pos = end
            if eof:
                left = avail - pos
                if left == 0:
                    return
                start = self._offset
                if left < 16:
                    self._warn(f"truncated record header at byte offset {start} ({left} of 16 bytes)")
                else:
                    (caplen,) = struct.unpack_from(self._endian + "I", buf, pos + 8)
                    self._offset = start + left
                    self._warn(
                        f"truncated packet at byte offset {start}: {left - 16} of {caplen} bytes present"
                    )
                return
            need = 16 if pos + 16 > avail else 16 + unpack_from(buf, pos)[2]
            more = read(max(CHUNK, need))
            if not more:
                eof = True
            buf = buf[pos:] + more
            pos = 0

    def _iter_pcapng(self) -> Iterator[Packet]:
        read = self._f.read
        interfaces: list[_Interface] = []
        last_ts = 0.0
        e = self._endian
        while True:
            start = self._offset
            if self._pending_shb:  # the magic was consumed while recognising the format
                start -= 4
                head = PCAPNG_SHB + read(4)
                self._pending_shb = False
            else:
                head = read(8)
            if len(head) == 0:
                return
            if len(head) < 8:
                self._warn(f"truncated block header at byte offset {start}")
                return
            if head[:4] == PCAPNG_SHB:
                # The byte-order magic decides how to read this section, including its own length.
                bom = read(4)
                if len(bom) < 4:
                    self._warn(f"truncated section header at byte offset {start}")
                    return
                if bom == b"\x4d\x3c\x2b\x1a":
                    e = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    e = ">"
                else:
                    if start == 0:
                        raise PcapError(f"{self.name}: pcapng section header has bad byte-order magic")
                    self._warn(f"bad byte-order magic in section header at byte offset {start}")
                    return
                self._endian = e
                interfaces = []
                (blen,) = struct.unpack(e + "I", head[4:8])
                btype, body_have = BT_SHB, 4
            else:
                btype, blen = struct.unpack(e + "II", head)
                body_have = 0
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                self._warn(f"corrupt block at byte offset {start}: length {blen}")
                return
            rest = read(blen - 8 - body_have)
            self._offset = start + 8 + body_have + len(rest)
            if len(rest) < blen - 8 - body_have:
                self._warn(f"truncated block at byte offset {start}: {blen} bytes declared")
                return
            (trailer,) = struct.unpack(e + "I", rest[-4:])
            if trailer != blen:
                self._warn(f"corrupt block at byte offset {start}: trailing length {trailer} != {blen}")
                return
            body = rest[:-4]
            if btype == BT_SHB:
                continue
            if btype == BT_EPB:
                if len(body) < 20:
                    self._warn(f"short enhanced packet block at byte offset {start}")
                    return
                ifid, ts_hi, ts_lo, caplen, _olen = struct.unpack_from(e + "IIIII", body)
                if ifid >= len(interfaces) or 20 + caplen > len(body):
                    self._warn(f"inconsistent enhanced packet block at byte offset {start}")
                    return
                itf = interfaces[ifid]
                last_ts = ((ts_hi << 32) | ts_lo) * itf.ts_unit + itf.ts_offset
                yield Packet(last_ts, itf.linktype, body[20 : 20 + caplen])
            elif btype == BT_SPB:
                if not interfaces or len(body) < 4:
                    self._warn(f"simple packet block without interface at byte offset {start}")
                    return
                (olen,) = struct.unpack_from(e + "I", body)
                itf = interfaces[0]
                caplen = min(olen, len(body) - 4)
                if itf.snaplen:
                    caplen = min(caplen, itf.snaplen)
                # A simple packet block has no timestamp: reuse the last one seen.
                yield Packet(last_ts, itf.linktype, body[4 : 4 + caplen])
            elif btype == BT_OPB:
                if len(body) < 20:
                    self._warn(f"short packet block at byte offset {start}")
                    return
                ifid, _drops, ts_hi, ts_lo, caplen, _olen = struct.unpack_from(e + "HHIIII", body)
                if ifid >= len(interfaces) or 20 + caplen > len(body):
                    self._warn(f"inconsistent packet block at byte offset {start}")
                    return
                itf = interfaces[ifid]
                last_ts = ((ts_hi << 32) | ts_lo) * itf.ts_unit + itf.ts_offset
                yield Packet(last_ts, itf.linktype, body[20 : 20 + caplen])
            elif btype == BT_IDB:
                if len(body) < 8:
                    self._warn(f"short interface description block at byte offset {start}")
                    return
                lt, _res, snaplen = struct.unpack_from(e + "HHI", body)
                unit, offset = _idb_options(body[8:], e)
                interfaces.append(_Interface(lt, snaplen, unit, offset))
                if self.linktype < 0:
                    self.linktype = lt
            # Other block types (name resolution, statistics, custom ...) carry no packets.


def _idb_options(opts: bytes, e: str) -> tuple[float, int]:
    """Timestamp resolution and offset of an interface; defaults are microseconds and 0."""
    unit, offset = 1e-6, 0
    i = 0
    while i + 4 <= len(opts):
        code, length = struct.unpack_from(e + "HH", opts, i)
        i += 4
        if code == 0:
            break
        value = opts[i : i + length]
        if code == OPT_IF_TSRESOL and length >= 1:
            v = value[0]
            unit = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -(v & 0x7F)
        elif code == OPT_IF_TSOFFSET and length >= 8:
            (offset,) = struct.unpack(e + "q", value[:8])
        i += (length + 3) & ~3
    return unit, offset


def read_capture(source: str | Path | BinaryIO | bytes) -> Iterator[Packet]:
    """Shortcut for iterating a capture when its warnings are not needed."""
    return iter(CaptureReader(source))


# Writing: classic microsecond pcap (alert PCAPs, synthetic captures).
_GLOBAL_HEADER: Final = struct.Struct("<IHHiIII")
_RECORD_HEADER: Final = struct.Struct("<IIII")
Frame = tuple[float, int, bytes]  # ts, linktype, data
SNAPLEN: Final = 262_144


def pcap_header(linktype: int) -> bytes:
    return _GLOBAL_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype)


def pcap_record(ts: float, data: bytes) -> bytes:
    sec = int(ts)
    usec = min(round((ts - sec) * 1e6), 999_999)
    return _RECORD_HEADER.pack(sec, usec, len(data), len(data)) + data


def write_pcap(frames: Iterable[Frame]) -> bytes:
    """A classic microsecond pcap of ``frames``; frames of another link type than the first are left out."""
    out = bytearray()
    linktype: int | None = None
    for ts, lt, data in frames:
        if linktype is None:
            linktype = lt
            out += pcap_header(lt)
        if lt == linktype:
            out += pcap_record(ts, data)
    return bytes(out)
