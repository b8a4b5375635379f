"""CRC-16 with the reflected polynomial 0xA001 (x^16 + x^15 + x^2 + 1), table-driven, shared by the
protocols that use it with different initial values: CRC-16/ARC (initial 0: ROC Plus) and
CRC-16/MODBUS (initial 0xFFFF: Genisys). Check values of b"123456789": 0xBB3D and 0x4B37."""

from __future__ import annotations

from typing import Final


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


TABLE: Final = _table()


def crc16(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """CRC-16/ARC of ``data`` (``initial`` 0xFFFF gives CRC-16/MODBUS)."""
    crc = initial
    table = TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def crc16_modbus(data: bytes | bytearray | memoryview) -> int:
    return crc16(data, 0xFFFF)
