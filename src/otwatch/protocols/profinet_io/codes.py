"""The one table of PROFINET IO context-management (DCE/RPC) codes and their names (IEC 61158-6-10)."""

from __future__ import annotations

from typing import Final
from uuid import UUID

PORT: Final = 34964  # the PNIO-CM endpoint mapper port; connectionless DCE/RPC over UDP

INTERFACES: Final[dict[UUID, str]] = {
    UUID("dea00001-6c97-11d1-8271-00a02442df7d"): "PNIO Device",
    UUID("dea00002-6c97-11d1-8271-00a02442df7d"): "PNIO Controller",
    UUID("dea00003-6c97-11d1-8271-00a02442df7d"): "PNIO Supervisor",
    UUID("dea00004-6c97-11d1-8271-00a02442df7d"): "PNIO Parameter Server",
    UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa"): "DCE/RPC Endpoint Mapper",
}
PNIO_INTERFACES: Final = frozenset(u for u, n in INTERFACES.items() if n.startswith("PNIO"))

PACKET_TYPES: Final[dict[int, str]] = {
    0: "Request",
    1: "Ping",
    2: "Response",
    3: "Fault",
    4: "Working",
    5: "No Call",
    6: "Reject",
    7: "Ack",
    8: "Cancel",
    9: "Fack",
    10: "Cancel Ack",
}
PTYPE_REQUEST: Final = 0
PTYPE_RESPONSE: Final = 2

OP_CONNECT: Final = 0
OP_RELEASE: Final = 1
OP_READ: Final = 2
OP_WRITE: Final = 3
OP_CONTROL: Final = 4
OP_READ_IMPLICIT: Final = 5
OPNUMS: Final[dict[int, str]] = {
    OP_CONNECT: "Connect",
    OP_RELEASE: "Release",
    OP_READ: "Read",
    OP_WRITE: "Write",
    OP_CONTROL: "Control",
    OP_READ_IMPLICIT: "Read Implicit",
}

BLOCK_IOD_WRITE_REQ: Final = 0x0008
BLOCK_IOD_READ_REQ: Final = 0x0009
BLOCK_IOD_READ_RES: Final = 0x8009
BLOCK_AR_REQ: Final = 0x0101
BLOCK_IM0: Final = 0x0020
BLOCK_TYPES: Final[dict[int, str]] = {
    BLOCK_IOD_WRITE_REQ: "IODWriteReqHeader",
    BLOCK_IOD_READ_REQ: "IODReadReqHeader",
    0x8008: "IODWriteResHeader",
    BLOCK_IOD_READ_RES: "IODReadResHeader",
    BLOCK_AR_REQ: "ARBlockReq",
    0x8101: "ARBlockRes",
    0x0110: "IODControlReq (Prm End)",
    0x8110: "IODControlRes (Prm End)",
    0x0112: "IOXBlockReq (Application Ready)",
    0x0114: "IODReleaseReq",
    0x8114: "IODReleaseRes",
    BLOCK_IM0: "I&M0",
}

INDEX_IM0: Final = 0xAFF0
RECORD_INDEX_NAMES: Final[dict[int, str]] = {
    INDEX_IM0: "I&M0",
    0xAFF1: "I&M1",
    0xAFF2: "I&M2",
    0xAFF3: "I&M3",
    0xAFF4: "I&M4",
    0xF8F0: "ExpectedIdentificationData (AR)",
    0x8010: "PDPortDataCheck",
    0x8020: "PDPortDataAdjust",
    0x802B: "PDPortDataCheck",
    0x802F: "PDPortDataAdjust",
    0xE040: "WriteMultiple",
}

#: PROFINET vendor ids (PI vendor list) of the vendors met most; others are shown by number.
VENDORS: Final[dict[int, str]] = {
    0x002A: "Siemens",
    0x00B0: "Phoenix Contact",
    0x011D: "WAGO",
    0x0120: "Beckhoff",
    0x010D: "Hilscher",
    0x0019: "Bosch Rexroth",
}
