"""The one table of EtherNet/IP encapsulation and CIP codes and their names.

Names follow the ICSNPP Zeek parser's wording so dissected records compare directly with its logs.
"""

from __future__ import annotations

from typing import Final

PORT: Final = 44818
IO_PORT: Final = 2222

CMD_NOP: Final = 0x00
CMD_LIST_TARGETS: Final = 0x01
CMD_LIST_SERVICES: Final = 0x04
CMD_LIST_IDENTITY: Final = 0x63
CMD_LIST_INTERFACES: Final = 0x64
CMD_REGISTER_SESSION: Final = 0x65
CMD_UNREGISTER_SESSION: Final = 0x66
CMD_SEND_RR_DATA: Final = 0x6F
CMD_SEND_UNIT_DATA: Final = 0x70
COMMAND_NAMES: Final[dict[int, str]] = {
    CMD_NOP: "NOP",
    CMD_LIST_TARGETS: "List Targets",  # legacy Rockwell command (RSLinx), answered like List Identity
    CMD_LIST_SERVICES: "List Services",
    CMD_LIST_IDENTITY: "List Identity",
    CMD_LIST_INTERFACES: "List Interfaces",
    CMD_REGISTER_SESSION: "Register Session",
    CMD_UNREGISTER_SESSION: "Unregister Session",
    CMD_SEND_RR_DATA: "Send RR Data",
    CMD_SEND_UNIT_DATA: "Send Unit Data",
    0x72: "Indicate Status",
    0x73: "Cancel",
}

ENIP_STATUS_NAMES: Final[dict[int, str]] = {
    0x00: "Success",
    0x01: "Invalid/Unsupported Command",
    0x02: "Insufficient Memory Resources",
    0x03: "Malformed or Incorrect Data",
    0x64: "Invalid Session Handle",
    0x65: "Invalid Length",
    0x69: "Unsupported Protocol Version",
    0x6A: "CIP Service Not Allowed",
}

# Common packet format item types.
ITEM_NULL: Final = 0x0000
ITEM_LIST_IDENTITY: Final = 0x000C
ITEM_CONNECTED_ADDRESS: Final = 0x00A1
ITEM_CONNECTED_DATA: Final = 0x00B1
ITEM_UNCONNECTED_DATA: Final = 0x00B2
ITEM_LIST_SERVICES: Final = 0x0100
ITEM_SOCKADDR_O_T: Final = 0x8000
ITEM_SOCKADDR_T_O: Final = 0x8001
ITEM_SEQUENCED_ADDRESS: Final = 0x8002

SVC_GET_ATTRIBUTES_ALL: Final = 0x01
SVC_RESET: Final = 0x05
SVC_MULTIPLE_SERVICE_PACKET: Final = 0x0A
SVC_GET_ATTRIBUTE_SINGLE: Final = 0x0E
SVC_FORWARD_OPEN: Final = 0x54
SERVICE_NAMES: Final[dict[int, str]] = {
    SVC_GET_ATTRIBUTES_ALL: "Get Attributes All",
    0x02: "Set Attributes All",
    0x03: "Get Attribute List",
    0x04: "Set Attribute List",
    SVC_RESET: "Reset",
    0x06: "Start",
    0x07: "Stop",
    0x08: "Create",
    0x09: "Delete",
    SVC_MULTIPLE_SERVICE_PACKET: "Multiple Service Packet",
    0x0D: "Apply Attributes",
    SVC_GET_ATTRIBUTE_SINGLE: "Get Attributes Single",
    0x10: "Set Attributes Single",
    0x11: "Find Next Object Instance",
    0x15: "Restore",
    0x16: "Save",
    0x17: "No Forward Open",
    0x18: "Get Member",
    0x19: "Set Member",
    0x1A: "Insert Member",
    0x1B: "Remove Member",
    0x1C: "Group Sync",
    0x1D: "Get Connection Point Member List",
    0x4B: "Execute PCCC Service",
    0x4C: "Read Data",
    0x4D: "Write Data",
    0x4E: "Read Write Modify Data",
    0x52: "Read Data Fragmented",
    0x53: "Write Data Fragmented",
    SVC_FORWARD_OPEN: "Forward Open",
    0x5B: "Large Forward Open",
}
SVC_SET_ATTRIBUTES_ALL: Final = 0x02
SVC_SET_ATTRIBUTE_LIST: Final = 0x04
SVC_START: Final = 0x06
SVC_STOP: Final = 0x07
SVC_CREATE: Final = 0x08
SVC_DELETE: Final = 0x09
SVC_SET_ATTRIBUTE_SINGLE: Final = 0x10
SVC_UNCONNECTED_SEND: Final = 0x52  # on the Connection Manager; Read Tag Fragmented elsewhere
GET_SERVICES: Final = frozenset({SVC_GET_ATTRIBUTES_ALL, 0x03, SVC_GET_ATTRIBUTE_SINGLE})
SET_SERVICES: Final = frozenset({SVC_SET_ATTRIBUTES_ALL, SVC_SET_ATTRIBUTE_LIST, SVC_SET_ATTRIBUTE_SINGLE})
CLASS_IDENTITY: Final = 0x01
CLASS_CONNECTION_MANAGER: Final = 0x06
CLASS_NAMES: Final[dict[int, str]] = {
    0x00: "",
    CLASS_IDENTITY: "Identity",
    0x02: "Message Router",
    0x03: "DeviceNet",
    0x04: "Assembly",
    0x05: "Connection",
    CLASS_CONNECTION_MANAGER: "Connection Manager",
    0x07: "Register",
    0x08: "Discrete Input Point",
    0x09: "Discrete Output Point",
    0x0A: "Analog Input Point",
    0x0B: "Analog Output Point",
    0x0F: "Parameter",
    0x10: "Parameter Group",
    0x12: "Group",
    0x29: "Control Supervisor",
    0x2A: "AC/DC Drive",
    0x37: "File",
    0x43: "Time Sync",
    0x44: "Modbus",
    0x47: "Device Level Ring (DLR)",
    0x48: "QoS",
    0x67: "PCCC Class",
    0xF4: "Port",
    0xF5: "TCP/IP Interface",
    0xF6: "Ethernet Link",
}

# Rockwell Logix vendor objects (vendor-specific class range 0x64-0xC7; not in the ODVA tables, so kept
# apart from CLASS_NAMES, whose wording follows ICSNPP's logs). Names are those used by public Logix
# research (pylogix, libplctag, Claroty's and Nozomi's Studio 5000 write-ups).
CLASS_WALL_CLOCK: Final = 0x8B
CLASS_LOGIX_CONTROLLER: Final = 0x8E
CLASS_NON_VOLATILE_STORAGE: Final = 0xA1  # ControlFLASH firmware transfer
CLASS_TCPIP: Final = 0xF5
CLASS_ETHERNET_LINK: Final = 0xF6
CLASS_CONTROL_SUPERVISOR: Final = 0x29
CLASS_PCCC: Final = 0x67
CLASS_SYMBOL: Final = 0x6B
CLASS_TEMPLATE: Final = 0x6C
CLASS_ROUTINE: Final = 0x6A
CLASS_LOGIX_CODE: Final = 0x72
VENDOR_CLASS_NAMES: Final[dict[int, str]] = {
    0x64: "Logix Controller Properties",
    0x68: "Logix Program",
    0x69: "Logix Task",
    CLASS_ROUTINE: "Logix Routine",
    CLASS_SYMBOL: "Logix Symbol",
    CLASS_TEMPLATE: "Logix Template",
    0x70: "Logix Map",
    CLASS_LOGIX_CODE: "Logix Code",
    CLASS_WALL_CLOCK: "Wall Clock Time",
    CLASS_LOGIX_CONTROLLER: "Logix Controller",
    CLASS_NON_VOLATILE_STORAGE: "Non-Volatile Storage",
    0xAC: "Logix Project",
}
# Classes that hold a Logix project's structure and code (programs, tasks, routines, data types,
# code, the project itself): Create/Delete of their instances, and vendor writes into them, are a
# download; vendor reads of a routine's contents (0x4F) that this connection did not write are an upload.
LOGIX_PROGRAM_CLASSES: Final = frozenset(
    {0x68, 0x69, CLASS_ROUTINE, CLASS_TEMPLATE, 0x6D, 0x6E, 0x70, CLASS_LOGIX_CODE, 0x73, 0xAC}
)
# Create/Delete of a Symbol instance adds or removes a controller tag: a program change too.
LOGIX_CREATE_CLASSES: Final = LOGIX_PROGRAM_CLASSES | {CLASS_SYMBOL}
LOGIX_READ_PROGRAM: Final = 0x4F  # read a slice of a program or routine (offset, length)
LOGIX_WRITE_PROGRAM: Final = 0x50  # write a slice of a program or routine (offset, data)
LOGIX_EXECUTE: Final = 0x4B  # vendor "execute": code blocks into class 0x72, lock flag on 0x8E
TAG_READS: Final = frozenset({0x4C, 0x52})
TAG_WRITES: Final = frozenset({0x4D, 0x4E, 0x53})
# PCCC (DF1 commands carried by Execute PCCC, 0x4B on class 0x67) for SLC 500 / MicroLogix / PLC-5:
# command 0x0F with these function codes.
PCCC_CMD: Final = 0x0F
PCCC_CHANGE_MODE: Final = 0x80
PCCC_WRITES: Final[dict[int, str]] = {
    0x67: "Typed Write",
    0xAA: "Protected Typed Logical Write (3 address fields)",
    0xAB: "Protected Typed Logical Masked Write",
    0xA9: "Protected Typed Logical Write (2 address fields)",
}
# Wall Clock Time attributes that carry the time itself (others hold time zone and DST settings).
CLOCK_VALUE_ATTRIBUTES: Final = frozenset({0x01, 0x03, 0x06, 0x0B})
# Identity Reset type (the request's one data byte): 1 and 2 return the device to factory defaults.
RESET_TYPES: Final[dict[int, str]] = {
    0: "power-cycle emulation",
    1: "return to factory defaults",
    2: "return to factory defaults, keeping communication settings",
}

CIP_STATUS_NAMES: Final[dict[int, str]] = {
    0x00: "Success",
    0x01: "Connection Failure",
    0x02: "Resource Unavailable",
    0x03: "Invalid Parameter Value",
    0x04: "Path Segment Error",
    0x05: "Path Destination Unknown",
    0x06: "Partial Transfer",
    0x07: "Connection Lost",
    0x08: "Service Not Supported",
    0x09: "Invalid Attribute Value",
    0x0A: "Attribute List Error",
    0x0B: "Already In Requested Mode/State",
    0x0C: "Object State Conflict",
    0x0D: "Object Already Exists",
    0x0E: "Attribute Not Settable",
    0x0F: "Privilege Violation",
    0x10: "Device State Conflict",
    0x11: "Reply Data Too Large",
    0x12: "Fragmentation Of A Primitive Value",
    0x13: "Not Enough Data",
    0x14: "Attribute Not Supported",
    0x15: "Too Much Data",
    0x16: "Object Does Not Exist",
    0x17: "Service Fragmentation Sequence Not In Progress",
    0x18: "No Stored Attribute Data",
    0x19: "Store Operation Failure",
    0x1A: "Routing Failure, Request Packet Too Large",
    0x1B: "Routing Failure, Response Packet Too Large",
    0x1C: "Missing Attribute List Entry Data",
    0x1D: "Invalid Attribute Value List",
    0x1E: "Embedded Service Error",
    0x1F: "Vendor Specific Error",
    0x20: "Invalid Parameter",
    0x21: "Write-Once Value Or Medium Already Written",
    0x22: "Invalid Reply Received",
    0x23: "Buffer Overflow",
    0x24: "Invalid Message Format",
    0x25: "Key Failure In Path",
    0x26: "Path Size Invalid",
    0x27: "Unexpected Attribute In List",
    0x28: "Invalid Member ID",
    0x29: "Member Not Settable",
    0x2A: "Group 2 Only Server General Failure",
    0x2B: "Unknown Modbus Error",
    0x2C: "Attribute Not Gettable",
    0xFF: "Still Processing",
}

# ODVA vendor ids of the vendors most often met on plant floors (the full list has ~1,500 entries).
VENDOR_NAMES: Final[dict[int, str]] = {
    1: "Rockwell Automation/Allen-Bradley",
    3: "Honeywell Inc.",
    5: "Rockwell Automation/Reliance Elec.",
    7: "SMC Corporation",
    8: "Molex Incorporated",
    12: "Banner Engineering Corp.",
    26: "Festo Corporation",
    40: "Wago Corporation",
    43: "BALLUFF Inc.",
    44: "Yaskawa Electric America Inc.",
    46: "ABB Industrial Systems",
    47: "Omron Corporation",
    48: "Turck Inc.",
    50: "Real Time Automation (C&ID)",
    57: "Pepperl + Fuchs",
    68: "Eaton Electrical",
    82: "Mitsubishi Electric Automation Inc.",
    83: "OPTO-22",
    90: "HMS Industrial Networks AB",
    97: "Danfoss",
    108: "Beckhoff Automation GmbH",
    109: "National Instruments",
    121: "KUKA Roboter GmbH",
    143: "GE Industrial Systems",
    145: "Siemens Energy & Automation/Drives",
    161: "Mitsubishi Electric Corporation",
    176: "Red Lion Controls",
    181: "Pilz GmbH & Co",
    243: "Schneider Automation Inc.",
    250: "Yokogawa Electric Corporation",
    255: "Bosch Rexroth",
    283: "Hilscher GmbH",
    309: "Prosoft Technology",
    315: "SEW Eurodrive GmbH",
    319: "Fuji Electric Co. Ltd.",
    322: "ifm efector, inc.",
    326: "GE Fanuc Automation North America Inc.",
    345: "Endress + Hauser",
    356: "Fanuc Robotics America",
    367: "Keyence Corporation",
}

DEVICE_TYPE_NAMES: Final[dict[int, str]] = {
    0x00: "Generic Device (deprecated)",
    0x02: "AC Drive",
    0x03: "Motor Overload",
    0x04: "Limit Switch",
    0x05: "Inductive Proximity Switch",
    0x06: "Photoelectric Sensor",
    0x07: "General Purpose Discrete I/O",
    0x09: "Resolver",
    0x0C: "Communications Adapter",
    0x0E: "Programmable Logic Controller",
    0x10: "Position Controller",
    0x13: "DC Drive",
    0x15: "Contactor",
    0x16: "Motor Starter",
    0x17: "Soft Start",
    0x18: "Human-Machine Interface",
    0x1A: "Mass Flow Controller",
    0x1B: "Pneumatic Valve",
    0x1C: "Vacuum Pressure Gauge",
    0x1D: "Process Control Value",
    0x1E: "Residual Gas Analyzer",
    0x1F: "DC Power Generator",
    0x20: "RF Power Generator",
    0x21: "Turbomolecular Vacuum Pump",
    0x22: "Encoder",
    0x23: "Safety Discrete I/O Device",
    0x24: "Fluid Flow Controller",
    0x25: "CIP Motion Drive",
    0x26: "CompoNet Repeater",
    0x27: "Mass Flow Controller, Enhanced",
    0x28: "CIP Modbus Device",
    0x29: "CIP Modbus Translator",
    0x2A: "Safety Analog I/O Device",
    0x2B: "Generic Device (keyable)",
    0x2C: "Managed Switch",
    0x32: "ControlNet Physical Layer Component",
}

# Identity object state attribute (7).
STATE_NAMES: Final[dict[int, str]] = {
    0: "Nonexistent",
    1: "Device Self Testing",
    2: "Standby",
    3: "Operational",
    4: "Major Recoverable Fault",
    5: "Major Unrecoverable Fault",
    255: "Default for Get_Attributes_All",
}


def service_name(service: int, class_id: int | None = None) -> str:
    """Service names; 0x4E means Forward Close only when sent to the Connection Manager."""
    if service == 0x4E and class_id == CLASS_CONNECTION_MANAGER:
        return "Forward Close"
    return SERVICE_NAMES.get(service & 0x7F, "unknown")
