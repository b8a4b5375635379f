"""The one table of Mitsubishi MELSEC codes: MC protocol / SLMP commands, device codes, end codes, and
the MELSOFT engineering commands known from public research.

Sources: the SLMP Reference Manual (SH-080956ENG) and the MELSEC-Q/L MC Protocol Reference Manual
(SH-080008) for the MC protocol; for MELSOFT, which Mitsubishi does not publish, Nozomi Networks'
Wireshark dissector released with "Safety is not Security" (Black Hat MEA 2023,
github.com/NozomiNetworks/blackhat23-melsoft).
"""

from __future__ import annotations

from typing import Final

from otwatch.protocols.operations import Operation

VENDOR: Final = "Mitsubishi Electric"

#: MC protocol / SLMP ports: 5000-5009 are the usual GX Works "open settings" choices (5007 is
#: the iQ-R/iQ-F SLMP default). 5001 and 5002 are left to MELSOFT (below): a capture of GX Works
#: talking from source port 5001 must not make the engineering station look like the server.
MC_PORTS: Final = (5000, 5003, 5004, 5005, 5006, 5007, 5008, 5009)
#: MELSOFT engineering connection: TCP 5002 (Q/L series), TCP 5562 (iQ-R, iQ-F); UDP 5001 (Q/L) and
#: UDP 5560 (iQ-R, iQ-F search and connection).
MELSOFT_TCP_PORTS: Final = (5002, 5562)
MELSOFT_UDP_PORTS: Final = (5001, 5560)

# -- MC protocol / SLMP ----------------------------------------------------------------------------

SUBHEADER_3E_REQUEST: Final = 0x5000
SUBHEADER_3E_RESPONSE: Final = 0xD000
SUBHEADER_4E_REQUEST: Final = 0x5400
SUBHEADER_4E_RESPONSE: Final = 0xD400

COMMANDS: Final[dict[int, str]] = {
    0x0101: "Read CPU Model",
    0x0401: "Read",
    0x1401: "Write",
    0x0403: "Read Random",
    0x1402: "Write Random",
    0x0801: "Entry Monitor Device",
    0x0802: "Execute Monitor",
    0x0406: "Read Block",
    0x1406: "Write Block",
    0x0613: "Read Buffer Memory",
    0x1613: "Write Buffer Memory",
    0x0601: "Read Intelligent Module Buffer",
    0x1601: "Write Intelligent Module Buffer",
    0x0619: "Self Test",
    0x1617: "Clear Error",
    0x1001: "Remote Run",
    0x1002: "Remote Stop",
    0x1003: "Remote Pause",
    0x1005: "Remote Latch Clear",
    0x1006: "Remote Reset",
    0x1630: "Remote Password Unlock",
    0x1631: "Remote Password Lock",
    0x0201: "Read Label Array",
    0x1201: "Write Label Array",
    0x041A: "Read Random Label",
    0x141B: "Write Random Label",
    0x0631: "Read Data Memory",
    0x1810: "Read Directory/File",
    0x1811: "Search Directory/File",
    0x1820: "New File",
    0x1822: "Delete File",
    0x1824: "Copy File",
    0x1825: "Change File State",
    0x1826: "Change File Date",
    0x1827: "Open File",
    0x1828: "Read File",
    0x1829: "Write File",
    0x182A: "Close File",
    0x1A00: "Ondemand",
}

READ_CPU_MODEL: Final = 0x0101
WRITE_DEVICE: Final = 0x1401
WRITE_RANDOM: Final = 0x1402
WRITE_BLOCK: Final = 0x1406
READ_DEVICE: Final = 0x0401
READ_RANDOM: Final = 0x0403
READ_BLOCK: Final = 0x0406
OPEN_FILE: Final = 0x1827
READ_FILE: Final = 0x1828
WRITE_FILE: Final = 0x1829
CLOSE_FILE: Final = 0x182A
NEW_FILE: Final = 0x1820
DELETE_FILE: Final = 0x1822

#: Requests that change the controller, each with the operation it is (operations.py). File reads
#: and writes are decided per file (program files only), in the dissector.
OPERATIONS: Final[dict[int, Operation]] = {
    0x1001: Operation.CONTROLLER_START,
    0x1002: Operation.CONTROLLER_STOP,
    0x1003: Operation.MODE_CHANGE,  # PAUSE: outputs held, program not scanned
    0x1005: Operation.PARAMETER_WRITE,  # latched devices cleared: controller data destroyed
    0x1006: Operation.CONTROLLER_RESET,
    0x1401: Operation.PARAMETER_WRITE,
    0x1402: Operation.PARAMETER_WRITE,
    0x1406: Operation.PARAMETER_WRITE,
    0x1613: Operation.PARAMETER_WRITE,
    0x1601: Operation.PARAMETER_WRITE,
    0x1201: Operation.PARAMETER_WRITE,
    0x141B: Operation.PARAMETER_WRITE,
    0x1630: Operation.AUTHENTICATION,
    0x1631: Operation.PROTECTION_CHANGE,
    0x1820: Operation.PROGRAM_DOWNLOAD,
    0x1822: Operation.PROGRAM_DELETE,
    0x1829: Operation.PROGRAM_DOWNLOAD,
}

#: Every device write command: the records carry their head device and points.
DEVICE_COMMANDS: Final = frozenset({READ_DEVICE, WRITE_DEVICE})

#: Files that hold a program or its parameters (Q/L: QPG program, QPA parameter; iQ-R/iQ-F: PRG
#: program, PFB function-block file, PRM parameter, and GX Works3's project files under $MELPRJ$).
PROGRAM_FILE_EXTENSIONS: Final = frozenset({"QPG", "QPA", "PRG", "PFB", "PRM", "FNC", "SFC"})
PROJECT_FOLDER: Final = "$MELPRJ$"

#: Binary device codes (subcommand 0x0000/0x0001: one byte; 0x0002/0x0003 on iQ-R: two bytes).
DEVICE_CODES: Final[dict[int, str]] = {
    0x91: "SM",
    0xA9: "SD",
    0x9C: "X",
    0x9D: "Y",
    0x90: "M",
    0x92: "L",
    0x93: "F",
    0x94: "V",
    0xA0: "B",
    0xA8: "D",
    0xB4: "W",
    0xC1: "TS",
    0xC0: "TC",
    0xC2: "TN",
    0xC7: "STS",
    0xC6: "STC",
    0xC8: "STN",
    0xC4: "CS",
    0xC3: "CC",
    0xC5: "CN",
    0xA1: "SB",
    0xB5: "SW",
    0x98: "S",
    0xA2: "DX",
    0xA3: "DY",
    0xCC: "Z",
    0xAF: "R",
    0xB0: "ZR",
    0x51: "LTS",
    0x50: "LTC",
    0x52: "LTN",
    0x59: "LSTS",
    0x58: "LSTC",
    0x5A: "LSTN",
    0x55: "LCS",
    0x54: "LCC",
    0x56: "LCN",
    0x62: "LZ",
    0x2C: "RD",
}
#: Devices numbered in hexadecimal (the rest are decimal), as GX Works writes them.
HEX_DEVICES: Final = frozenset({"X", "Y", "B", "W", "SB", "SW", "DX", "DY", "ZR"})
ASCII_DEVICE_NAMES: Final = frozenset(DEVICE_CODES.values())

END_CODES: Final[dict[int, str]] = {
    0x0000: "Normal",
    0xC050: "ASCII data cannot be converted to binary",
    0xC051: "Too many points (word units)",
    0xC052: "Too many points (bit units)",
    0xC053: "Too many points (random)",
    0xC054: "Too many points (monitor)",
    0xC056: "Address out of range",
    0xC058: "Request data length mismatch",
    0xC059: "Command or subcommand not supported",
    0xC05B: "CPU cannot access the device",
    0xC05C: "Request content error",
    0xC05F: "Request cannot be executed on the target CPU",
    0xC060: "Request content error (bit device)",
    0xC061: "Request data length mismatch",
    0xC06F: "ASCII/binary setting mismatch",
    0xC070: "Device memory cannot be extended",
    0xC0B5: "Data the CPU cannot handle",
    0xC200: "Remote password error",
    0xC201: "Port locked by remote password",
    0xC204: "Not the device that requested the unlock",
}


def command_name(code: int) -> str:
    return COMMANDS.get(code, f"unknown-0x{code:04X}")


def end_code_name(code: int) -> str:
    return END_CODES.get(code, f"error-0x{code:04X}")


def is_program_file(name: str) -> bool:
    """A program, function-block or parameter file, or any file of a GX Works3 project folder."""
    upper = name.upper()
    if PROJECT_FOLDER in upper:
        return True
    return upper.rpartition(".")[2] in PROGRAM_FILE_EXTENSIONS


# -- MELSOFT -----------------------------------------------------------------------------------------

MELSOFT_REQUEST: Final = 0x57  # first byte; the second varies by series (0x00 iQ-F on TCP, 0x01 ...)
MELSOFT_RESPONSE: Final = 0xD7
MELSOFT_SEARCH_REQUEST: Final = 0x5A  # UDP search ("find CPU on the network") of GX Works
MELSOFT_SEARCH_RESPONSE: Final = 0xDA

#: Command codes (big-endian on the wire) as named by Nozomi Networks' dissector. The MC protocol's
#: remote-operation codes (0x1001 run ... 0x1006 reset) carry the same meaning here.
MELSOFT_COMMANDS: Final[dict[int, str]] = {
    0x0121: "Open Initial",
    0x0131: "Username Login",
    0x0132: "Password Login",
    0x0133: "Read User Information from PLC A",
    0x0134: "Read User Information from PLC B",
    0x0150: "Safety Run Mode Read",
    0x0410: "Modify Value",
    0x1001: "Remote Control Run",
    0x1002: "Remote Control Stop",
    0x1003: "Remote Control Pause",
    0x1006: "Remote Reset Ex",
    0x1120: "Safety Run Mode Change",
    0x1133: "User Information Registration",
    0x1859: "File List Read",
    0x1868: "File Read",
    0x1869: "File Write",
}
MELSOFT_OPEN_INITIAL: Final = 0x0121
MELSOFT_FILE_READ: Final = 0x1868
MELSOFT_FILE_WRITE: Final = 0x1869
MELSOFT_OPERATIONS: Final[dict[int, Operation]] = {
    0x1001: Operation.CONTROLLER_START,
    0x1002: Operation.CONTROLLER_STOP,
    0x1003: Operation.MODE_CHANGE,
    0x1006: Operation.CONTROLLER_RESET,
    0x1120: Operation.MODE_CHANGE,  # safety run mode change (safety CPUs)
    0x0131: Operation.AUTHENTICATION,
    0x0132: Operation.AUTHENTICATION,
    0x1133: Operation.PROTECTION_CHANGE,  # users and passwords written to the CPU
    0x1869: Operation.PROGRAM_DOWNLOAD,
}


def melsoft_command_name(code: int) -> str:
    return MELSOFT_COMMANDS.get(code, f"unknown-0x{code:04X}")
