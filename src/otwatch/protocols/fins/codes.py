"""The one table of Omron FINS codes (FINS Commands Reference Manual W227, CS/CJ W342)."""

from __future__ import annotations

from typing import Final

from otwatch.protocols.operations import Operation

FINS_PORT: Final = 9600
VENDOR: Final = "OMRON"
TCP_MAGIC: Final = b"FINS"
#: FINS/TCP commands (W421 "FINS/TCP method")
TCP_COMMANDS: Final[dict[int, str]] = {
    0: "Node Address Data Send (client)",
    1: "Node Address Data Send (server)",
    2: "FINS Frame Send",
    3: "FINS Frame Send Error Notification",
    6: "Connection Confirmation",
}
TCP_FRAME: Final = 2

COMMANDS: Final[dict[int, str]] = {
    0x0101: "Memory Area Read",
    0x0102: "Memory Area Write",
    0x0103: "Memory Area Fill",
    0x0104: "Multiple Memory Area Read",
    0x0105: "Memory Area Transfer",
    0x0201: "Parameter Area Read",
    0x0202: "Parameter Area Write",
    0x0203: "Parameter Area Clear",
    0x0220: "Data Link Table Read",
    0x0221: "Data Link Table Write",
    0x0304: "Program Area Protect",
    0x0305: "Program Area Protect Clear",
    0x0306: "Program Area Read",
    0x0307: "Program Area Write",
    0x0308: "Program Area Clear",
    0x0401: "Run",
    0x0402: "Stop",
    0x0403: "Reset",
    0x0501: "Controller Data Read",
    0x0502: "Connection Data Read",
    0x0601: "Controller Status Read",
    0x0602: "Network Status Read",
    0x0620: "Cycle Time Read",
    0x0701: "Clock Read",
    0x0702: "Clock Write",
    0x0801: "Loop-back Test",
    0x0920: "Message Read / Clear",
    0x0C01: "Access Right Acquire",
    0x0C02: "Access Right Forced Acquire",
    0x0C03: "Access Right Release",
    0x2101: "Error Clear",
    0x2102: "Error Log Read",
    0x2103: "Error Log Clear",
    0x2201: "File Name Read",
    0x2202: "Single File Read",
    0x2203: "Single File Write",
    0x2204: "File Memory Format",
    0x2205: "File Delete",
    0x2207: "File Copy",
    0x2208: "File Name Change",
    0x220A: "Memory Area File Transfer",
    0x220B: "Parameter Area File Transfer",
    0x220C: "Program Area File Transfer",
    0x2215: "Create/Delete Directory",
    0x2301: "Forced Set/Reset",
    0x2302: "Forced Set/Reset Cancel",
}
CONTROLLER_DATA_READ: Final = 0x0501
PROGRAM_AREA_PROTECT: Final = 0x0304
PROGRAM_AREA_PROTECT_CLEAR: Final = 0x0305

OPERATIONS: Final[dict[int, Operation]] = {
    0x0102: Operation.PARAMETER_WRITE,
    0x0103: Operation.PARAMETER_WRITE,
    0x0105: Operation.PARAMETER_WRITE,
    0x0202: Operation.PARAMETER_WRITE,
    0x0203: Operation.PARAMETER_WRITE,
    0x0221: Operation.PARAMETER_WRITE,
    0x0304: Operation.PROTECTION_CHANGE,
    0x0305: Operation.PROTECTION_CHANGE,  # carries the program password
    0x0306: Operation.PROGRAM_UPLOAD,
    0x0307: Operation.PROGRAM_DOWNLOAD,
    0x0308: Operation.PROGRAM_DELETE,
    0x0401: Operation.CONTROLLER_START,
    0x0402: Operation.CONTROLLER_STOP,
    0x0403: Operation.CONTROLLER_RESET,
    0x0702: Operation.CLOCK_SET,
    0x2203: Operation.PROGRAM_DOWNLOAD,
    0x2205: Operation.PROGRAM_DELETE,
    0x2204: Operation.PROGRAM_DELETE,  # file memory format erases every file
    0x220C: Operation.PROGRAM_DOWNLOAD,  # program area <-> file (direction in the data)
    0x2301: Operation.PARAMETER_WRITE,
    0x2302: Operation.PARAMETER_WRITE,
}

#: Main response codes (MRES); the sub code (SRES) refines them.
MAIN_RESPONSES: Final[dict[int, str]] = {
    0x00: "Normal completion",
    0x01: "Local node error",
    0x02: "Destination node error",
    0x03: "Communications controller error",
    0x04: "Not executable",
    0x05: "Routing error",
    0x10: "Command format error",
    0x11: "Parameter error",
    0x20: "Read not possible",
    0x21: "Write not possible",
    0x22: "Not executable in current mode",
    0x23: "No unit",
    0x24: "Start/stop not possible",
    0x25: "Unit error",
    0x26: "Command error",
    0x30: "Access right error",
    0x40: "Abort",
}
MEMORY_AREAS: Final[dict[int, str]] = {
    0x30: "CIO bit",
    0x31: "WR bit",
    0x32: "HR bit",
    0x33: "AR bit",
    0xB0: "CIO",
    0xB1: "WR",
    0xB2: "HR",
    0xB3: "AR",
    0x82: "DM",
    0x02: "DM bit",
    0x09: "TIM/CNT completion flag",
    0x89: "TIM/CNT PV",
    0x98: "EM current bank",
}


def command_name(code: int) -> str:
    return COMMANDS.get(code, f"unknown-0x{code:04X}")


def response_name(main: int) -> str:
    return MAIN_RESPONSES.get(main & 0x7F, f"unknown-0x{main:02X}")
