"""IEEE C37.118.2 frames: each class both ``encode()``s and ``decode()``s. Integers are big-endian.

Every frame is SYNC (0xAA, frame type << 4 | version), FRAMESIZE, IDCODE, SOC, FRACSEC (time quality
byte, 24-bit fraction), the frame's own data, and CHK: CRC-CCITT (polynomial 0x1021, initial value
0xFFFF, no reflection) of everything before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import Struct
from typing import Final, Self

from otwatch.protocols.c37118.codes import SYNC

COMMON: Final = Struct(">BBHHII")  # sync, type|version, framesize, idcode, soc, fracsec
COMMON_SIZE: Final = COMMON.size  # 14
PMU_HEAD: Final = Struct(">16sHHHHH")  # STN, IDCODE, FORMAT, PHNMR, ANNMR, DGNMR
MAX_FRAME: Final = 65535


class C37DecodeError(ValueError):
    """The bytes are not a valid C37.118 frame."""


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise C37DecodeError(f"{what}: {len(data)} bytes, need {size}")


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC: Final = _crc_table()


def crc_ccitt(data: bytes) -> int:
    """CRC-CCITT as C37.118 specifies it (poly 0x1021, init 0xFFFF, no final XOR)."""
    crc = 0xFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC[(crc >> 8) ^ b]
    return crc


def _name(raw: bytes) -> str:
    return raw.decode("latin-1").strip(" \x00")


def frame(
    frame_type: int, idcode: int, body: bytes, soc: int = 0, fracsec: int = 0, version: int = 1
) -> bytes:
    """A complete frame around ``body`` with its CHK."""
    head = COMMON.pack(SYNC, frame_type << 4 | version, COMMON_SIZE + len(body) + 2, idcode, soc, fracsec)
    out = head + body
    return out + crc_ccitt(out).to_bytes(2, "big")


@dataclass(slots=True)
class Command:
    command: int

    def encode(self) -> bytes:
        return self.command.to_bytes(2, "big")

    @classmethod
    def decode(cls, body: bytes) -> Self:
        _need(body, 2, "command frame")
        return cls(int.from_bytes(body[:2], "big"))


@dataclass(slots=True)
class PmuConfig:
    station: str
    idcode: int
    format: int
    phasors: list[str] = field(default_factory=list)
    analogs: list[str] = field(default_factory=list)
    digitals: list[str] = field(default_factory=list)  # 16 names per digital status word
    nominal_frequency: int = 60
    config_count: int = 0


@dataclass(slots=True)
class Config:
    """A CFG-1 or CFG-2 frame's data: time base, the PMUs and the data rate."""

    time_base: int
    pmus: list[PmuConfig]
    data_rate: int

    def encode(self) -> bytes:
        out = bytearray(self.time_base.to_bytes(4, "big") + len(self.pmus).to_bytes(2, "big"))
        for pmu in self.pmus:
            names = [*pmu.phasors, *pmu.analogs, *pmu.digitals]
            out += PMU_HEAD.pack(
                pmu.station.encode("latin-1").ljust(16)[:16],
                pmu.idcode,
                pmu.format,
                len(pmu.phasors),
                len(pmu.analogs),
                len(pmu.digitals) // 16,
            )
            out += b"".join(n.encode("latin-1").ljust(16)[:16] for n in names)
            out += bytes(4 * (len(pmu.phasors) + len(pmu.analogs) + len(pmu.digitals) // 16))
            out += (0 if pmu.nominal_frequency == 60 else 1).to_bytes(2, "big") + pmu.config_count.to_bytes(
                2, "big"
            )
        out += self.data_rate.to_bytes(2, "big", signed=True)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes, max_pmus: int = 256) -> Self:
        _need(body, 6, "configuration frame")
        time_base = int.from_bytes(body[0:4], "big") & 0xFFFFFF
        count = int.from_bytes(body[4:6], "big")
        pos = 6
        pmus: list[PmuConfig] = []
        for _ in range(min(count, max_pmus)):
            _need(body, pos + PMU_HEAD.size, "PMU configuration")
            stn, idcode, fmt, phn, ann, dgn = PMU_HEAD.unpack_from(body, pos)
            pos += PMU_HEAD.size
            names = phn + ann + 16 * dgn
            _need(body, pos + 16 * names + 4 * (phn + ann + dgn) + 4, "channel names and units")
            chnam = [_name(body[pos + 16 * i : pos + 16 * i + 16]) for i in range(names)]
            pos += 16 * names + 4 * (phn + ann + dgn)
            fnom, cfgcnt = (
                int.from_bytes(body[pos : pos + 2], "big"),
                int.from_bytes(body[pos + 2 : pos + 4], "big"),
            )
            pos += 4
            pmus.append(
                PmuConfig(
                    _name(stn),
                    idcode,
                    fmt,
                    chnam[:phn],
                    chnam[phn : phn + ann],
                    chnam[phn + ann :],
                    50 if fnom & 1 else 60,
                    cfgcnt,
                )
            )
        _need(body, pos + 2, "data rate")
        return cls(time_base, pmus, int.from_bytes(body[pos : pos + 2], "big", signed=True))
