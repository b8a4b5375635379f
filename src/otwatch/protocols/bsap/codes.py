"""The one table of BSAP codes (Bristol Standard Asynchronous/Synchronous Protocol; Bristol Babcock, now
Emerson ControlWave and Network 3000 RTUs, OpenBSI workstations).

Source: CISA ICSNPP's icsnpp-bsap Zeek parser (src/consts.pac, scripts/consts.zeek,
src/bsap-protocol.pac), which takes the application and RDB function codes from the BSAP
programmer's reference and the BSAP/IP message types from observed OpenBSI traffic. No public
specification of the BSAP/IP header exists; what ICSNPP could not name stays unnamed here.
"""

from __future__ import annotations

from typing import Final

from otwatch.protocols.operations import Operation

#: BSAPIPDRV's default UDP ports (ICSNPP scripts/icsnpp/bsap/main.zeek).
BSAP_PORTS: Final = (1234, 1235)
VENDOR: Final = "Emerson"

#: BSAP/IP: the first 16-bit word is the header length in every observed message (ICSNPP's DPD
#: signature), 0x0210 (DLE STX) marks a BSAP serial frame carried over IP.
IP_HEADER_LENGTHS: Final = frozenset({0x0E, 0x16})
SERIAL_MARK: Final = b"\x10\x02"
SERIAL_END: Final = b"\x10\x03"
DLE: Final = 0x10

MESSAGE_FUNCTIONS: Final[dict[int, str]] = {
    0x0000: "POLL",
    0x0001: "RESPONSECNT",
    0x0005: "RESPONSE",
    0x0006: "REQUEST",
    0x0084: "REQUEST",
    0x0086: "REQUEST",
}
REQUESTS: Final = frozenset({0x0006, 0x0084, 0x0086})
RESPONSES: Final = frozenset({0x0001, 0x0005})
POLL: Final = 0x0000

APP_FUNCTIONS: Final[dict[int, str]] = {
    0x00: "ILLEGAL",
    0x03: "PEI_PC",
    0x40: "PEI_RTU",
    0x48: "DIAG",
    0x50: "TRANSMITTER_REQ_3508",
    0x51: "TRANSMITTER_RESP_3508",
    0x60: "CBO",
    0x68: "FLASH_DOWNLOAD",
    0x6A: "FLASH_CONFIG",
    0x70: "CMD_HANDLER_REQ",
    0x71: "CMD_HANDLER_RESP",
    0x78: "DOWNLOAD_REQ_MSG_FRAMES",
    0x88: "TS_NRT_MSG",
    0x89: "REQ_TS_NRT_MSG",
    **{0x98 + i: f"PS_PASSTHRU_TSK{i + 1}" for i in range(8)},
    0xA0: "RDB",
    0xA1: "RDB_EXTENSION",
    0xA2: "RBE_FIRM",
    0xA3: "RBE_MNGR",
    0xA8: "ALARM_ACK",
    0xA9: "ALARM_INIT",
    0xAA: "ALARM_REPORT",
    0xB0: "P2P_MASTER",
    0xB1: "P2P_SLAVE",
    0xBF: "TUNNEL_REQUEST",
    0xC0: "IP_PROCESSING_TASK",
    **{0xC0 + i: f"PS_PASSTHRU_COM{i}" for i in range(1, 12)},
}
RDB: Final = 0xA0
PEI_PC: Final = 0x03  # the host (OpenBSI) side: a message to it is a reply
RDB_EXTENSION: Final = 0xA1
FLASH_DOWNLOAD: Final = 0x68

#: Data-link function codes of BSAP serial polls and acknowledgements (ICSNPP consts.pac).
LINK_FUNCTIONS: Final[dict[int, str]] = {
    0x81: "DIAL_UP_ACK",
    0x83: "ACK",
    0x85: "POLL",
    0x86: "DOWN_TRNS_ACK",
    0x87: "ACK_NO_DATA",
    0x8A: "UP_ACK_W_POLL",
    0x8B: "UP_ACK_MSTR",
    0x95: "NAK_NO_DATA",
}

RDB_FUNCTIONS: Final[dict[int, str]] = {
    0x00: "READ_SIGNAL_BY_ADDRESS",
    0x02: "READ_LOGICAL_BY_ADDRESS",
    0x04: "READ_SIGNAL_BY_NAME",
    0x06: "READ_LOGICAL_BY_NAME",
    0x0C: "READ_SIGNAL_BY_LIST_START",
    0x0D: "READ_SIGNAL_BY_LIST_CONTINUE",
    0x0E: "READ_LOGICAL_BY_LIST_START",
    0x0F: "READ_LOGICAL_BY_LIST_CONTINUE",
    0x80: "WRITE_SIGNAL_BY_ADDRESS",
    0x84: "WRITE_SIGNAL_BY_NAME",
    0x8C: "WRITE_SIGNAL_BY_LIST_START",
    0x8D: "WRITE_SIGNAL_BY_LIST_CONTINUE",
}
READ_SIGNAL_BY_NAME: Final = 0x04
WRITE_SIGNAL_BY_ADDRESS: Final = 0x80
WRITE_SIGNAL_BY_NAME: Final = 0x84
RDB_WRITES: Final = frozenset({0x80, 0x84, 0x8C, 0x8D})

#: RDB extension functions (GFC 3308 flow computers, serial BSAP).
RDB_EXT_FUNCTIONS: Final[dict[int, str]] = {
    0x0101: "RESET SYSTEM",
    0x0102: "DIAGNOSTICS RESET",
    0x0201: "READ DATE AND TIME",
    0x0202: "READ DATE",
    0x0203: "READ TIME",
    0x0281: "WRITE DATE AND TIME",
    0x0400: "CHANGE LOCAL NODE ADDR",
}
RDB_EXT_OPERATIONS: Final[dict[int, Operation]] = {
    0x0101: Operation.CONTROLLER_RESET,
    0x0281: Operation.CLOCK_SET,
    0x0400: Operation.NETWORK_CONFIG,
}


def app_name(code: int) -> str:
    return APP_FUNCTIONS.get(code) or LINK_FUNCTIONS.get(code) or f"Unknown APP Func-0x{code:02x}"


def rdb_name(code: int) -> str:
    return RDB_FUNCTIONS.get(code, f"Unknown RDB Func-0x{code:02x}")


def message_name(code: int) -> str:
    return MESSAGE_FUNCTIONS.get(code, f"Unknown Message Type-0x{code:02x}")
