"""The one table of HART-IP and HART codes: message types and ids, commands, write commands and the
operations they are, manufacturers (FieldComm Group ids of the vendors met most)."""

from __future__ import annotations

from typing import Final

from otwatch.protocols.operations import Operation

HARTIP_PORT: Final = 5094  # TCP and UDP (FieldComm Group TP10300)

MESSAGE_TYPES: Final = {0: "Request", 1: "Response", 2: "Publish", 3: "Error", 15: "NAK"}
MESSAGE_IDS: Final = {
    0: "Session Initiate",
    1: "Session Close",
    2: "Keep Alive",
    3: "Pass Through",
    4: "Direct PDU",
    5: "Read Audit Log",
}
SESSION_INITIATE: Final = 0
SESSION_CLOSE: Final = 1
KEEP_ALIVE: Final = 2
PASS_THROUGH: Final = 3
MASTER_TYPES: Final = {0: "Secondary", 1: "Primary"}

#: Delimiter frame types (low 3 bits): master to slave, slave to master, burst.
FRAME_TYPES: Final = {1: "BACK", 2: "STX", 6: "ACK"}
EXTENDED_COMMAND: Final = 31  # the command number is the first two data bytes

COMMANDS: Final = {
    0: "Read Unique Identifier",
    1: "Read Primary Variable",
    2: "Read Loop Current And Percent Of Range",
    3: "Read Dynamic Variables And Loop Current",
    6: "Write Polling Address",
    7: "Read Loop Configuration",
    8: "Read Dynamic Variable Classifications",
    9: "Read Device Variables with Status",
    11: "Read Unique Identifier Associated With Tag",
    12: "Read Message",
    13: "Read Tag, Descriptor, Date",
    14: "Read Primary Variable Transducer Information",
    15: "Read Device Information",
    16: "Read Final Assembly Number",
    17: "Write Message",
    18: "Write Tag, Descriptor, Date",
    19: "Write Final Assembly Number",
    20: "Read Long Tag",
    21: "Read Unique Identifier Associated With Long Tag",
    22: "Write Long Tag",
    33: "Read Device Variables",
    34: "Write Primary Variable Damping Value",
    35: "Write Primary Variable Range Values",
    36: "Set Primary Variable Upper Range Value",
    37: "Set Primary Variable Lower Range Value",
    38: "Reset Configuration Changed Flag",
    39: "EEPROM Control",
    40: "Enter/Exit Fixed Current Mode",
    41: "Perform Self Test",
    42: "Perform Device Reset",
    43: "Set Primary Variable Zero",
    44: "Write Primary Variable Units",
    45: "Trim Loop Current Zero",
    46: "Trim Loop Current Gain",
    47: "Write Primary Variable Transfer Function",
    48: "Read Additional Device Status",
    49: "Write Primary Variable Transducer Serial Number",
    50: "Read Dynamic Variable Assignments",
    51: "Write Dynamic Variable Assignments",
    52: "Set Device Variable Zero",
    53: "Write Device Variable Units",
    54: "Read Device Variable Information",
    55: "Write Device Variable Damping Value",
    56: "Write Device Variable Transducer Serial Number",
    59: "Write Number Of Response Preambles",
    71: "Lock Device",
    72: "Squawk",
    76: "Read Lock Device State",
    77: "Send Command to Sub-Device",
    79: "Write Device Variable",
    89: "Set Real-Time Clock",
    90: "Read Real-Time Clock",
    103: "Write Burst Period",
    104: "Write Burst Trigger",
    107: "Write Burst Device Variables",
    108: "Write Burst Mode Command Number",
    109: "Burst Mode Control",
    512: "Read Country Code",
    513: "Write Country Code",
    768: "Write Join Key",
    769: "Read Join Status",
    773: "Write Network Id",
    774: "Read Network Id",
}

_WRITES: Final = (
    6, 17, 18, 19, 22, 34, 35, 36, 37, 38, 39, 40, 43, 44, 45, 46, 47, 49, 51, 52, 53, 55, 56, 59, 79,
    103, 104, 107, 108, 109, 513,
)  # fmt: skip
#: Commands that change a device, with the operation each one is.
WRITE_OPERATIONS: Final[dict[int, Operation]] = {
    **dict.fromkeys(_WRITES, Operation.PARAMETER_WRITE),
    42: Operation.CONTROLLER_RESET,
    89: Operation.CLOCK_SET,
    71: Operation.PROTECTION_CHANGE,
    768: Operation.PROTECTION_CHANGE,  # the WirelessHART join key: a network credential
    773: Operation.NETWORK_CONFIG,
}


def command_name(command: int) -> str:
    return COMMANDS.get(command, f"Command {command}")


#: HART manufacturer ids (FieldComm Group list) of the vendors met most; others are shown by number.
MANUFACTURERS: Final = {
    0x0A: "Brooks Instrument",
    0x11: "Endress+Hauser",
    0x13: "Fisher Controls",
    0x14: "Schneider Electric (Foxboro)",
    0x15: "Fuji Electric",
    0x17: "Honeywell",
    0x1A: "ABB",
    0x1F: "Micro Motion",
    0x20: "Moore Industries",
    0x26: "Rosemount (Emerson)",
    0x2A: "Siemens",
    0x2E: "Rosemount Analytical",
    0x2F: "Valmet",
    0x30: "Flowserve",
    0x36: "Azbil (Yamatake)",
    0x37: "Yokogawa",
    0x3E: "Smar",
    0x42: "Samson",
    0x45: "Krohne",
    0x4E: "AMETEK Drexelbrook",
    0x56: "AMETEK Magnetrol",
    0x62: "VEGA",
    0x6E: "Pepperl+Fuchs",
}

RESPONSE_CODES: Final = {
    0: "Success",
    2: "Invalid Selection",
    3: "Passed Parameter Too Large",
    4: "Passed Parameter Too Small",
    5: "Too Few Data Bytes Received",
    6: "Device-Specific Command Error",
    7: "In Write Protect Mode",
    16: "Access Restricted",
    32: "Busy",
    64: "Command Not Implemented",
}
