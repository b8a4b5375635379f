"""The one table of TPKT/COTP/S7comm/S7comm-plus codes and their names.

Names follow the ICSNPP Zeek parser's wording so dissected records compare directly with its logs.
"""

from __future__ import annotations

from typing import Final

TPKT_VERSION: Final = 3
S7_PROTOCOL_ID: Final = 0x32
S7PLUS_PROTOCOL_ID: Final = 0x72

COTP_PDU_NAMES: Final[dict[int, str]] = {
    0x1: "ED Expedited Data",
    0x2: "EA Expedited Data Acknowledgement",
    0x5: "RJ Reject",
    0x6: "AK Data Acknowledgement",
    0x7: "ER TPDU Error",
    0x8: "DR Disconnect Request",
    0xC: "DC Disconnect Confirm",
    0xD: "CC Connection Confirm",
    0xE: "CR Connection Request",
    0xF: "DT Data",
}
COTP_CR: Final = 0xE
COTP_CC: Final = 0xD
COTP_DT: Final = 0xF
COTP_PARAM_TPDU_SIZE: Final = 0xC0
COTP_PARAM_CALLING_TSAP: Final = 0xC1
COTP_PARAM_CALLED_TSAP: Final = 0xC2

ROSCTR_JOB: Final = 0x01
ROSCTR_ACK: Final = 0x02
ROSCTR_ACK_DATA: Final = 0x03
ROSCTR_USERDATA: Final = 0x07
ROSCTR_NAMES: Final[dict[int, str]] = {
    ROSCTR_JOB: "Job-Request",
    ROSCTR_ACK: "ACK",
    ROSCTR_ACK_DATA: "ACK-Data",
    ROSCTR_USERDATA: "User-Data",
}

ERROR_CLASS_NAMES: Final[dict[int, str]] = {
    0x00: "No error",
    0x81: "Application relationship error",
    0x82: "Object definition error",
    0x83: "No ressources available error",
    0x84: "Error on service processing",
    0x85: "Error on supplies",
    0x87: "Access error",
}

FUNC_CPU_SERVICES: Final = 0x00
FUNC_READ_VAR: Final = 0x04
FUNC_WRITE_VAR: Final = 0x05
FUNC_REQUEST_DOWNLOAD: Final = 0x1A
FUNC_DOWNLOAD_BLOCK: Final = 0x1B
FUNC_DOWNLOAD_ENDED: Final = 0x1C
FUNC_START_UPLOAD: Final = 0x1D
FUNC_UPLOAD: Final = 0x1E
FUNC_END_UPLOAD: Final = 0x1F
FUNC_PLC_CONTROL: Final = 0x28
FUNC_PLC_STOP: Final = 0x29
FUNC_SETUP_COMMUNICATION: Final = 0xF0
FUNCTION_NAMES: Final[dict[int, str]] = {
    FUNC_CPU_SERVICES: "CPU Services",
    FUNC_READ_VAR: "Read Variable",
    FUNC_WRITE_VAR: "Write Variable",
    FUNC_REQUEST_DOWNLOAD: "Request Download",
    FUNC_DOWNLOAD_BLOCK: "Download Block",
    FUNC_DOWNLOAD_ENDED: "Download Ended",
    FUNC_START_UPLOAD: "Start Upload",
    FUNC_UPLOAD: "Upload",
    FUNC_END_UPLOAD: "End Upload",
    FUNC_PLC_CONTROL: "PLC Control",
    FUNC_PLC_STOP: "PLC Stop",
    FUNC_SETUP_COMMUNICATION: "Setup Communication",
}
UPLOAD_DOWNLOAD_FUNCTIONS: Final = frozenset(range(FUNC_REQUEST_DOWNLOAD, FUNC_END_UPLOAD + 1))

# User-data: the type/group byte carries the direction in its high nibble and the group in the low one.
USERDATA_TYPE_NAMES: Final[dict[int, str]] = {0x0: "Push", 0x4: "Request", 0x8: "Response"}
GROUP_MODE_TRANSITION: Final = 0x0
GROUP_PROGRAMMER: Final = 0x1
GROUP_CYCLIC: Final = 0x2
GROUP_BLOCK: Final = 0x3
GROUP_CPU: Final = 0x4
GROUP_SECURITY: Final = 0x5
GROUP_TIME: Final = 0x7
USERDATA_GROUP_NAMES: Final[dict[int, str]] = {
    GROUP_MODE_TRANSITION: "Mode-Transition",
    GROUP_PROGRAMMER: "Programmer Controls",
    GROUP_CYCLIC: "Cyclic Services",
    GROUP_BLOCK: "Block Functions",
    GROUP_CPU: "CPU Functions",
    GROUP_SECURITY: "Security",
    0x6: "PBC BSEND-BRECV",
    GROUP_TIME: "Time Functions",
    0xF: "NC Programming",
}
SUBFUNC_READ_SZL: Final = 0x01
USERDATA_SUBFUNCTION_NAMES: Final[dict[int, dict[int, str]]] = {
    GROUP_MODE_TRANSITION: {
        0x00: "Stop",
        0x01: "Warm Restart",
        0x02: "Run",
        0x03: "Hot Restart",
        0x04: "Hold",
        0x06: "Cold Restart",
        0x09: "Run_R",
        0x0B: "Link-Up",
        0x0C: "Update",
    },
    GROUP_PROGRAMMER: {
        0x01: "Block Status",
        0x02: "Variable Status",
        0x03: "Output ISTACK",
        0x04: "Output BSTACK",
        0x05: "Output LSTACK",
        0x06: "Time Measurement",
        0x07: "Force Selection",
        0x08: "Modify Variable",
        0x09: "Force",
        0x0A: "Breakpoint",
        0x0B: "Exit HOLD",
        0x0C: "Memory Reset",
        0x0D: "Disable Job",
        0x0E: "Enable Job",
        0x0F: "Delete Job",
        0x10: "Read Job List",
        0x11: "Read Job",
        0x12: "Replace Job",
        0x13: "Block Status v2",
        0x16: "Flash LED",
    },
    GROUP_CYCLIC: {
        0x01: "Cyclic Transfer",
        0x04: "Unsubscribe",
        0x05: "Change Driven Transfer",
        0x07: "Change Driven Transfer Modify",
        0x08: "RDREC",
    },
    GROUP_BLOCK: {0x01: "List Blocks", 0x02: "List Blocks of Type", 0x03: "Get Block Info"},
    GROUP_CPU: {
        SUBFUNC_READ_SZL: "Read SZL",
        0x02: "Message Service",
        0x03: "Diagnostic Message",
        0x04: "ALARM_8 Indication",
        0x05: "NOTIFY Indication",
        0x06: "ALARM_8 Lock",
        0x07: "ALARM_8 Unlock",
        0x08: "SCAN Indication",
        0x0B: "ALARM_S Indication",
        0x0C: "ALARM_SQ Indication",
        0x0D: "ALARM Query",
        0x0E: "ALARM ACK",
        0x11: "ALARM ACK Indication",
        0x12: "ALARM Lock Indication",
        0x13: "ALARM Unlock Indication",
        0x16: "NOTIFY_8 Indication",
    },
    GROUP_SECURITY: {0x01: "PLC Password"},
    GROUP_TIME: {
        0x01: "Read Clock",
        0x02: "Set Clock",
        0x03: "Read Clock (Following)",
        0x04: "Set Clock (2)",
    },
}
USERDATA_METHOD_NAMES: Final[dict[int, str]] = {0x11: "Request", 0x12: "Response"}

RETURN_CODE_SUCCESS: Final = 0xFF
RETURN_CODE_NAMES: Final[dict[int, str]] = {
    0x00: "Reserved",
    0x01: "Hardware error",
    0x03: "Accessing the object not allowed",
    0x05: "Invalid address",
    0x06: "Data type not supported",
    0x07: "Data type inconsistent",
    0x0A: "Object does not exist",
    RETURN_CODE_SUCCESS: "Success",
}

SZL_MODULE_ID: Final = 0x0011
SZL_COMPONENT_ID: Final = 0x001C
SZL_CPU_MODE: Final = 0x0424
# Module status information (W#16#xy91): 0x0D91 with index xx00 = the modules of rack xx (S7-300 and
# S7-400), 0x0091 = all plugged modules (S7-400 only). One 16-byte record per module: adr1, adr2, logadr,
# solltyp, isttyp, reserved, eastat, ber_bgbr (big-endian words).
SZL_MODULES_OF_RACK: Final = 0x0D91
SZL_MODULES_ALL: Final = 0x0091
MODULE_STATUS_RECORD: Final = 16
# eastat bits and its high byte, the data id of the logical address
EASTAT_ERROR: Final = 0x01
EASTAT_EXISTS: Final = 0x02
EASTAT_NOT_AVAILABLE: Final = 0x04
EASTAT_DISABLED: Final = 0x08
EASTAT_STATION_ERROR: Final = 0x10
DATA_ID_KINDS: Final[dict[int, tuple[str, str]]] = {  # data id -> (address prefix, module kind)
    0xB4: ("I", "Input module"),
    0xB5: ("Q", "Output module"),
    0xFF: ("", "DP interface"),
}
# Keyed by the low byte of the SZL id (the high byte selects a partial list of the same record type).
SZL_NAMES: Final[dict[int, str]] = {
    0x00: "List of all the SZL-IDs of a module",
    0x11: "Module identification",
    0x12: "CPU characteristics",
    0x13: "User memory areas",
    0x14: "System areas",
    0x15: "Block types",
    0x16: "Priority classes",
    0x17: "List of the permitted SDBs with a number < 1000",
    0x18: "Maximum S7-300 I/O configuration",
    0x19: "Status of the module LEDs",
    0x1C: "Component Identification",
    0x21: "Interrupt / error assignment",
    0x22: "Interrupt status",
    0x23: "Priority classes",
    0x24: "Modes",
    0x25: "Assignment between process image partitions and OBs",
    0x31: "Communication capability parameters",
    0x32: "Communication status data",
    0x33: "Diagnostics: device logon list",
    0x37: "Ethernet - Details of a Module",
    0x71: "H CPU group information",
    0x74: "Status of the module LEDs",
    0x75: "Switched DP slaves in the H-system",
    0x81: "Start information list",
    0x82: "Start event list",
    0x91: "Module status information",
    0x92: "Rack / station status information",
    0x94: "Rack / station status information",
    0x95: "Extended DP master system information",
    0x96: "Module status information, PROFINET IO and PROFIBUS DP",
    0xA0: "Diagnostic buffer of the CPU",
    0xB1: "Module diagnostic information (data record 0)",
    0xB2: "Module diagnostic information (data record 1), geographical address",
    0xB3: "Module diagnostic information (data record 1), logical address",
    0xB4: "Diagnostic data of a DP slave",
}

# SZL 0x001C record index -> identity meaning.
COMPONENT_ID_FIELDS: Final[dict[int, str]] = {
    0x01: "plc_name",
    0x02: "module_name",
    0x03: "plant_id",
    0x04: "copyright",
    0x05: "serial",
    0x07: "module_type",
    0x08: "memory_card_serial",
    0x0B: "location",
}
# Some servers (snap7) leave the record indexes zero; real CPUs answer these indexes in this order.
COMPONENT_ID_ORDER: Final = (0x01, 0x02, 0x03, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0A, 0x0B)
MODULE_ID_ORDER_NUMBER: Final = 0x0001
MODULE_ID_HARDWARE: Final = 0x0006
MODULE_ID_FIRMWARE: Final = 0x0007

# SZL 0x0424 "bzu-id" low nibble: the mode the CPU is in (after the last transition).
CPU_MODE_NAMES: Final[dict[int, str]] = {
    0x1: "Stop",
    0x2: "Stop",
    0x3: "Stop",
    0x4: "Stop",
    0x5: "Startup",
    0x6: "Startup",
    0x7: "Startup",
    0x8: "Run",
    0x9: "Run",
    0xA: "Hold",
    0xD: "Defect",
}

AREA_NAMES: Final[dict[int, str]] = {
    0x03: "System info of 200 family",
    0x05: "System flags of 200 family",
    0x06: "Analog inputs of 200 family",
    0x07: "Analog outputs of 200 family",
    0x1C: "Counter (S7)",
    0x1D: "Timer (S7)",
    0x1E: "IEC counter (200 family)",
    0x1F: "IEC timer (200 family)",
    0x80: "Direct peripheral access",
    0x81: "Inputs",
    0x82: "Outputs",
    0x83: "Flags",
    0x84: "Data blocks",
    0x85: "Instance data blocks",
    0x86: "Local data",
    0x87: "Unknown yet (V memory?)",
}
AREA_DB: Final = 0x84
TRANSPORT_SIZE_NAMES: Final[dict[int, str]] = {
    0x01: "BIT",
    0x02: "BYTE",
    0x03: "CHAR",
    0x04: "WORD",
    0x05: "INT",
    0x06: "DWORD",
    0x07: "DINT",
    0x08: "REAL",
    0x09: "DATE",
    0x0A: "TOD",
    0x0B: "TIME",
    0x0C: "S5TIME",
    0x0F: "DATE_AND_TIME",
    0x1C: "COUNTER",
    0x1D: "TIMER",
    0x1E: "IEC TIMER",
    0x1F: "IEC COUNTER",
    0x20: "HS COUNTER",
}
SYNTAX_ID_S7ANY: Final = 0x10

BLOCK_TYPE_NAMES: Final[dict[str, str]] = {
    "08": "Organization Block",
    "0A": "Data Block",
    "0B": "System Data Block",
    "0C": "Function",
    "0D": "System Function",
    "0E": "Function Block",
    "0F": "System Function Block",
}
FILESYSTEM_NAMES: Final[dict[str, str]] = {"P": "Passive", "A": "Active"}

# PI services of PLC Control (0x28) that change the controller, with the operation each one is.
PI_START: Final = "P_PROGRAM"
PI_DOWNLOAD: Final = frozenset({"_INSE", "_INS2"})  # activate blocks just downloaded
PI_DELETE: Final = "_DELE"
PI_COPY_RAM_TO_ROM: Final = "_MODU"
SUBFUNC_PLC_PASSWORD: Final = 0x01  # in GROUP_SECURITY
SUBFUNC_FLASH_LED: Final = 0x16  # in GROUP_PROGRAMMER: identifies a CPU, changes nothing
SET_CLOCK_SUBFUNCTIONS: Final = frozenset({0x02, 0x04})  # in GROUP_TIME
PLC_CONTROL_SERVICES: Final[dict[str, str]] = {
    "_INSE": "Activates a PLC module",
    "_INS2": "Activates a PLC module",
    "_DELE": "Removes module from the PLC's passive file system",
    "P_PROGRAM": "PLC Start / Stop",
    "_MODU": "PLC Copy Ram to Rom",
    "_GARB": "Compress PLC memory",
}

S7PLUS_OPCODE_NAMES: Final[dict[int, str]] = {0x31: "Request", 0x32: "Response", 0x33: "Notification"}
S7PLUS_FUNCTION_NAMES: Final[dict[int, str]] = {
    0x04BB: "Explore",
    0x04CA: "Create Object",
    0x04D4: "Delete Object",
    0x04F2: "Set Variable",
    0x0524: "Get Link",
    0x0542: "Set Multi Variables",
    0x054C: "Get Multi Variables",
    0x0556: "Begin Sequence",
    0x0560: "End Sequence",
    0x056B: "Invoke",
    0x0586: "Get Variable Sub Streamed",
}


def userdata_function_name(type_group: int) -> str:
    """ICSNPP-style "Request: CPU Functions" name of a user-data type/group byte."""
    kind = USERDATA_TYPE_NAMES.get(type_group >> 4, "Unknown")
    return f"{kind}: {USERDATA_GROUP_NAMES.get(type_group & 0x0F, 'unknown')}"


def userdata_subfunction_name(group: int, subfunction: int) -> str | None:
    table = USERDATA_SUBFUNCTION_NAMES.get(group)
    if table is None:
        return None
    return table.get(subfunction, "unknown")
