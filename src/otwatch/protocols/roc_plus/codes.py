"""The one table of Emerson ROC Plus codes (ROC800-Series, FloBoss, DL8000 on TCP/UDP 4000).

Sources: Emerson Remote Automation Solutions "ROC Plus Protocol Specifications Manual" (D301180X012) as
parsed by CISA ICSNPP's icsnpp-roc-plus Zeek parser (opcodes, request/response data layouts, names);
the type-of-ROC, subtype and system-mode values of the opcode 6 reply as decoded by public ROC Plus
clients. Only codes whose number both name and value could be justified are listed; an unlisted
code is logged by number.
"""

from __future__ import annotations

from typing import Final

from otwatch.protocols.operations import Operation

ROC_PLUS_PORT: Final = 4000
VENDOR: Final = "Emerson"
#: ROCLINK 800's default station address and group of a ROC800 (the query's default destination).
DEFAULT_UNIT: Final = 240
DEFAULT_GROUP: Final = 240

OPCODES: Final[dict[int, str]] = {
    6: "System Configuration",
    7: "Read Real-time Clock",
    8: "Set Real-time Clock",
    10: "Read Configurable Opcode Point Data",
    11: "Write Configurable Opcode Point Data",
    17: "Login / Logout",
    24: "Store and Forward",
    50: "Request I/O Point Position",
    100: "Access User Defined Information",
    105: "Request Today's and Yesterday's Min/Max Values",
    108: "Request History Tag and Periodic Index",
    118: "Request Alarm Data",
    119: "Request Event Data",
    135: "Request Single History Point Data",
    136: "Request Multiple History Point Data",
    137: "Request History Index",
    138: "Request Daily and Periodic History",
    139: "History Information Data",
    166: "Set Single Point Parameters",
    167: "Request Single Point Parameters",
    180: "Request Parameters",
    181: "Write Parameters",
    203: "General File Transfer",
    205: "Peer to Peer Network Messages",
    206: "Read Transaction History Data",
    224: "SRBX Signal",
    225: "Acknowledge SRBX",
    255: "Error Indicator",
}
SYSTEM_CONFIG: Final = 6
READ_CONFIG_OPCODE: Final = 10
READ_CLOCK: Final = 7
SET_CLOCK: Final = 8
WRITE_CONFIG_OPCODE: Final = 11
LOGIN: Final = 17
STORE_AND_FORWARD: Final = 24
SET_SINGLE_POINT: Final = 166
READ_SINGLE_POINT: Final = 167
READ_PARAMETERS: Final = 180
WRITE_PARAMETERS: Final = 181
FILE_TRANSFER: Final = 203
ERROR: Final = 255

#: Requests that change the controller, by opcode (opcodes 17 and 203 depend on their data).
OPERATIONS: Final[dict[int, Operation]] = {
    SET_CLOCK: Operation.CLOCK_SET,
    WRITE_CONFIG_OPCODE: Operation.PARAMETER_WRITE,
    SET_SINGLE_POINT: Operation.PARAMETER_WRITE,
    WRITE_PARAMETERS: Operation.PARAMETER_WRITE,
}

#: Opcode 17 request data lengths (ICSNPP): which of login, logout or session key it is.
LOGIN_KINDS: Final[dict[int, str]] = {
    6: "Standard Login",
    11: "Standard Logout",
    13: "Session Key Request",
    71: "Enhanced Login",
    76: "Enhanced Logout",
}
LOGINS: Final = frozenset({6, 71})

#: Opcode 203: the command is the first data byte, but the manual's numbering of it is not public
#: beyond what ICSNPP relies on (6, Read Directory, doubles as Delete in a 126-byte request), so the
#: request kind is told by its length as ICSNPP does.
FILE_READ_DIRECTORY: Final = 6
FILE_OPEN_REQUEST_LENGTH: Final = 127  # command, options, 100-byte path, 25-byte file name
FILE_DELETE_REQUEST_LENGTH: Final = 126  # command 6 with a path and a file name is a delete
FILE_WRITE_REPLY_LENGTH: Final = 9

#: Opcode 6 reply.
SYSTEM_MODES: Final[dict[int, str]] = {0: "Firmware Update", 1: "Run"}
ROC_TYPES: Final[dict[int, str]] = {
    1: "ROCPAC ROC300-Series",
    2: "FloBoss 407",
    3: "FlashPAC ROC300-Series",
    4: "FloBoss 503",
    5: "FloBoss 504",
    6: "ROC800 (809/827)",
    11: "DL8000",
}
ROC_SUBTYPES: Final[dict[int, str]] = {0: "Series 2", 1: "Series 1"}

#: Opcode 255 error codes: the first six as the ROC manual numbers them (public ROC clients), which
#: ICSNPP's ROC Plus enumeration lists first and in the same order; others are logged by number.
ERROR_CODES: Final[dict[int, str]] = {
    1: "Invalid Opcode Request",
    2: "Invalid Parameter Number",
    3: "Invalid Logical Number",
    4: "Invalid Point Type",
    5: "Received Too Many Data Bytes",
    6: "Received Too Few Data Bytes",
}


def opcode_name(opcode: int) -> str:
    return OPCODES.get(opcode, f"unknown-{opcode}")


def error_name(code: int) -> str:
    return ERROR_CODES.get(code, f"error-{code}")
